/**
 * What the steps of `ae test` share: the run opened, its model loaded, the images to evaluate; and the shapes of
 * metrics.json's parts, which the steps (test-steps.ts) fill in.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type BackendName, initBackend } from '../backend/index.js';
import type { HistoryRow } from '../checkpoint/checkpoint.js';
import { loadModel } from '../checkpoint/model-state.js';
import { checkpointOf, openRunDir, readRunConfig, type RunDir } from '../checkpoint/run-dir.js';
import type { Config } from '../config/schema.js';
import { head, type ImageSet, seededSubset } from '../data/dataset.js';
import { deriveSeed } from '../util/rng.js';
import { loadData } from '../data/load.js';
import type { EmbeddingParams, EmbedMethod } from '../embed/index.js';
import { UserError } from '../errors.js';
import type { NoiseOptions } from '../models/loss.js';
import type { Autoencoder } from '../models/registry.js';
import type { VariationalMetrics } from './likelihood.js';

export type Split = 'test' | 'validation' | 'train';

/**
 * Images of a split that the latent codes, the k-NN accuracy, the map and the viewer's map data cover: a larger split
 * is mapped through a seeded sample of this many (its loss still covers every image). At 100,000 points the t-SNE
 * takes about a minute on two cores and the codes a few MB, so `ae test` on a million images stays bounded.
 */
export const MAP_POINTS = 100_000;

/** Points of the seeded subsample that trustworthiness is computed on (it is O(m^2) in time). */
export const TRUSTWORTHINESS_SAMPLE = 2000;
/** Neighbours for the k-NN accuracies and for trustworthiness. */
export const KNN_K = 5;
export const TRUST_K = 10;

/** How wide codes were reduced before the k-NN, the map and trustworthiness (metrics.json's latent.pca). */
export interface LatentReduction {
  components: number;
  /** Split images the components were fitted on (a seeded sample). */
  fit_images: number;
  /** Share of the fitted codes' variance the components capture. */
  explained_variance_ratio: number;
}

export interface LatentMetrics {
  /** Numbers per latent code. */
  dim: number;
  /** Codes wider than 100 numbers are used as their principal components (null: used as they are). */
  pca: LatentReduction | null;
  /** k-NN classifier (k = 5) fit on training latents, scored on the split's; null for unlabelled images. */
  knn5_accuracy: number | null;
  knn_fit_images: number;
  /** The k used: 5, or the number of training images when there are fewer. */
  knn_k: number;
}

export type EmbeddingMetrics = EmbeddingParams & {
  method: EmbedMethod;
  description: string;
  seconds: number;
  /** Leave-one-out k-NN accuracy (k = 5) on the 2-D map; null for unlabelled images. */
  knn5_accuracy_2d: number | null;
  /** Trustworthiness (k = 10) on a seeded subsample; null with 31 points or fewer. */
  trustworthiness_k10: number | null;
  trustworthiness_sample: number;
  /** The k of knn5_accuracy_2d: 5, or the points less one when there are fewer than 6. */
  knn_k_2d: number;
};

/** metrics.json. `<split>_mse` is the split's reconstruction loss (e.g. test_mse). */
export type TestMetrics = {
  run: string;
  weights: 'best' | 'last';
  /** Epochs finished when the checkpoint was written. */
  epoch: number;
  split: Split;
  images: number;
  /** Images behind the latent metrics, the map and the map data: all of them, or a seeded sample of a larger split. */
  map_sample: { images: number; of: number; sampled: boolean };
  classes: string[] | null;
  latent: LatentMetrics;
  embedding: EmbeddingMetrics;
  /** VAEs: the ELBO's terms and, when asked, the log-likelihood estimate. */
  variational?: VariationalMetrics;
} & { [K in `${Split}_mse`]?: number };

/** Everything the steps share: the run, its config and model, the images evaluated. */
export interface Evaluation {
  run: RunDir;
  config: Config;
  model: Autoencoder;
  epoch: number;
  history: HistoryRow[];
  checkpointFile: string;
  weights: 'best' | 'last';
  split: Split;
  /** The split evaluated (its loss, the ELBO, reconstructions.png). */
  set: ImageSet;
  /** What the latent codes and the map cover: the split, or a seeded sample of MAP_POINTS of it. */
  mapSet: ImageSet;
  train: ImageSet;
  classNames: string[] | null;
  noise: NoiseOptions | null;
  outDir: string;
  say: (text: string) => void;
}

/** What prepare() needs of the options. */
export interface PrepareOptions {
  weights?: 'best' | 'last';
  split?: Split;
  limit?: number;
  count?: number;
  /** Images the map covers at most (MAP_POINTS by default); a larger split is sampled. */
  mapPoints?: number;
  backend?: BackendName;
  onMessage?: (text: string) => void;
}

/** Opens the run, checks the options, loads the data and the model; creates vis_outputs/. */
export async function prepare(runDirPath: string, opts: PrepareOptions): Promise<Evaluation> {
  const say = opts.onMessage ?? (() => {});
  const run = openRunDir(runDirPath);
  const config = readRunConfig(run);
  const weights = opts.weights ?? 'best';
  const checkpointFile = checkpointOf(run, weights);
  const split = opts.split ?? 'test';
  const count = opts.count ?? 10;
  await initBackend(opts.backend ?? config.backend);
  const data = await loadData(config, say);
  let set = data[split];
  if (opts.limit !== undefined) {
    if (opts.limit < 2)
      throw new UserError(
        `\`limit\` ${opts.limit} leaves nothing to evaluate`,
        'pass `limit` 2 or more (t-SNE maps from 4 points, UMAP from 3)',
        { option: 'limit' },
      );
    set = head(set, opts.limit);
  }
  if (count < 1)
    throw new UserError(`\`count\` ${count}: reconstructions.png needs at least one image`, 'pass `count` 1 or more', { option: 'count' });
  if (count > set.count)
    throw new UserError(`\`count\` ${count} is more than the ${set.count} images of the ${split} split`, undefined, { option: 'count' });
  const { model, epoch, history } = loadModel(config, checkpointFile);
  const outDir = path.join(run.dir, 'vis_outputs');
  fs.mkdirSync(outDir, { recursive: true });
  const noise = config.denoising ? { mean: config.noise_mean, std: config.noise_std } : null;
  const mapSet = seededSubset(set, opts.mapPoints ?? MAP_POINTS, deriveSeed(config.seed, 'map-sample'));
  if (mapSet !== set) say(`the map and the latent metrics use a seeded sample of ${mapSet.count} of the ${set.count} ${split} images`);
  return {
    run,
    config,
    model,
    epoch,
    history,
    checkpointFile,
    weights,
    split,
    set,
    mapSet,
    train: data.train,
    classNames: data.classNames,
    noise,
    outDir,
    say,
  };
}
