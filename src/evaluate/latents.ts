/** Encoding image sets into latent codes, in inference mode. */
import { tf } from '../backend/index.js';
import { batchTensor, type ImageSet } from '../data/dataset.js';
import { evalBatchSize } from '../models/loss.js';
import type { Autoencoder } from '../models/model.js';

export interface Latents {
  /** count x dim, row-major. */
  codes: Float32Array;
  /** Numbers per code: the product of the model's latent shape. */
  dim: number;
}

/** Latent codes of every image in `set`, flattened: count x prod(latentShape). */
export function encodeSet(model: Autoencoder, set: ImageSet): Latents {
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
