/**
 * t-SNE (van der Maaten & Hinton 2008) with the modern optimisation schedule (openTSNE's conventions):
 * k = 3 x perplexity exact neighbours -> sparse symmetric P -> PCA initialisation scaled to std 1e-4 ->
 * early exaggeration 12 for 250 iterations with momentum 0.5, then 750 iterations with momentum 0.8, with gains,
 * learning rate max(N / 12, 50); repulsion by FFT-accelerated interpolation (FIt-SNE) for large N with the
 * native kernels, else Barnes-Hut (theta 0.35).
 */
import { neighbours as findNeighbours, type Neighbours } from './knn.js';
import { localityOrder, multiscaleConditionalP, permuteP, spaceFillingOrder, symmetrize, type SparseP } from './affinities.js';
import { pca } from './pca.js';
import { bestKernels, type DescentState, type GradientKernels } from './kernels.js';
import { Rng } from '../util/rng.js';
import { UserError } from '../errors.js';

/** t-SNE's defaults, defined here once: the CLI's progress bar and the worker read them too. */
export const TSNE_DEFAULTS = {
  perplexity: 30,
  earlyExaggeration: 12,
  /** Iterations with early exaggeration (momentum 0.5), then `iterations` more (momentum 0.8). */
  earlyIterations: 250,
  iterations: 750,
  /** How often the KL divergence is computed and the callback called. */
  callbackEvery: 50,
} as const;

/** Iterations of a t-SNE run with the default schedule. */
export const TSNE_TOTAL_ITERATIONS = TSNE_DEFAULTS.earlyIterations + TSNE_DEFAULTS.iterations;

export interface TsneOptions {
  /** One perplexity, or several for multiscale affinities (the mean of the Gaussians, see multiscaleConditionalP). */
  perplexity?: number | readonly number[];
  earlyExaggeration?: number;
  earlyIterations?: number;
  iterations?: number;
  /** 'auto' = max(N / earlyExaggeration, 50). */
  learningRate?: number | 'auto';
  /** Barnes-Hut opening angle (default DEFAULT_THETA). */
  theta?: number;
  /** Repulsive forces: 'fft' (interpolation, needs the native kernels), 'barnes-hut', or 'auto' (fft from
   *  FFT_MIN_POINTS points when available; see there). */
  repulsion?: 'auto' | 'fft' | 'barnes-hut';
  init?: 'pca' | 'random';
  seed?: number;
  /** Called every `callbackEvery` iterations with the KL divergence; return true to stop early. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing, or true to stop, is the usual shape
  callback?: (iteration: number, kl: number, embedding: Float64Array) => boolean | void;
  callbackEvery?: number;
  /** Gradient kernels (default: native when built, else TypeScript). */
  kernels?: GradientKernels;
  /** Iterations at which the points are renumbered along the map's space-filling curve (default:
   *  SPATIAL_REORDER_AT from SPATIAL_ORDER_MIN_POINTS points with the native kernels, else none). */
  reorderAt?: readonly number[];
  /** The input's k = 3 x perplexity nearest neighbours, when already computed (else found here). */
  neighbours?: Neighbours;
  /** Progress of the preparation stages. */
  onStage?: (stage: 'neighbours' | 'affinities' | 'initialisation' | 'optimisation') => void;
}

export interface TsneResult {
  /** n x 2 coordinates, interleaved. */
  embedding: Float32Array;
  kl: number;
  iterations: number;
  /** How the repulsive forces were computed. */
  repulsion: 'fft' | 'barnes-hut';
  theta?: number;
}

/** sum_ij p_ij log p_ij, the constant part of the KL divergence (computed once per P). */
function pEntropyTerm(p: SparseP): number {
  let sum = 0;
  for (let c = 0; c < p.vals.length; c++) {
    const v = p.vals[c]!;
    if (v > 0) sum += v * Math.log(v);
  }
  return sum;
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
  let mean = 0,
    sq = 0;
  for (let i = 0; i < n; i++) {
    mean += scores[2 * i]!;
  }
  mean /= n;
  for (let i = 0; i < n; i++) sq += (scores[2 * i]! - mean) ** 2;
  const scale = 1e-4 / (Math.sqrt(sq / n) || 1);
  for (let i = 0; i < 2 * n; i++) y[i] = scores[i]! * scale;
  return y;
}

type Repel = (y: Float64Array, n: number, force: Float64Array) => number;

/** From this many points 'auto' takes FFT interpolation. FFT is the faster from a few thousand points (its cost
 *  grows with the embedding's extent, Barnes-Hut's with N log N; optimisation on 2 cores, PCA-50 of MNIST: 5k
 *  points 7.8 vs 11.2 s, 10k 10.7 vs 23.6 s, 15k 13.1 vs 38.3 s), but openTSNE's grid (1-unit boxes, 3 nodes)
 *  ends at a higher KL (10k: 1.85 vs 1.71; half-unit boxes close most of that gap at twice the cost). The
 *  neighbourhood metrics hardly differ (10k: 5-NN 0.960 vs 0.960, trustworthiness 0.9709 vs 0.9710), so
 *  Barnes-Hut keeps the maps up to 10-15k points, where it costs seconds, and FFT takes over where Barnes-Hut
 *  would cost minutes. */
export const FFT_MIN_POINTS = 15000;

/** Barnes-Hut's default opening angle: 0.35 rather than the customary 0.5, for accuracy: on the 10k AE test
 *  latents it lowers the final KL (1.817 vs 1.826) and raises trustworthiness (0.9718 vs 0.9704) for 1.27x the time. */
export const DEFAULT_THETA = 0.35;

export interface RepulsionChoice {
  method: 'fft' | 'barnes-hut';
  /** Barnes-Hut's opening angle (undefined for FFT). */
  theta?: number;
  repel: Repel;
}

/** The repulsion method the options ask for, or the faster one available for n points. */
export function chooseRepulsion(kernels: GradientKernels, n: number, opts: Pick<TsneOptions, 'repulsion' | 'theta'>): RepulsionChoice {
  const method = opts.repulsion ?? 'auto';
  const theta = opts.theta ?? DEFAULT_THETA;
  const fft = kernels.repulsionFft?.bind(kernels);
  if (method === 'fft' && !fft) {
    throw new UserError(
      'FFT-accelerated t-SNE needs the native kernels, which were not built on this machine',
      'reinstall with a C++ compiler present (npm rebuild autoencoders), or use the Barnes-Hut repulsion',
    );
  }
  if (fft && (method === 'fft' || (method === 'auto' && n >= FFT_MIN_POINTS))) return { method: 'fft', repel: fft };
  return { method: 'barnes-hut', theta, repel: (y, count, force) => kernels.repulsion(y, count, theta, force) };
}

/**
 * From this many points (with the native kernels) the layout is renumbered along a space-filling curve of the map
 * at the iterations in SPATIAL_REORDER_AT (spaceFillingOrder): the attraction's cost is its scattered reads of
 * neighbours' positions, and once the map has formed, neighbours in P are neighbours on the map. At 1.05M points
 * on 2 cores each renumbering costs about a second and the attraction falls from ~0.15 to ~0.10 s per iteration.
 * Below this size the positions fit in cache anyway.
 */
export const SPATIAL_ORDER_MIN_POINTS = 100_000;
export const SPATIAL_REORDER_AT: readonly number[] = [50, 250, 500, 750];

/** The optimiser's view of the points: P and the state in the current numbering; order[r] is row r's point.
 *  `spare` is a P of the same size no longer needed, whose arrays the next renumbering writes into. */
interface Numbered {
  p: SparseP;
  order: Int32Array;
  spare?: SparseP;
  /** sum p log p, the KL divergence's constant term (the same in every numbering). */
  entropy: number;
}

/** Renumbers P, the layout and the optimiser's state in place along the map's space-filling curve. */
function renumberBySpace(num: Numbered, y: Float64Array, state: DescentState): void {
  const n = num.p.n;
  const perm = spaceFillingOrder(y, n);
  const before = num.p;
  num.p = permuteP(before, perm, undefined, num.spare);
  num.spare = before;
  const order = new Int32Array(n);
  for (let r = 0; r < n; r++) order[r] = num.order[perm[r]!]!;
  num.order = order;
  const moved = new Float64Array(2 * n);
  for (const a of [y, state.update, state.gains]) {
    for (let r = 0; r < n; r++) {
      moved[2 * r] = a[2 * perm[r]!]!;
      moved[2 * r + 1] = a[2 * perm[r]! + 1]!;
    }
    a.set(moved);
  }
}

/** Optimises the layout y in place for `iterations` steps of gradient descent with momentum and gains,
 *  renumbering the points (num) at the iterations in `reorderAt`. */
function optimise(
  num: Numbered,
  y: Float64Array,
  state: DescentState & { iteration: number },
  iterations: number,
  exaggeration: number,
  momentum: number,
  lr: number,
  kernels: GradientKernels,
  repel: Repel,
  opts: TsneOptions,
  reorderAt: readonly number[],
): { kl: number; stopped: boolean } {
  const n = num.p.n;
  const rep = new Float64Array(2 * n);
  const attr = new Float64Array(2 * n);
  const every = opts.callbackEvery ?? TSNE_DEFAULTS.callbackEvery;
  let kl = NaN;
  for (let it = 0; it < iterations; it++) {
    if (reorderAt.includes(state.iteration)) renumberBySpace(num, y, state);
    const p = num.p;
    const z = repel(y, n, rep);
    const last = it === iterations - 1;
    const report = (state.iteration + 1) % every === 0 || last;
    // KL(P || Q) with q_ij = 1 / ((1 + d_ij^2) Z) and sum p = 1.
    if (report) kl = num.entropy + kernels.klTerm(p, y) + Math.log(z);
    // Attraction: exaggeration * sum_j p_ij q_ij (y_i - y_j); repulsion: sum_j q_ij^2 (y_i - y_j) / Z.
    kernels.attraction(p, y, attr);
    kernels.descend(y, attr, rep, state, { exaggeration, z, momentum, lr });
    state.iteration++;
    if (report && opts.callback?.(state.iteration, kl, y) === true) return { kl, stopped: true };
  }
  return { kl, stopped: false };
}

/** Affinities for t-SNE from raw data (or from its neighbours, when given). */
export function tsneAffinities(
  data: Float32Array,
  n: number,
  dim: number,
  perplexities: number | readonly number[],
  opts: Pick<TsneOptions, 'onStage' | 'neighbours' | 'seed'> = {},
): SparseP {
  const list = typeof perplexities === 'number' ? [perplexities] : perplexities;
  const perplexity = Math.max(...list);
  if (list.length === 0 || !list.every((v) => v > 0)) throw new UserError(`t-SNE perplexities must be positive, got [${list.join(', ')}]`);
  const k = Math.min(n - 1, Math.floor(3 * perplexity));
  if (perplexity * 3 >= n) {
    throw new UserError(
      `t-SNE with perplexity ${perplexity} needs more than ${Math.floor(3 * perplexity)} points, got ${n}`,
      `use at least ${Math.floor(3 * perplexity) + 1} points (e.g. a larger \`limit\`), a perplexity below ${Math.max(1, Math.floor((n - 1) / 3))}, or \`embed\` pca`,
      { option: 'limit' },
    );
  }
  opts.onStage?.('neighbours');
  const nb = opts.neighbours ?? findNeighbours(data, n, dim, k, opts.seed ?? 0);
  if (nb.k !== k) throw new Error(`t-SNE at perplexity ${perplexity} needs ${k} neighbours per point, got ${nb.k}`);
  opts.onStage?.('affinities');
  return symmetrize(nb, n, multiscaleConditionalP(nb, n, list));
}

/** 2-D t-SNE of `data` (n x dim, row-major). */
export function tsne(data: Float32Array, n: number, dim: number, opts: TsneOptions = {}): TsneResult {
  const exaggeration = opts.earlyExaggeration ?? TSNE_DEFAULTS.earlyExaggeration;
  const affinities = tsneAffinities(data, n, dim, opts.perplexity ?? TSNE_DEFAULTS.perplexity, opts);
  opts.onStage?.('initialisation');
  const initial = initialLayout(data, n, dim, opts);
  // Optimise in an order where neighbours are close in memory; the result is mapped back at the end.
  const firstOrder = localityOrder(affinities);
  // The affinities' own arrays become the spare that the first renumbering writes into.
  const num: Numbered = { p: permuteP(affinities, firstOrder), order: firstOrder, spare: affinities, entropy: pEntropyTerm(affinities) };
  const y = new Float64Array(2 * n);
  for (let r = 0; r < n; r++) {
    y[2 * r] = initial[2 * firstOrder[r]!]!;
    y[2 * r + 1] = initial[2 * firstOrder[r]! + 1]!;
  }
  const lr = opts.learningRate === undefined || opts.learningRate === 'auto' ? Math.max(n / exaggeration, 50) : opts.learningRate;
  const kernels = opts.kernels ?? bestKernels();
  const choice = chooseRepulsion(kernels, n, opts);
  const repel = choice.repel;
  const state = { update: new Float64Array(2 * n), gains: new Float64Array(2 * n).fill(1), iteration: 0 };
  const unpermuted = new Float64Array(2 * n);
  const restoreOrder = (from: Float64Array): Float64Array => {
    const order = num.order;
    for (let r = 0; r < n; r++) {
      unpermuted[2 * order[r]!] = from[2 * r]!;
      unpermuted[2 * order[r]! + 1] = from[2 * r + 1]!;
    }
    return unpermuted;
  };
  const reorderAt = opts.reorderAt ?? (kernels.name === 'native' && n >= SPATIAL_ORDER_MIN_POINTS ? SPATIAL_REORDER_AT : []);
  const callback = opts.callback;
  const inner: TsneOptions = callback ? { ...opts, callback: (it, kl, emb) => callback(it, kl, restoreOrder(emb)) } : opts;
  opts.onStage?.('optimisation');
  const earlyIterations = opts.earlyIterations ?? TSNE_DEFAULTS.earlyIterations;
  const early = optimise(num, y, state, earlyIterations, exaggeration, 0.5, lr, kernels, repel, inner, reorderAt);
  let kl = early.kl;
  if (!early.stopped)
    kl = optimise(num, y, state, opts.iterations ?? TSNE_DEFAULTS.iterations, 1, 0.8, lr, kernels, repel, inner, reorderAt).kl;
  return { embedding: Float32Array.from(restoreOrder(y)), kl, iterations: state.iteration, repulsion: choice.method, theta: choice.theta };
}
