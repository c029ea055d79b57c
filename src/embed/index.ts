/** One entry point for 2-D maps of latent codes: our t-SNE, UMAP (umap-js) or PCA. */
import { UMAP } from 'umap-js';
import { pca } from './pca.js';
import { TSNE_DEFAULTS, tsne, type TsneOptions } from './tsne.js';
import { UserError } from '../errors.js';
import { Rng } from '../util/rng.js';

export type EmbedMethod = 'tsne' | 'umap' | 'pca';
export const EMBED_METHODS: EmbedMethod[] = ['tsne', 'umap', 'pca'];

/** Codes wider than this are first reduced by PCA (neighbour search in 12,544 dimensions is needlessly slow). */
export const MAX_DIRECT_DIM = 100;
export const REDUCED_DIM = 50;

export interface EmbedOptions {
  seed?: number;
  tsne?: Omit<TsneOptions, 'seed'>;
  /** UMAP's neighbourhood size (umap-js default 15). */
  umapNeighbors?: number;
  /** What the codes are when they were reduced before (e.g. `PCA-50`): named in the description. */
  inputNote?: string;
  onProgress?: (message: string) => void;
}

/** The parameters a method ran with (and t-SNE's outcome), as metrics.json records them. */
export interface EmbeddingParams {
  perplexity?: number;
  iterations?: number;
  repulsion?: 'fft' | 'barnes-hut';
  theta?: number;
  kl_divergence?: number;
  n_neighbors?: number;
}

export interface Embedding {
  coords: Float32Array;
  /** What was run, for titles and metrics. */
  description: string;
  /** What was adapted to the data (e.g. a perplexity lowered for few points), one line each. */
  notes: string[];
  params: EmbeddingParams;
}

/** Reduces rows to REDUCED_DIM principal components when wider than MAX_DIRECT_DIM. */
export function reduceIfWide(
  data: Float32Array,
  n: number,
  dim: number,
  seed: number,
): { data: Float32Array; dim: number; reduced: boolean } {
  if (dim <= MAX_DIRECT_DIM) return { data, dim, reduced: false };
  // Fewer points than REDUCED_DIM give fewer components (as many as there are points).
  const { scores } = pca(data, n, dim, REDUCED_DIM, seed);
  return { data: scores, dim: scores.length / n, reduced: true };
}

/** t-SNE needs 3 x perplexity neighbours per point: the largest perplexity n points allow (openTSNE's rule). */
export function perplexityFor(n: number, requested: number): number {
  return Math.min(requested, (n - 1) / 3);
}

/** Fewest points each method maps: t-SNE at perplexity 1, UMAP with 2 neighbours, PCA with 2 points. */
export const MIN_POINTS: Record<EmbedMethod, number> = { tsne: 4, umap: 3, pca: 2 };

/**
 * A 2-D map of n latent codes. With few points, t-SNE's perplexity and UMAP's neighbour count are lowered to
 * what n allows (said in `notes`, the values used recorded in `params`).
 */
export function embed(latents: Float32Array, n: number, dim: number, method: EmbedMethod, opts: EmbedOptions = {}): Embedding {
  const seed = opts.seed ?? 0;
  if (n < MIN_POINTS[method]) {
    throw new UserError(
      `${method === 'tsne' ? 't-SNE' : method.toUpperCase()} needs at least ${MIN_POINTS[method]} points to map, got ${n}`,
      'evaluate more images (a larger `limit` or split), or use `embed` pca',
      { option: 'limit' },
    );
  }
  if (method === 'pca') {
    return { coords: pca(latents, n, dim, 2, seed).scores, notes: [], description: 'PCA', params: {} };
  }
  const input = reduceIfWide(latents, n, dim, seed);
  const via = input.reduced ? `, on PCA-${REDUCED_DIM}` : opts.inputNote ? `, on ${opts.inputNote}` : '';
  if (method === 'tsne') {
    const option = opts.tsne?.perplexity ?? TSNE_DEFAULTS.perplexity;
    // A perplexity list (multiscale) is lowered by its largest entry's rule, each entry to what n allows.
    const requested = typeof option === 'number' ? option : Math.max(...option);
    const perplexity = Number(perplexityFor(n, requested).toFixed(4));
    const perplexities = typeof option === 'number' ? perplexity : option.map((v) => Math.min(v, perplexity));
    const notes =
      perplexity < requested ? [`t-SNE perplexity lowered from ${requested} to ${perplexity}: ${n} points allow at most (n - 1) / 3`] : [];
    const r = tsne(input.data, n, input.dim, { ...opts.tsne, perplexity: perplexities, seed });
    const repulsion = r.repulsion === 'fft' ? 'FFT' : `Barnes-Hut ${r.theta}`;
    return {
      coords: r.embedding,
      notes,
      description: `t-SNE (perplexity ${perplexity}, ${repulsion}${via})`,
      params: {
        perplexity,
        iterations: r.iterations,
        repulsion: r.repulsion,
        ...(r.theta === undefined ? {} : { theta: r.theta }),
        kl_divergence: Number(r.kl.toFixed(4)),
      },
    };
  }
  const requested = opts.umapNeighbors ?? 15;
  const nNeighbors = Math.min(requested, n - 1);
  const notes = nNeighbors < requested ? [`UMAP neighbours lowered from ${requested} to ${nNeighbors}: there are ${n} points`] : [];
  const rng = new Rng(seed);
  const rows: number[][] = Array.from({ length: n }, (_, i) => Array.from(input.data.subarray(i * input.dim, (i + 1) * input.dim)));
  const umap = new UMAP({ nComponents: 2, nNeighbors, random: () => rng.uniform() });
  const out = umap.fit(rows);
  const coords = new Float32Array(2 * n);
  out.forEach((p, i) => {
    coords[2 * i] = p[0]!;
    coords[2 * i + 1] = p[1]!;
  });
  return { coords, notes, description: `UMAP (${nNeighbors} neighbours${via})`, params: { n_neighbors: nNeighbors } };
}
