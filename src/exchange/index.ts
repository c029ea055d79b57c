/**
 * Taking a trained model elsewhere and back: ONNX models for inference anywhere (onnxruntime in Python, C++,
 * browsers), the weights as a PyTorch state_dict in safetensors, and importing such a state_dict as a run here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseYaml } from '../config/load.js';
import { type BackendName, initBackend, tf } from '../backend/index.js';
import { saveTrainingCheckpoint } from '../checkpoint/model-state.js';
import { createRunDir } from '../checkpoint/run-dir.js';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { createModel } from '../models/registry.js';
import { checkOutput, openRunModel } from '../use/encode.js';
import { writeFileAtomic } from '../util/fs.js';
import { buildOnnx, onnxLatentShape } from './onnx.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { loadTorchStateDict, toTorchStateDict } from './torch-layout.js';

export const EXPORT_FORMATS = ['onnx', 'safetensors'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  /** Output folder (default `<run>/export/`). */
  out?: string;
  weights?: 'best' | 'last';
  /** Replace files that exist (else they are refused). */
  force?: boolean;
  backend?: BackendName;
}

export interface ExportResult {
  files: string[];
}

/** What a caller must know to use the exported files, stored in each (ONNX metadata_props, safetensors __metadata__). */
function describe(config: Config, latent: Array<number | string>): Record<string, string> {
  const { height, width, color_channel: c } = config;
  return {
    model_type: config.model_type,
    input: `image: float32 [N, ${c}, ${height}, ${width}] (NCHW), pixel values in [0, 1] (divide 8-bit values by 255)`,
    latent: `latent: float32 [${latent.join(', ')}]`,
    config: JSON.stringify(config),
  };
}

async function openForExport(runDirPath: string, opts: ExportOptions, files: string[]) {
  const opened = await openRunModel(runDirPath, opts);
  const outDir = opts.out ?? path.join(opened.run.dir, 'export');
  const targets = files.map((f) => path.join(outDir, f));
  try {
    for (const t of targets) checkOutput(t, opts.force);
  } catch (e) {
    opened.model.params.dispose();
    throw e;
  }
  return { ...opened, outDir, targets };
}

/**
 * `autoencoder.onnx` (image -> latent and reconstruction) and `decoder.onnx` (latent -> reconstruction), in
 * inference mode, NCHW, a dynamic batch axis, opset 17.
 */
export async function exportOnnx(runDirPath: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const { config, model, outDir, targets, checkpointFile } = await openForExport(runDirPath, opts, ['autoencoder.onnx', 'decoder.onnx']);
  try {
    const meta = { ...describe(config, onnxLatentShape(model)), checkpoint: path.basename(checkpointFile) };
    const models = buildOnnx(model, toTorchStateDict(model, 0), meta);
    fs.mkdirSync(outDir, { recursive: true });
    writeFileAtomic(targets[0]!, models.autoencoder);
    writeFileAtomic(targets[1]!, models.decoder);
    return { files: targets };
  } finally {
    model.params.dispose();
  }
}

/**
 * `model.safetensors`: the reference PyTorch model's state_dict (names, layouts, BatchNorm running statistics and
 * num_batches_tracked), with the run's config in the metadata. `load_state_dict` takes it as it is.
 */
export async function exportSafetensors(runDirPath: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const { config, model, outDir, targets, steps } = await openForExport(runDirPath, opts, ['model.safetensors']);
  try {
    const latent = onnxLatentShape(model);
    const meta = { format: 'pt', ...describe(config, latent) };
    fs.mkdirSync(outDir, { recursive: true });
    writeSafetensors(targets[0]!, toTorchStateDict(model, steps), meta);
    return { files: targets };
  } finally {
    model.params.dispose();
  }
}

export interface ImportOptions {
  onMessage?: (text: string) => void;
}

export interface ImportResult {
  runDir: string;
  /** Tensors loaded (num_batches_tracked included). */
  tensors: number;
}

/**
 * A run made from a PyTorch state_dict saved with safetensors (the reference architecture that `config` builds):
 * `<project>/<name>/` with config.yaml and the weights as both checkpoints, so `ae test`, `ae encode`, `ae score`
 * work on it and `ae resume` fine-tunes it (from epoch 0, a fresh optimizer). Names, shapes and dtypes are checked
 * first; nothing is created when they do not fit.
 */
export async function importSafetensors(file: string, config: Config, opts: ImportOptions = {}): Promise<ImportResult> {
  const say = opts.onMessage ?? (() => {});
  const st = readSafetensors(file);
  await initBackend(config.backend);
  const model = createModel(config);
  try {
    const mismatch = loadTorchStateDict(model, st.tensors);
    if (mismatch) {
      const lines = [
        ...mismatch.missing.map((m) => `  missing: ${m}`),
        ...mismatch.unexpected.map((m) => `  unexpected: ${m}`),
        ...mismatch.wrong.map((m) => `  wrong: ${m}`),
      ];
      throw new UserError(
        `${file} does not fit the ${config.model_type} this config builds (${config.height}x${config.width}x${config.color_channel}):\n${lines.join('\n')}`,
        'check model_type, the image size and channels (and hidden_dim / latent_dim for the AE) in the config',
      );
    }
    const run = createRunDir(config);
    try {
      const optimizer = tf.train.adam(config.lr, 0.9, 0.999, 1e-8);
      const state = { epoch: 0, step: 0, globalStep: 0, epochLossSum: 0, epochSamples: 0, epochSeconds: 0, bestValLoss: null, history: [] };
      await saveTrainingCheckpoint(run.lastCheckpoint, config, model, optimizer, state);
      writeFileAtomic(run.bestCheckpoint, fs.readFileSync(run.lastCheckpoint));
      optimizer.dispose();
      run.writeHistory([]);
      run.log(`imported weights from ${path.resolve(file)} (${st.tensors.size} tensors)`);
    } catch (e) {
      fs.rmSync(run.dir, { recursive: true, force: true });
      throw e;
    }
    say(`imported ${st.tensors.size} tensors from ${file} into ${run.dir}`);
    return { runDir: run.dir, tensors: st.tensors.size };
  } finally {
    model.params.dispose();
  }
}

/** The config stored in a safetensors file we exported (its __metadata__), if any: `ae import` needs no config file then. */
export function configInSafetensors(file: string): unknown | null {
  const { metadata } = readSafetensors(file);
  if (!metadata.config) return null;
  try {
    return parseYaml(metadata.config);
  } catch (e) {
    throw new UserError(
      `${file} carries a config that cannot be read: ${(e as Error).message.split('\n')[0]}`,
      'pass `config` with the model_type, image size and channels of its model',
      { option: 'config' },
    );
  }
}
