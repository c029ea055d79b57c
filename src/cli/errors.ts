/**
 * How the CLI reports errors. Library messages name options as the API does, in backquotes (`limit`); here they
 * become the command's flags (--limit), read off the commander program itself, so a new flag needs nothing here
 * unless its API option has another name (FLAG_OF_OPTION).
 */
import type { Command } from 'commander';
import { UserError } from '../errors.js';

export const EXIT_USER_ERROR = 1;

/** API options whose flag has another name. */
const FLAG_OF_OPTION: Readonly<Record<string, string>> = {
  nllSamples: '--nll',
  gridSize: '--grid',
  outDir: '--out',
};

/**
 * Library phrases the CLI says another way: the library picks a backend, the CLI a device (`-d cpu` runs the wasm
 * backend, and train, resume and test all take it).
 */
const CLI_PHRASES: ReadonlyArray<readonly [RegExp, string]> = [[/`backend` wasm/g, '--device cpu']];

let verbose = Boolean(process.env.DEBUG);

/** Stack traces for every error (--verbose, or DEBUG set). */
export function setVerbose(on: boolean): void {
  if (on) verbose = true;
}

/** The flag of every option of `program` and its commands, by the API option name it sets. */
function flagsOf(program: Command): Map<string, string> {
  const flags = new Map<string, string>();
  for (const cmd of [program, ...program.commands]) {
    for (const o of cmd.options) if (o.long) flags.set(o.attributeName(), o.long);
  }
  for (const [option, flag] of Object.entries(FLAG_OF_OPTION)) flags.set(option, flag);
  return flags;
}

/** A library message in the CLI's words: each backquoted option name that is one of the program's flags, as the flag. */
export function inFlags(text: string, program: Command): string {
  const flags = flagsOf(program);
  const phrased = CLI_PHRASES.reduce((t, [phrase, cli]) => t.replace(phrase, cli), text);
  return phrased.replace(/`([A-Za-z]+)`/g, (whole, name: string) => flags.get(name) ?? whole);
}

/** Prints the error as the user should see it and exits. */
export function reportAndExit(e: unknown, program: Command): never {
  if (e instanceof UserError) {
    process.stderr.write(`error: ${inFlags(e.message, program)}\n`);
    if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
  } else if (/memory access out of bounds|Cannot enlarge memory|Out of memory/i.test(String((e as Error)?.message))) {
    // The WebAssembly heap is 32-bit: a CAE with a large batch can outgrow it.
    process.stderr.write(
      `error: the WebAssembly backend ran out of memory (${(e as Error).message})\n  hint: lower batch_size (the CAE at batch 128 peaks near 3 GB); checkpoints already written are intact\n`,
    );
    if (verbose) process.stderr.write(`${(e as Error).stack}\n`);
  } else {
    process.stderr.write(`error: ${(e as Error)?.message ?? String(e)}\n`);
    process.stderr.write(
      verbose
        ? `${(e as Error)?.stack}\n`
        : 'this looks like a bug; run again with --verbose (or DEBUG=1) for the stack trace, and report it\n',
    );
  }
  process.exit(EXIT_USER_ERROR);
}
