/**
 * Evaluating a trained run (the CLI's `ae test`): loss on a split, a picture of inputs and reconstructions, the
 * latent k-NN accuracy, a 2-D map of the latents with its quality metrics, the loss curve. Writes
 * RUN_DIR/vis_outputs/: reconstructions.png, latent_<method>.png, map_<method>.bin/.json (see map-data.ts),
 * loss.png, metrics.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type BackendName, initBackend, tf } from '../backend/index.js';
import type { HistoryRow } from '../checkpoint/checkpoint.js';
import { loadModel } from '../checkpoint/model-state.js';
import { checkpointOf, openRunDir, readRunConfig, type RunDir } from '../checkpoint/run-dir.js';
import type { Config } from '../config/schema.js';
import { batchTensor, head, type ImageSet, seededSubset, subset } from '../data/dataset.js';
import { loadData } from '../data/load.js';
import type { PcaProjection } from '../embed/incremental-pca.js';
import { type EmbeddingParams, type EmbedMethod, MAX_DIRECT_DIM, REDUCED_DIM } from '../embed/index.js';
import { embedInWorker, type WorkerEmbedOptions } from '../embed/worker.js';
import { UserError } from '../errors.js';
import { addNoise, evaluateLoss, type NoiseOptions } from '../models/loss.js';
import { type Autoencoder, isVariational, reconstruct, specOfModel } from '../models/registry.js';
import { betaOf, objectiveOf } from '../models/objective.js';
import { drawLatentMap, type LegendEntry } from '../render/latent-map.js';
import { drawLossPlot } from '../render/loss-plot.js';
import type { ProjectorResult } from '../render/projector.js';
import { drawReconstructions } from '../render/reconstructions.js';
import { writeFileAtomic } from '../util/fs.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { writeMapData } from './map-data.js';
import { type VariationalMetrics, variationalMetrics } from './likelihood.js';
import { exportToProjector } from './projector-step.js';
import { encodeSet, fitLatentPca, type Latents, latentSize, PCA_FIT_POINTS } from './latents.js';
import { knnAccuracy, leaveOneOutKnnAccuracy, trustworthiness } from './metrics.js';

export type Split = 'test' | 'validation' | 'train';

/** Points of the seeded subsample that trustworthiness is computed on (it is O(m^2) in time). */
export const TRUSTWORTHINESS_SAMPLE = 2000;
/** Neighbours for the k-NN accuracies and for trustworthiness. */
const KNN_K = 5;
const TRUST_K = 10;

export interface EvaluateOptions {
  weights?: 'best' | 'last';
  /** Images in reconstructions.png. */
  count?: number;
  embed?: EmbedMethod;
  split?: Split;
  /** Evaluate only the first N images of the split (quick looks, tests). */
  limit?: number;
  /** Training latents used to fit the latent k-NN classifier (a seeded subsample when the set is larger). */
  knnTrainLimit?: number;
  embedOptions?: Omit<WorkerEmbedOptions, 'seed'>;
  onMessage?: (text: string) => void;
  /** Compute backend instead of the run's own (e.g. --device gpu). */
  backend?: BackendName;
  /** Also write an Embedding Projector folder here (codes, metadata, sprite, our map as a bookmark). */
  projector?: string;
  /** Replace an existing projector folder. */
  force?: boolean;
  /** VAEs: importance samples per image for the negative log-likelihood estimate (0 or absent: not estimated). */
  nllSamples?: number;
}

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
  classes: string[] | null;
  latent: LatentMetrics;
  embedding: EmbeddingMetrics;
  /** VAEs: the ELBO's terms and, when asked, the log-likelihood estimate. */
  variational?: VariationalMetrics;
} & { [K in `${Split}_mse`]?: number };

export interface EvaluateResult {
  outputDir: string;
  files: string[];
  metrics: TestMetrics;
  /** latent_<method>.png's legend as drawn: one entry per class present (none for unlabelled images). */
  mapLegend: LegendEntry[];
  /** The projector export, when asked for. */
  projector?: ProjectorResult;
}

/** The run's split's loss: the value stored under `<split>_mse`. */
export function splitLoss(metrics: TestMetrics): number {
  return metrics[`${metrics.split}_mse`]!;
}

/** Everything the steps share: the run, its config and model, the images evaluated. */
interface Evaluation {
  run: RunDir;
  config: Config;
  model: Autoencoder;
  epoch: number;
  history: HistoryRow[];
  checkpointFile: string;
  weights: 'best' | 'last';
  split: Split;
  set: ImageSet;
  train: ImageSet;
  classNames: string[] | null;
  noise: NoiseOptions | null;
  outDir: string;
  say: (text: string) => void;
}

export async function evaluateRun(runDirPath: string, opts: EvaluateOptions = {}): Promise<EvaluateResult> {
  const ev = await prepare(runDirPath, opts);
  const files: string[] = [];
  try {
    const loss = await measureLoss(ev);
    const variational = isVariational(ev.model)
      ? await variationalMetrics(ev.model, ev.set, {
          ...objectiveOf(ev.config),
          beta: betaOf(ev.config),
          seed: deriveSeed(ev.config.seed, 'test'),
          nllSamples: opts.nllSamples,
          say: ev.say,
        })
      : undefined;
    files.push(await drawReconstructionPicture(ev, opts.count ?? 10, loss));
    const projection = fitProjection(ev);
    ev.say(`encoding ${ev.set.count} latent codes${projection ? ` as their ${projection.dim} principal components` : ''}`);
    const latents = encodeSet(ev.model, ev.set, projection);
    const latent = latentKnnAccuracy(ev, latents, projection, opts.knnTrainLimit);
    const method = opts.embed ?? 'tsne';
    const { embedding, legend, coords, errors } = await mapLatents(ev, latents, method, opts.embedOptions ?? {}, files);
    const projector = opts.projector
      ? await exportToProjector({ ...ev, latents, coords, errors, embedding, dir: opts.projector, force: opts.force })
      : undefined;
    if (ev.history.length > 0) files.push(await drawLossCurve(ev));
    const metrics: TestMetrics = {
      run: ev.run.dir,
      weights: ev.weights,
      epoch: ev.epoch,
      split: ev.split,
      images: ev.set.count,
      [`${ev.split}_mse`]: loss,
      classes: ev.classNames,
      latent,
      embedding,
      ...(variational ? { variational } : {}),
    };
    const metricsFile = path.join(ev.outDir, 'metrics.json');
    writeFileAtomic(metricsFile, `${JSON.stringify(metrics, null, 2)}\n`);
    files.push(metricsFile);
    return { outputDir: ev.outDir, files, metrics, mapLegend: legend, ...(projector ? { projector } : {}) };
  } finally {
    ev.model.params.dispose();
  }
}

/** Opens the run, checks the options, loads the data and the model; creates vis_outputs/. */
async function prepare(runDirPath: string, opts: EvaluateOptions): Promise<Evaluation> {
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
        `--limit ${opts.limit} leaves nothing to evaluate`,
        'pass --limit 2 or more (t-SNE maps from 4 points, UMAP from 3)',
      );
    set = head(set, opts.limit);
  }
  if (count < 1) throw new UserError(`--count ${count}: reconstructions.png needs at least one image`, 'pass --count 1 or more');
  if (count > set.count) throw new UserError(`--count ${count} is more than the ${set.count} images of the ${split} split`);
  const { model, epoch, history } = loadModel(config, checkpointFile);
  const outDir = path.join(run.dir, 'vis_outputs');
  fs.mkdirSync(outDir, { recursive: true });
  const noise = config.denoising ? { mean: config.noise_mean, std: config.noise_std } : null;
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
    train: data.train,
    classNames: data.classNames,
    noise,
    outDir,
    say,
  };
}

async function measureLoss(ev: Evaluation): Promise<number> {
  ev.say(`evaluating ${ev.config.model_type} from ${ev.checkpointFile} (after epoch ${ev.epoch}) on ${ev.set.count} ${ev.split} images`);
  const loss = await evaluateLoss(ev.model, ev.set, ev.noise, deriveSeed(ev.config.seed, 'test'));
  ev.say(`${ev.split} loss (MSE): ${loss.toFixed(6)}`);
  return loss;
}

/** reconstructions.png: `count` seeded random images (noisy input for denoising runs), each over its reconstruction. */
async function drawReconstructionPicture(ev: Evaluation, count: number, loss: number): Promise<string> {
  const { config, set, noise } = ev;
  const picks = new Rng(deriveSeed(config.seed, 'test-pictures')).permutation(set.count).subarray(0, count);
  const chosen = subset(set, picks);
  const [inputs, recons] = tf.tidy(() => {
    const x = batchTensor(chosen, null, 0, chosen.count);
    const input = noise ? addNoise(x, noise, deriveSeed(config.seed, 'test-pictures-noise')) : x;
    return [input, reconstruct(ev.model, input, { training: false, seed: 0 })];
  });
  const rows = [
    ...(noise ? [{ label: `noisy input (σ ${config.noise_std})`, pixels: inputs.dataSync() as Float32Array }] : []),
    { label: noise ? 'clean' : 'input', pixels: chosen.images },
    { label: 'reconstruction', pixels: recons.dataSync() as Float32Array },
  ];
  tf.dispose([inputs, recons]);
  const file = path.join(ev.outDir, 'reconstructions.png');
  const names = ev.classNames;
  const columnLabels = names ? Array.from(chosen.labels, (l) => names[l] ?? String(l)) : Array.from(picks, (i) => `#${i}`);
  const title = `${config.model_type}${config.denoising ? ' (denoising)' : ''} ${config.name}: ${ev.split} images and reconstructions, MSE ${loss.toFixed(5)}`;
  await drawReconstructions({ rows, columnLabels, height: set.height, width: set.width, channels: set.channels, title }, file);
  return file;
}

/**
 * For codes wider than MAX_DIRECT_DIM numbers: their top principal components, fitted (incrementally, batch by
 * batch) on a seeded sample of the split's codes. The split's and the k-NN training set's codes are then reduced
 * as they come out of the encoder, so no wide code is ever held for the whole set.
 */
function fitProjection(ev: Evaluation): PcaProjection | undefined {
  const dim = latentSize(ev.model);
  if (dim <= MAX_DIRECT_DIM) return undefined;
  const sample = Math.min(PCA_FIT_POINTS, ev.set.count);
  ev.say(`fitting PCA-${REDUCED_DIM} of the ${dim}-number latent codes on ${sample} of the ${ev.set.count} ${ev.split} images`);
  const projection = fitLatentPca(ev.model, ev.set, REDUCED_DIM, PCA_FIT_POINTS, deriveSeed(ev.config.seed, 'latent-pca'));
  ev.say(`  ${projection.dim} components capture ${(100 * projection.explainedVarianceRatio).toFixed(1)} % of their variance`);
  return projection;
}

function reductionOf(projection: PcaProjection | undefined): LatentReduction | null {
  if (!projection) return null;
  return {
    components: projection.dim,
    fit_images: projection.fitRows,
    explained_variance_ratio: Number(projection.explainedVarianceRatio.toFixed(4)),
  };
}

/** The 5-NN classifier on the latents (fit on training latents); unlabelled image folders get null. */
function latentKnnAccuracy(ev: Evaluation, latents: Latents, projection: PcaProjection | undefined, knnTrainLimit?: number): LatentMetrics {
  const limit = knnTrainLimit ?? specOfModel(ev.model).knnFitImages ?? Infinity;
  const knnTrain = seededSubset(ev.train, limit, deriveSeed(ev.config.seed, 'knn-train'));
  const k = Math.min(KNN_K, knnTrain.count);
  const base = { dim: latentSize(ev.model), pca: reductionOf(projection) };
  if (!ev.classNames) return { ...base, knn5_accuracy: null, knn_fit_images: 0, knn_k: k };
  if (k < KNN_K) ev.say(`latent k-NN: k lowered from ${KNN_K} to ${k}, the number of training images`);
  const trainLatents = encodeSet(ev.model, knnTrain, projection);
  const accuracy = knnAccuracy(trainLatents.codes, knnTrain.labels, latents.codes, ev.set.labels, latents.dim, k);
  ev.say(`latent ${k}-NN accuracy (fit on ${knnTrain.count} training latents): ${accuracy.toFixed(4)}`);
  return { ...base, knn5_accuracy: accuracy, knn_fit_images: knnTrain.count, knn_k: k };
}

/** latent_<method>.png: the latents mapped to 2-D on a worker thread, and the map's quality metrics. */
async function mapLatents(
  ev: Evaluation,
  latents: Latents,
  method: EmbedMethod,
  embedOptions: Omit<WorkerEmbedOptions, 'seed'>,
  files: string[],
): Promise<{ embedding: EmbeddingMetrics; legend: LegendEntry[]; coords: Float32Array; errors: Float32Array }> {
  const { config, set } = ev;
  const codeSize = latentSize(ev.model);
  const what = latents.reduction ? `${latents.reduction} of ${codeSize}-number latents` : `latents of ${codeSize} numbers`;
  ev.say(`mapping ${set.count} ${what} to 2-D with ${method}`);
  const t0 = performance.now();
  const map = await embedInWorker(latents.codes, set.count, latents.dim, method, {
    seed: config.seed,
    ...(latents.reduction ? { inputNote: latents.reduction } : {}),
    ...embedOptions,
  });
  const seconds = (performance.now() - t0) / 1000;
  for (const note of map.notes) ev.say(note);
  const k2d = Math.min(KNN_K, set.count - 1);
  const mapKnn = ev.classNames ? leaveOneOutKnnAccuracy(map.coords, set.labels, 2, k2d) : null;
  const trust =
    set.count > 3 * TRUST_K + 1
      ? trustworthiness(latents.codes, latents.dim, map.coords, 2, set.count, TRUST_K, TRUSTWORTHINESS_SAMPLE, config.seed)
      : null;
  const file = path.join(ev.outDir, `latent_${method}.png`);
  const { legend } = await drawLatentMap(
    {
      coords: map.coords,
      labels: ev.classNames ? set.labels : null,
      classNames: ev.classNames ?? [],
      images: set.images,
      height: set.height,
      width: set.width,
      channels: set.channels,
      seed: config.seed,
      title: `${map.description} of ${set.count} ${ev.split} latents (${codeSize}-d) — ${config.model_type} ${config.name}`,
    },
    file,
  );
  files.push(file);
  // The interactive map of `ae view`: coordinates, labels, errors, latent neighbours, thumbnails.
  const mapData = writeMapData({
    outDir: ev.outDir,
    method,
    description: map.description,
    split: ev.split,
    model: ev.model,
    set,
    classNames: ev.classNames,
    latents,
    coords: map.coords,
  });
  files.push(...mapData.files);
  const embedding: EmbeddingMetrics = {
    method,
    description: map.description,
    ...map.params,
    seconds: Number(seconds.toFixed(2)),
    knn5_accuracy_2d: mapKnn,
    trustworthiness_k10: trust,
    trustworthiness_sample: Math.min(TRUSTWORTHINESS_SAMPLE, set.count),
    knn_k_2d: k2d,
  };
  return { embedding, legend, coords: map.coords, errors: mapData.errors };
}

async function drawLossCurve(ev: Evaluation): Promise<string> {
  const file = path.join(ev.outDir, 'loss.png');
  await drawLossPlot(ev.history, `${ev.config.model_type} ${ev.config.name}: loss per epoch`, file);
  return file;
}
