/**
 * What `ae view`'s server answers (/api/runs, /api/runs/<name>, the event stream), declared once: the server
 * (runs.ts, server.ts) builds these and the page (viewer/app.ts) reads them. Imports only the import-free run
 * records, so the browser bundle can use it.
 */
import type { HistoryRow, LockInfo, RunProgress } from '../checkpoint/records.js';

export type { HistoryRow, LockInfo, RunProgress } from '../checkpoint/records.js';

export type RunStatus = 'training' | 'finished' | 'interrupted' | 'failed';

export interface RunSummary {
  name: string;
  status: RunStatus;
  model_type: string | null;
  dataset: string | null;
  /** Epochs finished, of `epochs`. */
  epoch: number;
  epochs: number | null;
  best_val_loss: number | null;
  /** ISO time of the newest write among the run's files. */
  updated: string;
  /** Key settings from the config (null where the config cannot be read). */
  latent_dim: number | null;
  lr: number | null;
  batch_size: number | null;
  /** Training and validation time of the finished epochs, in seconds. */
  seconds: number;
  /** What `ae test` and `ae score` measured, when they have run. */
  results: RunResults;
  /** What could not be read, one line each. */
  notes: string[];
}

/** The run's measured results: `ae test`'s metrics.json and `ae score`'s summary.json (null: not measured). */
export interface RunResults {
  /** The split `ae test` evaluated, and its mean reconstruction MSE. */
  split: string | null;
  mse: number | null;
  /** 5-NN accuracy of the labels in the latent space, and the 2-D map's trustworthiness (k = 10). */
  knn_accuracy: number | null;
  trustworthiness: number | null;
  /** VAEs: the evidence lower bound (Bernoulli decoder) and the importance-sampled NLL, per image, in nats. */
  elbo: number | null;
  nll: number | null;
  /** `ae score` of the same split: the threshold, its percentile of the training scores, images flagged of scored. */
  threshold: number | null;
  percentile: number | null;
  flagged: number | null;
  scored: number | null;
}

export interface RunDetail extends RunSummary {
  config: Record<string, unknown> | null;
  history: HistoryRow[];
  progress: RunProgress | null;
  writer: LockInfo | null;
  /** Files `ae test` (and `ae score`) wrote, relative to the run directory. */
  outputs: string[];
}

/** A run in /api/runs and in the event stream's `runs` snapshots: its summary with its progress. */
export interface RunListEntry extends RunSummary {
  progress: RunProgress | null;
}
