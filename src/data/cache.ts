/**
 * The preprocessing cache of image folders, in shards that are written once and never rewritten:
 * `<project>/data/<data_name>/<H>x<W>x<C>-<fit>-<background>/shard-<n>.bin` holds up to SHARD_IMAGES decoded
 * images (bytes, HWC, one after another) and `shard-<n>.json` says which file each came from (path, size,
 * modification time), a checksum per image, and the files of that batch that could not be decoded.
 *
 * A shard's data is written first, then its index, each atomically; a shard without an index never happened. So a
 * decode stopped by Ctrl-C or a crash keeps every finished shard and the next run decodes only what is missing,
 * and files added to the folder later are decoded into new shards while the old ones are reused. Images are
 * matched to files by path, size and modification time, so an edited file is decoded again. Shards none of whose
 * images are wanted any more are deleted; other stale entries stay until their shard is.
 *
 * Pixels are read batch by batch (./store.ts checks every image's checksum as it is read), so the cache never has
 * to fit in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DecodeInterrupted, UserError } from '../errors.js';
import { removeStaleTempFiles, writeFileAtomic } from '../util/fs.js';
import { decodeFiles, type Preprocessing } from './decode.js';
import { imageChecksum, pathHash, SHARD_IMAGES, ShardStore, shardData, shardIndex, shardNumbers } from './store.js';

/** 3: checksums bound to their file's path (see pathHash); older shards are decoded again. */
export const CACHE_FORMAT = 3;

export interface SourceFile {
  path: string;
  size: number;
  mtimeMs: number;
}

// One shard's index file. It is our own file, but it lives on disk beside the user's data: every entry is checked
// as it is read (readIndex).
const fileEntry = [z.string().min(1), z.number().int().nonnegative(), z.number().finite()] as const;
const shardIndexSchema = z.object({
  format: z.literal(CACHE_FORMAT),
  /** [path, size, mtimeMs, checksum XOR pathHash(path)] per image, in the order of the data file. */
  images: z.array(z.tuple([...fileEntry, z.number().int().nonnegative().max(0xffffffff)])),
  /** [path, size, mtimeMs, reason] per file of the batch that could not be decoded. */
  failed: z.array(z.tuple([...fileEntry, z.string()])),
});
type ShardIndex = z.infer<typeof shardIndexSchema>;

/** The cache folder of a preprocessing, e.g. 64x64x3-squash-black. */
export function cacheDirOf(root: string, p: Preprocessing): string {
  return path.join(root, `${p.height}x${p.width}x${p.channels}-${p.fit}-${p.background}`);
}

/** What ensureCached found and did. */
export interface CacheResult {
  store: ShardStore;
  /** Per listed file: its row in the store, or -1 when it cannot be decoded (see failed). */
  rows: Int32Array;
  failed: Array<{ path: string; reason: string }>;
  /** Images decoded by this call (0: all came from the cache). */
  decoded: number;
}

export interface CacheOptions {
  log?: (msg: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Polled between shards: true ends the decode (DecodeInterrupted) after the shard in progress is saved. */
  shouldStop?: () => boolean;
  /** Images per new shard (at most SHARD_IMAGES; smaller in tests, to make several shards of a few images). */
  shardImages?: number;
}

/**
 * Makes sure every file of `files` is in the cache in `dir` (decoding, into new shards, only those that are not),
 * and returns where each one is.
 */
export async function ensureCached(dir: string, p: Preprocessing, files: SourceFile[], opts: CacheOptions = {}): Promise<CacheResult> {
  const log = opts.log ?? (() => {});
  const imageBytes = p.height * p.width * p.channels;
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(
      `cannot create the image cache folder ${dir} (${(e as NodeJS.ErrnoException).code})`,
      'check that the project folder is writable',
    );
  }
  removeStaleTempFiles(dir);
  const { known, sums } = readShards(dir, imageBytes, log);
  const rows = new Int32Array(files.length).fill(-1);
  const failed: CacheResult['failed'] = [];
  const used = new Set<number>();
  const missing: number[] = [];
  files.forEach((f, i) => {
    const hit = known.get(f.path);
    if (hit && hit.size === f.size && hit.mtimeMs === f.mtimeMs) {
      if (hit.row >= 0) rows[i] = hit.row;
      else failed.push({ path: f.path, reason: hit.reason });
      used.add(hit.shard);
    } else missing.push(i);
  });

  let next = shardNumbers(dir).reduce((m, n) => Math.max(m, n + 1), 0);
  let decoded = 0;
  const perShard = Math.min(SHARD_IMAGES, opts.shardImages ?? SHARD_IMAGES);
  if (missing.length > 0) {
    const reused = files.length - missing.length;
    log(
      `decoding ${missing.length} images to ${p.height}x${p.width}x${p.channels}${reused ? ` (${reused} already cached)` : ''} into ${dir}`,
    );
    const buffer = new Uint8Array(Math.min(perShard, missing.length) * imageBytes);
    for (let start = 0; start < missing.length; start += perShard) {
      if (opts.shouldStop?.()) throw new DecodeInterrupted(dir, reused + start, files.length);
      const part = missing.slice(start, start + perShard);
      const reasons = await decodeFiles(
        part.map((i) => files[i]!.path),
        p,
        buffer,
        (count) => {
          decoded += count;
          opts.onProgress?.(reused + decoded, files.length);
        },
      );
      const shard = next++;
      const index: ShardIndex = { format: CACHE_FORMAT, images: [], failed: [] };
      const data = new Uint8Array(part.length * imageBytes);
      part.forEach((i, k) => {
        const f = files[i]!;
        const reason = reasons[k];
        if (reason) {
          index.failed.push([f.path, f.size, f.mtimeMs, reason]);
          failed.push({ path: f.path, reason });
          return;
        }
        const slot = index.images.length;
        data.set(buffer.subarray(k * imageBytes, (k + 1) * imageBytes), slot * imageBytes);
        index.images.push([f.path, f.size, f.mtimeMs, (imageChecksum(data, slot * imageBytes, imageBytes) ^ pathHash(f.path)) >>> 0]);
        rows[i] = shard * SHARD_IMAGES + slot;
      });
      writeShard(dir, shard, data.subarray(0, index.images.length * imageBytes), index);
      sums.set(shard, pixelSums(index));
      used.add(shard);
    }
  }
  // Shards none of whose entries are wanted any more (their files were removed or changed).
  for (const n of shardNumbers(dir)) {
    if (used.has(n)) continue;
    fs.rmSync(shardIndex(dir, n), { force: true });
    fs.rmSync(shardData(dir, n), { force: true });
    sums.delete(n);
  }
  failed.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { store: new ShardStore(dir, imageBytes, sums), rows, failed, decoded };
}

/** Writes one shard: data, then index, each atomically. A full disk is reported with the space the shard needs. */
function writeShard(dir: string, n: number, data: Uint8Array, index: ShardIndex): void {
  try {
    writeFileAtomic(shardData(dir, n), data);
    writeFileAtomic(shardIndex(dir, n), JSON.stringify(index));
  } catch (e) {
    fs.rmSync(shardData(dir, n), { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') {
      throw new UserError(
        `the disk is full: cannot write the image cache shard ${shardData(dir, n)} (${(data.length / 1e6).toFixed(1)} MB); the shards written before it are kept`,
        `free at least ${(data.length / 1e6).toFixed(0)} MB (more for the images still to decode) on the disk of ${dir}, then run again: it goes on from the last shard`,
      );
    }
    throw new UserError(
      `cannot write the image cache shard ${shardData(dir, n)} (${code ?? (e as Error).message})`,
      'check that the project folder is writable',
    );
  }
}

/** Per slot, the checksum its pixels must have: the stored value unbound from the path the index names there. */
function pixelSums(index: ShardIndex): Uint32Array {
  return Uint32Array.from(index.images, (e) => (e[3] ^ pathHash(e[0])) >>> 0);
}

interface KnownFile {
  shard: number;
  /** Row in the store, or -1 for a file that could not be decoded. */
  row: number;
  size: number;
  mtimeMs: number;
  reason: string;
}

/**
 * Every file the shards in `dir` hold, by path (a later shard wins). A shard whose index is unreadable, or whose data
 * is missing or of the wrong size, is deleted with a message: its files are decoded again.
 */
function readShards(
  dir: string,
  imageBytes: number,
  log: (msg: string) => void,
): { known: Map<string, KnownFile>; sums: Map<number, Uint32Array> } {
  const known = new Map<string, KnownFile>();
  const sums = new Map<number, Uint32Array>();
  for (const n of shardNumbers(dir)) {
    const index = readIndex(dir, n, imageBytes, log);
    if (!index) continue;
    sums.set(n, pixelSums(index));
    index.images.forEach(([file, size, mtimeMs], slot) => {
      known.set(file, { shard: n, row: n * SHARD_IMAGES + slot, size, mtimeMs, reason: '' });
    });
    for (const [file, size, mtimeMs, reason] of index.failed) known.set(file, { shard: n, row: -1, size, mtimeMs, reason });
  }
  return { known, sums };
}

function readIndex(dir: string, n: number, imageBytes: number, log: (msg: string) => void): ShardIndex | null {
  const drop = (why: string): null => {
    log(`warning: the image cache shard ${shardData(dir, n)} ${why}; decoding its images again`);
    fs.rmSync(shardIndex(dir, n), { force: true });
    fs.rmSync(shardData(dir, n), { force: true });
    return null;
  };
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(shardIndex(dir, n), 'utf8'));
  } catch (e) {
    return drop(`has an unreadable index (${(e as Error).message.split('\n')[0]})`);
  }
  if ((raw as ShardIndex | null)?.format !== CACHE_FORMAT) return drop('has an index of another format');
  const parsed = shardIndexSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return drop(`has a damaged index (field ${issue.path.join('.') || '(root)'}: ${issue.message})`);
  }
  const index = parsed.data;
  if (index.images.length > SHARD_IMAGES) return drop('lists more images than a shard holds');
  let size: number;
  try {
    size = fs.statSync(shardData(dir, n)).size;
  } catch {
    return drop('is missing');
  }
  if (size !== index.images.length * imageBytes)
    return drop(`holds ${size} bytes where its index says ${index.images.length * imageBytes}`);
  return index;
}
