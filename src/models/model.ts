/** What every autoencoder offers the training loop, checkpoints and evaluation. */
import { tf } from '../backend/index.js';
import type { Config } from '../config/schema.js';
import type { ForwardContext, ParamStore } from './layers.js';
import { AE } from './ae.js';
import { CAE } from './cae.js';

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

export interface Autoencoder {
  readonly kind: 'AE' | 'CAE';
  readonly shape: ImageShape;
  /** All variables: trainable parameters and BatchNorm running statistics, in a stable order. */
  readonly params: ParamStore;
  /** Shape of one latent code (without the batch axis). */
  readonly latentShape: number[];
  encode(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor;
  decode(z: tf.Tensor, ctx: ForwardContext): tf.Tensor4D;
}

/** Builds the model the config asks for, initialised from the config's seed. */
export function createModel(config: Config): Autoencoder {
  const shape = { height: config.height, width: config.width, channels: config.color_channel };
  if (config.model_type === 'AE') {
    return new AE(shape, { hiddenDim: config.hidden_dim, latentDim: config.latent_dim, dropout: config.dropout }, config.seed);
  }
  return new CAE(shape, config.seed);
}

/** Reconstructs a batch: decode(encode(x)). */
export function reconstruct(model: Autoencoder, x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
  return model.decode(model.encode(x, ctx), ctx);
}
