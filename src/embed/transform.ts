/**
 * New points onto an existing t-SNE map, openTSNE's `transform` (Poličar, Stražar & Zupan 2019): each new point
 * gets affinities to its nearest *reference* points (perplexity 5 over 15 neighbours by default), starts at their
 * affinity-weighted mean position on the map, and is then moved by t-SNE's gradient with the reference points
 * held fixed; new points do not interact with each other, so each lands where it would among the reference data.
 *
 * Per new point i, with w_ij = 1 / (1 + |y_i - y_j|^2) over the reference points j and Z_i = sum_j w_ij, the cost
 * is KL(p_.|i || w_i. / Z_i), whose gradient (up to a factor 2) is
 *   exaggeration * sum_j p_j|i w_ij (y_i - y_j) - sum_j w_ij^2 (y_i - y_j) / Z_i,
 * the attraction over the few neighbours, the repulsion over all reference points by Barnes-Hut on a quadtree of
 * the reference map built once (it does not move). Natively, each point runs all its steps on one core
 * (native/tsne.hpp, PlaceOnto); without the addon, the same steps in TypeScript.
 */
import { tsneNative, type TsneNative } from '../accel/index.js';
import { conditionalP } from './affinities.js';
import { type Neighbours, queryKnn } from './knn.js';
import { QuadTree } from './quadtree.js';

export const TRANSFORM_DEFAULTS = {
  /** openTSNE's transform perplexity: new points are placed by their closest few reference points. */
  perplexity: 5,
  iterations: 250,
  /** openTSNE's default for transform: a little exaggeration keeps new points in their clusters. */
  exaggeration: 1.5,
  learningRate: 0.1,
  momentum: 0.8,
  theta: 0.5,
} as const;

export interface TransformOptions {
  perplexity?: number;
  iterations?: number;
  exaggeration?: number;
  learningRate?: number;
  momentum?: number;
  /** Barnes-Hut opening angle of the repulsion from the reference map. */
  theta?: number;
  /** The new points' neighbours among the reference points (k = 3 x perplexity), when already known. */
  neighbours?: Neighbours;
  /** The native kernels (default: when built); null runs the TypeScript quadtree. */
  native?: TsneNative | null;
}

/** The map the new points go onto: its points' data (n x dim) and their 2-D positions (n x 2). */
export interface ReferenceMap {
  data: Float32Array;
  coords: Float32Array;
  n: number;
  dim: number;
}

export interface TransformResult {
  /** m x 2 positions of the new points. */
  coords: Float32Array;
  /** Where they started: the affinity-weighted mean of their neighbours' positions. */
  initial: Float32Array;
  neighbours: Neighbours;
}

/** The descent in TypeScript (where the addon is not built): iteration by iteration over all points, the
 *  repulsion from a quadtree of the reference map built once. The same arithmetic per point as native PlaceOnto. */
function placeInTypeScript(
  ref: ReferenceMap,
  nb: Neighbours,
  p: Float64Array,
  y: Float64Array,
  m: number,
  o: Required<Omit<TransformOptions, 'neighbours' | 'native'>>,
) {
  const k = nb.k;
  const tree = new QuadTree();
  tree.build(Float64Array.from(ref.coords), ref.n);
  const rep = new Float64Array(2 * m),
    z = new Float64Array(m),
    update = new Float64Array(2 * m),
    gains = new Float64Array(2 * m).fill(1);
  for (let it = 0; it < o.iterations; it++) {
    tree.repulsionOn(y, m, o.theta, rep, z);
    for (let i = 0; i < m; i++) {
      let ax = 0,
        ay = 0;
      const xi = y[2 * i]!,
        yi = y[2 * i + 1]!;
      for (let t = 0; t < k; t++) {
        const j = nb.indices[i * k + t]!;
        const dx = xi - ref.coords[2 * j]!,
          dy = yi - ref.coords[2 * j + 1]!;
        const w = p[i * k + t]! / (1 + dx * dx + dy * dy);
        ax += w * dx;
        ay += w * dy;
      }
      const invZ = z[i]! > 0 ? 1 / z[i]! : 0;
      const grads = [o.exaggeration * ax - rep[2 * i]! * invZ, o.exaggeration * ay - rep[2 * i + 1]! * invZ];
      for (let c = 0; c < 2; c++) {
        // Momentum with gains (delta-bar-delta), as t-SNE's own descent.
        const e = 2 * i + c,
          g = grads[c]!,
          u = update[e]!;
        gains[e] = Math.max(g * u < 0 ? gains[e]! + 0.2 : gains[e]! * 0.8, 0.01);
        update[e] = o.momentum * u - o.learningRate * gains[e]! * g;
        y[e]! += update[e]!;
      }
    }
  }
}

/** Places m new points (queries, m x dim, in the reference data's space) onto the reference map. */
export function transformPoints(ref: ReferenceMap, queries: Float32Array, m: number, opts: TransformOptions = {}): TransformResult {
  const { neighbours: given, native: nativeOption, ...rest } = opts;
  const o = { ...TRANSFORM_DEFAULTS, ...rest };
  const k = Math.min(ref.n, Math.max(1, Math.floor(3 * o.perplexity)));
  const perplexity = Math.min(o.perplexity, k);
  const native = nativeOption === undefined ? tsneNative() : nativeOption;
  const nb = given ?? queryKnn(ref.data, ref.n, queries, m, ref.dim, k, native);
  if (nb.k !== k) throw new Error(`transform at perplexity ${o.perplexity} needs ${k} neighbours per point, got ${nb.k}`);
  const p = conditionalP(nb, m, perplexity);
  const y = new Float64Array(2 * m);
  for (let i = 0; i < m; i++) {
    let x = 0,
      yy = 0;
    for (let t = 0; t < k; t++) {
      const j = nb.indices[i * k + t]!,
        w = p[i * k + t]!;
      x += w * ref.coords[2 * j]!;
      yy += w * ref.coords[2 * j + 1]!;
    }
    y[2 * i] = x;
    y[2 * i + 1] = yy;
  }
  const initial = Float32Array.from(y);
  if (native) {
    native.placeOnto({
      refY: Float64Array.from(ref.coords),
      n: ref.n,
      indices: nb.indices,
      p,
      k,
      y,
      m,
      iterations: o.iterations,
      exaggeration: o.exaggeration,
      lr: o.learningRate,
      momentum: o.momentum,
      theta: o.theta,
    });
  } else {
    placeInTypeScript(ref, nb, p, y, m, o);
  }
  return { coords: Float32Array.from(y), initial, neighbours: nb };
}
