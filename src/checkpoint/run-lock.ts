/**
 * One writer per run directory. `ae train` and `ae resume` hold `<run>/writer.lock` (JSON: pid, host, command,
 * start time, heartbeat) while they train; a second writer is refused with the holder's name. A lock whose process
 * is gone (same host: the pid no longer runs; another host: no heartbeat for STALE_AFTER_MS) is taken over, and
 * the taker says so. Readers (the viewer) use the same file to tell "training now" from "interrupted".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { LockInfo } from './records.js';

export type { LockInfo } from './records.js';

export const LOCK_FILE = 'writer.lock';
/** How often the holder refreshes its heartbeat. */
export const HEARTBEAT_MS = 5_000;
/** A lock from another host without a heartbeat for this long is considered abandoned. */
export const STALE_AFTER_MS = 60_000;

export type LockState = { held: true; info: LockInfo } | { held: false; info: LockInfo | null; why: string };

function lockPath(runDir: string): string {
  return path.join(runDir, LOCK_FILE);
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // it runs, under another user
  }
}

function readInfo(file: string): LockInfo | null {
  try {
    const info = JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
    return typeof info.pid === 'number' && typeof info.host === 'string' ? info : null;
  } catch {
    return null; // missing, or half-written by a process killed in the act: no valid holder
  }
}

/** Whether a run directory has a live writer, by its lock file. */
export function readRunLock(runDir: string, now = Date.now()): LockState {
  const info = readInfo(lockPath(runDir));
  if (!info) return { held: false, info: null, why: 'no lock' };
  if (info.host === os.hostname()) {
    return processRuns(info.pid) ? { held: true, info } : { held: false, info, why: `process ${info.pid} is no longer running` };
  }
  const silent = now - Date.parse(info.heartbeat);
  return silent < STALE_AFTER_MS
    ? { held: true, info }
    : { held: false, info, why: `no heartbeat from ${info.host} for ${Math.round(silent / 1000)} s` };
}

export interface RunLock {
  /** Stops the heartbeat and removes the lock if it is still ours. */
  release(): void;
}

/**
 * Takes the run directory's writer lock, or refuses (UserError naming the holder). `onTakeOver` hears about a
 * lock taken over from a process that is gone.
 */
export function acquireRunLock(runDir: string, command: string, onTakeOver?: (text: string) => void): RunLock {
  const file = lockPath(runDir);
  const now = new Date().toISOString();
  const mine: LockInfo = { pid: process.pid, host: os.hostname(), command, started: now, heartbeat: now };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createWhole(file, JSON.stringify(mine))) return holdLock(file, mine);
    const state = readRunLock(runDir);
    if (state.held) {
      const { info } = state;
      throw new UserError(
        `${runDir} is being written by another process: ${info.command} (pid ${info.pid} on ${info.host}, since ${info.started}, last heartbeat ${info.heartbeat})`,
        `wait for it to finish or stop it (Ctrl-C in its terminal, or kill ${info.pid}); a lock left by a process that died is taken over automatically`,
      );
    }
    // Abandoned: removed only if it is still the lock we judged (another taker may have replaced it meanwhile).
    const current = readInfo(file);
    if (current?.pid === state.info?.pid && current?.host === state.info?.host) fs.rmSync(file, { force: true });
    onTakeOver?.(
      `took over the lock of ${runDir} from ${state.info ? `${state.info.command} (pid ${state.info.pid} on ${state.info.host})` : 'an unreadable lock file'}: ${state.why}`,
    );
  }
  throw new UserError(
    `could not take the lock of ${runDir}: other processes keep taking it`,
    'make sure only one ae train or ae resume works on this run',
  );
}

/**
 * Creates `file` with `text` unless it exists, atomically and whole: the text goes to a temp file first, which is
 * then hard-linked to the lock's name (link fails if the name exists), so no reader ever sees a partial lock.
 */
function createWhole(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.new`;
  try {
    fs.writeFileSync(tmp, text);
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new UserError(`cannot create the lock ${file}: ${(e as NodeJS.ErrnoException).code}`, 'check that the run directory is writable');
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function holdLock(file: string, mine: LockInfo): RunLock {
  const beat = setInterval(() => {
    if (readInfo(file)?.pid !== mine.pid) return; // taken from us (we were judged gone): do not write over it
    try {
      writeFileAtomic(file, JSON.stringify({ ...mine, heartbeat: new Date().toISOString() }));
    } catch {
      // A missed heartbeat only matters to readers on other hosts after STALE_AFTER_MS; the next one may succeed.
    }
  }, HEARTBEAT_MS);
  beat.unref();
  return {
    release() {
      clearInterval(beat);
      const info = readInfo(file);
      if (info?.pid === mine.pid && info.host === mine.host) fs.rmSync(file, { force: true });
    },
  };
}
