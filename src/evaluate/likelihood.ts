/**
 * A VAE's test-set likelihood: the ELBO, and the importance-sampled estimate of the negative log-likelihood
 * (Burda et al. 2016, the estimate pythae's `get_nll` and the VAE literature report on binarised MNIST):
 *   log p(x) ~ log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x),  z_k ~ q(z | x),
 * in nats per image, with a Bernoulli decoder (reconstruction_loss bce).
 */
import { tf } from '../backend/index.js';
import { batchTensor, type ImageSet } from '../data/dataset.js';
import { UserError } from '../errors.js';
import type { VariationalAutoencoder } from '../models/registry.js';
import {
  evaluateObjective,
  imageReconstructionLoss,
  type ReconstructionLoss,
  reparameteriseWith,
  standardNormal,
} from '../models/objective.js';
import { deriveSeed } from '../util/rng.js';

const LOG_2PI = Math.log(2 * Math.PI);

/** log N(v; 0, I) summed over the last axis, for v = (z - m) / s given as eps, plus the log-variances. */
function logNormal(eps: tf.Tensor2D, logVar: tf.Tensor2D | null): tf.Tensor1D {
  const quad = tf.add(tf.square(eps), LOG_2PI);
  return tf.mul(tf.sum(logVar ? tf.add(quad, logVar) : quad, 1), -0.5);
}

/**
 * The mean negative log-likelihood per image of `set`, estimated with `k` importance samples from q(z|x) per image.
 * Seeded: the same seed gives the same estimate.
 */
export async function importanceSampledNll(
  model: VariationalAutoencoder,
  set: ImageSet,
  k: number,
  loss: ReconstructionLoss,
  seed: number,
  onProgress?: (done: number, total: number) => void,
): Promise<number> {
  if (loss !== 'bce')
    throw new UserError(
      'the log-likelihood estimate needs a Bernoulli decoder, and this run was trained with reconstruction_loss mse',
      'train with reconstruction_loss: bce (the VAE default) on images in [0, 1], best binarised (binarize: true)',
    );
  const perBatch = Math.max(1, Math.floor(2000 / k));
  const d = model.latentDim;
  let sum = 0;
  for (let start = 0, b = 0; start < set.count; start += perBatch, b++) {
    const end = Math.min(set.count, start + perBatch);
    const n = end - start;
    const nll = tf.tidy(() => {
      const x = batchTensor(set, null, start, end);
      const { mean, logVar } = model.encodeDistribution(x, { training: false, seed: 0 });
      // Each image's row repeated k times: [n * k, ...].
      const repeat = <T extends tf.Tensor>(t: T): T =>
        tf.reshape(tf.tile(tf.expandDims(t, 1), [1, k, ...t.shape.slice(1).map(() => 1)]), [n * k, ...t.shape.slice(1)]) as T;
      const m = repeat(mean);
      const lv = repeat(logVar);
      const eps = standardNormal([n * k, d], deriveSeed(seed, 'nll', b));
      const z = reparameteriseWith(m, lv, eps);
      const logPxz = tf.neg(imageReconstructionLoss(model.decode(z, { training: false, seed: 0 }), repeat(x), 'bce'));
      const logW = tf.sub(tf.add(logPxz, logNormal(z, null)), logNormal(eps, lv));
      const logPx = tf.sub(tf.logSumExp(tf.reshape(logW, [n, k]), 1), Math.log(k));
      return tf.neg(tf.sum(logPx));
    });
    sum += (await nll.data())[0]!;
    nll.dispose();
    onProgress?.(end, set.count);
  }
  return sum / set.count;
}

/** metrics.json's `variational` block (VAEs): per-image terms on the split, in nats for a Bernoulli decoder. */
export interface VariationalMetrics {
  reconstruction_loss: ReconstructionLoss;
  beta: number;
  /** Mean reconstruction term per image (one sample of z per image, seeded). */
  reconstruction: number;
  /** Mean KL(q(z|x) || N(0, I)) per image. */
  kl: number;
  /** reconstruction + beta * kl: the objective trained. */
  loss: number;
  /** The evidence lower bound, -(reconstruction + kl), for a Bernoulli decoder; null for mse. */
  elbo: number | null;
  /** The importance-sampled negative log-likelihood and its samples per image (the `nllSamples` option); null when not asked. */
  nll: { samples: number; value: number } | null;
}

export async function variationalMetrics(
  model: VariationalAutoencoder,
  set: ImageSet,
  opts: { loss: ReconstructionLoss; beta: number; seed: number; nllSamples?: number; say: (text: string) => void },
): Promise<VariationalMetrics> {
  const parts = await evaluateObjective(model, set, { noise: null, loss: opts.loss, klWeight: 1, seed: deriveSeed(opts.seed, 'elbo') });
  const reconstruction = parts!.recon;
  const kl = parts!.kl!;
  const elbo = opts.loss === 'bce' ? -(reconstruction + kl) : null;
  opts.say(
    `VAE terms per image: reconstruction (${opts.loss}) ${reconstruction.toFixed(2)}, KL ${kl.toFixed(2)}${elbo === null ? '' : `, ELBO ${elbo.toFixed(2)} nats`}`,
  );
  let nll: VariationalMetrics['nll'] = null;
  if (opts.nllSamples) {
    const t0 = performance.now();
    const value = await importanceSampledNll(model, set, opts.nllSamples, opts.loss, deriveSeed(opts.seed, 'nll'));
    nll = { samples: opts.nllSamples, value };
    opts.say(
      `importance-sampled NLL (${opts.nllSamples} samples per image): ${value.toFixed(2)} nats (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }
  return { reconstruction_loss: opts.loss, beta: opts.beta, reconstruction, kl, loss: reconstruction + opts.beta * kl, elbo, nll };
}
