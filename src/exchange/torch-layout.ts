/**
 * Our variables as the reference PyTorch model's state_dict, and back. The names are already the reference's
 * (`encoder.0.weight`, `encoder.1.conv.weight`, ...); the layouts differ:
 *   Linear           ours [in, out]            PyTorch [out, in]
 *   Conv2d           ours [kh, kw, in, out]    PyTorch [out, in, kh, kw]
 *   ConvTranspose2d  ours [kh, kw, out, in]    PyTorch [in, out, kh, kw]
 * and the AE flattens images in our NHWC order (h, w, c) where PyTorch's `x.view(n, -1)` of NCHW flattens
 * (c, h, w): for colour images the first layer's inputs and the last layer's outputs are permuted accordingly.
 * BatchNorm layers also carry `num_batches_tracked` (int64, a scalar) in PyTorch: the training steps taken.
 */
import { tf } from '../backend/index.js';
import type { Autoencoder } from '../models/model.js';

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

/** Which axis of a variable (in PyTorch's layout) runs over image pixels and needs the HWC -> CHW permutation. */
function pixelAxis(model: Autoencoder, name: string): 'in' | 'out' | null {
  if (model.kind !== 'AE' || model.shape.channels === 1) return null;
  if (name === 'encoder.0.weight') return 'in';
  if (name === 'decoder.3.weight' || name === 'decoder.3.bias') return 'out';
  return null;
}

/**
 * Where each value of a variable in our layout goes in PyTorch's: torch[order[i]] = ours[i]. One mapping serves
 * both directions (export writes through it, import reads through it).
 */
function torchOrder(shape: number[], pixels: Int32Array | null, axis: 'in' | 'out' | null): Int32Array {
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
function toTorchLayout(values: Float32Array, shape: number[], pixels: Int32Array | null, axis: 'in' | 'out' | null): Float32Array {
  const order = torchOrder(shape, pixels, axis);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[order[i]!] = values[i]!;
  return out;
}

/** PyTorch's layout's values in ours (the inverse of toTorchLayout). */
function fromTorchLayout(values: Float32Array, shape: number[], pixels: Int32Array | null, axis: 'in' | 'out' | null): Float32Array {
  const order = torchOrder(shape, pixels, axis);
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
  const { height, width, channels } = model.shape;
  const pixels = model.kind === 'AE' && channels > 1 ? hwcToChw(height, width, channels) : null;
  const out: TorchTensor[] = [];
  for (const v of model.params.variables) {
    const shape = v.variable.shape;
    const data = toTorchLayout(v.variable.dataSync() as Float32Array, shape, pixels, pixelAxis(model, v.name));
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
  const { height, width, channels } = model.shape;
  const pixels = model.kind === 'AE' && channels > 1 ? hwcToChw(height, width, channels) : null;
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
    const values = fromTorchLayout(t.data as Float32Array, v.variable.shape, pixels, pixelAxis(model, v.name));
    tf.tidy(() => v.variable.assign(tf.tensor(values, v.variable.shape)));
  }
  return null;
}
