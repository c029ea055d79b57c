/**
 * The records a run writes for others to read, declared once: a history.jsonl row, progress.json, writer.lock.
 * This file imports nothing, so the `ae view` page can use these types too (through src/view/api-types.ts).
 */

/** One row of history.jsonl: an epoch's losses. */
export interface HistoryRow {
  epoch: number;
  step: number;
  train_loss: number;
  val_loss: number;
  seconds: number;
  /** VAEs: the reconstruction and KL terms of train_loss and val_loss (per image; val at the full KL weight). */
  train_recon?: number;
  train_kl?: number;
  val_recon?: number;
  val_kl?: number;
}

/** progress.json: where the trainer stands, for watchers. `epoch` is 0-based: epochs finished. */
export interface RunProgress {
  phase: 'train' | 'validation' | 'finished';
  epoch: number;
  epochs: number;
  /** Steps done in the current epoch, of `steps`. */
  step: number;
  steps: number;
  /** Mean training loss of the current epoch so far (null before its first step). */
  epoch_loss: number | null;
  updated: string;
  pid: number;
  /** The current epoch's training loss step by step: [step, mean loss of the steps since the previous entry], at most ~100 entries an epoch (absent in older runs). */
  step_losses?: Array<[number, number]>;
  /** Seconds spent in the current epoch's training steps, and images trained per second in it. */
  epoch_seconds?: number;
  images_per_second?: number | null;
}

/** writer.lock: who is writing the run. */
export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  /** ISO times. */
  started: string;
  heartbeat: string;
}
