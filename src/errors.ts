/**
 * An error caused by the user's input (config, data, run directory), with a message that says what is wrong and
 * how to fix it. The CLI prints these without a stack trace; anything else is a bug and shows its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(hint ? `${message}\n  hint: ${hint}` : message);
    this.name = 'UserError';
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
