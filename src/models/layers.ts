/**
 * Layers written on tfjs ops with PyTorch's defaults, so our runs can be compared with the PyTorch reference:
 * weights and biases uniform in +-1/sqrt(fan_in) (fan_in as PyTorch computes it), BatchNorm with momentum 0.1,
 * epsilon 1e-5 and an unbiased running variance, inverted dropout. Tensors are NHWC.
 */
import { tf } from '../backend/index.js';
import { FUSED_BATCHNORM_RELU, FUSED_DENSE, fusedKernelAvailable, runFusedBatchNormRelu, runFusedDense, type DenseActivation } from '../backend/native-kernels.js';
import { loadNativeAddon } from '../native.js';
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
    // alone, which the in-place optimizer step requires (native-kernels.ts).
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
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.weight as tf.Tensor2D), this.bias);
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

/**
 * act(x w + b) (* mask): the fused native kernel where available, else the same arithmetic in tfjs ops. A mask
 * goes with linear or relu only (the fused backward reads act' from the masked output, which sigmoid's is not).
 */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, activation: DenseActivation, mask: Float32Array | null = null): tf.Tensor2D {
  if (mask && activation === 'sigmoid') throw new Error('dense: a dropout mask needs a linear or relu activation');
  if (fusedKernelAvailable(FUSED_DENSE)) return runFusedDense(x, w, b, { activation, mask });
  const z = tf.add(tf.matMul(x, w), b);
  const y = activation === 'relu' ? tf.relu(z) : activation === 'sigmoid' ? tf.sigmoid(z) : z;
  return (mask ? tf.mul(y, tf.tensor2d(mask, y.shape as [number, number])) : y) as tf.Tensor2D;
}

export class Conv2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(store: ParamStore, name: string, inC: number, outC: number, readonly kernel: number) {
    const bound = 1 / Math.sqrt(inC * kernel * kernel);
    this.weight = store.uniform(`${name}.weight`, [kernel, kernel, inC, outC], bound);
    this.bias = store.uniform(`${name}.bias`, [outC], bound);
  }
  /** Stride 1, 'same' padding (PyTorch padding = kernel // 2 for odd kernels). */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.add(tf.conv2d(x, this.weight as tf.Tensor4D, 1, 'same'), this.bias);
  }
}

export class ConvTranspose2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(store: ParamStore, name: string, inC: number, readonly outC: number, readonly kernel: number, readonly stride: number) {
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
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    if (!ctx.training) return normalize(x, this.runningMean, this.runningVar, this.gamma, this.beta, BatchNorm.EPSILON);
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    this.updateRunningStats(mean, variance, x.size / x.shape[3]);
    return normalize(x, mean, variance, this.gamma, this.beta, BatchNorm.EPSILON);
  }

  /** relu(apply(x)); in training one fused native kernel each way where available (see batchNormRelu). */
  applyRelu(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    if (!ctx.training) return tf.relu(this.apply(x, ctx));
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
 * relu(gamma (x - mean) / sqrt(var + eps) + beta) with the batch's per-channel mean and biased variance (over
 * every axis but the last), which it returns too: the fused native kernel where available, else tfjs ops.
 */
export function batchNormRelu(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): { y: tf.Tensor4D; mean: tf.Tensor; variance: tf.Tensor } {
  if (fusedKernelAvailable(FUSED_BATCHNORM_RELU) && x.dtype === 'float32') {
    const [y, mean, variance] = runFusedBatchNormRelu(x, gamma, beta, epsilon);
    return { y: y as tf.Tensor4D, mean, variance };
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return { y: tf.relu(normalize(x, mean, variance, gamma, beta, epsilon)), mean, variance };
}

/** gamma (x - mean) / sqrt(variance + epsilon) + beta, per channel (the last axis). */
function normalize(x: tf.Tensor4D, mean: tf.Tensor, variance: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor4D {
  return tf.add(tf.mul(tf.sub(x, mean), tf.mul(tf.rsqrt(tf.add(variance, epsilon)), gamma)), beta);
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
  const native = loadNativeAddon();
  if (native) {
    native.dropoutMask(rng.state(), rate, keep, mask); // the same draws, ~20x faster than in JavaScript
    return mask;
  }
  const u = new Float64Array(size);
  rng.fillUniform(u);
  for (let i = 0; i < size; i++) mask[i] = u[i]! >= rate ? keep : 0;
  return mask;
}
