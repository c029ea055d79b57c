/**
 * Progress on the terminal: training events (createReporter) and passes over images (withProgress), each a bar on
 * a TTY and plain lines otherwise (logs, CI, pipes).
 */
import cliProgress from 'cli-progress';
import type { TrainEvent } from '../train/trainer.js';

export interface Reporter {
  onEvent(event: TrainEvent): void;
  stop(): void;
}

export function createReporter(stream: NodeJS.WriteStream = process.stdout): Reporter {
  const tty = Boolean(stream.isTTY) && !process.env.CI;
  let bar: cliProgress.SingleBar | null = null;
  let lastPrinted = 0;
  let epochs = 0;
  /**
   * A phase with a known amount of work (validating, decoding images): a bar on a terminal that closes when the
   * work is done; otherwise a line per tenth when `lines` is set.
   */
  const phase = (format: string, lines: string | null) => {
    let active = false,
      printed = 0;
    return (done: number, total: number) => {
      if (tty && done < total) {
        if (!active) {
          stopBar();
          bar = new cliProgress.SingleBar({ format, hideCursor: true, clearOnComplete: true, stream }, cliProgress.Presets.shades_classic);
          bar.start(total, done);
          active = true;
        } else {
          bar?.update(done);
        }
      } else if (done === total) {
        if (active) stopBar();
        active = false;
        printed = 0;
      } else if (!tty && lines && done - printed >= Math.ceil(total / 10)) {
        printed = done;
        line(`${lines} ${done}/${total}`);
      }
    };
  };
  const validation = phase('validating {bar} {value}/{total} images', null);
  const decode = phase('decoding images {bar} {value}/{total} | eta {eta_formatted}', 'decoded images');
  const stopBar = () => {
    bar?.stop();
    bar = null;
  };
  const line = (text: string) => {
    stopBar();
    stream.write(`${text}\n`);
  };

  return {
    onEvent(e) {
      switch (e.type) {
        case 'start':
          epochs = e.config.epochs;
          line(
            `${e.resumed ? 'resuming' : 'training'} ${e.config.model_type}${e.config.denoising ? ' (denoising)' : ''} in ${e.runDir}: ` +
              `${e.trainCount} train / ${e.valCount} validation images, batch ${e.config.batch_size}, ${e.config.epochs} epochs, backend ${e.config.backend}` +
              (e.resumed ? `, from epoch ${e.state.epoch + 1} step ${e.state.step}` : ''),
          );
          break;
        case 'epoch-start':
          lastPrinted = e.step;
          if (tty) {
            bar = new cliProgress.SingleBar(
              {
                format: `epoch ${e.epoch + 1}/${e.epochs} {bar} {value}/{total} | loss {loss} | {speed} img/s | eta {eta_formatted}`,
                hideCursor: true,
                clearOnComplete: true,
                stream,
              },
              cliProgress.Presets.shades_classic,
            );
            bar.start(e.steps, e.step, { loss: '-', speed: '-' });
          }
          break;
        case 'batch':
          if (bar) {
            bar.update(e.step, { loss: e.loss.toFixed(5), speed: e.samplesPerSec.toFixed(0) });
          } else if (e.step - lastPrinted >= Math.max(1, Math.ceil(e.steps / 10)) || e.step === e.steps) {
            lastPrinted = e.step;
            line(`epoch ${e.epoch + 1}/${epochs} step ${e.step}/${e.steps} loss ${e.loss.toFixed(5)} ${e.samplesPerSec.toFixed(0)} img/s`);
          }
          break;
        case 'validation':
          validation(e.done, e.total);
          break;
        case 'decode':
          decode(e.done, e.total);
          break;
        case 'epoch-end':
          line(
            `epoch ${e.row.epoch}/${epochs}: train loss ${e.row.train_loss.toFixed(6)}, validation loss ${e.row.val_loss.toFixed(6)}${e.isBest ? ' (best)' : ''}${e.row.val_kl === undefined ? '' : ` (reconstruction ${e.row.val_recon!.toFixed(2)} + KL ${e.row.val_kl.toFixed(2)})`}, ${e.row.seconds.toFixed(1)} s`,
          );
          break;
        case 'message':
          line(e.text);
          break;
      }
    },
    stop: stopBar,
  };
}

/** Progress of one pass over the inputs: a bar on a terminal, a line per tenth otherwise. */
function progress(label: string): { update(done: number, total: number): void; stop(): void } {
  const tty = Boolean(process.stdout.isTTY) && !process.env.CI;
  let bar: cliProgress.SingleBar | null = null;
  let printed = 0;
  return {
    update(done, total) {
      if (tty) {
        if (!bar) {
          bar = new cliProgress.SingleBar({
            format: `${label} {bar} {value}/{total} images | eta {eta_formatted}`,
            hideCursor: true,
            clearOnComplete: true,
          });
          bar.start(total, 0);
        }
        bar.update(done);
      } else if (done - printed >= Math.ceil(total / 10) || done === total) {
        printed = done;
        console.log(`  ${label} ${done}/${total}`);
      }
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}

export type Hooks = { onMessage: (text: string) => void; onProgress: (done: number, total: number) => void };

/** Runs `work` with a progress display; messages close the bar before they print. */
export async function withProgress<T>(label: string, work: (hooks: Hooks) => Promise<T>): Promise<T> {
  const bar = progress(label);
  try {
    return await work({
      onMessage: (t) => {
        bar.stop();
        console.log(t);
      },
      onProgress: bar.update,
    });
  } finally {
    bar.stop();
  }
}
