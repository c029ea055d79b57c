#!/usr/bin/env node
/**
 * The `ae` command. The only module that prints for the user and calls process.exit.
 *   ae train --config FILE [--name N] [--epochs E] ...
 *   ae resume RUN_DIR [--epochs E]
 *   ae test RUN_DIR [--weights best|last] [--embed tsne|umap|pca] ...
 *   ae encode RUN_DIR [--input SPEC...] [--format npy|csv|bin];  ae score RUN_DIR [--input SPEC...] [--percentile P]
 * and the reference's flags: ae -m train -c 0|1 -n NAME -d cpu|gpu --config FILE
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from './config/load.js';
import { UserError, TrainingInterrupted } from './errors.js';
import type { TrainOptions } from './train/trainer.js';
import { createReporter } from './cli/progress.js';
import { addExchangeCommands } from './cli/exchange-commands.js';
import { addUseCommands } from './cli/use-commands.js';
import { addViewCommand } from './cli/view-command.js';
import type { Split } from './evaluate/evaluate-run.js';
import type { EmbedMethod } from './embed/index.js';
import type { Config } from './config/schema.js';
import type { BackendName } from './backend/index.js';

// The pipeline (TensorFlow.js, the native kernels, image codecs: about half a second to load) is imported when a
// command runs, so `--help` and a refused config answer at once.
const trainer = () => import('./train/trainer.js');

const EXIT_USER_ERROR = 1;
const EXIT_INTERRUPTED = { SIGINT: 130, SIGTERM: 143 } as const;

let verbose = Boolean(process.env.DEBUG);

function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}
function numArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}

/** -d gpu: the WebGPU backend, brought up now so a missing adapter is reported before anything is written. */
async function deviceBackend(device: string | undefined): Promise<BackendName | undefined> {
  if (device !== 'gpu') return undefined;
  const { initBackend } = await import('./backend/index.js');
  await initBackend('webgpu');
  return 'webgpu';
}

/** Runs training with Ctrl-C/SIGTERM handling: the first signal stops at the next step and saves `last`. */
async function withSignals(run: (opts: TrainOptions) => Promise<unknown>): Promise<void> {
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
    process.stderr.write(`\n${sig} received: saving a checkpoint after the current step (press Ctrl-C again to quit at once)\n`);
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
    throw e;
  } finally {
    reporter.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

interface TrainFlags {
  config?: string;
  name?: string;
  project?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  backend?: string;
  device?: string;
  unique?: boolean;
}

/** Picks `name`, or with --unique the first free `name-2`, `name-3`, ... */
function uniqueName(config: Config): string {
  let name = config.name;
  for (let i = 2; fs.existsSync(path.join(config.project, name)); i++) name = `${config.name}-${i}`;
  return name;
}

async function trainCommand(flags: TrainFlags): Promise<void> {
  const gpu = await deviceBackend(flags.device);
  const overrides = {
    name: flags.name,
    project: flags.project,
    epochs: flags.epochs,
    batch_size: flags.batchSize,
    lr: flags.lr,
    seed: flags.seed,
    backend: gpu ?? flags.backend,
  };
  let config = loadConfig(flags.config, overrides);
  if (flags.unique) config = { ...config, name: uniqueName(config) };
  const { train } = await trainer();
  await withSignals((opts) => train(config, opts));
  console.log(
    `run directory: ${path.join(config.project, config.name)} (config.yaml, weights/best.ckpt, weights/last.ckpt, history.jsonl, train.log)`,
  );
}

async function resumeCommand(runDir: string, flags: { epochs?: number; device?: string }): Promise<void> {
  const backend = await deviceBackend(flags.device);
  const { resume } = await trainer();
  await withSignals((opts) => resume(runDir, { ...opts, epochs: flags.epochs, backend }));
  console.log(`run directory: ${runDir}`);
}

interface TestFlags {
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

async function testCommand(runDir: string, flags: TestFlags): Promise<void> {
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
    const { evaluateRun } = await import('./evaluate/evaluate-run.js');
    const { TSNE_DEFAULTS, TSNE_TOTAL_ITERATIONS } = await import('./embed/tsne.js');
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

function addTestOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--weights <which>', 'checkpoint to evaluate').choices(['best', 'last']).default('best'))
    .option('--count <n>', 'images in reconstructions.png', intArg, 10)
    .addOption(new Option('--embed <method>', '2-D map method').choices(['tsne', 'umap', 'pca']).default('tsne'))
    .addOption(new Option('--split <split>', 'which images to evaluate').choices(['test', 'validation', 'train']).default('test'))
    .option('--limit <n>', 'evaluate only the first N images of the split', intArg)
    .option('--projector <dir>', 'also write an Embedding Projector folder (codes, metadata, sprite, our map as a bookmark)')
    .option('--force', 'replace an existing --projector folder')
    .option(
      '--nll <k>',
      "VAEs: estimate the test negative log-likelihood with k importance samples per image (e.g. 200; pythae's setting)",
      intArg,
    );
}

function addTrainOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'config file (YAML or JSON); keys not given take their defaults')
    .option('-n, --name <name>', "run name (overrides the config's `name`)")
    .option('--project <dir>', 'folder that holds runs (overrides `project`)')
    .option('--epochs <n>', 'number of epochs (overrides `epochs`)', intArg)
    .option('--batch-size <n>', 'batch size (overrides `batch_size`)', intArg)
    .option('--lr <x>', 'learning rate (overrides `lr`)', numArg)
    .option('--seed <n>', 'random seed (overrides `seed`)', intArg)
    .addOption(new Option('--backend <name>', 'compute backend (overrides `backend`)').choices(['wasm', 'cpu', 'webgpu']))
    .addOption(new Option('-d, --device <device>', 'cpu, or gpu (WebGPU; needs a GPU adapter)').choices(['cpu', 'gpu']))
    .option('--unique', 'if the run name is taken, use name-2, name-3, ... instead of refusing');
}

function buildProgram(): Command {
  const program = new Command('ae')
    .description(
      'Train, resume and evaluate autoencoders (AE, CAE, BottleneckCAE, VAE, ConvVAE, denoising) on MNIST, Fashion-MNIST or your own image folders; see README.md',
    )
    .option('--verbose', 'show stack traces for errors')
    .showHelpAfterError()
    .hook('preAction', (cmd) => {
      if (cmd.opts().verbose) verbose = true;
    });

  addTrainOptions(program.command('train').description('start a new training run in <project>/<name>/')).action((flags: TrainFlags) =>
    trainCommand(flags),
  );

  program
    .command('resume')
    .description('continue an interrupted run from its weights/last.ckpt')
    .argument('<run_dir>', 'the run directory, e.g. runs/mnist-ae')
    .option('--epochs <n>', 'train up to this many epochs in total (to extend a finished run)', intArg)
    .addOption(new Option('-d, --device <device>', 'cpu, or gpu (WebGPU; needs a GPU adapter)').choices(['cpu', 'gpu']))
    .action((runDir: string, flags: { epochs?: number; device?: string }) => resumeCommand(runDir, flags));

  addTestOptions(
    program
      .command('test')
      .description('evaluate a run: test loss, reconstructions.png, latent_<method>.png, loss.png, metrics.json in <run_dir>/vis_outputs/')
      .argument('<run_dir>', 'the run directory, e.g. runs/mnist-ae'),
  )
    .addOption(new Option('-d, --device <device>', 'cpu, or gpu (WebGPU; needs a GPU adapter)').choices(['cpu', 'gpu']))
    .action((runDir: string, flags: TestFlags) => testCommand(runDir, flags));

  addUseCommands(program, deviceBackend);
  addExchangeCommands(program, deviceBackend);
  addViewCommand(program);
  return program;
}

/** The reference's interface: -m train|test, -c 1 to continue the run named by -n, -d cpu|gpu. */
function buildReferenceProgram(): Command {
  return addTestOptions(addTrainOptions(new Command('ae')))
    .description('reference-style flags: ae -m train|test --config FILE [-n NAME] [-c 1] [-d cpu]')
    .addOption(new Option('-m, --mode <mode>', 'train or test').choices(['train', 'test']).default('train'))
    .addOption(new Option('-c, --cont <flag>', '1 continues the run named by -n').choices(['0', '1']).default('0'))
    .option('--verbose', 'show stack traces for errors')
    .showHelpAfterError()
    .action(async (flags: TrainFlags & TestFlags & { mode: string; cont: string; verbose?: boolean }) => {
      if (flags.verbose) verbose = true;
      if (flags.mode === 'test') {
        const config = loadConfig(flags.config, { name: flags.name, project: flags.project });
        return testCommand(path.join(config.project, config.name), flags);
      }
      if (flags.cont === '1') {
        const config = loadConfig(flags.config, { name: flags.name, project: flags.project });
        return resumeCommand(path.join(config.project, config.name), { epochs: flags.epochs, device: flags.device });
      }
      return trainCommand(flags);
    });
}

async function main(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  const referenceStyle = args.length > 0 && args[0]!.startsWith('-') && !['-h', '--help', '-V', '--version'].includes(args[0]!);
  if (args.includes('--verbose')) verbose = true;
  const program = referenceStyle ? buildReferenceProgram() : buildProgram();
  await program.parseAsync(argv);
}

main(process.argv).catch((e: unknown) => {
  if (e instanceof UserError) {
    process.stderr.write(`error: ${e.message}\n`);
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
});
