/** `ae encode`, `ae score`, `ae interpolate`, `ae sample`: thin layers over the library's functions, with progress and a summary. */
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { BackendName } from '../backend/index.js';

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

type Hooks = { onMessage: (text: string) => void; onProgress: (done: number, total: number) => void };

/** Runs `work` with a progress display; messages close the bar before they print. */
async function withProgress<T>(label: string, work: (hooks: Hooks) => Promise<T>): Promise<T> {
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

interface UseFlags {
  input?: string[];
  weights: 'best' | 'last';
  force?: boolean;
  device?: string;
}

function percentileArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number in (0, 100)');
  return n;
}

function addUseOptions(cmd: Command): Command {
  return cmd
    .argument('<run_dir>', 'the run directory, e.g. runs/mnist-ae')
    .option('--input <spec...>', "test (default), validation, train, or image files and folders (preprocessed as the run's images)")
    .addOption(new Option('--weights <which>', 'checkpoint to use').choices(['best', 'last']).default('best'))
    .option('--force', 'replace output files that exist')
    .addOption(new Option('-d, --device <device>', 'cpu, or gpu (WebGPU; needs a GPU adapter)').choices(['cpu', 'gpu']));
}

export function addUseCommands(program: Command, deviceBackend: (device: string | undefined) => Promise<BackendName | undefined>): void {
  addUseOptions(
    program
      .command('encode')
      .description('write the latent codes of a split or of image files (npy, csv or bin), row for row with labels and paths'),
  )
    .option('--out <file>', 'output file (default <run_dir>/codes_<input>.<format>)')
    .addOption(
      new Option('--format <format>', 'npy (NumPy), csv, or bin (float32 + JSON sidecar)').choices(['npy', 'csv', 'bin']).default('npy'),
    )
    .option('--projector <dir>', 'also write an Embedding Projector folder (codes, metadata, sprite, a t-SNE map as a bookmark)')
    .option(
      '--onto [map]',
      "also place the images on a saved t-SNE map (a map_<method>.json of `ae test`, or a run folder; default this run's), " +
        'writing <out>_on_<method>.csv and .png',
    )
    .action(
      async (
        runDir: string,
        flags: UseFlags & { out?: string; format: 'npy' | 'csv' | 'bin'; projector?: string; onto?: string | true },
      ) => {
        const backend = await deviceBackend(flags.device);
        const { encode } = await import('../use/encode.js');
        const r = await withProgress('encoding', (hooks) => encode(runDir, { ...flags, backend, ...hooks }));
        console.log(`${r.count} codes of ${r.dim} numbers${r.failed.length ? ` (${r.failed.length} files skipped)` : ''}:`);
        for (const f of r.files) console.log(`  ${f}`);
      },
    );

  addUseOptions(
    program
      .command('score')
      .description('anomaly scores (reconstruction error) of a split or of image files, flagged above a percentile of the training scores'),
  )
    .option('--percentile <p>', "the threshold: this percentile of the training images' scores, in (0, 100)", percentileArg, 95)
    .option('--out <dir>', 'output folder for scores.csv and anomalies.png (default <run_dir>/scores_<input>/)')
    .option('--count <n>', 'images in anomalies.png', (v) => Number(v), 10)
    .action(async (runDir: string, flags: UseFlags & { percentile: number; out?: string; count: number }) => {
      const backend = await deviceBackend(flags.device);
      const { score } = await import('../use/score.js');
      const r = await withProgress('scoring', (hooks) => score(runDir, { ...flags, outDir: flags.out, backend, ...hooks }));
      console.log('outputs:');
      for (const f of r.files) console.log(`  ${f}`);
    });

  program
    .command('interpolate')
    .description("decode points on the line between two images' latent codes and draw them as a strip, the inputs at its ends")
    .argument('<run_dir>', 'the run directory, e.g. runs/mnist-ae')
    .requiredOption('--from <image>', 'an image index in --split, or an image file')
    .requiredOption('--to <image>', 'an image index in --split, or an image file')
    .option('--steps <n>', 'decoded points, both ends included', (v) => Number(v), 8)
    .addOption(new Option('--split <split>', 'where image indices point').choices(['test', 'validation', 'train']).default('test'))
    .option('--out <file>', 'output picture (default <run_dir>/interpolation_<from>_<to>.png)')
    .addOption(new Option('--weights <which>', 'checkpoint to use').choices(['best', 'last']).default('best'))
    .option('--force', 'replace the output picture if it exists')
    .addOption(new Option('-d, --device <device>', 'cpu, or gpu (WebGPU; needs a GPU adapter)').choices(['cpu', 'gpu']))
    .action(
      async (
        runDir: string,
        flags: {
          from: string;
          to: string;
          steps: number;
          split: 'test' | 'validation' | 'train';
          out?: string;
          weights: 'best' | 'last';
          force?: boolean;
          device?: string;
        },
      ) => {
        const backend = await deviceBackend(flags.device);
        const { interpolate } = await import('../use/interpolate.js');
        await interpolate(runDir, { ...flags, backend, onMessage: (t) => console.log(t) });
      },
    );

  program
    .command('sample')
    .description("a VAE's samples: codes drawn from the prior, decoded (samples.png); for a 2-D latent also the decoded latent plane")
    .argument('<run_dir>', 'the run directory of a VAE or ConvVAE, e.g. runs/mnist-vae')
    .option('--count <n>', 'samples to draw', (v) => Number(v), 64)
    .option('--seed <n>', "seed of the draws (default: the run's seed)", (v) => Number(v))
    .option('--grid <n>', 'side of the latent-plane grid (2-D latents)', (v) => Number(v), 20)
    .option('--out <dir>', 'folder for samples.png and latent_grid.png (default <run_dir>)')
    .addOption(new Option('--weights <which>', 'checkpoint to use').choices(['best', 'last']).default('best'))
    .option('--force', 'replace the pictures if they exist')
    .addOption(new Option('-d, --device <device>', 'cpu, or gpu (WebGPU; needs a GPU adapter)').choices(['cpu', 'gpu']))
    .action(
      async (
        runDir: string,
        flags: { count: number; seed?: number; grid: number; out?: string; weights: 'best' | 'last'; force?: boolean; device?: string },
      ) => {
        const backend = await deviceBackend(flags.device);
        const { sample } = await import('../use/sample.js');
        await sample(runDir, { ...flags, gridSize: flags.grid, outDir: flags.out, backend, onMessage: (t) => console.log(t) });
      },
    );
}
