#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1 node --expose-gc
// The `pipeline` bin: the engine's CLI with the project's stage registry and study commands.
//
// The shebang asks glibc's malloc for transparent huge pages (where the kernel offers them on
// request, as Debian's default `madvise` does; elsewhere the setting is ignored). The first touch
// of fresh memory costs about 4 s per GB here in 4 KB pages, and the stages allocate gigabytes:
// a full SVM fit went from 55.1 s to 42.8 s with the same bytes out (docs/speed.md). Started as
// `node dist/pipeline/cli.js`, the CLI runs the same, without the setting. `--expose-gc` lets an
// SVM fit have its 2 GB of buffers collected before the next fit allocates (numerics/svm/fit.ts).
import { studyCommands } from '../commands/index.js';
import { stages } from '../stages/index.js';
import { runCli } from './cli-app.js';

process.exitCode = await runCli(process.argv.slice(2), { stages, commands: studyCommands });
