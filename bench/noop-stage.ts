// A trivial stage type for the no-op benchmark.
import { defineStage } from '../pipeline/stage.js';

export const benchStep = defineStage({
  name: 'bench-step',
  version: 1,
  description: 'appends a number to a list (for the no-op benchmark)',
  params: { value: { type: 'integer', description: 'number appended' } },
  inputs: { previous: { kind: 'json', description: 'list so far', optional: true } },
  outputs: { list: { kind: 'json', description: 'the list' } },
  async run(inputs, params) {
    const previous = (inputs.previous ?? []) as number[];
    return { list: [...previous, params.value] };
  },
});
