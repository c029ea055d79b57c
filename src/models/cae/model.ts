/**
 * The reference's convolutional autoencoder. Encoder: three 3x3 convolutions (C->32->64->128) with BatchNorm and
 * ReLU, subsample by 2, a 3x3 convolution 128->256 with BN and ReLU, subsample by 2 (the reference's
 * MaxPool(kernel 1, stride 2), which keeps every other pixel). Latent: 256 x H/4 x W/4. Decoder: 3x3 transposed
 * convolution 256->128, 2x2/s2 128->64, 2x2/s2 64->32 (each with BN and ReLU), 3x3 32->C, Sigmoid.
 */
import type { Config } from '../../config/schema.js';
import { tf } from '../../backend/index.js';
import { BatchNorm, Conv2d, ConvTranspose2d, ParamStore, type ForwardContext } from '../layers.js';
import type { Autoencoder, ImageShape } from '../types.js';

/**
 * The reference's MaxPool with kernel 1 and stride 2, which keeps pixel (2i, 2j). The forward pass is tfjs's
 * maxPool (fast on wasm); the gradient is our own, dy spread back onto the kept pixels with one pad, because
 * tfjs-wasm's MaxPoolGrad is wrong for kernel 1 / stride 2 (it drops channels; see test/models.test.ts) and a
 * slice-based forward pass is 40x slower on wasm. Height and width are even (the config requires multiples of 4).
 */
export const subsample = tf.customGrad(((x: tf.Tensor) => {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  return {
    value: tf.maxPool(x as tf.Tensor4D, 1, 2, 'valid'),
    gradFunc: (dy: tf.Tensor) =>
      tf.reshape(
        tf.pad(tf.reshape(dy, [n, h / 2, 1, w / 2, 1, c]), [
          [0, 0],
          [0, 0],
          [0, 1],
          [0, 0],
          [0, 1],
          [0, 0],
        ]),
        [n, h, w, c],
      ),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor4D) => tf.Tensor4D;

export class CAE implements Autoencoder {
  readonly kind = 'CAE' as const;
  readonly params: ParamStore;
  private readonly encConvs: Array<[Conv2d, BatchNorm]>;
  private readonly decConvs: Array<[ConvTranspose2d, BatchNorm]>;
  private readonly outConv: ConvTranspose2d;

  constructor(
    readonly shape: ImageShape,
    seed: number,
  ) {
    const p = new ParamStore(seed);
    this.params = p;
    const conv = (name: string, i: number, o: number): [Conv2d, BatchNorm] => [
      new Conv2d(p, `${name}.conv`, i, o, 3),
      new BatchNorm(p, `${name}.bn`, o),
    ];
    this.encConvs = [
      conv('encoder.0', shape.channels, 32),
      conv('encoder.1', 32, 64),
      conv('encoder.2', 64, 128),
      conv('encoder.3', 128, 256),
    ];
    const deconv = (name: string, i: number, o: number, k: number, s: number): [ConvTranspose2d, BatchNorm] => [
      new ConvTranspose2d(p, `${name}.deconv`, i, o, k, s),
      new BatchNorm(p, `${name}.bn`, o),
    ];
    this.decConvs = [deconv('decoder.0', 256, 128, 3, 1), deconv('decoder.1', 128, 64, 2, 2), deconv('decoder.2', 64, 32, 2, 2)];
    this.outConv = new ConvTranspose2d(p, 'decoder.3.deconv', 32, shape.channels, 3, 1);
  }

  get latentShape(): number[] {
    return [this.shape.height / 4, this.shape.width / 4, 256];
  }

  encode(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor {
    let h = x;
    this.encConvs.forEach(([conv, bn], i) => {
      h = bn.applyRelu(conv.apply(h), ctx);
      if (i === 2 || i === 3) h = subsample(h);
    });
    return h;
  }

  decode(z: tf.Tensor, ctx: ForwardContext): tf.Tensor4D {
    let h = z as tf.Tensor4D;
    for (const [deconv, bn] of this.decConvs) h = bn.applyRelu(deconv.apply(h), ctx);
    return tf.sigmoid(this.outConv.apply(h));
  }
}

export function build(config: Config): CAE {
  return new CAE({ height: config.height, width: config.width, channels: config.color_channel }, config.seed);
}
