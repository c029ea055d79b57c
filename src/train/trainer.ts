/**
 * The training loop: seeded batches, Adam with PyTorch's settings, validation each epoch, `best`/`last`
 * checkpoints, and stopping on request at a consistent point that `resume` continues from exactly.
 *
 * Every random draw is derived from (seed, purpose, epoch, step), so the loop's position is its whole RNG state:
 * a resumed run repeats exactly the batches, dropout masks and noise the uninterrupted run would have used.
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { initBackend, tf, type BackendName } from '../backend/index.js';
import { type HistoryRow, readCheckpoint, type TrainingState } from '../checkpoint/checkpoint.js';
import { checkSignature, restoreOptimizer, restoreWeights, saveTrainingCheckpoint } from '../checkpoint/model-state.js';
import { assertRunDirFree, createRunDir, openRunDir, type RunDir, type RunProgress, readRunConfig } from '../checkpoint/run-dir.js';
import { acquireRunLock } from '../checkpoint/run-lock.js';
import { resolveConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { BatchReader, type DataSplits } from '../data/dataset.js';
import { loadData } from '../data/load.js';
import { TrainingInterrupted, UserError } from '../errors.js';
import { addNoise } from '../models/loss.js';
import { type Autoencoder, createModel } from '../models/registry.js';
import { betaOf, evaluateObjective, klWeightAt, objective, objectiveOf } from '../models/objective.js';
import { copyFileAtomic, writeFileAtomic } from '../util/fs.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { FusedAdamOptimizer } from './adam.js';

export type TrainEvent =
  | { type: 'start'; runDir: string; config: Config; resumed: boolean; state: TrainingState; trainCount: number; valCount: number }
  | { type: 'epoch-start'; epoch: number; epochs: number; step: number; steps: number }
  | { type: 'batch'; epoch: number; step: number; steps: number; loss: number; samplesPerSec: number }
  | { type: 'validation'; done: number; total: number }
  | { type: 'decode'; done: number; total: number }
  | { type: 'epoch-end'; row: HistoryRow; isBest: boolean }
  | { type: 'message'; text: string };

export interface TrainOptions {
  /** Progress and messages; the library never prints. */
  onEvent?: (event: TrainEvent) => void;
  /** Polled before every step; true saves `last` and ends with TrainingInterrupted. */
  shouldStop?: () => boolean;
  /** Preloaded data (skips loading MNIST from the config). */
  data?: DataSplits;
  /** resume: compute backend for this session instead of the run's own (e.g. webgpu). */
  backend?: BackendName;
}

export interface TrainResult {
  runDir: string;
  history: HistoryRow[];
  bestValLoss: number | null;
  model: Autoencoder;
}

function newState(): TrainingState {
  return { epoch: 0, step: 0, globalStep: 0, epochLossSum: 0, epochSamples: 0, epochSeconds: 0, bestValLoss: null, history: [] };
}

export function createOptimizer(config: Config): tf.AdamOptimizer {
  // PyTorch's Adam defaults: betas 0.9/0.999, epsilon 1e-8 (tfjs would default epsilon to 1e-7).
  return new FusedAdamOptimizer(config.lr, 0.9, 0.999, 1e-8);
}

/** A training step's loss: the total minimised, and for VAEs its reconstruction and KL terms. */
export interface StepLoss {
  total: number;
  recon: number;
  kl: number | null;
}

/**
 * One optimisation step. `klWeight` (VAEs) defaults to the config's full beta; the loop passes the warm-up value.
 * Every tensor it makes is disposed before it returns.
 */
export function trainStep(
  model: Autoencoder,
  optimizer: tf.AdamOptimizer,
  varList: tf.Variable[],
  x: tf.Tensor4D,
  config: Config,
  epoch: number,
  step: number,
  klWeight = betaOf(config),
): StepLoss {
  const stepSeed = deriveSeed(config.seed, 'step', epoch, step);
  const { loss } = objectiveOf(config);
  let terms: tf.Scalar[] = [];
  const total = tf.tidy(
    () =>
      optimizer.minimize(
        () => {
          const input = config.denoising
            ? addNoise(x, { mean: config.noise_mean, std: config.noise_std }, deriveSeed(stepSeed, 'noise'))
            : x;
          const parts = objective(model, input, x, { training: true, seed: stepSeed }, loss, klWeight, stepSeed);
          // The terms leave the gradient tape's tidy scope so they can be read after the step.
          if (parts.kl) terms = [tf.keep(parts.recon), tf.keep(parts.kl)];
          return parts.total;
        },
        true,
        varList,
      )!,
  );
  const value = total.dataSync()[0]!;
  total.dispose();
  if (terms.length === 0) return { total: value, recon: value, kl: null };
  const [recon, kl] = terms.map((t) => t.dataSync()[0]!);
  tf.dispose(terms);
  return { total: value, recon: recon!, kl: kl! };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The loop shared by train and resume: runs from `state` to the configured number of epochs. */
async function runLoop(
  run: RunDir,
  config: Config,
  model: Autoencoder,
  optimizer: tf.AdamOptimizer,
  state: TrainingState,
  data: DataSplits,
  opts: TrainOptions,
): Promise<TrainResult> {
  const emit = opts.onEvent ?? (() => {});
  const message = (text: string) => {
    run.log(text);
    emit({ type: 'message', text });
  };
  const varList = model.params.trainable();
  const steps = Math.ceil(data.train.count / config.batch_size);
  const noise = config.denoising ? { mean: config.noise_mean, std: config.noise_std } : null;
  const save = (file: string) => saveTrainingCheckpoint(file, config, model, optimizer, state);
  // progress.json, for watchers (ae view): rewritten at most once a second, and at each epoch's end.
  let lastProgress = 0;
  // The epoch's loss step by step for the live chart: means over chunks of about 1% of the epoch.
  const chunk = Math.max(1, Math.floor(steps / 100));
  let stepLosses: Array<[number, number]> = [];
  let chunkSum = 0;
  let chunkSteps = 0;
  const progress = (phase: RunProgress['phase'], force = false) => {
    if (!force && performance.now() - lastProgress < 1000) return;
    lastProgress = performance.now();
    run.writeProgress({
      phase,
      epoch: state.epoch,
      epochs: config.epochs,
      step: state.step,
      steps,
      epoch_loss: state.epochSamples > 0 ? state.epochLossSum / state.epochSamples : null,
      updated: new Date().toISOString(),
      pid: process.pid,
      step_losses: stepLosses,
      epoch_seconds: state.epochSeconds,
      images_per_second: state.epochSeconds > 0 ? state.epochSamples / state.epochSeconds : null,
    });
  };
  const stop = async (): Promise<never> => {
    await save(run.lastCheckpoint);
    message(`interrupted at epoch ${state.epoch + 1}, step ${state.step}; saved ${run.lastCheckpoint}`);
    throw new TrainingInterrupted(run.dir, state.epoch, state.step);
  };

  while (state.epoch < config.epochs) {
    const order = new Rng(deriveSeed(config.seed, 'shuffle', state.epoch)).permutation(data.train.count);
    // Reads each batch while the previous one trains (streamed sets); the first is read where it is taken.
    const batches = new BatchReader(data.train, order, config.batch_size);
    emit({ type: 'epoch-start', epoch: state.epoch, epochs: config.epochs, step: state.step, steps });
    stepLosses = [];
    chunkSum = 0;
    chunkSteps = 0;
    while (state.step < steps) {
      await yieldToEventLoop(); // lets signal handlers and progress rendering run
      if (opts.shouldStop?.()) await stop();
      const t0 = performance.now();
      const start = state.step * config.batch_size;
      const end = Math.min(data.train.count, start + config.batch_size);
      const x = await batches.take(state.step);
      const stepLoss = trainStep(
        model,
        optimizer,
        varList,
        x,
        config,
        state.epoch,
        state.step,
        klWeightAt(config, state.globalStep, steps),
      );
      const loss = stepLoss.total;
      x.dispose();
      const seconds = (performance.now() - t0) / 1000;
      if (!Number.isFinite(loss)) {
        throw new UserError(
          `training loss became ${loss} at epoch ${state.epoch + 1}, step ${state.step}; stopped without saving, so ${run.lastCheckpoint} still holds the last good state`,
          `lower the learning rate (lr is ${config.lr}), then resume or start a new run`,
        );
      }
      state.epochLossSum += loss * (end - start);
      if (stepLoss.kl !== null) {
        state.epochReconSum = (state.epochReconSum ?? 0) + stepLoss.recon * (end - start);
        state.epochKlSum = (state.epochKlSum ?? 0) + stepLoss.kl * (end - start);
      }
      state.epochSamples += end - start;
      state.epochSeconds += seconds;
      state.globalStep++;
      state.step++;
      chunkSum += loss;
      if (++chunkSteps === chunk || state.step === steps) {
        stepLosses.push([state.step, chunkSum / chunkSteps]);
        chunkSum = 0;
        chunkSteps = 0;
      }
      emit({ type: 'batch', epoch: state.epoch, step: state.step, steps, loss, samplesPerSec: (end - start) / seconds });
      progress('train');
    }
    progress('validation', true);
    const t0 = performance.now();
    // Stopping during validation saves the position "all steps done": resume then starts with the validation.
    const val = await evaluateObjective(
      model,
      data.validation,
      { noise, ...objectiveOf(config), seed: deriveSeed(config.seed, 'validation') },
      (done, total) => emit({ type: 'validation', done, total }),
      () => opts.shouldStop?.() ?? false,
    );
    if (val === null) return stop();
    const valLoss = val.total;
    const row: HistoryRow = {
      epoch: state.epoch + 1,
      step: state.globalStep,
      train_loss: state.epochLossSum / state.epochSamples,
      val_loss: valLoss,
      seconds: state.epochSeconds + (performance.now() - t0) / 1000,
    };
    if (val.kl !== null) {
      row.train_recon = (state.epochReconSum ?? 0) / state.epochSamples;
      row.train_kl = (state.epochKlSum ?? 0) / state.epochSamples;
      row.val_recon = val.recon;
      row.val_kl = val.kl;
    }
    state.history.push(row);
    const isBest = state.bestValLoss === null || valLoss < state.bestValLoss;
    if (isBest) state.bestValLoss = valLoss;
    state.epochLossSum = 0;
    if (val.kl !== null) {
      state.epochReconSum = 0;
      state.epochKlSum = 0;
    }
    state.epochSamples = 0;
    state.epochSeconds = 0;
    // The saved position is the start of the next epoch; the checkpoint is written before the history file,
    // which mirrors the checkpoint's copy of the history.
    state.epoch++;
    state.step = 0;
    await save(run.lastCheckpoint);
    if (isBest) copyFileAtomic(run.lastCheckpoint, run.bestCheckpoint);
    run.writeHistory(state.history);
    run.log(
      `epoch ${row.epoch}/${config.epochs} train_loss ${row.train_loss.toFixed(6)} val_loss ${row.val_loss.toFixed(6)} ${row.seconds.toFixed(1)}s${isBest ? ' (best)' : ''}`,
    );
    emit({ type: 'epoch-end', row, isBest });
    progress(state.epoch < config.epochs ? 'train' : 'finished', true);
  }
  message(`finished ${config.epochs} epochs; best validation loss ${state.bestValLoss?.toFixed(6)}; outputs in ${run.dir}`);
  return { runDir: run.dir, history: state.history, bestValLoss: state.bestValLoss, model };
}

/** The config's data, with its messages and decoding progress reported as events. */
function loadRunData(config: Config, emit: (event: TrainEvent) => void, shouldStop?: () => boolean): Promise<DataSplits> {
  return loadData(
    config,
    (text) => emit({ type: 'message', text }),
    (done, total) => emit({ type: 'decode', done, total }),
    shouldStop,
  );
}

/** Starts a new run: creates `<project>/<name>/` and trains. */
export async function train(config: Config, opts: TrainOptions = {}): Promise<TrainResult> {
  assertRunDirFree(config); // fail fast, before minutes of data loading
  await initBackend(config.backend);
  const emit = opts.onEvent ?? (() => {});
  // Load data before creating the run directory, so bad data leaves nothing behind.
  const data = opts.data ?? (await loadRunData(config, emit, opts.shouldStop));
  const model = createModel(config);
  const run = createRunDir(config);
  const lock = acquireRunLock(run.dir, 'ae train', (text) => emit({ type: 'message', text }));
  run.log(`train ${run.dir} (${config.model_type}${config.denoising ? ', denoising' : ''}, backend ${config.backend})`);
  const optimizer = createOptimizer(config);
  const state = newState();
  emit({ type: 'start', runDir: run.dir, config, resumed: false, state, trainCount: data.train.count, valCount: data.validation.count });
  try {
    return await runLoop(run, config, model, optimizer, state, data, opts);
  } finally {
    optimizer.dispose();
    lock.release();
  }
}

/** Continues a run from `weights/last.ckpt`. `epochs` may raise the run's epoch count. */
export async function resume(runDirPath: string, opts: TrainOptions & { epochs?: number } = {}): Promise<TrainResult> {
  const run = openRunDir(runDirPath);
  // The lock first: a second writer is refused before it reads a checkpoint or cleans the other's temp files.
  const lock = acquireRunLock(run.dir, 'ae resume', (text) => opts.onEvent?.({ type: 'message', text }));
  try {
    return await resumeLocked(run, opts);
  } finally {
    lock.release();
  }
}

async function resumeLocked(run: RunDir, opts: TrainOptions & { epochs?: number }): Promise<TrainResult> {
  run.cleanStale();
  let config = readRunConfig(run);
  if (opts.epochs !== undefined) {
    config = resolveConfig({ ...config, epochs: opts.epochs }, run.configFile);
  }
  if (!fs.existsSync(run.lastCheckpoint)) {
    throw new UserError(
      `${run.dir} has no checkpoint to resume from (${run.lastCheckpoint} is missing)`,
      `the run stopped before its first save; start it again with \`ae train\` under another \`name\``,
      { option: 'name' },
    );
  }
  const ckpt = readCheckpoint(run.lastCheckpoint);
  checkSignature(ckpt, config, run.lastCheckpoint);
  const state = ckpt.header.state;
  if (state.epoch >= config.epochs) {
    throw new UserError(
      `${run.dir} already finished its ${config.epochs} epochs`,
      `to train longer, pass \`epochs\` N with N > ${config.epochs}`,
      { option: 'epochs' },
    );
  }
  await initBackend(opts.backend ?? config.backend);
  const emit = opts.onEvent ?? (() => {});
  const data = opts.data ?? (await loadRunData(config, emit, opts.shouldStop));
  const model = createModel(config);
  restoreWeights(ckpt, model, run.lastCheckpoint);
  const optimizer = createOptimizer(config);
  await restoreOptimizer(ckpt, optimizer);
  if (opts.epochs !== undefined) writeFileAtomic(run.configFile, YAML.stringify(config));
  run.log(`resume ${run.dir} at epoch ${state.epoch + 1}, step ${state.step}`);
  emit({ type: 'start', runDir: run.dir, config, resumed: true, state, trainCount: data.train.count, valCount: data.validation.count });
  try {
    return await runLoop(run, config, model, optimizer, state, data, opts);
  } finally {
    optimizer.dispose();
  }
}
