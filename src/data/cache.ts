/**
 * The preprocessing cache of image folders: <dir>/images.bin (every split's pixels as bytes, then its labels)
 * and <dir>/manifest.json (format version, the key it was built for, each split's count, the data's SHA-256).
 *
 * The key holds every source file's path, size and modification time, the labels and the preprocessing
 * parameters, so any change to them rebuilds the cache. Both files are written atomically, the data first: a
 * crash between the two leaves a manifest whose checksum no longer matches, so the cache is rebuilt, never
 * trusted half-written. A damaged cache is reported and rebuilt.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sha256 } from '../util/hash.js';
import { removeStaleTempFiles, writeFileAtomic } from '../util/fs.js';

export const CACHE_FORMAT = 1;
const DATA_FILE = 'images.bin';
const MANIFEST_FILE = 'manifest.json';

export interface SourceFile {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface CacheKey {
  preprocessing: object;
  splits: Array<{ role: string; files: SourceFile[]; labels: number[] }>;
  classNames: string[] | null;
}

export interface CachedSplit {
  role: string;
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

interface Manifest {
  format: number;
  key: CacheKey;
  splits: Array<{ role: string; count: number; pixelBytes: number }>;
  bytes: number;
  sha256: string;
}

/** The cached splits when the cache in `dir` was built for exactly `key` and is intact; otherwise null. */
export function loadCache(dir: string, key: CacheKey, log: (msg: string) => void): CachedSplit[] | null {
  const manifestFile = path.join(dir, MANIFEST_FILE);
  if (!fs.existsSync(manifestFile)) return null;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  } catch (e) {
    log(`warning: the cache manifest ${manifestFile} is unreadable (${(e as Error).message.split('\n')[0]}); decoding the images again`);
    return null;
  }
  if (manifest.format !== CACHE_FORMAT) {
    log(`the cache in ${dir} has format ${manifest.format}, this version writes ${CACHE_FORMAT}; decoding the images again`);
    return null;
  }
  if (JSON.stringify(manifest.key) !== JSON.stringify(key)) {
    log(`the images or the preprocessing changed since the cache in ${dir} was built; decoding them again`);
    return null;
  }
  let data: Buffer;
  try {
    data = fs.readFileSync(path.join(dir, DATA_FILE));
  } catch (e) {
    log(`warning: cannot read the cached images in ${dir} (${(e as NodeJS.ErrnoException).code}); decoding them again`);
    return null;
  }
  if (data.length !== manifest.bytes || sha256(data) !== manifest.sha256) {
    log(`warning: the cached images in ${dir} are damaged (size or checksum mismatch); decoding them again`);
    return null;
  }
  const out: CachedSplit[] = [];
  let offset = 0;
  for (const s of manifest.splits) {
    const pixels = new Uint8Array(data.buffer, data.byteOffset + offset, s.pixelBytes).slice();
    offset += s.pixelBytes;
    const labels = new Uint8Array(data.buffer, data.byteOffset + offset, s.count).slice();
    offset += s.count;
    out.push({ role: s.role, pixels, labels, count: s.count });
  }
  return out;
}

/** Writes the cache for `key` into `dir` (data first, then the manifest; both atomically). */
export function saveCache(dir: string, key: CacheKey, splits: CachedSplit[]): void {
  fs.mkdirSync(dir, { recursive: true });
  removeStaleTempFiles(dir);
  const bytes = splits.reduce((sum, s) => sum + s.pixels.length + s.count, 0);
  const data = new Uint8Array(bytes);
  let offset = 0;
  for (const s of splits) {
    data.set(s.pixels, offset);
    offset += s.pixels.length;
    data.set(s.labels.subarray(0, s.count), offset);
    offset += s.count;
  }
  writeFileAtomic(path.join(dir, DATA_FILE), data);
  const manifest: Manifest = {
    format: CACHE_FORMAT,
    key,
    splits: splits.map((s) => ({ role: s.role, count: s.count, pixelBytes: s.pixels.length })),
    bytes,
    sha256: sha256(data),
  };
  writeFileAtomic(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest)}\n`);
}
