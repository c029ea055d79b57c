/**
 * The reconstruction loss (mean squared error over every pixel, as PyTorch's nn.MSELoss() computes it), the
 * denoising input, and the loss of a whole set in inference mode (BatchNorm running statistics, no dropout).
 */
import { meanSquaredError } from '../accel/index.js';
import { tf } from '../backend/index.js';
import { BatchReader, batchTensor, type ImageSet, slice } from '../data/dataset.js';
import { deriveSeed } from '../util/rng.js';
import { reconstruct } from './registry.js';
import { specOf } from './specs.js';
import type { Autoencoder } from './types.js';

export { meanSquaredError };

export interface NoiseOptions {
  mean: number;
  std: number;
}

/** Adds seeded Gaussian noise (the denoising input); the same seed gives the same noise. */
export function addNoise(x: tf.Tensor4D, noise: NoiseOptions, seed: number): tf.Tensor4D {
  return tf.add(x, tf.randomNormal(x.shape, noise.mean, noise.std, 'float32', seed));
}

/** Pixels of the image size the specs' inference batches are given for (MNIST's 28 x 28). */
const SPEC_BATCH_PIXELS = 28 * 28;

/**
 * The inference batch of a model: its type's (ModelSpec.evalBatchSize), cut in proportion for images larger than
 * 28 x 28. A BottleneckCAE's 500 images at 64 x 64 x 3 grew tfjs-wasm's heap by 2.2 GB at the first validation
 * (measured: 0.99 GB RSS while training, 3.13 GB after it); 95 at a time keep it where training left it.
 */
export function evalBatchSize(model: Autoencoder): number {
  const perSpec = specOf(model.kind).evalBatchSize;
  const pixels = model.shape.height * model.shape.width;
  return Math.max(1, Math.min(perSpec, Math.floor((perSpec * SPEC_BATCH_PIXELS) / pixels)));
}

/**
 * Per-image averages over `set` in inference mode of the scalars `values` computes for each batch (from the model's
 * input, noised for denoising runs with seeds fixed per batch, derived from `seed`, and the clean images).
 * `shouldStop` is polled between batches; the result is null when it asks to stop.
 */
export async function averageOverSet(
  model: Autoencoder,
  set: ImageSet,
  noise: NoiseOptions | null,
  seed: number,
  values: (input: tf.Tensor4D, clean: tf.Tensor4D, batch: number) => tf.Scalar[],
  onProgress?: (done: number, total: number) => void,
  shouldStop?: () => boolean,
): Promise<number[] | null> {
  const bs = evalBatchSize(model);
  const batches = new BatchReader(set, null, bs);
  let sums: number[] = [];
  for (let start = 0, b = 0; start < set.count; start += bs, b++) {
    if (shouldStop) {
      await new Promise<void>((resolve) => setImmediate(resolve)); // let signal handlers run
      if (shouldStop()) return null;
    }
    const end = Math.min(set.count, start + bs);
    const batch = b;
    const x = await batches.take(b);
    const scalars = tf.tidy(() => {
      const input = noise ? addNoise(x, noise, deriveSeed(seed, 'eval-noise', batch)) : x;
      return values(input, x, batch);
    });
    x.dispose();
    const read = await Promise.all(scalars.map((t) => t.data()));
    tf.dispose(scalars);
    if (sums.length === 0) sums = read.map(() => 0);
    read.forEach((v, i) => {
      sums[i]! += v[0]! * (end - start);
    });
    onProgress?.(end, set.count);
  }
  return sums.map((v) => v / set.count);
}

/**
 * Mean squared error over every pixel of `set` (a VAE's reconstructions decoded from its posterior means). With
 * `noise`, inputs are noised with seeds fixed per batch (derived from `seed`), so the loss is comparable across
 * epochs.
 */
export async function evaluateLoss(
  model: Autoencoder,
  set: ImageSet,
  noise: NoiseOptions | null,
  seed: number,
  onProgress?: (done: number, total: number) => void,
): Promise<number> {
  const mse = await averageOverSet(
    model,
    set,
    noise,
    seed,
    (input, clean) => [meanSquaredError(reconstruct(model, input, { training: false, seed: 0 }), clean)],
    onProgress,
  );
  return mse![0]!;
}

/** Per-image mean squared reconstruction error of a batch (clean input in, clean input compared). */
export function reconstructionErrors(model: Autoencoder, set: ImageSet): { errors: Float32Array; recon: Float32Array } {
  const [errors, recon] = tf.tidy(() => {
    const x = batchTensor(set, null, 0, set.count);
    const r = reconstruct(model, x, { training: false, seed: 0 });
    return [tf.mean(tf.squaredDifference(r, x), [1, 2, 3]), r];
  });
  const out = { errors: errors!.dataSync() as Float32Array, recon: recon!.dataSync() as Float32Array };
  tf.dispose([errors!, recon!]);
  return out;
}

/** Per-image reconstruction errors of a whole set, batch by batch. */
export function setReconstructionErrors(model: Autoencoder, set: ImageSet): Float32Array {
  const out = new Float32Array(set.count);
  const bs = evalBatchSize(model);
  for (let start = 0; start < set.count; start += bs) {
    out.set(reconstructionErrors(model, slice(set, start, Math.min(set.count, start + bs))).errors, start);
  }
  return out;
}
