/**
 * Building the model a config asks for: one builder per model type, next to specs.ts's one spec per type (the
 * compiler requires both for every `model_type`). Everything else about a type is asked of its spec.
 */
import type { tf } from '../backend/index.js';
import type { Config } from '../config/schema.js';
import { build as buildAE } from './ae/model.js';
import { build as buildBottleneckCAE } from './bottleneck-cae/model.js';
import { build as buildCAE } from './cae/model.js';
import { build as buildConvVAE } from './conv-vae/model.js';
import type { ForwardContext } from './layers.js';
import type { ModelSpec } from './spec.js';
import { type ModelKind, specOf } from './specs.js';
import type { Autoencoder } from './types.js';
import { build as buildVAE } from './vae/model.js';

export type { GraphWriter, ModelSpec } from './spec.js';
export { MODEL_KINDS, MODEL_SPECS, specOf, variationalKinds } from './specs.js';
export type { Autoencoder, ImageShape, ModelKind, VariationalAutoencoder } from './types.js';
export { isVariational } from './types.js';

const BUILDERS: { readonly [K in ModelKind]: (config: Config) => Autoencoder & { kind: K } } = {
  AE: buildAE,
  CAE: buildCAE,
  BottleneckCAE: buildBottleneckCAE,
  VAE: buildVAE,
  ConvVAE: buildConvVAE,
};

/** Builds the model the config asks for, initialised from the config's seed. */
export function createModel(config: Config): Autoencoder {
  return BUILDERS[config.model_type](config);
}

/** The spec of a built model. */
export function specOfModel(model: Autoencoder): ModelSpec {
  return specOf(model.kind);
}

/** Reconstructs a batch: decode(encode(x)) (for a VAE, decoded from the posterior mean). */
export function reconstruct(model: Autoencoder, x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
  return model.decode(model.encode(x, ctx), ctx);
}
