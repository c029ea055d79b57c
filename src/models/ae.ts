/**
 * The reference's vanilla autoencoder:
 * encoder Linear(HWC -> hidden), ReLU, Dropout, Linear(hidden -> latent), ReLU;
 * decoder Linear(latent -> hidden), ReLU, Dropout, Linear(hidden -> HWC), Sigmoid, reshaped to the image.
 */
import { tf } from '../backend/index.js';
import { dropout, Linear, ParamStore, type ForwardContext } from './layers.js';
import type { Autoencoder, ImageShape } from './model.js';

export interface AEOptions {
  hiddenDim: number;
  latentDim: number;
  dropout: number;
}

export class AE implements Autoencoder {
  readonly kind = 'AE';
  readonly params: ParamStore;
  private readonly enc1: Linear;
  private readonly enc2: Linear;
  private readonly dec1: Linear;
  private readonly dec2: Linear;

  constructor(readonly shape: ImageShape, private readonly opts: AEOptions, seed: number) {
    const inputDim = shape.height * shape.width * shape.channels;
    this.params = new ParamStore(seed);
    this.enc1 = new Linear(this.params, 'encoder.0', inputDim, opts.hiddenDim);
    this.enc2 = new Linear(this.params, 'encoder.3', opts.hiddenDim, opts.latentDim);
    this.dec1 = new Linear(this.params, 'decoder.0', opts.latentDim, opts.hiddenDim);
    this.dec2 = new Linear(this.params, 'decoder.3', opts.hiddenDim, inputDim);
  }

  get latentShape(): number[] {
    return [this.opts.latentDim];
  }

  encode(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor {
    const flat = tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
    const h = dropout(tf.relu(this.enc1.apply(flat)), this.opts.dropout, ctx, 'encoder');
    return tf.relu(this.enc2.apply(h));
  }

  decode(z: tf.Tensor, ctx: ForwardContext): tf.Tensor4D {
    const h = dropout(tf.relu(this.dec1.apply(z as tf.Tensor2D)), this.opts.dropout, ctx, 'decoder');
    const out = tf.sigmoid(this.dec2.apply(h));
    return tf.reshape(out, [z.shape[0], this.shape.height, this.shape.width, this.shape.channels]);
  }
}
