/**
 * `ae score`: anomaly scores by reconstruction error, the most common production use of an autoencoder. An
 * image's score is the mean squared error of its reconstruction (for a denoising run: of the clean image, fed
 * clean). The threshold is a percentile of the scores on the run's training images, computed once per
 * checkpoint and kept in the run directory (`anomaly_train_scores.f32` + `.json`); an image above it is flagged.
 * Writes `scores.csv` (most anomalous first) and `anomalies.png` (the k most anomalous images, their
 * reconstructions and per-pixel error).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { evalBatchSize, reconstructionErrors } from '../models/loss.js';
import { drawReconstructions } from '../render/reconstructions.js';
import { concatFloat32 } from '../util/arrays.js';
import { AtomicStream, makeDirsFor, writeFileAtomic } from '../util/fs.js';
import { csvField } from './code-writers.js';
import { checkOutput, inputTag, type OpenedRun, openRunModel, type UseOptions } from './encode.js';
import { type InputRow, type InputSource, openInput } from './inputs.js';

export interface ScoreOptions extends UseOptions {
  /** The training-score percentile that is the threshold, in (0, 100); default 95. */
  percentile?: number;
  /** Output folder for scores.csv and anomalies.png (default `<run>/scores_<input>/`). */
  outDir?: string;
  /** Images in anomalies.png (default 10). */
  count?: number;
}

export interface ScoredRow extends InputRow {
  score: number;
  flagged: boolean;
}

export interface ScoreResult {
  /** Every input, most anomalous first. */
  rows: ScoredRow[];
  threshold: number;
  percentile: number;
  flagged: number;
  files: string[];
  failed: InputSource['failed'];
}

/** The p-th percentile of sorted values, interpolating linearly between ranks (NumPy's default). */
export function percentileOf(sorted: ArrayLike<number>, p: number): number {
  const pos = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(pos),
    hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * The scores of the run's training images, sorted, for this checkpoint: read from the run directory when they
 * were computed for the same weights (the checkpoint's data checksum), else computed and stored.
 */
async function trainingScores(opened: OpenedRun, say: (t: string) => void): Promise<Float32Array> {
  const { run, config, model, checkpointFile, checkpointSha256: weights } = opened;
  const binFile = path.join(run.dir, 'anomaly_train_scores.f32'),
    metaFile = path.join(run.dir, 'anomaly_train_scores.json');
  try {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as { weights_sha256: string; count: number };
    const bytes = fs.readFileSync(binFile);
    if (meta.weights_sha256 === weights && bytes.length === meta.count * 4) {
      say(`threshold from the ${meta.count} training scores stored in ${binFile}`);
      return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    }
    say('the weights changed since the training scores were stored: scoring the training images again');
  } catch {
    // Not computed yet (or unreadable): computed below.
  }
  const source = await openInput(config, ['train'], say);
  say(`scoring ${source.description} for the threshold (once per checkpoint)`);
  const scores = new Float32Array(source.total);
  let n = 0;
  for await (const batch of source.batches(evalBatchSize(model))) {
    scores.set(reconstructionErrors(model, batch.set).errors, n);
    n += batch.set.count;
  }
  scores.sort();
  writeFileAtomic(binFile, new Uint8Array(scores.buffer));
  writeFileAtomic(
    metaFile,
    `${JSON.stringify({ weights_sha256: weights, checkpoint: path.basename(checkpointFile), count: n }, null, 2)}\n`,
  );
  return scores;
}

/** The k highest-scoring images seen so far, with their pixels and reconstructions (bounded memory). */
class TopK {
  readonly items: Array<{ row: InputRow; score: number; image: Float32Array; recon: Float32Array }> = [];
  constructor(private readonly k: number) {}
  offer(row: InputRow, score: number, image: Float32Array, recon: Float32Array): void {
    if (this.items.length === this.k && score <= this.items[this.items.length - 1]!.score) return;
    this.items.push({ row, score, image: image.slice(), recon: recon.slice() });
    this.items.sort((a, b) => b.score - a.score);
    if (this.items.length > this.k) this.items.pop();
  }
}

/** Per-pixel squared error (mean over channels) as a black-red-yellow-white heat map, RGB, scaled by `max`. */
function heatMap(image: Float32Array, recon: Float32Array, channels: number, max: number): Float32Array {
  const pixels = image.length / channels;
  const out = new Float32Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    let e = 0;
    for (let c = 0; c < channels; c++) e += (image[p * channels + c]! - recon[p * channels + c]!) ** 2;
    const v = Math.min(1, e / channels / (max || 1));
    out[3 * p] = Math.min(1, 3 * v);
    out[3 * p + 1] = Math.min(1, Math.max(0, 3 * v - 1));
    out[3 * p + 2] = Math.min(1, Math.max(0, 3 * v - 2));
  }
  return out;
}

const toRgb = (pixels: Float32Array, channels: number): Float32Array =>
  channels === 3 ? pixels : Float32Array.from({ length: pixels.length * 3 }, (_, i) => pixels[Math.floor(i / 3)]!);

async function drawAnomalies(
  top: TopK,
  shape: { height: number; width: number; channels: number },
  title: string,
  file: string,
): Promise<void> {
  const { height, width, channels } = shape;
  let maxError = 0;
  for (const it of top.items) {
    for (let i = 0; i < it.image.length; i++) maxError = Math.max(maxError, (it.image[i]! - it.recon[i]!) ** 2);
  }
  const concat = (f: (it: TopK['items'][number]) => Float32Array) => concatFloat32(top.items.map(f));
  await drawReconstructions(
    {
      rows: [
        { label: 'input', pixels: concat((it) => toRgb(it.image, channels)) },
        { label: 'reconstruction', pixels: concat((it) => toRgb(it.recon, channels)) },
        { label: 'squared error', pixels: concat((it) => heatMap(it.image, it.recon, channels, maxError)) },
      ],
      columnLabels: top.items.map(
        (it) => `${it.row.className ?? it.row.path?.split(/[\\/]/).pop() ?? `#${it.row.index}`} ${it.score.toFixed(4)}`,
      ),
      height,
      width,
      channels: 3,
      title,
    },
    file,
  );
}

export async function score(runDirPath: string, opts: ScoreOptions = {}): Promise<ScoreResult> {
  const percentile = opts.percentile ?? 95;
  if (!(percentile > 0 && percentile < 100)) {
    throw new UserError(`\`percentile\` ${percentile} is outside (0, 100)`, 'pass a percentile such as 95 or 99.5', {
      option: 'percentile',
    });
  }
  const count = opts.count ?? 10;
  if (!(Number.isInteger(count) && count >= 1))
    throw new UserError(`\`count\` ${count}: anomalies.png needs at least one image`, undefined, { option: 'count' });
  const say = opts.onMessage ?? (() => {});
  const opened = await openRunModel(runDirPath, opts);
  const { run, config, model } = opened;
  try {
    const outDir = opts.outDir ?? path.join(run.dir, `scores_${inputTag(opts.input)}`);
    const csvFile = path.join(outDir, 'scores.csv'),
      pngFile = path.join(outDir, 'anomalies.png'),
      summaryFile = path.join(outDir, 'summary.json');
    checkOutput(csvFile, opts.force);
    checkOutput(pngFile, opts.force);
    checkOutput(summaryFile, opts.force);
    const source = await openInput(config, opts.input, say);
    // The inputs are scored first, so input that cannot be read fails before anything is stored; the flags
    // follow once the threshold is known.
    say(`scoring ${source.description}`);
    const rows: ScoredRow[] = [];
    const top = new TopK(count);
    let shape = { height: config.height, width: config.width, channels: config.color_channel as number };
    for await (const batch of source.batches(evalBatchSize(model))) {
      const { errors, recon } = reconstructionErrors(model, batch.set);
      const size = batch.set.height * batch.set.width * batch.set.channels;
      shape = { height: batch.set.height, width: batch.set.width, channels: batch.set.channels };
      batch.rows.forEach((row, i) => {
        const s = errors[i]!;
        rows.push({ ...row, score: s, flagged: false });
        top.offer(row, s, batch.set.images.subarray(i * size, (i + 1) * size), recon.subarray(i * size, (i + 1) * size));
      });
      opts.onProgress?.(rows.length + source.failed.length, source.total);
    }
    const train = await trainingScores(opened, say);
    const threshold = percentileOf(train, percentile);
    say(`threshold: ${threshold.toPrecision(6)}, the ${percentile}th percentile of ${train.length} training scores`);
    for (const r of rows) r.flagged = r.score > threshold;
    rows.sort((a, b) => b.score - a.score || a.index - b.index);
    const flagged = rows.filter((r) => r.flagged).length;
    makeDirsFor(csvFile);
    const csv = new AtomicStream(csvFile);
    try {
      csv.write('index,label,class,path,score,flagged\n');
      csv.write(
        rows.map((r) => `${[r.index, r.label, r.className, r.path, r.score, r.flagged ? 1 : 0].map(csvField).join(',')}\n`).join(''),
      );
      csv.commit();
    } catch (e) {
      csv.abort();
      throw e;
    }
    // The threshold and how it was chosen, for readers of scores.csv (ae view says it beside its list).
    const summary = { images: rows.length, flagged, threshold, percentile, training_images: train.length };
    writeFileAtomic(summaryFile, `${JSON.stringify(summary, null, 2)}\n`);
    const title = `${config.model_type} ${config.name}: the ${top.items.length} most anomalous of ${rows.length} (threshold ${threshold.toPrecision(4)}, p${percentile})`;
    await drawAnomalies(top, shape, title, pngFile);
    for (const f of source.failed) say(`skipped ${f.path}: ${f.reason}`);
    say(`${flagged} of ${rows.length} images flagged as anomalous (score above ${threshold.toPrecision(6)})`);
    return { rows, threshold, percentile, flagged, files: [csvFile, pngFile, summaryFile], failed: source.failed };
  } finally {
    model.params.dispose();
  }
}
