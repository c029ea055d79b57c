/**
 * A fully connected variational autoencoder (Kingma & Welling 2014; the network of pythae's VAE reproduction):
 * encoder Linear(HWC -> hidden), ReLU, then two heads Linear(hidden -> latent) for the posterior's mean and
 * log-variance; decoder Linear(latent -> hidden), ReLU, Linear(hidden -> HWC), Sigmoid.
 */
import type { Config } from '../../config/schema.js';
import { tf } from '../../backend/index.js';
import { type ForwardContext, Linear, ParamStore } from '../layers.js';
import type { ImageShape, VariationalAutoencoder } from '../types.js';

export class VAE implements VariationalAutoencoder {
  readonly kind = 'VAE' as const;
  readonly params: ParamStore;
  private readonly hidden: Linear;
  private readonly mu: Linear;
  private readonly logVar: Linear;
  private readonly dec1: Linear;
  private readonly dec2: Linear;

  constructor(
    readonly shape: ImageShape,
    hiddenDim: number,
    readonly latentDim: number,
    seed: number,
  ) {
    const inputDim = shape.height * shape.width * shape.channels;
    this.params = new ParamStore(seed);
    this.hidden = new Linear(this.params, 'encoder.0', inputDim, hiddenDim);
    this.mu = new Linear(this.params, 'encoder.mu', hiddenDim, latentDim);
    this.logVar = new Linear(this.params, 'encoder.logvar', hiddenDim, latentDim);
    this.dec1 = new Linear(this.params, 'decoder.0', latentDim, hiddenDim);
    this.dec2 = new Linear(this.params, 'decoder.2', hiddenDim, inputDim);
  }

  get latentShape(): number[] {
    return [this.latentDim];
  }

  private features(x: tf.Tensor4D): tf.Tensor2D {
    return this.hidden.forward(tf.reshape(x, [x.shape[0], -1]), 'relu');
  }

  encodeDistribution(x: tf.Tensor4D, _ctx: ForwardContext): { mean: tf.Tensor2D; logVar: tf.Tensor2D } {
    const h = this.features(x);
    return { mean: this.mu.forward(h, 'linear'), logVar: this.logVar.forward(h, 'linear') };
  }

  encode(x: tf.Tensor4D, _ctx: ForwardContext): tf.Tensor {
    return this.mu.forward(this.features(x), 'linear');
  }

  decode(z: tf.Tensor, _ctx: ForwardContext): tf.Tensor4D {
    const batch = z.shape[0]!;
    const out = this.dec2.forward(this.dec1.forward(z as tf.Tensor2D, 'relu'), 'sigmoid');
    return tf.reshape(out, [batch, this.shape.height, this.shape.width, this.shape.channels]);
  }
}

export function build(config: Config): VAE {
  const shape = { height: config.height, width: config.width, channels: config.color_channel };
  return new VAE(shape, config.hidden_dim, config.latent_dim, config.seed);
}
