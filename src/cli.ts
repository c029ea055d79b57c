#!/usr/bin/env node
/**
 * The `ae` command: the only code that prints for the user and calls process.exit. Each command lives in
 * src/cli/<command>.ts; the reference project's flags (ae -m train -c 0|1 -n NAME -d cpu|gpu --config FILE) in
 * src/cli/reference.ts.
 */
import { reportAndExit, setVerbose } from './cli/errors.js';
import { buildProgram } from './cli/program.js';
import { buildReferenceProgram, isReferenceStyle } from './cli/reference.js';

const args = process.argv.slice(2);
if (args.includes('--verbose')) setVerbose(true);
const program = isReferenceStyle(args) ? buildReferenceProgram() : buildProgram();
program.parseAsync(process.argv).catch((e: unknown) => reportAndExit(e, program));
