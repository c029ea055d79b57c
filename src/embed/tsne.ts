/**
 * t-SNE (van der Maaten & Hinton 2008) with the modern optimisation schedule (openTSNE's conventions):
 * k = 3 x perplexity exact neighbours -> sparse symmetric P -> PCA initialisation scaled to std 1e-4 ->
 * early exaggeration 12 for 250 iterations with momentum 0.5, then 750 iterations with momentum 0.8, with gains,
 * learning rate max(N / 12, 50), and Barnes-Hut repulsion (theta 0.5).
 */
import { exactKnn } from './knn.js';
import { conditionalP, symmetrize, type SparseP } from './affinities.js';
import { pca } from './pca.js';
import { bestKernels, type GradientKernels } from './kernels.js';
import { Rng } from '../util/rng.js';
import { UserError } from '../errors.js';

export interface TsneOptions {
  perplexity?: number;
  earlyExaggeration?: number;
  earlyIterations?: number;
  iterations?: number;
  /** 'auto' = max(N / earlyExaggeration, 50). */
  learningRate?: number | 'auto';
  theta?: number;
  init?: 'pca' | 'random';
  seed?: number;
  /** Called every `callbackEvery` iterations with the KL divergence; return true to stop early. */
  callback?: (iteration: number, kl: number, embedding: Float64Array) => boolean | void;
  callbackEvery?: number;
  /** Gradient kernels (default: native when built, else TypeScript). */
  kernels?: GradientKernels;
  /** Progress of the preparation stages. */
  onStage?: (stage: 'neighbours' | 'affinities' | 'initialisation' | 'optimisation') => void;
}

export interface TsneResult {
  /** n x 2 coordinates, interleaved. */
  embedding: Float32Array;
  kl: number;
  iterations: number;
}

/** KL(P || Q) over the sparse P, with Z from the last repulsion pass. */
function klDivergence(p: SparseP, y: Float64Array, z: number): number {
  let kl = 0;
  for (let i = 0; i < p.n; i++) {
    for (let c = p.rowPtr[i]!; c < p.rowPtr[i + 1]!; c++) {
      const j = p.cols[c]!;
      const dx = y[2 * i]! - y[2 * j]!, dy = y[2 * i + 1]! - y[2 * j + 1]!;
      const q = 1 / (1 + dx * dx + dy * dy) / z;
      const pij = p.vals[c]!;
      if (pij > 0) kl += pij * Math.log(pij / Math.max(q, 1e-300));
    }
  }
  return kl;
}

/** Initial layout: the first two principal components, scaled so the first has standard deviation 1e-4. */
function initialLayout(data: Float32Array, n: number, dim: number, opts: TsneOptions): Float64Array {
  const y = new Float64Array(2 * n);
  if (opts.init === 'random') {
    const rng = new Rng(opts.seed ?? 0);
    for (let i = 0; i < 2 * n; i++) y[i] = rng.normal() * 1e-4;
    return y;
  }
  const { scores } = pca(data, n, dim, 2, opts.seed ?? 0);
  let mean = 0, sq = 0;
  for (let i = 0; i < n; i++) { mean += scores[2 * i]!; }
  mean /= n;
  for (let i = 0; i < n; i++) sq += (scores[2 * i]! - mean) ** 2;
  const scale = 1e-4 / (Math.sqrt(sq / n) || 1);
  for (let i = 0; i < 2 * n; i++) y[i] = scores[i]! * scale;
  return y;
}

/** Optimises the layout y in place for `iterations` steps of gradient descent with momentum and gains. */
function optimise(p: SparseP, y: Float64Array, state: { update: Float64Array; gains: Float64Array; iteration: number },
  iterations: number, exaggeration: number, momentum: number, lr: number, theta: number, opts: TsneOptions): { kl: number; stopped: boolean } {
  const n = p.n;
  const kernels = opts.kernels ?? bestKernels();
  const rep = new Float64Array(2 * n);
  const attr = new Float64Array(2 * n);
  const grad = new Float64Array(2 * n);
  const every = opts.callbackEvery ?? 50;
  let kl = NaN;
  for (let it = 0; it < iterations; it++) {
    const z = kernels.repulsion(y, n, theta, rep);
    const last = it === iterations - 1;
    const report = (state.iteration + 1) % every === 0 || last;
    if (report) kl = klDivergence(p, y, z);
    // Attraction: exaggeration * sum_j p_ij q_ij (y_i - y_j); repulsion: sum_j q_ij^2 (y_i - y_j) / Z.
    kernels.attraction(p, y, attr);
    for (let k = 0; k < 2 * n; k++) grad[k] = exaggeration * attr[k]! - rep[k]! / z;
    for (let k = 0; k < 2 * n; k++) {
      const g = grad[k]!, u = state.update[k]!;
      const gain = g * u < 0 ? state.gains[k]! + 0.2 : state.gains[k]! * 0.8;
      state.gains[k] = Math.max(gain, 0.01);
      state.update[k] = momentum * u - lr * state.gains[k]! * g;
      y[k]! += state.update[k]!;
    }
    // Keep the embedding centred (as openTSNE does), so the tree's bounds stay tight.
    let mx = 0, my = 0;
    for (let i = 0; i < n; i++) { mx += y[2 * i]!; my += y[2 * i + 1]!; }
    mx /= n; my /= n;
    for (let i = 0; i < n; i++) { y[2 * i]! -= mx; y[2 * i + 1]! -= my; }
    state.iteration++;
    if (report && opts.callback?.(state.iteration, kl, y) === true) return { kl, stopped: true };
  }
  return { kl, stopped: false };
}

/** Affinities for t-SNE from raw data. */
export function tsneAffinities(data: Float32Array, n: number, dim: number, perplexity: number, onStage?: TsneOptions['onStage']): SparseP {
  const k = Math.min(n - 1, Math.floor(3 * perplexity));
  if (perplexity * 3 >= n) {
    throw new UserError(`t-SNE with perplexity ${perplexity} needs more than ${Math.floor(3 * perplexity)} points, got ${n}`,
      `use at least ${Math.floor(3 * perplexity) + 1} points (e.g. a larger --limit), a perplexity below ${Math.max(1, Math.floor((n - 1) / 3))}, or --embed pca`);
  }
  onStage?.('neighbours');
  const nb = exactKnn(data, n, dim, k);
  onStage?.('affinities');
  return symmetrize(nb, n, conditionalP(nb, n, perplexity));
}

/** 2-D t-SNE of `data` (n x dim, row-major). */
export function tsne(data: Float32Array, n: number, dim: number, opts: TsneOptions = {}): TsneResult {
  const exaggeration = opts.earlyExaggeration ?? 12;
  const p = tsneAffinities(data, n, dim, opts.perplexity ?? 30, opts.onStage);
  opts.onStage?.('initialisation');
  const y = initialLayout(data, n, dim, opts);
  const lr = opts.learningRate === undefined || opts.learningRate === 'auto' ? Math.max(n / exaggeration, 50) : opts.learningRate;
  const theta = opts.theta ?? 0.5;
  const state = { update: new Float64Array(2 * n), gains: new Float64Array(2 * n).fill(1), iteration: 0 };
  opts.onStage?.('optimisation');
  const early = optimise(p, y, state, opts.earlyIterations ?? 250, exaggeration, 0.5, lr, theta, opts);
  let kl = early.kl;
  if (!early.stopped) kl = optimise(p, y, state, opts.iterations ?? 750, 1, 0.8, lr, theta, opts).kl;
  return { embedding: Float32Array.from(y), kl, iterations: state.iteration };
}
