#!/usr/bin/env node
// The `pipeline` bin: the engine's CLI with the project's stage registry and study commands.
import { studyCommands } from '../commands/index.js';
import { stages } from '../stages/index.js';
import { runCli } from './cli-app.js';

process.exitCode = await runCli(process.argv.slice(2), { stages, commands: studyCommands });
