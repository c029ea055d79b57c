/** The options and arguments several commands share, declared once. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { BackendName } from '../backend/index.js';

export function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}

export function numArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}

export const RUN_DIR_HELP = 'the run directory, e.g. runs/mnist-ae';

/** -d, --device: cpu, or gpu (WebGPU). */
export function deviceOption(): Option {
  return new Option('-d, --device <device>', 'cpu, or gpu (WebGPU; needs a GPU adapter)').choices(['cpu', 'gpu']);
}

/** --weights best|last. */
export function weightsOption(what = 'checkpoint to use'): Option {
  return new Option('--weights <which>', what).choices(['best', 'last']).default('best');
}

/** --split test|validation|train. */
export function splitOption(what: string): Option {
  return new Option('--split <split>', what).choices(['test', 'validation', 'train']).default('test');
}

/** -d gpu: the WebGPU backend, brought up now so a missing adapter is reported before anything is written. */
export async function deviceBackend(device: string | undefined): Promise<BackendName | undefined> {
  if (device !== 'gpu') return undefined;
  const { initBackend } = await import('../backend/index.js');
  await initBackend('webgpu');
  return 'webgpu';
}

/** The options of `ae train` (also the reference-style program's). */
export function addTrainOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'config file (YAML or JSON); keys not given take their defaults')
    .option('-n, --name <name>', "run name (overrides the config's `name`)")
    .option('--project <dir>', 'folder that holds runs (overrides `project`)')
    .option('--epochs <n>', 'number of epochs (overrides `epochs`)', intArg)
    .option('--batch-size <n>', 'batch size (overrides `batch_size`)', intArg)
    .option('--lr <x>', 'learning rate (overrides `lr`)', numArg)
    .option('--seed <n>', 'random seed (overrides `seed`)', intArg)
    .addOption(new Option('--backend <name>', 'compute backend (overrides `backend`)').choices(['wasm', 'cpu', 'webgpu']))
    .addOption(deviceOption())
    .option('--unique', 'if the run name is taken, use name-2, name-3, ... instead of refusing');
}

/** The options of `ae test` (also the reference-style program's), without --device. */
export function addTestOptions(cmd: Command): Command {
  return cmd
    .addOption(weightsOption('checkpoint to evaluate'))
    .option('--count <n>', 'images in reconstructions.png', intArg, 10)
    .addOption(new Option('--embed <method>', '2-D map method').choices(['tsne', 'umap', 'pca']).default('tsne'))
    .addOption(splitOption('which images to evaluate'))
    .option('--limit <n>', 'evaluate only the first N images of the split', intArg)
    .option('--projector <dir>', 'also write an Embedding Projector folder (codes, metadata, sprite, our map as a bookmark)')
    .option('--force', 'replace an existing --projector folder')
    .option(
      '--nll <k>',
      "VAEs: estimate the test negative log-likelihood with k importance samples per image (e.g. 200; pythae's setting)",
      intArg,
    );
}

/** The options of the commands that read images through a trained model (encode, score). */
export interface UseFlags {
  input?: string[];
  weights: 'best' | 'last';
  force?: boolean;
  device?: string;
}

export function addUseOptions(cmd: Command): Command {
  return cmd
    .argument('<run_dir>', RUN_DIR_HELP)
    .option('--input <spec...>', "test (default), validation, train, or image files and folders (preprocessed as the run's images)")
    .addOption(weightsOption())
    .option('--force', 'replace output files that exist')
    .addOption(deviceOption());
}
