/**
 * What the viewer knows about the runs of a project folder, read from their files and never written: config.yaml,
 * history.jsonl, progress.json, writer.lock, the checkpoints and vis_outputs/. Every file may be missing,
 * half-written or damaged (a run being written right now): each problem becomes a note on that run, never an error.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HistoryRow, RunProgress } from '../checkpoint/records.js';
import { readRunLock } from '../checkpoint/run-lock.js';
import { parseYaml } from '../config/load.js';
import type { RunDetail, RunResults, RunStatus, RunSummary } from './api-types.js';

export type { RunDetail, RunStatus, RunSummary } from './api-types.js';

/** Run names are folder names under the project: no separators, no dot-only names. */
export function isRunName(name: string): boolean {
  return /^[^/\\\0]+$/.test(name) && name !== '.' && name !== '..';
}

/** The runs of a project folder: its sub-folders holding a config.yaml (the image cache folder `data` is not one). */
export function listRuns(project: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(project, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isDirectory() && e.name !== 'data' && fs.existsSync(path.join(project, e.name, 'config.yaml')))
    .map((e) => e.name)
    .sort();
}

function readJsonLines(file: string, notes: string[]): HistoryRow[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const rows: HistoryRow[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as HistoryRow);
    } catch {
      notes.push(`history.jsonl has a line that is not JSON (being written?): ${line.slice(0, 40)}`);
    }
  }
  return rows;
}

function readJson<T>(file: string, notes: string[]): T | null {
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    notes.push(`${path.basename(file)} cannot be read`);
    return null;
  }
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** Everything about one run, for its page. */
export function readRun(project: string, name: string): RunDetail {
  const dir = path.join(project, name);
  const notes: string[] = [];
  let config: Record<string, unknown> | null = null;
  try {
    const doc = parseYaml(fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8'));
    if (doc && typeof doc === 'object') config = doc as Record<string, unknown>;
    else notes.push('config.yaml holds no mapping');
  } catch (e) {
    notes.push(`config.yaml cannot be read: ${(e as Error).message.split('\n')[0]}`);
  }
  const history = readJsonLines(path.join(dir, 'history.jsonl'), notes);
  const progress = readJson<RunProgress>(path.join(dir, 'progress.json'), notes);
  const lock = readRunLock(dir);
  const epochs = typeof config?.epochs === 'number' ? config.epochs : null;
  const epoch = history.length;
  const hasCheckpoint = fs.existsSync(path.join(dir, 'weights', 'last.ckpt'));
  const status: RunStatus = lock.held
    ? 'training'
    : epochs !== null && epoch >= epochs
      ? 'finished'
      : hasCheckpoint
        ? 'interrupted'
        : 'failed';
  const losses = history.map((h) => h.val_loss).filter((v) => typeof v === 'number');
  const outputs = outputFiles(dir);
  // Outputs count as writes: a fresh `ae test` or `ae score` changes the summary, so an open run page shows them.
  const files = ['config.yaml', 'history.jsonl', 'progress.json', 'weights/last.ckpt', ...outputs].map((f) => mtime(path.join(dir, f)));
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    name,
    status,
    latent_dim: num(config?.latent_dim),
    lr: num(config?.lr),
    batch_size: num(config?.batch_size),
    seconds: history.reduce((s, h) => s + (num(h.seconds) ?? 0), 0),
    results: resultsOf(dir, notes),
    model_type: typeof config?.model_type === 'string' ? config.model_type : null,
    dataset: datasetOf(config),
    epoch,
    epochs,
    best_val_loss: losses.length ? Math.min(...losses) : null,
    updated: new Date(Math.max(...files)).toISOString(),
    notes,
    config,
    history,
    progress,
    writer: lock.held ? lock.info : null,
    outputs,
  };
}

/** metrics.json of `ae test` and summary.json of `ae score` on the same split, read leniently (a field missing is null). */
function resultsOf(dir: string, notes: string[]): RunResults {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const metricsFile = path.join(dir, 'vis_outputs', 'metrics.json');
  const m = fs.existsSync(metricsFile) ? (readJson<Record<string, unknown>>(metricsFile, notes) ?? {}) : {};
  const split = typeof m.split === 'string' ? m.split : null;
  const part = (k: string) => (m[k] && typeof m[k] === 'object' ? (m[k] as Record<string, unknown>) : {});
  const variational = part('variational');
  const nll = variational.nll && typeof variational.nll === 'object' ? (variational.nll as Record<string, unknown>).value : null;
  const summaryFile = path.join(dir, `scores_${split ?? 'test'}`, 'summary.json');
  const s = fs.existsSync(summaryFile) ? (readJson<Record<string, unknown>>(summaryFile, notes) ?? {}) : {};
  return {
    split,
    mse: split ? num(m[`${split}_mse`]) : null,
    knn_accuracy: num(part('latent').knn5_accuracy),
    trustworthiness: num(part('embedding').trustworthiness_k10),
    elbo: num(variational.elbo),
    nll: num(nll),
    threshold: num(s.threshold),
    percentile: num(s.percentile),
    flagged: num(s.flagged),
    scored: num(s.images),
  };
}

function datasetOf(config: Record<string, unknown> | null): string | null {
  if (!config) return null;
  if (typeof config.dataset === 'string') return config.dataset;
  return config.MNIST_train === false ? 'folder' : 'mnist';
}

/**
 * The pictures and metrics `ae test` wrote, `ae score`'s scores.csv and anomalies.png (scores_<input>/), and the
 * pictures `ae sample`, `ae interpolate` and `encode` with `onto` (<codes>_on_<method>.png) write into the run folder.
 */
function outputFiles(dir: string): string[] {
  const out: string[] = [];
  let scoreDirs: string[] = [];
  try {
    const top = fs.readdirSync(dir).sort();
    scoreDirs = top.filter((f) => f.startsWith('scores_'));
    out.push(...top.filter((f) => /^(samples|latent_grid|interpolation_[\w.-]+|[\w.-]+_on_(tsne|umap|pca))\.png$/.test(f)));
  } catch {
    // an unreadable run folder has no outputs to list
  }
  for (const sub of ['vis_outputs', ...scoreDirs.sort()]) {
    try {
      for (const f of fs.readdirSync(path.join(dir, sub)).sort()) if (/\.(png|json)$|^scores\.csv$/.test(f)) out.push(`${sub}/${f}`);
    } catch {
      // no ae test outputs yet
    }
  }
  return out;
}

export function summaryOf(detail: RunDetail): RunSummary {
  const { name, status, model_type, dataset, epoch, epochs, best_val_loss, updated, notes, latent_dim, lr, batch_size, seconds, results } =
    detail;
  return { name, status, model_type, dataset, epoch, epochs, best_val_loss, updated, notes, latent_dim, lr, batch_size, seconds, results };
}
