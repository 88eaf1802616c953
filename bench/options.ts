// Command-line options of the bench scripts: node's parseArgs, with a wrong option reported as a
// message and the usage (exit 2), not a stack trace.

import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export function benchOptions<const T extends Options>(options: T, usage: string) {
  try {
    return parseArgs({ options, strict: true }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
}
