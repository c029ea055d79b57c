/** File helpers: every write goes to a temp file in the same folder, is fsynced, then renamed into place. */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export const TEMP_MARKER = '.tmp-';

/**
 * Fault injection for the reliability tests (test/faults.test.ts), off unless AE_FAULT_INJECT is set:
 * `enospc:<name>:<n>` fails the n-th atomic write of a file whose path contains <name> halfway with ENOSPC (a full
 * disk); `kill:<name>:<n>` SIGKILLs the process halfway through that write (a crash mid-checkpoint).
 */
const faultWrites = new Map<string, number>();
function injectedFault(file: string): 'enospc' | 'kill' | null {
  const spec = process.env.AE_FAULT_INJECT;
  if (!spec) return null;
  const [kind, name, nth] = spec.split(':');
  if ((kind !== 'enospc' && kind !== 'kill') || !name || !file.includes(name)) return null;
  const count = (faultWrites.get(name) ?? 0) + 1;
  faultWrites.set(name, count);
  return count === Number(nth ?? 1) ? kind : null;
}

/** Writes `data` to `file` atomically: readers see the old file or the whole new one, never a part. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`;
  const fault = injectedFault(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    if (fault) {
      fs.writeSync(fd, buf, 0, buf.length >> 1);
      fs.fsyncSync(fd);
      if (fault === 'kill') process.kill(process.pid, 'SIGKILL');
      throw Object.assign(new Error(`ENOSPC: no space left on device, write '${tmp}' (injected)`), { code: 'ENOSPC' });
    }
    while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Removes temp files left in `dir` by a process that died mid-write. */
export function removeStaleTempFiles(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    if (name.includes(TEMP_MARKER)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** Appends one line and flushes it to disk, so a crash keeps every line written before it. */
export function appendLine(file: string, line: string): void {
  const fd = fs.openSync(file, 'a');
  try {
    fs.writeSync(fd, `${line}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Copies `from` to `to` atomically (via a temp file beside `to`). */
export function copyFileAtomic(from: string, to: string): void {
  writeFileAtomic(to, fs.readFileSync(from));
}

/**
 * A file written in pieces that appears whole or not at all: pieces go to a temp file beside `file`, which
 * commit() fsyncs and renames into place and abort() removes. For outputs too large to hold in memory.
 */
export class AtomicStream {
  private readonly tmp: string;
  private fd: number | undefined;
  private position = 0;

  constructor(readonly file: string) {
    this.tmp = `${file}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`;
    this.fd = fs.openSync(this.tmp, 'w');
  }

  /** Appends `data`. */
  write(data: Uint8Array | string): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length; ) off += fs.writeSync(this.fd!, buf, off, buf.length - off, this.position + off);
    this.position += buf.length;
  }

  /** Overwrites bytes already written, at `offset` (e.g. a header whose numbers are known only at the end). */
  writeAt(offset: number, data: Uint8Array | string): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length; ) off += fs.writeSync(this.fd!, buf, off, buf.length - off, offset + off);
  }

  commit(): void {
    fs.fsyncSync(this.fd!);
    fs.closeSync(this.fd!);
    this.fd = undefined;
    fs.renameSync(this.tmp, this.file);
  }

  abort(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    fs.rmSync(this.tmp, { force: true });
  }
}

/**
 * Creates the folders above `file` that do not exist yet; returns the topmost one it created (null if none), so a
 * failed command can remove what it made.
 */
export function makeDirsFor(file: string): string | null {
  const dir = path.dirname(path.resolve(file));
  const created = fs.mkdirSync(dir, { recursive: true });
  return created ?? null;
}
