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
  /** What could not be read, one line each. */
  notes: string[];
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
