/** Building the model a config asks for, and the reconstruction pass every autoencoder shares. */
import type { tf } from '../backend/index.js';
import type { Config } from '../config/schema.js';
import { AE } from './ae.js';
import { CAE } from './cae.js';
import type { ForwardContext } from './layers.js';
import type { Autoencoder } from './types.js';

export type { Autoencoder, ImageShape } from './types.js';

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
