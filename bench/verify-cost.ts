// What verifying inputs cost a run: every input artifact a stage of the run read was hashed
// (sha256) before the stage started. This re-hashes exactly those artifacts, once per read, and
// compares the time with the run's wall time.
// Usage: npx tsc -p . && node dist/bench/verify-cost.js --cache-dir DIR [--run ID] [--json]

import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sha256 } from '../cache/store.js';
import { openCache, resolveCacheDir } from '../pipeline/cache-handle.js';

const { values: args } = parseArgs({
  options: { 'cache-dir': { type: 'string' }, run: { type: 'string' }, json: { type: 'boolean', default: false } },
});

const cache = openCache(resolveCacheDir(args['cache-dir']), 'read');
try {
  const run = args.run ? cache.history.run(Number(args.run)) : cache.history.runs(50).find((candidate) => candidate.executed > 0);
  if (!run || run.finishedAtMs === null) throw new Error('no finished run that executed stages; give --run ID');
  const byHash = new Map(cache.history.allResultOutputs().map((output) => [output.hash, output]));
  let reads = 0;
  let bytes = 0;
  let hashMs = 0;
  for (const execution of cache.history.executionsOf(run.id).filter((candidate) => candidate.status === 'succeeded')) {
    const hashes = Object.values(execution.inputs).flatMap((value) => (typeof value === 'string' ? [value] : Object.values(value)));
    for (const hash of hashes) {
      const stored = byHash.get(hash);
      if (!stored) continue; // an outside input: hashed as it is read, like before this check existed
      const content = await cache.store.read(stored);
      const started = performance.now();
      sha256(content);
      hashMs += performance.now() - started;
      reads += 1;
      bytes += content.byteLength;
    }
  }
  const wallMs = run.finishedAtMs - run.startedAtMs;
  const result = { run: run.id, executed: run.executed, input_reads: reads, input_bytes: bytes, hash_seconds: hashMs / 1000, run_seconds: wallMs / 1000, share_of_run: hashMs / wallMs };
  if (args.json) console.log(JSON.stringify(result));
  else {
    console.log(`run ${run.id}: ${run.executed} stages ran in ${(wallMs / 1000).toFixed(1)} s and read ${reads} input artifacts, ${(bytes / 1e9).toFixed(2)} GB`);
    console.log(`hashing them takes ${(hashMs / 1000).toFixed(2)} s here: ${(100 * result.share_of_run).toFixed(2)} % of the run`);
  }
} finally {
  cache.close();
}
