/**
 * An error caused by the user's input (config, data, run directory, an option), with a message that says what is
 * wrong and how to fix it. The CLI prints these without a stack trace; anything else is a bug and shows its stack.
 *
 * Messages speak the library's language: an option is named as the API names it, in backquotes (`limit`,
 * `force`), and `option` says which one the error is about. The CLI rewrites those names into its own
 * flags in one place (src/cli/errors.ts); library callers read them as they are.
 */
export class UserError extends Error {
  /** The message without the hint. */
  readonly problem: string;
  /** The API option the error is about, when it is about one (e.g. `limit`). */
  readonly option?: string;

  constructor(
    message: string,
    readonly hint?: string,
    about: { option?: string } = {},
  ) {
    super(hint ? `${message}\n  hint: ${hint}` : message);
    this.name = 'UserError';
    this.problem = message;
    if (about.option !== undefined) this.option = about.option;
  }
}

/** Thrown when decoding an image folder into the cache was stopped on request; the shards finished are kept. */
export class DecodeInterrupted extends Error {
  constructor(
    readonly cacheDir: string,
    readonly cached: number,
    readonly total: number,
  ) {
    super(`decoding stopped: ${cached} of ${total} images are cached in ${cacheDir}; the same command goes on from there`);
    this.name = 'DecodeInterrupted';
  }
}

/** Thrown by the training loop when a run was stopped on request (SIGINT/SIGTERM) after saving `last`. */
export class TrainingInterrupted extends Error {
  constructor(
    readonly runDir: string,
    readonly epoch: number,
    readonly step: number,
  ) {
    super(`training interrupted at epoch ${epoch}, step ${step}; saved ${runDir}/weights/last.ckpt`);
    this.name = 'TrainingInterrupted';
  }
}
