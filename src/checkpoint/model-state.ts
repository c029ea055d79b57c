/**
 * The mapping between a live model and optimizer and a checkpoint: gathering their tensors into one file,
 * restoring them, and checking that a checkpoint fits the model a config builds.
 */
import { tf } from '../backend/index.js';
import { configHash, modelSignature } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { createModel, type Autoencoder } from '../models/registry.js';
import {
  readCheckpoint,
  tensorValues,
  writeCheckpoint,
  type Checkpoint,
  type HistoryRow,
  type TensorRecord,
  type TrainingState,
} from './checkpoint.js';

/** tfjs's Adam keeps beta1^t and beta2^t as running float32 products in (private) variables. */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

function biasCorrection(optimizer: tf.AdamOptimizer): [number, number] {
  const adam = optimizer as unknown as AdamInternals;
  return [adam.accBeta1.dataSync()[0]!, adam.accBeta2.dataSync()[0]!];
}

/** Gathers model variables and Adam's moments into one checkpoint and writes it atomically. */
export async function saveTrainingCheckpoint(
  file: string,
  config: Config,
  model: Autoencoder,
  optimizer: tf.AdamOptimizer,
  state: TrainingState,
): Promise<void> {
  const optWeights = await optimizer.getWeights();
  const iterations = (await optWeights[0]!.tensor.data())[0]!;
  optWeights[0]!.tensor.dispose(); // a fresh scalar made by getWeights(); the moments are the optimizer's own
  const named = [
    ...model.params.variables.map((v) => ({ name: v.name, tensor: v.variable as tf.Tensor })),
    ...optWeights.slice(1).map((w) => ({ name: w.name, tensor: w.tensor })),
  ];
  const total = named.reduce((a, t) => a + t.tensor.size, 0);
  const data = new Float32Array(total);
  const records: TensorRecord[] = [];
  let offset = 0;
  for (const t of named) {
    data.set((await t.tensor.data()) as Float32Array, offset);
    records.push({ name: t.name, shape: t.tensor.shape, offset });
    offset += t.tensor.size;
  }
  const nVars = model.params.variables.length;
  try {
    writeCheckpoint(
      file,
      {
        model_signature: modelSignature(config),
        config_hash: configHash(config),
        config,
        state: structuredClone(state),
        variables: records.slice(0, nVars),
        optimizer: { iterations, slots: records.slice(nVars), bias_correction: biasCorrection(optimizer) },
      },
      data,
    );
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      `cannot write checkpoint ${file}: ${code ?? (e as Error).message}`,
      code === 'ENOSPC'
        ? 'the disk is full; free some space, then resume (the previous checkpoint is intact)'
        : 'check that the run directory is writable; the previous checkpoint is intact',
    );
  }
}

/** Loads a checkpoint's weights into a freshly built model (every variable must be there, with its shape). */
export function restoreWeights(ckpt: Checkpoint, model: Autoencoder, file: string): void {
  const byName = new Map(ckpt.header.variables.map((r) => [r.name, r]));
  for (const v of model.params.variables) {
    const rec = byName.get(v.name);
    if (!rec || rec.shape.join('x') !== v.variable.shape.join('x')) {
      throw new UserError(
        `checkpoint ${file} does not fit this model: variable ${v.name} ${rec ? `has shape ${rec.shape.join('x')}, expected ${v.variable.shape.join('x')}` : 'is missing'}`,
        'use the checkpoint with the config of the run that wrote it',
      );
    }
    tf.tidy(() => v.variable.assign(tf.tensor(tensorValues(ckpt, rec), rec.shape)));
  }
}

/** Loads Adam's step count, moments and bias-correction products into a fresh optimizer. */
export async function restoreOptimizer(ckpt: Checkpoint, optimizer: tf.AdamOptimizer): Promise<void> {
  const { iterations, slots, bias_correction: acc } = ckpt.header.optimizer;
  const weights = [
    { name: 'iter', tensor: tf.scalar(iterations, 'int32') },
    ...slots.map((s) => ({ name: s.name, tensor: tf.tensor(tensorValues(ckpt, s), s.shape) })),
  ];
  await optimizer.setWeights(weights); // copies each tensor into a variable of its own
  tf.dispose(weights.map((w) => w.tensor));
  // setWeights recomputes beta^(t+1) with pow(), which differs from the running product in the last bits; the
  // saved products make the resumed run identical to an uninterrupted one.
  if (acc) {
    const adam = optimizer as unknown as AdamInternals;
    tf.tidy(() => {
      adam.accBeta1.assign(tf.scalar(acc[0]));
      adam.accBeta2.assign(tf.scalar(acc[1]));
    });
  }
}

/** Checks that a checkpoint was written for a model of this shape. */
export function checkSignature(ckpt: Checkpoint, config: Config, file: string): void {
  const expected = modelSignature(config);
  if (ckpt.header.model_signature !== expected) {
    throw new UserError(
      `checkpoint ${file} was written for a different model: ${ckpt.header.model_signature}, this run needs ${expected}`,
      'use the checkpoint together with the run directory (and config) that wrote it',
    );
  }
}

export interface LoadedModel {
  model: Autoencoder;
  /** Epochs finished when the checkpoint was written. */
  epoch: number;
  history: HistoryRow[];
  /** Training steps taken (Adam's step count). */
  steps: number;
  /** The SHA-256 of the checkpoint's tensor data: it changes exactly when the weights do. */
  checkpointSha256: string;
}

/** Builds the run's model and loads a checkpoint's weights into it (signature checked). */
export function loadModel(config: Config, checkpointFile: string): LoadedModel {
  const ckpt = readCheckpoint(checkpointFile);
  checkSignature(ckpt, config, checkpointFile);
  const model = createModel(config);
  restoreWeights(ckpt, model, checkpointFile);
  return {
    model,
    epoch: ckpt.header.state.epoch,
    history: ckpt.header.state.history,
    steps: ckpt.header.optimizer.iterations,
    checkpointSha256: ckpt.header.data_sha256,
  };
}
