/** Building the model a config asks for, and the reconstruction pass every autoencoder shares. */
import type { tf } from '../backend/index.js';
import type { Config } from '../config/schema.js';
import { AE } from './ae.js';
import { CAE } from './cae.js';
import { BottleneckCAE, ConvVAE } from './conv-bottleneck.js';
import type { ForwardContext } from './layers.js';
import type { Autoencoder } from './types.js';
import { VAE } from './vae.js';

export type { Autoencoder, ImageShape, ModelKind, VariationalAutoencoder } from './types.js';
export { isVariational, isVariationalKind } from './types.js';

/** Builds the model the config asks for, initialised from the config's seed. */
export function createModel(config: Config): Autoencoder {
  const shape = { height: config.height, width: config.width, channels: config.color_channel };
  switch (config.model_type) {
    case 'AE':
      return new AE(shape, { hiddenDim: config.hidden_dim, latentDim: config.latent_dim, dropout: config.dropout }, config.seed);
    case 'CAE':
      return new CAE(shape, config.seed);
    case 'BottleneckCAE':
      return new BottleneckCAE(shape, config.latent_dim, config.seed);
    case 'VAE':
      return new VAE(shape, config.hidden_dim, config.latent_dim, config.seed);
    case 'ConvVAE':
      return new ConvVAE(shape, config.latent_dim, config.seed);
  }
}

/** Reconstructs a batch: decode(encode(x)) (for a VAE, decoded from the posterior mean). */
export function reconstruct(model: Autoencoder, x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
  return model.decode(model.encode(x, ctx), ctx);
}
