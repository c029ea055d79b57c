/**
 * Our variables as the reference PyTorch model's state_dict, and back. The names are already the reference's
 * (`encoder.0.weight`, `encoder.1.conv.weight`, ...); the layouts differ:
 *   Linear           ours [in, out]            PyTorch [out, in]
 *   Conv2d           ours [kh, kw, in, out]    PyTorch [out, in, kh, kw]
 *   ConvTranspose2d  ours [kh, kw, out, in]    PyTorch [in, out, kh, kw]
 * and our models flatten feature maps in NHWC order (h, w, c) where PyTorch's `x.view(n, -1)` of NCHW flattens
 * (c, h, w): the dense layers next to a flattened map are permuted accordingly (see flattenedAxes).
 * BatchNorm layers also carry `num_batches_tracked` (int64, a scalar) in PyTorch: the training steps taken.
 */
import { tf } from '../backend/index.js';
import { type Autoencoder, specOfModel } from '../models/registry.js';

export type TorchDtype = 'F32' | 'I64';

export interface TorchTensor {
  name: string;
  dtype: TorchDtype;
  shape: number[];
  /** F32 values, or the I64 values as numbers. */
  data: Float32Array | BigInt64Array;
}

/** Positions in (c, h, w) order of each (h, w, c) index: chw[hwc] for an image of h x w x c. */
function hwcToChw(h: number, w: number, c: number): Int32Array {
  const map = new Int32Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) map[(y * w + x) * c + k] = k * h * w + y * w + x;
  return map;
}

/**
 * The variables whose axis runs over a flattened (h, w, c) feature map, which PyTorch flattens as (c, h, w):
 * the fully connected models' image-sized first and last layers, and the bottlenecked convolutional models' dense
 * layers next to the H/4 x W/4 x 64 map. For one channel the permutation is the identity.
 */
type FlattenedAxes = Map<string, { axis: 'in' | 'out'; hwc: [number, number, number] }>;

function flattenedAxes(model: Autoencoder): FlattenedAxes {
  const axes: FlattenedAxes = new Map();
  for (const { names, axis, hwc } of specOfModel(model).flattenedAxes(model.shape)) {
    for (const name of names) axes.set(name, { axis, hwc });
  }
  return axes;
}

/** The permutation a variable needs (null when none). */
function permutationOf(axes: FlattenedAxes, name: string): { pixels: Int32Array; axis: 'in' | 'out' } | null {
  const entry = axes.get(name);
  if (!entry || entry.hwc[2] === 1) return null;
  return { pixels: hwcToChw(...entry.hwc), axis: entry.axis };
}

/**
 * Where each value of a variable in our layout goes in PyTorch's: torch[order[i]] = ours[i]. One mapping serves
 * both directions (export writes through it, import reads through it).
 */
function torchOrder(shape: number[], perm: { pixels: Int32Array; axis: 'in' | 'out' } | null): Int32Array {
  const pixels = perm?.pixels ?? null;
  const axis = perm?.axis ?? null;
  const size = shape.reduce((a, b) => a * b, 1);
  const order = new Int32Array(size);
  if (shape.length === 1) {
    for (let i = 0; i < size; i++) order[i] = pixels && axis === 'out' ? pixels[i]! : i;
  } else if (shape.length === 2) {
    const [inF, outF] = shape as [number, number];
    for (let i = 0; i < inF; i++) {
      const ti = axis === 'in' && pixels ? pixels[i]! : i;
      for (let o = 0; o < outF; o++) order[i * outF + o] = (axis === 'out' && pixels ? pixels[o]! : o) * inF + ti;
    }
  } else {
    // 4-D: [kh, kw, a, b] -> [b, a, kh, kw] (conv: a = in, b = out; transposed conv: a = out, b = in).
    const [kh, kw, a, b] = shape as [number, number, number, number];
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) order[((y * kw + x) * a + i) * b + j] = ((j * a + i) * kh + y) * kw + x;
  }
  return order;
}

/** Our layout's values in PyTorch's layout. */
function toTorchLayout(values: Float32Array, shape: number[], perm: ReturnType<typeof permutationOf>): Float32Array {
  const order = torchOrder(shape, perm);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[order[i]!] = values[i]!;
  return out;
}

/** PyTorch's layout's values in ours (the inverse of toTorchLayout). */
function fromTorchLayout(values: Float32Array, shape: number[], perm: ReturnType<typeof permutationOf>): Float32Array {
  const order = torchOrder(shape, perm);
  return Float32Array.from(order, (t) => values[t]!);
}

/** A variable's shape in PyTorch's layout. */
export function torchShape(shape: number[]): number[] {
  if (shape.length === 2) return [shape[1]!, shape[0]!];
  if (shape.length === 4) return [shape[3]!, shape[2]!, shape[0]!, shape[1]!];
  return [...shape];
}

/** The model's state_dict as PyTorch holds it: every variable, and `num_batches_tracked` after each BatchNorm. */
export function toTorchStateDict(model: Autoencoder, steps: number): TorchTensor[] {
  const axes = flattenedAxes(model);
  const out: TorchTensor[] = [];
  for (const v of model.params.variables) {
    const shape = v.variable.shape;
    const data = toTorchLayout(v.variable.dataSync() as Float32Array, shape, permutationOf(axes, v.name));
    out.push({ name: v.name, dtype: 'F32', shape: torchShape(shape), data });
    if (v.name.endsWith('.running_var')) {
      out.push({
        name: v.name.replace(/running_var$/, 'num_batches_tracked'),
        dtype: 'I64',
        shape: [],
        data: BigInt64Array.of(BigInt(steps)),
      });
    }
  }
  return out;
}

/** A state_dict that does not fit the model: what is missing, unexpected or of another shape or dtype. */
export interface StateDictMismatch {
  missing: string[];
  unexpected: string[];
  wrong: string[];
}

/**
 * Loads a PyTorch state_dict into the model's variables (converted to our layouts). Returns the mismatches and
 * changes nothing when there are any.
 */
export function loadTorchStateDict(model: Autoencoder, tensors: Map<string, TorchTensor>): StateDictMismatch | null {
  const axes = flattenedAxes(model);
  const expected = new Set<string>();
  const mismatch: StateDictMismatch = { missing: [], unexpected: [], wrong: [] };
  for (const v of model.params.variables) {
    expected.add(v.name);
    const shape = torchShape(v.variable.shape);
    const t = tensors.get(v.name);
    if (!t) mismatch.missing.push(`${v.name} [${shape.join(', ')}]`);
    else if (t.dtype !== 'F32' || t.shape.join(',') !== shape.join(',')) {
      mismatch.wrong.push(`${v.name}: ${t.dtype} [${t.shape.join(', ')}], expected F32 [${shape.join(', ')}]`);
    }
    if (v.name.endsWith('.running_var')) expected.add(v.name.replace(/running_var$/, 'num_batches_tracked'));
  }
  for (const name of tensors.keys()) if (!expected.has(name)) mismatch.unexpected.push(name);
  if (mismatch.missing.length + mismatch.unexpected.length + mismatch.wrong.length > 0) return mismatch;
  for (const v of model.params.variables) {
    const t = tensors.get(v.name)!;
    const values = fromTorchLayout(t.data as Float32Array, v.variable.shape, permutationOf(axes, v.name));
    tf.tidy(() => v.variable.assign(tf.tensor(values, v.variable.shape)));
  }
  return null;
}
