/**
 * `ae encode`: the latent codes of a run's images, or of any images preprocessed as the run's, streamed in
 * batches through the encoder (inference mode) into a file (see ./code-writers.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { type BackendName, initBackend, tf } from '../backend/index.js';
import { loadModel } from '../checkpoint/model-state.js';
import { checkpointOf, openRunDir, readRunConfig, type RunDir } from '../checkpoint/run-dir.js';
import type { Config } from '../config/schema.js';
import { batchTensor } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { reduceIfWide } from '../embed/index.js';
import { embedInWorker } from '../embed/worker.js';
import { evalBatchSize, reconstructionErrors } from '../models/loss.js';
import { exportProjector, type ProjectorPoint, type ProjectorResult } from '../render/projector.js';
import type { Autoencoder } from '../models/registry.js';
import { concatFloat32 } from '../util/arrays.js';
import { makeDirsFor } from '../util/fs.js';
import { CODE_FORMATS, type CodeFormat, openCodeWriter } from './code-writers.js';
import { type InputBatch, type InputRow, type InputSource, openInput } from './inputs.js';
import { openMapForPlacing, type PlacedPoints, placeOnMap } from './onto.js';

export interface UseOptions {
  /** A split (`test`, the default; `validation`; `train`), or image files and folders. */
  input?: string[];
  weights?: 'best' | 'last';
  /** Replace output files that exist (else they are refused). */
  force?: boolean;
  onMessage?: (text: string) => void;
  /** Images done of the total listed, after each batch. */
  onProgress?: (done: number, total: number) => void;
  backend?: BackendName;
}

export interface EncodeOptions extends UseOptions {
  /** Output file (default `<run>/codes_<input>.<format>`). */
  out?: string;
  format?: CodeFormat;
  /**
   * Also write an Embedding Projector folder here, with a t-SNE map of the codes as its bookmark. This keeps the
   * codes and thumbnails of the exported points in memory (the sprite holds at most ~85k 28x28 thumbnails).
   */
  projector?: string;
  /**
   * Also place the images on a saved t-SNE map (a map_<method>.json of `ae test`, or a run folder: its
   * vis_outputs/map_tsne.json; true: this run's) with transformPoints, writing <out>_on_<method>.csv and .png.
   */
  onto?: string | true;
}

export interface EncodeResult {
  files: string[];
  /** The projector export, when asked for. */
  projector?: ProjectorResult;
  /** The images' places on the map, when asked for (`onto`). */
  placed?: PlacedPoints;
  /** Rows written (images listed minus those that failed to decode). */
  count: number;
  dim: number;
  failed: InputSource['failed'];
}

/** A run opened for use: its config and a model with the chosen checkpoint's weights. */
export interface OpenedRun {
  run: RunDir;
  config: Config;
  model: Autoencoder;
  checkpointFile: string;
  checkpointSha256: string;
  /** Training steps taken when the checkpoint was written. */
  steps: number;
}

export async function openRunModel(runDirPath: string, opts: UseOptions): Promise<OpenedRun> {
  const run = openRunDir(runDirPath);
  const config = readRunConfig(run);
  const checkpointFile = checkpointOf(run, opts.weights ?? 'best');
  await initBackend(opts.backend ?? config.backend);
  const { model, checkpointSha256, steps } = loadModel(config, checkpointFile);
  return { run, config, model, checkpointFile, checkpointSha256, steps };
}

/**
 * Refuses an output that exists (unless forced) or that cannot be written: its nearest existing folder must be a
 * writable folder. Creates nothing (the command makes the folders when it writes).
 */
export function checkOutput(file: string, force: boolean | undefined): void {
  if (fs.existsSync(file) && !force)
    throw new UserError(`${file} exists`, 'pass `force` to replace it, or `out` another file', { option: 'force' });
  let dir = path.dirname(path.resolve(file));
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const problem = !fs.statSync(dir).isDirectory() ? `${dir} is a file` : canWrite(dir) ? null : `${dir} is not writable`;
  if (problem) throw new UserError(`cannot write ${file}: ${problem}`, 'pass `out` a path in a folder you can write', { option: 'out' });
}

function canWrite(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A short name for the input in default file names: the split, or the first path's base name. */
export function inputTag(input: string[] | undefined): string {
  const first = input?.[0] ?? 'test';
  return (input && input.length > 1 ? 'files' : path.basename(path.resolve(first))).replace(/[^\w.-]/g, '_');
}

function checkProjectorDir(dir: string, force?: boolean): void {
  if (fs.existsSync(path.join(dir, 'projector_config.json')) && !force) {
    throw new UserError(`${dir} already holds a projector export`, 'pass `force` to replace it, or another folder', { option: 'force' });
  }
}

/** The codes, thumbnails, labels and reconstruction errors of every encoded image, for a projector export. */
class ProjectorCollector {
  private codes: Float32Array[] = [];
  private images: Float32Array[] = [];
  private readonly points: ProjectorPoint[] = [];
  private shape = { height: 0, width: 0, channels: 0 };
  constructor(private readonly dim: number) {}

  add(codes: Float32Array, batch: InputBatch, errors: Float32Array): void {
    this.codes.push(codes.slice());
    this.images.push(batch.set.images.slice());
    this.shape = { height: batch.set.height, width: batch.set.width, channels: batch.set.channels };
    batch.rows.forEach((row, i) => {
      this.points.push({
        label: row.className ?? (row.label === null ? '' : String(row.label)),
        split: '',
        reconstructionError: errors[i]!,
        path: row.path ?? '',
      });
    });
  }

  async export(dir: string, config: Config, tag: string, opts: EncodeOptions): Promise<ProjectorResult> {
    const codes = concatFloat32(this.codes),
      images = concatFloat32(this.images),
      n = this.points.length;
    this.codes = [];
    this.images = [];
    for (const p of this.points) p.split = tag;
    opts.onMessage?.(`mapping ${n} codes to 2-D with t-SNE for the projector's bookmark`);
    const map = await embedInWorker(codes, n, this.dim, 'tsne', { seed: config.seed });
    for (const note of map.notes) opts.onMessage?.(note);
    const reduced = reduceIfWide(codes, n, this.dim, config.seed);
    const result = await exportProjector(
      dir,
      {
        codes: reduced.data,
        dim: reduced.dim,
        points: this.points,
        images,
        ...this.shape,
        map: { coords: map.coords, method: 'tsne', description: map.description, perplexity: map.params.perplexity },
        tensorName: `${config.model_type} ${config.name} latents (${tag})${reduced.reduced ? `, PCA-${reduced.dim} of ${this.dim}` : ''}`,
        seed: config.seed,
      },
      opts.force,
    );
    if (result.note) opts.onMessage?.(result.note);
    opts.onMessage?.(`Embedding Projector folder: ${dir} (${result.exported} points)`);
    return result;
  }
}

export async function encode(runDirPath: string, opts: EncodeOptions = {}): Promise<EncodeResult> {
  const format = opts.format ?? 'npy';
  if (!CODE_FORMATS.includes(format))
    throw new UserError(`\`format\` ${format} is not one of ${CODE_FORMATS.join(', ')}`, undefined, { option: 'format' });
  const { run, config, model } = await openRunModel(runDirPath, opts);
  try {
    const out = opts.out ?? path.join(run.dir, `codes_${inputTag(opts.input)}.${format}`);
    checkOutput(out, opts.force);
    const source = await openInput(config, opts.input, opts.onMessage);
    opts.onMessage?.(`encoding ${source.description} with ${config.model_type} ${config.name}`);
    const dim = model.latentShape.reduce((a, b) => a * b, 1);
    if (opts.projector) checkProjectorDir(opts.projector, opts.force);
    const onto = opts.onto ? openMapForPlacing(run.dir, opts.onto, dim, out.replace(/\.[^./\\]+$/, '')) : null;
    if (onto) for (const f of Object.values(onto.outputs)) checkOutput(f, opts.force);
    const createdDir = makeDirsFor(out);
    const writer = openCodeWriter(out, format, dim);
    const kept = opts.projector ? new ProjectorCollector(dim) : null;
    const forMap: { codes: Float32Array[]; rows: InputRow[] } = { codes: [], rows: [] };
    let count = 0;
    try {
      for await (const batch of source.batches(evalBatchSize(model))) {
        const z = tf.tidy(() => model.encode(batchTensor(batch.set, null, 0, batch.set.count), { training: false, seed: 0 }));
        const codes = (await z.data()) as Float32Array;
        z.dispose();
        writer.write(codes, batch.rows);
        kept?.add(codes, batch, reconstructionErrors(model, batch.set).errors);
        if (onto) {
          forMap.codes.push(codes.slice());
          forMap.rows.push(...batch.rows);
        }
        count += batch.rows.length;
        opts.onProgress?.(count + source.failed.length, source.total);
      }
      const files = writer.commit();
      for (const f of source.failed) opts.onMessage?.(`skipped ${f.path}: ${f.reason}`);
      const projector = kept && opts.projector ? await kept.export(opts.projector, config, inputTag(opts.input), opts) : undefined;
      if (onto) opts.onMessage?.(`placing ${count} images on the map in ${onto.file}`);
      const placed = onto ? await placeOnMap(onto, concatFloat32(forMap.codes), count, forMap.rows) : undefined;
      if (placed) files.push(...placed.files);
      return { files, count, dim, failed: source.failed, ...(projector ? { projector } : {}), ...(placed ? { placed } : {}) };
    } catch (e) {
      writer.abort();
      if (createdDir) fs.rmSync(createdDir, { recursive: true, force: true });
      throw e;
    }
  } finally {
    model.params.dispose();
  }
}
