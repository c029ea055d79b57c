/**
 * Layers written on tfjs ops with PyTorch's defaults, so our runs can be compared with the PyTorch reference:
 * weights and biases uniform in +-1/sqrt(fan_in) (fan_in as PyTorch computes it), BatchNorm with momentum 0.1,
 * epsilon 1e-5 and an unbiased running variance, inverted dropout. Tensors are NHWC.
 */
import { batchNormRelu, dense, fillDropoutMask, normalize, type DenseActivation } from '../accel/index.js';
import { tf } from '../backend/index.js';
import { deriveSeed, Rng } from '../util/rng.js';

let variableCounter = 0;

/** A named variable of a model: trainable parameters and BatchNorm running statistics alike. */
export interface NamedVariable {
  name: string;
  variable: tf.Variable;
  trainable: boolean;
}

/** Collects a model's variables in creation order and draws their initial values from the model seed. */
export class ParamStore {
  readonly variables: NamedVariable[] = [];
  constructor(private readonly seed: number) {}

  private add(name: string, shape: number[], values: Float32Array, trainable: boolean): tf.Variable {
    // tfjs needs globally unique variable names; several models may live in one process.
    // The variable shares the initial tensor's buffer; disposing the tensor leaves the buffer to the variable
    // alone, which the in-place optimizer step requires (src/accel/adam.ts).
    const initial = tf.tensor(values, shape);
    const variable = tf.variable(initial, trainable, `${name}#${++variableCounter}`);
    initial.dispose();
    this.variables.push({ name, variable, trainable });
    return variable;
  }

  /** Uniform in [-bound, bound), from an RNG derived from (seed, name): independent of creation order. */
  uniform(name: string, shape: number[], bound: number): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1);
    const rng = new Rng(deriveSeed(this.seed, 'init', name));
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = (rng.uniform() * 2 - 1) * bound;
    return this.add(name, shape, values, true);
  }

  constant(name: string, shape: number[], value: number, trainable: boolean): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1);
    return this.add(name, shape, new Float32Array(n).fill(value), trainable);
  }

  trainable(): tf.Variable[] {
    return this.variables.filter((v) => v.trainable).map((v) => v.variable);
  }

  dispose(): void {
    for (const v of this.variables) v.variable.dispose();
  }
}

/** Per-forward-pass context: whether layers train (BN batch statistics, dropout on) and the dropout seed. */
export interface ForwardContext {
  training: boolean;
  /** Seed for this pass's dropout masks; each dropout layer derives its own from it. */
  seed: number;
}

export class Linear {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(store: ParamStore, name: string, inFeatures: number, outFeatures: number) {
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = store.uniform(`${name}.weight`, [inFeatures, outFeatures], bound);
    this.bias = store.uniform(`${name}.bias`, [outFeatures], bound);
  }
  /**
   * act(x W + b), then inverted dropout with `mask` (see dropoutMask) when given. With the native addon on the
   * wasm backend this is one fused kernel forward and one backward (plus dx when needed); elsewhere the same
   * arithmetic in tfjs ops.
   */
  forward(x: tf.Tensor2D, activation: DenseActivation, mask: Float32Array | null = null): tf.Tensor2D {
    return dense(x, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D, activation, mask);
  }
}

export class Conv2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(
    store: ParamStore,
    name: string,
    inC: number,
    outC: number,
    readonly kernel: number,
    readonly stride = 1,
  ) {
    const bound = 1 / Math.sqrt(inC * kernel * kernel);
    this.weight = store.uniform(`${name}.weight`, [kernel, kernel, inC, outC], bound);
    this.bias = store.uniform(`${name}.bias`, [outC], bound);
  }
  /**
   * PyTorch's padding = kernel // 2 on every side (odd kernels): 'same' at stride 1; at stride 2 explicit, since
   * TensorFlow's 'same' would pad only the bottom/right of an even-sized input.
   */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const p = Math.floor(this.kernel / 2);
    const pad: 'same' | tf.backend_util.ExplicitPadding =
      this.stride === 1
        ? 'same'
        : [
            [0, 0],
            [p, p],
            [p, p],
            [0, 0],
          ];
    return tf.add(tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, pad), this.bias);
  }
}

export class ConvTranspose2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(
    store: ParamStore,
    name: string,
    inC: number,
    readonly outC: number,
    readonly kernel: number,
    readonly stride: number,
  ) {
    // PyTorch computes ConvTranspose's fan_in from weight.size(1) = out channels (its weight is [in, out, k, k]).
    const bound = 1 / Math.sqrt(outC * kernel * kernel);
    this.weight = store.uniform(`${name}.weight`, [kernel, kernel, outC, inC], bound); // tfjs layout [k, k, out, in]
    this.bias = store.uniform(`${name}.bias`, [outC], bound);
  }
  /** stride 1: 'same' padding (PyTorch padding 1 for 3x3); stride == kernel: no padding, size x stride. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w] = x.shape;
    const pad = this.stride === 1 ? 'same' : 'valid';
    const out: [number, number, number, number] = [b, h * this.stride, w * this.stride, this.outC];
    return tf.add(tf.conv2dTranspose(x, this.weight as tf.Tensor4D, out, this.stride, pad), this.bias);
  }
}

/** BatchNorm over all axes but the last, with PyTorch's semantics. */
export class BatchNorm {
  static readonly MOMENTUM = 0.1;
  static readonly EPSILON = 1e-5;
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  constructor(store: ParamStore, name: string, channels: number) {
    this.gamma = store.constant(`${name}.weight`, [channels], 1, true);
    this.beta = store.constant(`${name}.bias`, [channels], 0, true);
    this.runningMean = store.constant(`${name}.running_mean`, [channels], 0, false);
    this.runningVar = store.constant(`${name}.running_var`, [channels], 1, false);
  }
  /**
   * relu(batchNorm(x)): in inference with the running statistics; in training with the batch's (one fused
   * native kernel each way where available, see src/accel/batchnorm.ts), updating the running statistics.
   */
  applyRelu(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    if (!ctx.training) return tf.relu(normalize(x, this.runningMean, this.runningVar, this.gamma, this.beta, BatchNorm.EPSILON));
    const { y, mean, variance } = batchNormRelu(x, this.gamma, this.beta, BatchNorm.EPSILON);
    this.updateRunningStats(mean, variance, x.size / x.shape[3]);
    return y;
  }

  private updateRunningStats(mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    const m = BatchNorm.MOMENTUM;
    // Running statistics are side effects (assign is not taped, so no gradient flows into them); PyTorch updates
    // running_var with the unbiased variance.
    const unbiased = tf.mul(variance, n / Math.max(1, n - 1));
    this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
    this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(unbiased, m)));
  }
}

/**
 * An inverted-dropout mask for `size` units (each kept with probability 1 - rate, kept ones scaled by
 * 1/(1 - rate)), drawn from the pass seed and the layer's name; null when dropout is off (inference, rate 0).
 * Drawn from our own generator (src/util/rng.ts; natively when the addon is built, with identical values), so
 * every backend applies the very same mask.
 */
export function dropoutMask(size: number, rate: number, ctx: ForwardContext, layer: string): Float32Array | null {
  if (!ctx.training || rate === 0) return null;
  const rng = new Rng(deriveSeed(ctx.seed, 'dropout', layer));
  const keep = 1 / (1 - rate);
  const mask = new Float32Array(size);
  fillDropoutMask(rng, rate, keep, mask);
  return mask;
}
