/**
 * `ae interpolate`: the decoded points on the straight line between two images' latent codes, drawn as a strip
 * with the two inputs at its ends: a look at how smoothly the latent space fills the room between two images.
 */
import path from 'node:path';
import { tf } from '../backend/index.js';
import { batchTensor, inMemory, type MemorySet } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { drawReconstructions } from '../render/reconstructions.js';
import { checkOutput, openRunModel, type UseOptions } from './encode.js';
import { type InputRow, openInput, SPLITS, type SplitName } from './inputs.js';

export interface InterpolateOptions extends Omit<UseOptions, 'input' | 'onProgress'> {
  /** An image index in `split`, or an image file. */
  from: string;
  to: string;
  /** Decoded points from one end to the other, both included (default 8, at least 2). */
  steps?: number;
  split?: SplitName;
  /** Output picture (default `<run>/interpolation_<from>_<to>.png`). */
  out?: string;
}

export interface InterpolateResult {
  file: string;
  /** The decoded images, steps x (height * width * channels), HWC in [0, 1]. */
  frames: Float32Array;
  /** Where each frame lies on the line, 0 at `from` and 1 at `to`. */
  t: number[];
}

/** One end: an image of the split (by index) or an image file, preprocessed as the run's images. */
async function endpoint(
  spec: string,
  split: SplitName,
  config: Parameters<typeof openInput>[0],
  say: (t: string) => void,
): Promise<{ set: MemorySet; row: InputRow }> {
  if (/^\d+$/.test(spec)) {
    const source = await openInput(config, [split], say);
    const index = Number(spec);
    if (index >= source.total)
      throw new UserError(
        `image ${index} is not in the ${split} split (it has ${source.total} images)`,
        `pass an index below ${source.total}, or an image file`,
      );
    for await (const batch of source.batches(1000)) {
      const r = batch.rows.findIndex((row) => row.index === index);
      if (r >= 0) return { set: inMemory(batch.set, [r]), row: batch.rows[r]! };
    }
  }
  for await (const batch of (await openInput(config, [spec], say)).batches(1)) return { set: batch.set, row: batch.rows[0]! };
  throw new UserError(`\`from\`/\`to\` ${spec}: the image could not be read`, undefined, { option: 'from' });
}

const name = (spec: string) => (/^\d+$/.test(spec) ? spec : path.basename(spec, path.extname(spec))).replace(/[^\w.-]/g, '_');

export async function interpolate(runDirPath: string, opts: InterpolateOptions): Promise<InterpolateResult> {
  const steps = opts.steps ?? 8;
  if (!Number.isInteger(steps) || steps < 2)
    throw new UserError(`\`steps\` ${steps}: the line needs at least its two ends`, 'pass `steps` 2 or more', { option: 'steps' });
  const split = opts.split ?? 'test';
  if (!(SPLITS as readonly string[]).includes(split))
    throw new UserError(`\`split\` ${split} is not one of ${SPLITS.join(', ')}`, undefined, { option: 'split' });
  const say = opts.onMessage ?? (() => {});
  const { run, config, model } = await openRunModel(runDirPath, opts);
  try {
    const file = opts.out ?? path.join(run.dir, `interpolation_${name(opts.from)}_${name(opts.to)}.png`);
    checkOutput(file, opts.force);
    const a = await endpoint(opts.from, split, config, say);
    const b = await endpoint(opts.to, split, config, say);
    const t = Array.from({ length: steps }, (_, i) => i / (steps - 1));
    const frames = tf.tidy(() => {
      const za = model.encode(batchTensor(a.set, null, 0, 1), { training: false, seed: 0 });
      const zb = model.encode(batchTensor(b.set, null, 0, 1), { training: false, seed: 0 });
      const line = tf.concat(t.map((s) => tf.add(tf.mul(za, 1 - s), tf.mul(zb, s))));
      return model.decode(line, { training: false, seed: 0 }).dataSync() as Float32Array;
    });
    const { height, width, channels } = a.set;
    const label = (row: InputRow) => row.className ?? (row.path ? path.basename(row.path) : `#${row.index}`);
    const strip = new Float32Array((steps + 2) * height * width * channels);
    strip.set(a.set.images, 0);
    strip.set(frames, height * width * channels);
    strip.set(b.set.images, (steps + 1) * height * width * channels);
    await drawReconstructions(
      {
        rows: [{ label: 'decoded', pixels: strip }],
        columnLabels: [`from ${label(a.row)}`, ...t.map((s) => `t ${s.toFixed(2)}`), `to ${label(b.row)}`],
        height,
        width,
        channels,
        title: `${config.model_type} ${config.name}: ${steps} points between two images' latent codes, decoded`,
      },
      file,
    );
    say(`wrote ${file}`);
    return { file, frames, t };
  } finally {
    model.params.dispose();
  }
}
