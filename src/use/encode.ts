/**
 * `ae encode`: the latent codes of a run's images, or of any images preprocessed as the run's, streamed in
 * batches through the encoder (inference mode) into a file (see ./code-writers.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { type BackendName, initBackend, tf } from '../backend/index.js';
import { loadModel } from '../checkpoint/model-state.js';
import { openRunDir, readRunConfig, type RunDir } from '../checkpoint/run-dir.js';
import type { Config } from '../config/schema.js';
import { batchTensor } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { evalBatchSize } from '../models/loss.js';
import type { Autoencoder } from '../models/model.js';
import { CODE_FORMATS, type CodeFormat, openCodeWriter } from './code-writers.js';
import { type InputSource, openInput } from './inputs.js';

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
}

export interface EncodeResult {
  files: string[];
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
}

export async function openRunModel(runDirPath: string, opts: UseOptions): Promise<OpenedRun> {
  const run = openRunDir(runDirPath);
  const config = readRunConfig(run);
  const weights = opts.weights ?? 'best';
  const checkpointFile = weights === 'best' ? run.bestCheckpoint : run.lastCheckpoint;
  if (!fs.existsSync(checkpointFile)) {
    throw new UserError(
      `${run.dir} has no ${weights} checkpoint (${checkpointFile})`,
      weights === 'best' ? 'the run has not finished an epoch yet; pass --weights last, or resume it' : 'resume or retrain the run',
    );
  }
  await initBackend(opts.backend ?? config.backend);
  const { model } = loadModel(config, checkpointFile);
  return { run, config, model, checkpointFile };
}

/** Refuses an output that exists (unless forced) or whose folder cannot be written. */
export function checkOutput(file: string, force: boolean | undefined): void {
  if (fs.existsSync(file) && !force) throw new UserError(`${file} exists`, 'pass --force to replace it, or --out another file');
  const dir = path.dirname(path.resolve(file));
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new UserError(`cannot write to ${dir} (${(e as NodeJS.ErrnoException).code})`, 'pass --out a path in a folder you can write');
  }
}

/** A short name for the input in default file names: the split, or the first path's base name. */
export function inputTag(input: string[] | undefined): string {
  const first = input?.[0] ?? 'test';
  return (input && input.length > 1 ? 'files' : path.basename(path.resolve(first))).replace(/[^\w.-]/g, '_');
}

export async function encode(runDirPath: string, opts: EncodeOptions = {}): Promise<EncodeResult> {
  const format = opts.format ?? 'npy';
  if (!CODE_FORMATS.includes(format)) throw new UserError(`--format ${format} is not one of ${CODE_FORMATS.join(', ')}`);
  const { run, config, model } = await openRunModel(runDirPath, opts);
  try {
    const out = opts.out ?? path.join(run.dir, `codes_${inputTag(opts.input)}.${format}`);
    checkOutput(out, opts.force);
    const source = await openInput(config, opts.input, opts.onMessage);
    opts.onMessage?.(`encoding ${source.description} with ${config.model_type} ${config.name}`);
    const dim = model.latentShape.reduce((a, b) => a * b, 1);
    const writer = openCodeWriter(out, format, dim);
    let count = 0;
    try {
      for await (const batch of source.batches(evalBatchSize(model))) {
        const z = tf.tidy(() => model.encode(batchTensor(batch.set, null, 0, batch.set.count), { training: false, seed: 0 }));
        const codes = (await z.data()) as Float32Array;
        z.dispose();
        writer.write(codes, batch.rows);
        count += batch.rows.length;
        opts.onProgress?.(count + source.failed.length, source.total);
      }
      const files = writer.commit();
      for (const f of source.failed) opts.onMessage?.(`skipped ${f.path}: ${f.reason}`);
      return { files, count, dim, failed: source.failed };
    } catch (e) {
      writer.abort();
      throw e;
    }
  } finally {
    model.params.dispose();
  }
}
