/**
 * `ae sample`: what a VAE generates. Codes drawn from the prior N(0, I) with a seed, decoded, as samples.png; for a
 * two-number latent also latent_grid.png, the decoder's picture of the whole latent plane (Kingma & Welling 2014,
 * figure 4; Keras' VAE example): a grid of codes at evenly spaced quantiles of the prior, decoded.
 */
import path from 'node:path';
import { tf } from '../backend/index.js';
import { UserError } from '../errors.js';
import { evalBatchSize } from '../models/loss.js';
import { type Autoencoder, isVariational, variationalKinds } from '../models/registry.js';
import { standardNormal } from '../models/objective.js';
import { drawImageGrid } from '../render/image-grid.js';
import { deriveSeed } from '../util/rng.js';
import { checkOutput, openRunModel, type UseOptions } from './encode.js';

export interface SampleOptions extends Omit<UseOptions, 'input' | 'onProgress'> {
  /** Samples to draw (default 64, at most 10,000). */
  count?: number;
  /** Seed of the prior draws (default: the run's seed); the same seed gives the same samples. */
  seed?: number;
  /** Folder for samples.png and latent_grid.png (default: the run directory). */
  outDir?: string;
  /** Side of the latent-plane grid for 2-D latents (default 20). */
  gridSize?: number;
}

export interface SampleResult {
  files: string[];
  /** The codes drawn, count x latent_dim. */
  codes: Float32Array;
  /** The decoded samples, count x (height * width * channels), HWC in [0, 1]. */
  samples: Float32Array;
}

/** The standard normal quantile function (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) =>
    (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** Decodes codes (rows of `dim` numbers) in inference mode, batch by batch. */
export function decodeCodes(model: Autoencoder, codes: Float32Array, dim: number): Float32Array {
  const count = codes.length / dim;
  const { height, width, channels } = model.shape;
  const out = new Float32Array(count * height * width * channels);
  const bs = evalBatchSize(model);
  for (let start = 0; start < count; start += bs) {
    const end = Math.min(count, start + bs);
    const images = tf.tidy(() => {
      const z = tf.tensor2d(codes.subarray(start * dim, end * dim), [end - start, dim]);
      return model.decode(z, { training: false, seed: 0 }).dataSync() as Float32Array;
    });
    out.set(images, start * height * width * channels);
  }
  return out;
}

/** The codes of a gridSize x gridSize grid over the latent plane, rows from high z2 (top) to low, z1 left to right. */
export function latentPlaneCodes(gridSize: number): { codes: Float32Array; ticks: number[] } {
  const ticks = Array.from({ length: gridSize }, (_, i) => normalQuantile((i + 0.5) / gridSize));
  const codes = new Float32Array(gridSize * gridSize * 2);
  for (let r = 0; r < gridSize; r++) {
    for (let c = 0; c < gridSize; c++) {
      codes[(r * gridSize + c) * 2] = ticks[c]!;
      codes[(r * gridSize + c) * 2 + 1] = ticks[gridSize - 1 - r]!;
    }
  }
  return { codes, ticks };
}

export async function sample(runDirPath: string, opts: SampleOptions = {}): Promise<SampleResult> {
  const count = opts.count ?? 64;
  if (!Number.isInteger(count) || count < 1 || count > 10000)
    throw new UserError(`\`count\` ${count}: expected a whole number from 1 to 10000`, 'pass `count` 64, for example', { option: 'count' });
  const gridSize = opts.gridSize ?? 20;
  if (!Number.isInteger(gridSize) || gridSize < 2 || gridSize > 100)
    throw new UserError(`\`gridSize\` ${gridSize}: expected a whole number from 2 to 100`, 'pass `gridSize` 20, for example', {
      option: 'gridSize',
    });
  if (opts.seed !== undefined && !(Number.isInteger(opts.seed) && opts.seed >= 0 && opts.seed < 2 ** 32))
    throw new UserError(`\`seed\` ${opts.seed}: expected a whole number from 0 to 4294967295`, undefined, { option: 'seed' });
  const say = opts.onMessage ?? (() => {});
  const { run, config, model } = await openRunModel(runDirPath, opts);
  try {
    if (!isVariational(model)) {
      throw new UserError(
        `${run.dir} is a run of model_type ${model.kind}, which has no prior to sample from`,
        `sampling needs a variational model (model_type: ${variationalKinds().join(' or ')}); for this run, ae interpolate decodes the line between two images`,
      );
    }
    const outDir = opts.outDir ?? run.dir;
    const files = [path.join(outDir, 'samples.png')];
    if (model.latentDim === 2) files.push(path.join(outDir, 'latent_grid.png'));
    for (const f of files) checkOutput(f, opts.force);
    const seed = opts.seed ?? config.seed;
    const codes = tf.tidy(() => standardNormal([count, model.latentDim], deriveSeed(seed, 'sample')).dataSync() as Float32Array);
    const samples = decodeCodes(model, codes, model.latentDim);
    const { height, width, channels } = model.shape;
    const cols = Math.ceil(Math.sqrt(count));
    await drawImageGrid(
      {
        pixels: samples,
        rows: Math.ceil(count / cols),
        cols,
        height,
        width,
        channels,
        title: `${config.model_type} ${config.name}: ${count} samples from the prior N(0, I), seed ${seed}`,
      },
      files[0]!,
    );
    say(`wrote ${files[0]}`);
    if (model.latentDim === 2) {
      const { codes: plane, ticks } = latentPlaneCodes(gridSize);
      const labels = ticks.map((t) => t.toFixed(1));
      await drawImageGrid(
        {
          pixels: decodeCodes(model, plane, 2),
          rows: gridSize,
          cols: gridSize,
          height,
          width,
          channels,
          title: `${config.model_type} ${config.name}: the latent plane decoded (z1 across, z2 up; prior quantiles)`,
          colLabels: labels,
          rowLabels: [...labels].reverse(),
          cell: Math.max(height, width),
        },
        files[1]!,
      );
      say(`wrote ${files[1]}`);
    }
    return { files, codes, samples };
  } finally {
    model.params.dispose();
  }
}
