/** What every autoencoder offers the training loop, checkpoints and evaluation. */
import type { tf } from '../backend/index.js';
import type { ForwardContext, ParamStore } from './layers.js';

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
