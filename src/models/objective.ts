/**
 * What training minimises, for every model type.
 *
 * Autoencoders: the reconstruction loss averaged over every pixel (`mse` is the reference's nn.MSELoss()).
 * VAEs: the negative ELBO with a KL weight, per image and averaged over the batch, as pythae and Keras' VAE
 * example compute it:
 *   recon(x, x') = sum over pixels of BCE(x', x)        (bce: a Bernoulli decoder)
 *                = 0.5 * sum over pixels of (x' - x)^2  (mse: a unit-variance Gaussian decoder, up to a constant)
 *   KL(q(z|x) || N(0, I)) = -0.5 * sum_j (1 + log s_j^2 - m_j^2 - s_j^2)
 *   loss = recon + weight * KL,  z = m + s * eps, eps ~ N(0, I) from our seeded generator (reparameterisation).
 */
import { bceTerms, binaryCrossEntropy, meanSquaredError } from '../accel/index.js';
import { tf } from '../backend/index.js';
import { type Config, reconstructionLossOf } from '../config/schema.js';
import type { ImageSet } from '../data/dataset.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { averageOverSet, type NoiseOptions } from './loss.js';
import { type Autoencoder, isVariational, reconstruct } from './registry.js';
import type { ForwardContext } from './layers.js';

export type ReconstructionLoss = 'mse' | 'bce';

/** Probabilities are clipped to [EPS, 1 - EPS] inside the logarithms (Keras' convention), so BCE stays finite. */
const BCE_EPSILON = 1e-7;

export interface ObjectiveParts {
  total: tf.Scalar;
  recon: tf.Scalar;
  /** Mean KL per image; null for models that are not variational. */
  kl: tf.Scalar | null;
}

/** The full KL weight a config asks for (`beta`, 1 by default); 0 for models without a KL term. */
export function betaOf(config: Config): number {
  return config.beta ?? 1;
}

/**
 * The KL weight at a training position: `beta`, ramped linearly from 0 over the first `kl_warmup_epochs` epochs
 * (reaching `beta` on the last step of the warm-up). A function of the position only, so resume is exact.
 */
export function klWeightAt(config: Config, globalStep: number, stepsPerEpoch: number): number {
  const warmup = config.kl_warmup_epochs ?? 0;
  if (warmup === 0) return betaOf(config);
  return betaOf(config) * Math.min(1, (globalStep + 1) / (warmup * stepsPerEpoch));
}

/** Standard normal values from our seeded generator (the same on every backend). */
export function standardNormal(shape: [number, number], seed: number): tf.Tensor2D {
  const rng = new Rng(seed);
  const values = new Float32Array(shape[0] * shape[1]);
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return tf.tensor2d(values, shape);
}

/** z = mean + exp(logVar / 2) * eps for given standard normal `eps`: differentiable in mean and logVar. */
export function reparameteriseWith(mean: tf.Tensor2D, logVar: tf.Tensor2D, eps: tf.Tensor2D): tf.Tensor2D {
  return tf.add(mean, tf.mul(tf.exp(tf.mul(logVar, 0.5)), eps));
}

/** z = mean + exp(logVar / 2) * eps, eps drawn from our seeded generator. */
export function reparameterise(mean: tf.Tensor2D, logVar: tf.Tensor2D, seed: number): tf.Tensor2D {
  return reparameteriseWith(mean, logVar, standardNormal(mean.shape, seed));
}

/** KL(N(mean, exp(logVar)) || N(0, I)) per row. */
export function gaussianKl(mean: tf.Tensor2D, logVar: tf.Tensor2D): tf.Tensor1D {
  return tf.mul(tf.sum(tf.sub(tf.add(1, logVar), tf.add(tf.square(mean), tf.exp(logVar))), 1), -0.5);
}

/** Per-pixel reconstruction loss, same shape as the images. */
function pixelLoss(recon: tf.Tensor4D, target: tf.Tensor4D, loss: ReconstructionLoss): tf.Tensor4D {
  if (loss === 'mse') return tf.squaredDifference(recon, target);
  return bceTerms(recon, target, BCE_EPSILON) as tf.Tensor4D;
}

/** Per-image reconstruction term of a VAE: summed over pixels (mse as half the squared error). */
export function imageReconstructionLoss(recon: tf.Tensor4D, target: tf.Tensor4D, loss: ReconstructionLoss): tf.Tensor1D {
  const perImage = tf.sum(pixelLoss(recon, target, loss), [1, 2, 3]) as tf.Tensor1D;
  return loss === 'mse' ? tf.mul(perImage, 0.5) : perImage;
}

/** The per-image reconstruction term averaged over the batch, as one fused kernel where it exists. */
function batchReconstructionLoss(recon: tf.Tensor4D, target: tf.Tensor4D, loss: ReconstructionLoss): tf.Scalar {
  const images = recon.shape[0];
  if (loss === 'bce') return binaryCrossEntropy(recon, target, BCE_EPSILON, 1 / images);
  return tf.mul(meanSquaredError(recon, target), (0.5 * recon.size) / images) as tf.Scalar;
}

/**
 * The training objective of one batch. `seed` draws the VAE's reparameterisation noise; `klWeight` multiplies the
 * KL term (beta, or its warm-up value).
 */
export function objective(
  model: Autoencoder,
  input: tf.Tensor4D,
  target: tf.Tensor4D,
  ctx: ForwardContext,
  loss: ReconstructionLoss,
  klWeight: number,
  seed: number,
): ObjectiveParts {
  if (!isVariational(model)) {
    const out = reconstruct(model, input, ctx);
    const recon = loss === 'mse' ? meanSquaredError(out, target) : binaryCrossEntropy(out, target, BCE_EPSILON, 1 / out.size);
    return { total: recon, recon, kl: null };
  }
  const { mean, logVar } = model.encodeDistribution(input, ctx);
  const z = reparameterise(mean, logVar, deriveSeed(seed, 'reparameterise'));
  const recon = batchReconstructionLoss(model.decode(z, ctx), target, loss);
  const kl = tf.mean(gaussianKl(mean, logVar)) as tf.Scalar;
  return { total: tf.add(recon, tf.mul(kl, klWeight)), recon, kl };
}

export interface ObjectiveValues {
  total: number;
  recon: number;
  kl: number | null;
}

/**
 * The objective over a whole set in inference mode (BatchNorm running statistics, no dropout), averaged per
 * image (VAEs) or per pixel (autoencoders). Denoising noise and the VAE's samples use seeds fixed per batch
 * (derived from `seed`), so the value is comparable across epochs. `shouldStop` is polled between batches; the
 * result is null when it asks to stop.
 */
export async function evaluateObjective(
  model: Autoencoder,
  set: ImageSet,
  opts: { noise: NoiseOptions | null; loss: ReconstructionLoss; klWeight: number; seed: number },
  onProgress?: (done: number, total: number) => void,
  shouldStop?: () => boolean,
): Promise<ObjectiveValues | null> {
  const ctx = { training: false, seed: 0 };
  const sums = await averageOverSet(
    model,
    set,
    opts.noise,
    opts.seed,
    (input, clean, b) => {
      const p = objective(model, input, clean, ctx, opts.loss, opts.klWeight, deriveSeed(opts.seed, 'eval-sample', b));
      return p.kl ? [p.total, p.recon, p.kl] : [p.total, p.recon];
    },
    onProgress,
    shouldStop,
  );
  if (!sums) return null;
  return { total: sums[0]!, recon: sums[1]!, kl: sums[2] ?? null };
}

/** The objective settings a run's config trains with (full KL weight). */
export function objectiveOf(config: Config): { loss: ReconstructionLoss; klWeight: number } {
  return { loss: reconstructionLossOf(config), klWeight: betaOf(config) };
}
