/** Ctrl-C and SIGTERM during training: the first stops at the next step and saves `last`, a second quits at once. */
import { DecodeInterrupted, TrainingInterrupted } from '../errors.js';
import type { TrainOptions } from '../train/trainer.js';
import { createReporter } from './progress.js';

export const EXIT_INTERRUPTED = { SIGINT: 130, SIGTERM: 143 } as const;

/** Runs training with the progress reporter and the signal handling above. */
export async function withSignals(run: (opts: TrainOptions) => Promise<unknown>): Promise<void> {
  const reporter = createReporter();
  let received: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (received) {
      // A second signal: leave now. Checkpoints are written atomically, so nothing is half-written.
      reporter.stop();
      process.stderr.write(`\n${sig} again: exiting without saving\n`);
      process.exit(EXIT_INTERRUPTED[sig as 'SIGINT'] ?? 1);
    }
    received = sig;
    reporter.stop();
    process.stderr.write(
      `\n${sig} received: saving a checkpoint after the current step (while decoding images: after the current cache shard); press Ctrl-C again to quit at once\n`,
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await run({ onEvent: (e) => reporter.onEvent(e), shouldStop: () => received !== null });
  } catch (e) {
    if (e instanceof TrainingInterrupted) {
      reporter.stop();
      process.stderr.write(`stopped at epoch ${e.epoch + 1}, step ${e.step}; checkpoint saved.\nresume with: ae resume ${e.runDir}\n`);
      process.exit(EXIT_INTERRUPTED[received as unknown as 'SIGINT'] ?? EXIT_INTERRUPTED.SIGINT);
    }
    if (e instanceof DecodeInterrupted) {
      reporter.stop();
      process.stderr.write(`${e.message}\n`);
      process.exit(EXIT_INTERRUPTED[received as unknown as 'SIGINT'] ?? EXIT_INTERRUPTED.SIGINT);
    }
    throw e;
  } finally {
    reporter.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
