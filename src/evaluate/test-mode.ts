/**
 * Test mode: evaluates a trained run and writes RUN_DIR/vis_outputs/:
 *   reconstructions.png, latent_<method>.png, loss.png, metrics.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { tf, initBackend, type BackendName } from '../backend/index.js';
import { UserError } from '../errors.js';
import { batchTensor, head, subset, type ImageSet } from '../data/dataset.js';
import { reconstruct } from '../models/model.js';
import type { EmbedMethod } from '../embed/index.js';
import { embedInWorker, type WorkerEmbedOptions } from '../embed/worker.js';
import { drawLatentMap } from '../render/latent-map.js';
import { drawLossPlot } from '../render/loss-plot.js';
import { drawReconstructions } from '../render/reconstructions.js';
import { loadData, readRunConfig } from '../train/trainer.js';
import { openRunDir } from '../train/run-dir.js';
import { addNoise, evaluateLoss } from '../train/validate.js';
import { writeFileAtomic } from '../util/fs.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { encodeSet, loadModel } from './latents.js';
import { knnAccuracy, leaveOneOutKnnAccuracy, trustworthiness } from './metrics.js';

export type Split = 'test' | 'validation' | 'train';

export interface TestOptions {
  weights?: 'best' | 'last';
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
}

export interface TestResult {
  outputDir: string;
  files: string[];
  metrics: Record<string, unknown>;
}

function seededSubset(set: ImageSet, limit: number, seed: number): ImageSet {
  if (set.count <= limit) return set;
  const idx = new Rng(seed).permutation(set.count).subarray(0, limit).slice().sort();
  return subset(set, idx);
}

export async function runTest(runDirPath: string, opts: TestOptions = {}): Promise<TestResult> {
  const say = opts.onMessage ?? (() => {});
  const run = openRunDir(runDirPath);
  const config = readRunConfig(run);
  const weights = opts.weights ?? 'best';
  const ckptFile = weights === 'best' ? run.bestCheckpoint : run.lastCheckpoint;
  if (!fs.existsSync(ckptFile)) {
    throw new UserError(`${run.dir} has no ${weights} checkpoint (${ckptFile})`, weights === 'best' ? 'the run has not finished an epoch yet; try --weights last, or resume it' : 'resume or retrain the run');
  }
  const method = opts.embed ?? 'tsne';
  const count = opts.count ?? 10;
  const splitName = opts.split ?? 'test';
  await initBackend(opts.backend ?? config.backend);
  const data = await loadData(config, say);
  let set = data[splitName];
  if (opts.limit !== undefined) {
    if (opts.limit < 2) throw new UserError(`--limit ${opts.limit} leaves nothing to evaluate`, 'pass --limit 2 or more (t-SNE needs more than 90 points)');
    set = head(set, opts.limit);
  }
  if (count < 1) throw new UserError(`--count ${count}: reconstructions.png needs at least one image`, 'pass --count 1 or more');
  if (count > set.count) throw new UserError(`--count ${count} is more than the ${set.count} images of the ${splitName} split`);
  const { model, epoch, history } = loadModel(config, ckptFile);
  const outDir = path.join(run.dir, 'vis_outputs');
  fs.mkdirSync(outDir, { recursive: true });
  const noise = config.denoising ? { mean: config.noise_mean, std: config.noise_std } : null;
  const files: string[] = [];

  say(`evaluating ${config.model_type} from ${ckptFile} (after epoch ${epoch}) on ${set.count} ${splitName} images`);
  const loss = await evaluateLoss(model, set, noise, deriveSeed(config.seed, 'test'));
  say(`${splitName} loss (MSE): ${loss.toFixed(6)}`);

  // Reconstructions of `count` seeded random images.
  const picks = new Rng(deriveSeed(config.seed, 'test-pictures')).permutation(set.count).subarray(0, count);
  const chosen = subset(set, picks);
  const [inputs, recons] = tf.tidy(() => {
    const x = batchTensor(chosen, null, 0, chosen.count);
    const input = noise ? addNoise(x, noise, deriveSeed(config.seed, 'test-pictures-noise')) : x;
    return [input, reconstruct(model, input, { training: false, seed: 0 })];
  });
  const rows = [
    ...(noise ? [{ label: `noisy input (σ ${config.noise_std})`, pixels: inputs.dataSync() as Float32Array }] : []),
    { label: noise ? 'clean' : 'input', pixels: chosen.images },
    { label: 'reconstruction', pixels: recons.dataSync() as Float32Array },
  ];
  tf.dispose([inputs, recons]);
  const reconFile = path.join(outDir, 'reconstructions.png');
  const classNames = data.classNames;
  const columnLabels = classNames ? Array.from(chosen.labels, (l) => classNames[l] ?? String(l)) : Array.from(picks, (i) => `#${i}`);
  await drawReconstructions({ rows, columnLabels, height: set.height, width: set.width, channels: set.channels,
    title: `${config.model_type}${config.denoising ? ' (denoising)' : ''} ${config.name}: ${splitName} images and reconstructions, MSE ${loss.toFixed(5)}` }, reconFile);
  files.push(reconFile);

  // Latents, the latent k-NN classifier, and the 2-D map.
  say('encoding latent codes');
  const latents = encodeSet(model, set);
  // The k-NN accuracies need labels: an unlabelled image folder gets null for them.
  const knnTrain = seededSubset(data.train, opts.knnTrainLimit ?? (config.model_type === 'AE' ? Infinity : 5000), deriveSeed(config.seed, 'knn-train'));
  let latentKnn: number | null = null;
  if (classNames) {
    const trainLatents = encodeSet(model, knnTrain);
    latentKnn = knnAccuracy(trainLatents.codes, knnTrain.labels, latents.codes, set.labels, latents.dim, 5);
    say(`latent 5-NN accuracy (fit on ${knnTrain.count} training latents): ${latentKnn.toFixed(4)}`);
  }
  say(`mapping ${set.count} latents of ${latents.dim} numbers to 2-D with ${method}`);
  const t0 = performance.now();
  const map = await embedInWorker(latents.codes, set.count, latents.dim, method, { seed: config.seed, ...opts.embedOptions });
  const embedSeconds = (performance.now() - t0) / 1000;
  const mapKnn = classNames && set.count > 5 ? leaveOneOutKnnAccuracy(map.coords, set.labels, 2, 5) : null;
  const trust = set.count > 31 ? trustworthiness(latents.codes, latents.dim, map.coords, 2, set.count, 10, 2000, config.seed) : NaN;
  const mapFile = path.join(outDir, `latent_${method}.png`);
  await drawLatentMap({ coords: map.coords, labels: classNames ? set.labels : null, classNames: classNames ?? [], images: set.images, height: set.height, width: set.width, channels: set.channels,
    title: `${map.description} of ${set.count} ${splitName} latents (${latents.dim}-d) — ${config.model_type} ${config.name}`, seed: config.seed }, mapFile);
  files.push(mapFile);

  const lossFile = path.join(outDir, 'loss.png');
  if (history.length > 0) {
    await drawLossPlot(history, `${config.model_type} ${config.name}: loss per epoch`, lossFile);
    files.push(lossFile);
  }

  const metrics = {
    run: run.dir, weights, epoch, split: splitName, images: set.count,
    [`${splitName}_mse`]: loss,
    classes: classNames,
    latent: { dim: latents.dim, knn5_accuracy: latentKnn, knn_fit_images: classNames ? knnTrain.count : 0 },
    embedding: { method, description: map.description, ...map.params, seconds: Number(embedSeconds.toFixed(2)), knn5_accuracy_2d: mapKnn, trustworthiness_k10: trust, trustworthiness_sample: Math.min(2000, set.count) },
  };
  const metricsFile = path.join(outDir, 'metrics.json');
  writeFileAtomic(metricsFile, `${JSON.stringify(metrics, null, 2)}\n`);
  files.push(metricsFile);
  model.params.dispose();
  return { outputDir: outDir, files, metrics };
}
