/** A convolutional VAE: the BottleneckCAE's trunk and decoder (../conv-bottleneck/) with mean and log-variance heads. */
import type { tf } from '../../backend/index.js';
import type { Config } from '../../config/schema.js';
import { ConvBottleneckBase } from '../conv-bottleneck/trunk.js';
import { type ForwardContext, Linear, type ParamStore } from '../layers.js';
import type { VariationalAutoencoder } from '../types.js';

export class ConvVAE extends ConvBottleneckBase implements VariationalAutoencoder {
  readonly kind = 'ConvVAE' as const;
  declare private mu: Linear;
  declare private logVar: Linear;

  protected heads(params: ParamStore, features: number): void {
    this.mu = new Linear(params, 'encoder.mu', features, this.latentDim);
    this.logVar = new Linear(params, 'encoder.logvar', features, this.latentDim);
  }

  encodeDistribution(x: tf.Tensor4D, ctx: ForwardContext): { mean: tf.Tensor2D; logVar: tf.Tensor2D } {
    const h = this.trunk.apply(x, ctx);
    return { mean: this.mu.forward(h, 'linear'), logVar: this.logVar.forward(h, 'linear') };
  }

  encode(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor {
    return this.mu.forward(this.trunk.apply(x, ctx), 'linear');
  }
}

export function build(config: Config): ConvVAE {
  return new ConvVAE(
    { height: config.height, width: config.width, channels: config.color_channel, encoderChannels: config.encoder_channels },
    config.latent_dim,
    config.seed,
  );
}
