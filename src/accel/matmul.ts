/**
 * Matrix products. tfjs-backend-wasm 4.22 sends transposed operands to a naive loop (and returns wrong values
 * for `_FusedMatMul` with `transposeB` plus a bias), so the wasm patch transposes explicitly and lets XNNPACK's
 * fast GEMM run; the native BatchMatMul (a blocked AVX2/FMA GEMM on all cores) handles transposes itself.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from './addon.js';
import { accelThreads } from './context.js';
import { addFlops } from './flops.js';
import { allFloat, view, type Info, type KernelArgs, type KernelFunc } from './wasm-memory.js';

type Inputs = Record<string, tf.Tensor | undefined>;

/** Swaps the last two axes of a rank >= 2 tensor. */
function swapLastAxes(t: tf.Tensor): tf.Tensor {
  const perm = [...Array(t.rank).keys()];
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1]!, perm[t.rank - 2]!];
  return tf.transpose(t, perm);
}

/** BatchMatMul and _FusedMatMul on wasm: operands transposed explicitly, then the backend's non-transposed kernel. */
export function transposingMatMul(original: KernelFunc): KernelFunc {
  return (args) => {
    const inputs = args.inputs as Inputs;
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return original(args);
    return tf.tidy(() => {
      const a = transposeA ? swapLastAxes(inputs.a!) : inputs.a!;
      const b = transposeB ? swapLastAxes(inputs.b!) : inputs.b!;
      return original({
        ...args,
        inputs: { ...inputs, a, b },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      }) as tf.Tensor;
    });
  };
}

/** BatchMatMul natively; null (fall back) for non-float inputs or a batch broadcast of the first operand. */
export function nativeBatchMatMul(native: NativeAddon) {
  return (args: KernelArgs): Info | null => {
    const { a, b } = args.inputs as unknown as { a: Info; b: Info };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const ra = a.shape.length,
      rb = b.shape.length;
    if (!allFloat(a, b) || ra < 2 || rb < 2 || ra < rb) return null;
    const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2)),
      batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
    if (batchB !== batchA && batchB !== 1) return null;
    const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!,
      k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    const backend = args.backend as BackendWasm;
    const c = backend.makeOutput([...a.shape.slice(0, -2), m, n], 'float32');
    addFlops(2 * batchA * m * n * k);
    native.matmul({
      a: view(backend, a),
      b: view(backend, b),
      c: view(backend, c),
      batch: batchA,
      m,
      n,
      k,
      transA: transposeA,
      transB: transposeB,
      broadcastB: batchB === 1 && batchA > 1,
      threads: accelThreads(),
    });
    return c;
  };
}
