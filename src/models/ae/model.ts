/**
 * The reference's vanilla autoencoder:
 * encoder Linear(HWC -> hidden), ReLU, Dropout, Linear(hidden -> latent), ReLU;
 * decoder Linear(latent -> hidden), ReLU, Dropout, Linear(hidden -> HWC), Sigmoid, reshaped to the image.
 */
import type { Config } from '../../config/schema.js';
import { tf } from '../../backend/index.js';
import { dropoutMask, Linear, ParamStore, type ForwardContext } from '../layers.js';
import type { Autoencoder, ImageShape } from '../types.js';

export interface AEOptions {
  hiddenDim: number;
  latentDim: number;
  dropout: number;
}

export class AE implements Autoencoder {
  readonly kind = 'AE' as const;
  readonly params: ParamStore;
  private readonly enc1: Linear;
  private readonly enc2: Linear;
  private readonly dec1: Linear;
  private readonly dec2: Linear;

  constructor(
    readonly shape: ImageShape,
    private readonly opts: AEOptions,
    seed: number,
  ) {
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
    const batch = x.shape[0];
    const flat = tf.reshape(x, [batch, -1]) as tf.Tensor2D;
    const h = this.enc1.forward(flat, 'relu', dropoutMask(batch * this.opts.hiddenDim, this.opts.dropout, ctx, 'encoder'));
    return this.enc2.forward(h, 'relu');
  }

  decode(z: tf.Tensor, ctx: ForwardContext): tf.Tensor4D {
    const batch = z.shape[0]!;
    const h = this.dec1.forward(z as tf.Tensor2D, 'relu', dropoutMask(batch * this.opts.hiddenDim, this.opts.dropout, ctx, 'decoder'));
    const out = this.dec2.forward(h, 'sigmoid');
    return tf.reshape(out, [batch, this.shape.height, this.shape.width, this.shape.channels]);
  }
}

export function build(config: Config): AE {
  const shape = { height: config.height, width: config.width, channels: config.color_channel };
  return new AE(shape, { hiddenDim: config.hidden_dim, latentDim: config.latent_dim, dropout: config.dropout }, config.seed);
}
