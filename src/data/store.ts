/**
 * Reading cached images from their shards (see ./cache.ts) batch by batch: a row is shard * SHARD_IMAGES + slot.
 * Runs of consecutive rows are read with one call; every image's checksum is checked as it is read, so a shard
 * truncated, replaced or damaged under a running job is reported by name, never used as wrong pixels.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

/** Images per shard: 4,096 images at 64 x 64 x 3 are a 50 MB file; a stopped decode loses at most one. */
export const SHARD_IMAGES = 4096;

export const shardData = (dir: string, n: number): string => path.join(dir, `shard-${String(n).padStart(6, '0')}.bin`);
export const shardIndex = (dir: string, n: number): string => path.join(dir, `shard-${String(n).padStart(6, '0')}.json`);

/** The numbers of the shards in `dir` that have an index, ascending. */
export function shardNumbers(dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => /^shard-(\d{6})\.json$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/**
 * A 32-bit checksum of `length` bytes of `bytes` from `offset` (FNV-1a over little-endian words, then the
 * remaining bytes, then a final mix): any one changed word always changes it.
 */
export function imageChecksum(bytes: Uint8Array, offset: number, length: number): number {
  let h = 0x811c9dc5 ^ length;
  const words = length >>> 2;
  let i = offset;
  for (let w = 0; w < words; w++, i += 4) {
    h = Math.imul(h ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)), 0x01000193);
  }
  for (const end = offset + length; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * A 32-bit hash of a source file's path (FNV-1a over its UTF-16 code units, then a final mix). The cache stores each
 * image's checksum XOR the hash of the path it was decoded from, so an index whose paths were swapped or edited
 * fails the checksum instead of handing one file's pixels out as another's.
 */
export function pathHash(file: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < file.length; i++) h = Math.imul(h ^ file.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

/** Open shard files, at most this many at a time (least recently used closed first). */
const MAX_OPEN_SHARDS = 128;

const closeAll = new FinalizationRegistry((fds: Map<number, number>) => {
  for (const fd of fds.values()) fs.close(fd, () => {});
});

export class ShardStore {
  /** File descriptors by shard, oldest use first. */
  private readonly fds = new Map<number, number>();
  /** Reads in flight per shard: their files are not closed under them. */
  private readonly busy = new Map<number, number>();

  constructor(
    readonly dir: string,
    readonly imageBytes: number,
    /** Per shard: each slot's checksum. */
    private readonly sums: Map<number, Uint32Array>,
  ) {
    closeAll.register(this, this.fds, this);
  }

  /** Reads images `rows[start..end)` into `out` ((end - start) * imageBytes bytes), in that order. */
  read(rows: ArrayLike<number>, start: number, end: number, out: Uint8Array): void {
    for (const run of this.runs(rows, start, end)) {
      const want = run.count * this.imageBytes;
      let got = 0;
      const fd = this.fd(run.shard);
      try {
        while (got < want) {
          const n = fs.readSync(fd, out, run.at + got, want - got, run.slot * this.imageBytes + got);
          if (n === 0) break;
          got += n;
        }
      } catch (e) {
        throw this.damaged(run.shard, `cannot be read (${(e as NodeJS.ErrnoException).code})`);
      }
      this.check(run, got, out);
    }
  }

  /** As read(), with the reads on libuv's thread pool, so they overlap the caller's computing. */
  async readAsync(rows: ArrayLike<number>, start: number, end: number, out: Uint8Array): Promise<void> {
    await Promise.all(
      this.runs(rows, start, end).map(async (run) => {
        const want = run.count * this.imageBytes;
        let got = 0;
        const fd = this.fd(run.shard);
        this.busy.set(run.shard, (this.busy.get(run.shard) ?? 0) + 1);
        try {
          while (got < want) {
            const { bytesRead } = await readAt(fd, out, run.at + got, want - got, run.slot * this.imageBytes + got);
            if (bytesRead === 0) break;
            got += bytesRead;
          }
        } catch (e) {
          throw this.damaged(run.shard, `cannot be read (${(e as NodeJS.ErrnoException).code})`);
        } finally {
          const left = this.busy.get(run.shard)! - 1;
          if (left) this.busy.set(run.shard, left);
          else this.busy.delete(run.shard);
        }
        this.check(run, got, out);
      }),
    );
  }

  /** Closes the open shard files (reading again reopens them). */
  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  private runs(rows: ArrayLike<number>, start: number, end: number): Run[] {
    const runs: Run[] = [];
    let last: Run | undefined;
    for (let i = start; i < end; i++) {
      const row = rows[i]!;
      const shard = Math.floor(row / SHARD_IMAGES),
        slot = row % SHARD_IMAGES;
      if (last && last.shard === shard && last.slot + last.count === slot) last.count++;
      else {
        last = { shard, slot, count: 1, at: (i - start) * this.imageBytes };
        runs.push(last);
      }
    }
    return runs;
  }

  private fd(shard: number): number {
    let fd = this.fds.get(shard);
    if (fd !== undefined) {
      this.fds.delete(shard); // re-inserted below: most recently used last
    } else {
      if (this.fds.size >= MAX_OPEN_SHARDS) {
        for (const [oldest, oldFd] of this.fds) {
          if (this.busy.has(oldest)) continue;
          this.fds.delete(oldest);
          fs.closeSync(oldFd);
          break;
        }
      }
      try {
        fd = fs.openSync(shardData(this.dir, shard), 'r');
      } catch (e) {
        throw this.damaged(
          shard,
          `cannot be opened (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'it was deleted' : (e as NodeJS.ErrnoException).code})`,
        );
      }
    }
    this.fds.set(shard, fd);
    return fd;
  }

  private check(run: Run, got: number, out: Uint8Array): void {
    if (got < run.count * this.imageBytes) throw this.damaged(run.shard, 'is shorter than its index says (truncated)');
    const sums = this.sums.get(run.shard);
    for (let k = 0; k < run.count; k++) {
      const expected = sums?.[run.slot + k];
      if (expected === undefined || imageChecksum(out, run.at + k * this.imageBytes, this.imageBytes) !== expected) {
        throw this.damaged(run.shard, `holds image ${run.slot + k} with a checksum that does not match (changed or damaged)`);
      }
    }
  }

  /** The error for a shard that cannot be trusted; its index is removed, so the next run decodes its images again. */
  private damaged(shard: number, what: string): UserError {
    fs.rmSync(shardIndex(this.dir, shard), { force: true });
    return new UserError(
      `the image cache shard ${shardData(this.dir, shard)} ${what}`,
      "run the command again: it decodes that shard's images again",
    );
  }
}

interface Run {
  shard: number;
  slot: number;
  count: number;
  /** Byte offset in the output. */
  at: number;
}

function readAt(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead })));
  });
}
