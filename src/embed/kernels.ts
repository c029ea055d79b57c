/**
 * The t-SNE gradient's heavy sums and descent step, in two implementations of the same algorithms: native
 * (native/tsne.hpp through src/accel/, C++ with threads, built at install when a compiler is present) and
 * TypeScript. bestKernels() takes the native ones where the acceleration context allows them; tests build both
 * and compare.
 */
import { tsneNative, type TsneNative } from '../accel/index.js';
import type { SparseP } from './affinities.js';
import { QuadTree } from './quadtree.js';

export interface GradientKernels {
  name: 'native' | 'typescript';
  threads: number;
  /** force[2i..] = sum_j q_ij^2 (y_i - y_j) (Barnes-Hut with theta); returns Z = sum_{i != j} q_ij. */
  repulsion(y: Float64Array, n: number, theta: number, force: Float64Array): number;
  /** The same sums by FFT-accelerated interpolation (FIt-SNE); only the native kernels have it. */
  repulsionFft?(y: Float64Array, n: number, force: Float64Array): number;
  /** out[2i..] = sum_j p_ij q_ij (y_i - y_j). */
  attraction(p: SparseP, y: Float64Array, out: Float64Array): void;
  /** sum_ij p_ij log(1 + |y_i - y_j|^2): the KL divergence is sum p log p + this + log Z (for sum p = 1). */
  klTerm(p: SparseP, y: Float64Array): number;
  /** One step: grad = exaggeration attr - rep / z; gains and momentum update of y; then y is re-centred. */
  descend(y: Float64Array, attr: Float64Array, rep: Float64Array, state: DescentState, step: DescentStep): void;
}

/** The optimiser's per-coordinate memory, carried across iterations. */
export interface DescentState {
  update: Float64Array;
  gains: Float64Array;
}
export interface DescentStep {
  exaggeration: number;
  z: number;
  momentum: number;
  lr: number;
}

function klTermTs(p: SparseP, y: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < p.n; i++) {
    for (let c = p.rowPtr[i]!; c < p.rowPtr[i + 1]!; c++) {
      const j = p.cols[c]!;
      const dx = y[2 * i]! - y[2 * j]!,
        dy = y[2 * i + 1]! - y[2 * j + 1]!;
      sum += p.vals[c]! * Math.log1p(dx * dx + dy * dy);
    }
  }
  return sum;
}

function descendTs(y: Float64Array, attr: Float64Array, rep: Float64Array, state: DescentState, step: DescentStep): void {
  const n2 = y.length,
    { update, gains } = state,
    { exaggeration, momentum, lr } = step,
    invZ = 1 / step.z;
  let mx = 0,
    my = 0;
  for (let k = 0; k < n2; k++) {
    const g = exaggeration * attr[k]! - rep[k]! * invZ,
      u = update[k]!;
    const gain = g * u < 0 ? gains[k]! + 0.2 : gains[k]! * 0.8;
    gains[k] = Math.max(gain, 0.01);
    update[k] = momentum * u - lr * gains[k]! * g;
    y[k]! += update[k]!;
    if (k & 1) my += y[k]!;
    else mx += y[k]!;
  }
  // Keep the embedding centred (as openTSNE does), so the tree's bounds and the FFT grid stay tight.
  mx /= n2 / 2;
  my /= n2 / 2;
  for (let k = 0; k < n2; k += 2) {
    y[k]! -= mx;
    y[k + 1]! -= my;
  }
}

export function typescriptKernels(): GradientKernels {
  const tree = new QuadTree(1024);
  return {
    name: 'typescript',
    threads: 1,
    repulsion(y, n, theta, force) {
      tree.build(y, n);
      return tree.repulsionAll(y, n, theta, force);
    },
    attraction(p, y, out) {
      for (let i = 0; i < p.n; i++) {
        let ax = 0,
          ay = 0;
        const xi = y[2 * i]!,
          yi = y[2 * i + 1]!;
        for (let c = p.rowPtr[i]!; c < p.rowPtr[i + 1]!; c++) {
          const j = p.cols[c]!;
          const dx = xi - y[2 * j]!,
            dy = yi - y[2 * j + 1]!;
          const w = p.vals[c]! / (1 + dx * dx + dy * dy);
          ax += w * dx;
          ay += w * dy;
        }
        out[2 * i] = ax;
        out[2 * i + 1] = ay;
      }
    },
    klTerm: klTermTs,
    descend: descendTs,
  };
}

/** The native kernels (from src/accel/tsneNative(), whose thread count they report). */
export function nativeKernels(native: TsneNative): GradientKernels {
  // P's values in single precision for the native loops, converted when another P comes (the optimiser renumbers
  // P a few times a run), into the same buffer when it fits: at 1M points a fresh 0.5 GB array costs ~1 s of page
  // faults on these virtual machines, the conversion into mapped pages ~0.1 s. The native conversion maps a fresh
  // buffer's pages first, as huge pages where allowed (native/memory.hpp).
  let held: { p: SparseP; vals: Float32Array } | null = null;
  const valsOf = (p: SparseP): Float32Array => {
    if (held?.p === p) return held.vals;
    const vals =
      held && held.vals.buffer.byteLength >= 4 * p.vals.length
        ? new Float32Array(held.vals.buffer, 0, p.vals.length)
        : new Float32Array(p.vals.length);
    native.toFloat32({ from: p.vals, to: vals, count: vals.length });
    held = { p, vals };
    return vals;
  };
  return {
    name: 'native',
    threads: native.threads,
    repulsion: (y, n, theta, force) => native.repulsion({ y, n, theta, force }),
    repulsionFft: (y, n, force) => native.repulsionFft({ y, n, force }),
    attraction: (p, y, out) => native.attraction({ rowPtr: p.rowPtr, cols: p.cols, vals: valsOf(p), y, n: p.n, out }),
    klTerm: (p, y) => native.klTerm({ rowPtr: p.rowPtr, cols: p.cols, vals: valsOf(p), y, n: p.n }),
    descend: (y, attr, rep, state, step) =>
      native.descend({
        y,
        attr,
        rep,
        update: state.update,
        gains: state.gains,
        n: y.length / 2,
        exaggeration: step.exaggeration,
        invZ: 1 / step.z,
        momentum: step.momentum,
        lr: step.lr,
      }),
  };
}

/** The fastest kernels available here: native where built and allowed, else TypeScript. */
export function bestKernels(): GradientKernels {
  const native = tsneNative();
  return native ? nativeKernels(native) : typescriptKernels();
}
