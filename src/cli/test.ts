/** `ae test`: evaluate a run (src/evaluate/), with t-SNE progress and a summary. */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { EmbedMethod } from '../embed/index.js';
import type { Split } from '../evaluate/evaluate-run.js';
import { addTestOptions, deviceBackend, deviceOption, RUN_DIR_HELP } from './options.js';

export interface TestFlags {
  weights: 'best' | 'last';
  count: number;
  embed: EmbedMethod;
  split: Split;
  limit?: number;
  device?: string;
  projector?: string;
  force?: boolean;
  nll?: number;
}

export async function testCommand(runDir: string, flags: TestFlags): Promise<void> {
  const backend = await deviceBackend(flags.device);
  // t-SNE progress: a bar with the KL divergence on a terminal, a line at every report otherwise.
  const tty = Boolean(process.stdout.isTTY) && !process.env.CI;
  let bar: cliProgress.SingleBar | null = null;
  const stopBar = () => {
    bar?.stop();
    bar = null;
  };
  let lastReported = 0;
  try {
    const { evaluateRun } = await import('../evaluate/evaluate-run.js');
    const { TSNE_DEFAULTS, TSNE_TOTAL_ITERATIONS } = await import('../embed/tsne.js');
    const result = await evaluateRun(runDir, {
      weights: flags.weights,
      projector: flags.projector,
      force: flags.force,
      count: flags.count,
      embed: flags.embed,
      split: flags.split,
      limit: flags.limit,
      nllSamples: flags.nll,
      backend,
      onMessage: (text) => {
        stopBar();
        console.log(text);
      },
      embedOptions: {
        reportEvery: TSNE_DEFAULTS.callbackEvery,
        onStage: (stage) => {
          if (stage === 'optimisation' && tty) {
            bar = new cliProgress.SingleBar(
              { format: 't-SNE {bar} {value}/{total} iterations | KL {kl} | eta {eta_formatted}', hideCursor: true, clearOnComplete: true },
              cliProgress.Presets.shades_classic,
            );
            bar.start(TSNE_TOTAL_ITERATIONS, 0, { kl: '-' });
          } else if (!tty) {
            console.log(`  t-SNE: ${stage}`);
          }
        },
        onProgress: (iteration, kl) => {
          if (iteration === lastReported) return;
          lastReported = iteration;
          if (bar) bar.update(iteration, { kl: kl.toFixed(4) });
          else console.log(`  t-SNE iteration ${iteration}/${TSNE_TOTAL_ITERATIONS}, KL divergence ${kl.toFixed(4)}`);
        },
      },
    });
    stopBar();
    const { knn5_accuracy_2d: knn2d, trustworthiness_k10: trust, seconds } = result.metrics.embedding;
    const knn = knn2d === null ? '' : `5-NN accuracy ${knn2d.toFixed(4)}, `;
    console.log(`2-D map: ${knn}trustworthiness ${trust === null ? 'n/a (too few points)' : trust.toFixed(4)}, ${seconds.toFixed(1)} s`);
    console.log(`outputs in ${result.outputDir}:`);
    for (const f of result.files) console.log(`  ${f}`);
  } finally {
    stopBar();
  }
}

export function addTestCommand(program: Command): void {
  addTestOptions(
    program
      .command('test')
      .description('evaluate a run: test loss, reconstructions.png, latent_<method>.png, loss.png, metrics.json in <run_dir>/vis_outputs/')
      .argument('<run_dir>', RUN_DIR_HELP),
  )
    .addOption(deviceOption())
    .action((runDir: string, flags: TestFlags) => testCommand(runDir, flags));
}
