/** Loading a trained model from its run, and encoding image sets into latent codes. */
import { tf } from '../backend/index.js';
import { batchTensor, type ImageSet } from '../data/dataset.js';
import { createModel, type Autoencoder } from '../models/model.js';
import { readCheckpoint, type HistoryRow } from '../checkpoint/checkpoint.js';
import { checkSignature, restoreWeights } from '../train/trainer.js';
import { evalBatchSize } from '../train/validate.js';
import type { Config } from '../config/schema.js';

/** Builds the run's model and loads a checkpoint's weights into it (signature checked). */
export function loadModel(config: Config, checkpointFile: string): { model: Autoencoder; epoch: number; history: HistoryRow[] } {
  const ckpt = readCheckpoint(checkpointFile);
  checkSignature(ckpt, config, checkpointFile);
  const model = createModel(config);
  restoreWeights(ckpt, model, checkpointFile);
  return { model, epoch: ckpt.header.state.epoch, history: ckpt.header.state.history };
}

/** Latent codes of every image in `set`, flattened: count x prod(latentShape), in inference mode. */
export function encodeSet(model: Autoencoder, set: ImageSet): { codes: Float32Array; dim: number } {
  const dim = model.latentShape.reduce((a, b) => a * b, 1);
  const codes = new Float32Array(set.count * dim);
  const bs = evalBatchSize(model);
  for (let start = 0; start < set.count; start += bs) {
    const end = Math.min(set.count, start + bs);
    const z = tf.tidy(() => model.encode(batchTensor(set, null, start, end), { training: false, seed: 0 }));
    codes.set(z.dataSync() as Float32Array, start * dim);
    z.dispose();
  }
  return { codes, dim };
}
