/** What every autoencoder offers the training loop, checkpoints and evaluation. */
import type { tf } from '../backend/index.js';
import type { ForwardContext, ParamStore } from './layers.js';
import type { ImageShape } from './spec.js';
import { type ModelKind, specOf } from './specs.js';

export type { ImageShape } from './spec.js';
export type { ModelKind } from './specs.js';

export interface Autoencoder {
  readonly kind: ModelKind;
  readonly shape: ImageShape;
  /** All variables: trainable parameters and BatchNorm running statistics, in a stable order. */
  readonly params: ParamStore;
  /** Shape of one latent code (without the batch axis). */
  readonly latentShape: number[];
  /** The latent code; for a VAE the posterior mean (deterministic: what maps, k-NN and exports use). */
  encode(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor;
  /** The reconstruction, pixel intensities in [0, 1]. */
  decode(z: tf.Tensor, ctx: ForwardContext): tf.Tensor4D;
}

/** A VAE: the encoder gives a diagonal Gaussian q(z|x); the prior is the standard normal. */
export interface VariationalAutoencoder extends Autoencoder {
  readonly latentDim: number;
  /** The posterior's mean and log-variance, each [batch, latentDim]. */
  encodeDistribution(x: tf.Tensor4D, ctx: ForwardContext): { mean: tf.Tensor2D; logVar: tf.Tensor2D };
}

/** Whether a model is variational (its spec says so). */
export function isVariational(model: Autoencoder): model is VariationalAutoencoder {
  return specOf(model.kind).variational;
}
