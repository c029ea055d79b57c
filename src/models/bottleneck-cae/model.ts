/** A convolutional autoencoder whose code is a `latent_dim` vector (the trunk and decoder in ../conv-bottleneck/). */
import type { tf } from '../../backend/index.js';
import type { Config } from '../../config/schema.js';
import { ConvBottleneckBase } from '../conv-bottleneck/trunk.js';
import { type ForwardContext, Linear, type ParamStore } from '../layers.js';
import type { Autoencoder } from '../types.js';

export class BottleneckCAE extends ConvBottleneckBase implements Autoencoder {
  readonly kind = 'BottleneckCAE' as const;
  declare private fc: Linear;

  protected heads(params: ParamStore, features: number): void {
    this.fc = new Linear(params, 'encoder.fc', features, this.latentDim);
  }

  encode(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor {
    return this.fc.forward(this.trunk.apply(x, ctx), 'linear');
  }
}

export function build(config: Config): BottleneckCAE {
  return new BottleneckCAE(
    { height: config.height, width: config.width, channels: config.color_channel, encoderChannels: config.encoder_channels },
    config.latent_dim,
    config.seed,
  );
}
