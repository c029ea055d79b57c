/** `ae train`: start a new run. */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { addTrainOptions, deviceBackend } from './options.js';
import { withSignals } from './training-signals.js';

export interface TrainFlags {
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

export async function trainCommand(flags: TrainFlags): Promise<void> {
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
  // The pipeline (TensorFlow.js, the native kernels, image codecs: about half a second to load) is imported when a
  // command runs, so `--help` and a refused config answer at once.
  const { train } = await import('../train/trainer.js');
  await withSignals((opts) => train(config, opts));
  console.log(
    `run directory: ${path.join(config.project, config.name)} (config.yaml, weights/best.ckpt, weights/last.ckpt, history.jsonl, train.log)`,
  );
}

export function addTrainCommand(program: Command): void {
  addTrainOptions(program.command('train').description('start a new training run in <project>/<name>/')).action((flags: TrainFlags) =>
    trainCommand(flags),
  );
}
