/**
 * The steps of `ae test`. Each takes the shared Evaluation (and what earlier steps computed) and returns its part
 * of metrics.json and the files it wrote; evaluate-run.ts composes them. No step writes into another's result.
 */
import path from 'node:path';
import { tf } from '../backend/index.js';
import { batchTensor, imageAt, inMemory, seededSubset } from '../data/dataset.js';
import type { PcaProjection } from '../embed/incremental-pca.js';
import { type EmbedMethod, MAX_DIRECT_DIM, REDUCED_DIM } from '../embed/index.js';
import { embedInWorker, type WorkerEmbedOptions } from '../embed/worker.js';
import { addNoise, evaluateLoss } from '../models/loss.js';
import { betaOf, objectiveOf } from '../models/objective.js';
import { isVariational, reconstruct, specOfModel } from '../models/registry.js';
import { drawLatentMap, type LegendEntry } from '../render/latent-map.js';
import { drawLossPlot } from '../render/loss-plot.js';
import type { ProjectorResult } from '../render/projector.js';
import { drawReconstructions } from '../render/reconstructions.js';
import { deriveSeed, Rng } from '../util/rng.js';
import {
  type EmbeddingMetrics,
  type Evaluation,
  KNN_K,
  type LatentMetrics,
  MAP_POINTS,
  type LatentReduction,
  TRUST_K,
  TRUSTWORTHINESS_SAMPLE,
  type TestMetrics,
} from './evaluation.js';
import { encodeSet, fitLatentPca, type Latents, latentSize, PCA_FIT_POINTS } from './latents.js';
import { variationalMetrics } from './likelihood.js';
import { writeMapData } from './map-data.js';
import { knnAccuracy, leaveOneOutKnnAccuracy, trustworthiness } from './metrics.js';
import { exportToProjector } from './projector-step.js';

/** What a step gives back: its part of metrics.json and the files it wrote. */
export interface StepOutput {
  metrics: Partial<TestMetrics>;
  files: string[];
}

/** The split's reconstruction loss: `<split>_mse`. */
export async function lossStep(ev: Evaluation): Promise<StepOutput & { loss: number }> {
  ev.say(`evaluating ${ev.config.model_type} from ${ev.checkpointFile} (after epoch ${ev.epoch}) on ${ev.set.count} ${ev.split} images`);
  const loss = await evaluateLoss(ev.model, ev.set, ev.noise, deriveSeed(ev.config.seed, 'test'));
  ev.say(`${ev.split} loss (MSE): ${loss.toFixed(6)}`);
  return { metrics: { [`${ev.split}_mse`]: loss }, files: [], loss };
}

/** A VAE's ELBO terms and, with `nllSamples`, its importance-sampled log-likelihood; nothing for other models. */
export async function variationalStep(ev: Evaluation, nllSamples: number | undefined): Promise<StepOutput> {
  if (!isVariational(ev.model)) return { metrics: {}, files: [] };
  const variational = await variationalMetrics(ev.model, ev.set, {
    ...objectiveOf(ev.config),
    beta: betaOf(ev.config),
    seed: deriveSeed(ev.config.seed, 'test'),
    nllSamples,
    say: ev.say,
  });
  return { metrics: { variational }, files: [] };
}

/** reconstructions.png: `count` seeded random images (noisy input for denoising runs), each over its reconstruction. */
export async function reconstructionsStep(ev: Evaluation, count: number, loss: number): Promise<StepOutput> {
  const { config, set, noise } = ev;
  const picks = new Rng(deriveSeed(config.seed, 'test-pictures')).permutation(set.count).subarray(0, count);
  const chosen = inMemory(set, picks);
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
  return { metrics: {}, files: [file] };
}

/**
 * For codes wider than MAX_DIRECT_DIM numbers: their top principal components, fitted (incrementally, batch by
 * batch) on a seeded sample of the split's codes. The split's and the k-NN training set's codes are then reduced
 * as they come out of the encoder, so no wide code is ever held for the whole set.
 */
function fitProjection(ev: Evaluation): PcaProjection | undefined {
  const dim = latentSize(ev.model);
  if (dim <= MAX_DIRECT_DIM) return undefined;
  const sample = Math.min(PCA_FIT_POINTS, ev.mapSet.count);
  ev.say(`fitting PCA-${REDUCED_DIM} of the ${dim}-number latent codes on ${sample} of the ${ev.mapSet.count} ${ev.split} images`);
  const projection = fitLatentPca(ev.model, ev.mapSet, REDUCED_DIM, PCA_FIT_POINTS, deriveSeed(ev.config.seed, 'latent-pca'));
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

/**
 * The split's latent codes (wide codes as their principal components) and `latent`: the 5-NN classifier fit on
 * training latents (`knnFitImages` of them, else the spec's cap, and never more than MAP_POINTS: a seeded subsample),
 * scored on the split's; null when unlabelled.
 */
export function latentStep(ev: Evaluation, knnFitImages: number | undefined): StepOutput & { latents: Latents } {
  const projection = fitProjection(ev);
  ev.say(`encoding ${ev.mapSet.count} latent codes${projection ? ` as their ${projection.dim} principal components` : ''}`);
  const latents = encodeSet(ev.model, ev.mapSet, projection);
  // At most MAP_POINTS training images, whatever the split's size: the exact search costs fit x mapped points.
  const limit = knnFitImages ?? Math.min(specOfModel(ev.model).knnFitImages ?? MAP_POINTS, MAP_POINTS);
  const knnTrain = seededSubset(ev.train, limit, deriveSeed(ev.config.seed, 'knn-train'));
  const k = Math.min(KNN_K, knnTrain.count);
  const base = { dim: latentSize(ev.model), pca: reductionOf(projection) };
  let latent: LatentMetrics;
  if (!ev.classNames) latent = { ...base, knn5_accuracy: null, knn_fit_images: 0, knn_k: k };
  else {
    if (k < KNN_K) ev.say(`latent k-NN: k lowered from ${KNN_K} to ${k}, the number of training images`);
    const trainLatents = encodeSet(ev.model, knnTrain, projection);
    const accuracy = knnAccuracy(trainLatents.codes, knnTrain.labels, latents.codes, ev.mapSet.labels, latents.dim, k);
    ev.say(`latent ${k}-NN accuracy (fit on ${knnTrain.count} training latents): ${accuracy.toFixed(4)}`);
    latent = { ...base, knn5_accuracy: accuracy, knn_fit_images: knnTrain.count, knn_k: k };
  }
  return { metrics: { latent }, files: [], latents };
}

/** A 2-D map of the latents: the embedding (on a worker thread) and its quality metrics, `embedding`. */
export interface MapOutput extends StepOutput {
  coords: Float32Array;
  description: string;
  embedding: EmbeddingMetrics;
}

export async function embedStep(
  ev: Evaluation,
  latents: Latents,
  method: EmbedMethod,
  embedOptions: Omit<WorkerEmbedOptions, 'seed'>,
): Promise<MapOutput> {
  const { config, mapSet: set } = ev;
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
  return { metrics: { embedding }, files: [], coords: map.coords, description: map.description, embedding };
}

/** latent_<method>.png: the map drawn, coloured by class, with thumbnails. */
export async function mapPictureStep(ev: Evaluation, map: MapOutput): Promise<StepOutput & { legend: LegendEntry[] }> {
  const { config, mapSet: set } = ev;
  const file = path.join(ev.outDir, `latent_${map.embedding.method}.png`);
  const { legend } = await drawLatentMap(
    {
      coords: map.coords,
      labels: ev.classNames ? set.labels : null,
      classNames: ev.classNames ?? [],
      images: imageAt(set),
      height: set.height,
      width: set.width,
      channels: set.channels,
      seed: config.seed,
      title: `${map.description} of ${set.count} ${ev.split} latents (${latentSize(ev.model)}-d) — ${config.model_type} ${config.name}`,
    },
    file,
  );
  return { metrics: {}, files: [file], legend };
}

/** map_<method>.json/.bin, the interactive map of `ae view`: coordinates, labels, errors, neighbours, thumbnails. */
export function mapDataStep(ev: Evaluation, latents: Latents, map: MapOutput): StepOutput & { errors: Float32Array } {
  const { files, errors } = writeMapData({
    outDir: ev.outDir,
    method: map.embedding.method,
    description: map.description,
    split: ev.split,
    model: ev.model,
    set: ev.mapSet,
    classNames: ev.classNames,
    latents,
    coords: map.coords,
  });
  return { metrics: {}, files, errors };
}

/** An Embedding Projector folder in `dir`: codes, metadata with the reconstruction errors, sprite, our map. */
export async function projectorStep(
  ev: Evaluation,
  latents: Latents,
  map: MapOutput,
  errors: Float32Array,
  dir: string,
  force: boolean | undefined,
): Promise<StepOutput & { projector: ProjectorResult }> {
  const projector = await exportToProjector({
    ...ev,
    set: ev.mapSet,
    latents,
    coords: map.coords,
    errors,
    embedding: map.embedding,
    dir,
    force,
  });
  return { metrics: {}, files: projector.files, projector };
}

/** loss.png: the run's training and validation loss per epoch (nothing when the run has no history). */
export async function lossCurveStep(ev: Evaluation): Promise<StepOutput> {
  if (ev.history.length === 0) return { metrics: {}, files: [] };
  const file = path.join(ev.outDir, 'loss.png');
  await drawLossPlot(ev.history, `${ev.config.model_type} ${ev.config.name}: loss per epoch`, file);
  return { metrics: {}, files: [file] };
}
