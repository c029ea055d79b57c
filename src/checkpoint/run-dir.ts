/**
 * The run directory `<project>/<name>/`:
 *   config.yaml          the resolved config (every key, defaults filled in)
 *   weights/best.ckpt    lowest validation loss so far
 *   weights/last.ckpt    the latest consistent point (end of an epoch, or where an interruption stopped)
 *   history.jsonl        one line per finished epoch: epoch, step, train_loss, val_loss, seconds
 *   train.log            what the run printed, with timestamps
 *   progress.json        where training stands (phase, epoch, step), rewritten about once a second
 *   writer.lock          held by the process training the run (see run-lock.ts)
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parseYaml, resolveConfig } from '../config/load.js';
import { UserError } from '../errors.js';
import { appendLine, removeStaleTempFiles, TEMP_MARKER, writeFileAtomic } from '../util/fs.js';
import type { Config } from '../config/schema.js';
import type { HistoryRow } from './checkpoint.js';
import type { RunProgress } from './records.js';

export type { RunProgress } from './records.js';

export class RunDir {
  constructor(readonly dir: string) {}
  get configFile(): string {
    return path.join(this.dir, 'config.yaml');
  }
  get weightsDir(): string {
    return path.join(this.dir, 'weights');
  }
  get bestCheckpoint(): string {
    return path.join(this.weightsDir, 'best.ckpt');
  }
  get lastCheckpoint(): string {
    return path.join(this.weightsDir, 'last.ckpt');
  }
  get historyFile(): string {
    return path.join(this.dir, 'history.jsonl');
  }
  get logFile(): string {
    return path.join(this.dir, 'train.log');
  }
  get progressFile(): string {
    return path.join(this.dir, 'progress.json');
  }

  writeProgress(progress: RunProgress): void {
    writeFileAtomic(this.progressFile, `${JSON.stringify(progress)}\n`);
  }

  log(message: string): void {
    appendLine(this.logFile, `${new Date().toISOString()} ${message}`);
  }

  /** Rewrites the history file from the checkpoint's copy, so the two never disagree after a crash. */
  writeHistory(rows: HistoryRow[]): void {
    writeFileAtomic(this.historyFile, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
  }

  /** Removes temp files that a killed process left behind. */
  cleanStale(): void {
    removeStaleTempFiles(this.dir);
    removeStaleTempFiles(this.weightsDir);
  }
}

export function runDirPath(config: Config): string {
  return path.join(config.project, config.name);
}

/** Refuses to start a run whose directory exists: a run is never overwritten silently. */
export function assertRunDirFree(config: Config): void {
  const dir = runDirPath(config);
  if (fs.existsSync(dir)) {
    throw new UserError(
      `run directory ${dir} already exists`,
      `continue it with \`ae resume ${dir}\`, or start a new run with another \`name\` (or \`unique\`)`,
      { option: 'name' },
    );
  }
}

/**
 * Creates the run directory with its config, atomically: it is assembled under a temp name and renamed into
 * place, so a failure leaves no half-made run. An existing run is never overwritten.
 */
export function createRunDir(config: Config): RunDir {
  assertRunDirFree(config);
  const dir = runDirPath(config);
  try {
    fs.mkdirSync(config.project, { recursive: true });
  } catch (e) {
    throw new UserError(
      `cannot create the project folder ${config.project}: ${(e as NodeJS.ErrnoException).code}`,
      'set `project` to a folder you can write',
    );
  }
  removeStaleTempFiles(config.project);
  const tmp = path.join(config.project, `${config.name}${TEMP_MARKER}${process.pid}`);
  try {
    fs.mkdirSync(path.join(tmp, 'weights'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'config.yaml'), YAML.stringify(config));
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new UserError(
      `cannot create run directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'check that the project folder is writable and the disk has space',
    );
  }
  return new RunDir(dir);
}

/** Opens an existing run for resuming or testing; refuses folders that are not runs. */
export function openRunDir(dir: string): RunDir {
  const run = new RunDir(dir);
  if (!fs.existsSync(dir))
    throw new UserError(`run directory ${dir} does not exist`, 'pass a folder made by `ae train`, like runs/mnist-ae');
  if (!fs.existsSync(run.configFile)) {
    throw new UserError(`${dir} is not a run directory (no config.yaml)`, 'pass a folder made by `ae train`, like runs/mnist-ae');
  }
  return run;
}

/** Reads a run's resolved config (config.yaml), validated as any config is. */
export function readRunConfig(run: RunDir): Config {
  let doc: unknown;
  try {
    doc = parseYaml(fs.readFileSync(run.configFile, 'utf8'));
  } catch (e) {
    throw new UserError(`cannot read ${run.configFile}: ${(e as Error).message.split('\n')[0]}`);
  }
  return resolveConfig(doc, run.configFile);
}

/** The run's `best` or `last` checkpoint file; refuses, with what to do, when the run has not written it. */
export function checkpointOf(run: RunDir, weights: 'best' | 'last'): string {
  const file = weights === 'best' ? run.bestCheckpoint : run.lastCheckpoint;
  if (!fs.existsSync(file)) {
    throw new UserError(
      `${run.dir} has no ${weights} checkpoint (${file})`,
      weights === 'best' ? 'the run has not finished an epoch yet; pass `weights` last, or resume it' : 'resume or retrain the run',
      { option: 'weights' },
    );
  }
  return file;
}
