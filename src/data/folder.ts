/**
 * Your own images: folders of PNG, JPEG, WebP, GIF (first frame), TIFF or AVIF, decoded with sharp (libvips),
 * resized to height x width, converted to the configured channels and scaled to [0, 1].
 *
 * Layouts: a folder with one sub-folder per class labels every image by its sub-folder's name (sorted, so class
 * numbers are stable); a folder with the images directly inside is unlabelled. Files that are not images (by
 * extension) are skipped and counted; images that fail to decode are listed and skipped.
 *
 * The decoded images are cached under <project>/data/<data_name>/ in shards (see ./cache.ts), matched to their
 * files by path, size and modification time, one folder per preprocessing; only files not yet cached are decoded.
 * The splits are then read from the cache batch by batch (streamed), or held in memory with CUSTOM.in_memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { cacheDirOf, ensureCached, type SourceFile } from './cache.js';
import { type DataSplits, type ImageSet, inMemory } from './dataset.js';
import { decodeFiles, type Preprocessing } from './decode.js';
import { splitValidation } from './mnist.js';

export type { Preprocessing };

export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif']);

/** One folder's image files, with labels when it has class sub-folders. */
export interface FolderListing {
  dir: string;
  files: SourceFile[];
  /** Per file: index into classNames; all 0 when unlabelled. */
  labels: number[];
  /** Sorted sub-folder names, or null for a flat (unlabelled) folder. */
  classNames: string[] | null;
  /** Files skipped because their extension is not an image format. */
  skipped: string[];
}

function statFile(file: string): SourceFile {
  const st = fs.statSync(file);
  return { path: file, size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
}

/** Lists an image folder: labelled by sub-folders, or flat. Refuses a missing, unreadable or empty folder. */
export function listImageFolder(dir: string, key: string): FolderListing {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      `${key}: cannot read the image folder ${dir} (${code === 'ENOENT' ? 'it does not exist' : code})`,
      `point ${key} at a folder of images, or of one sub-folder of images per class`,
    );
  }
  const isImage = (name: string) => IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
  const subdirs = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const listing: FolderListing = { dir, files: [], labels: [], classNames: null, skipped: [] };
  const addFiles = (folder: string, label: number) => {
    for (const e of fs.readdirSync(folder, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (!e.isFile() || e.name.startsWith('.')) continue;
      const file = path.join(folder, e.name);
      if (!isImage(e.name)) {
        listing.skipped.push(file);
        continue;
      }
      listing.files.push(statFile(file));
      listing.labels.push(label);
    }
  };
  if (subdirs.length > 0) {
    listing.classNames = subdirs;
    subdirs.forEach((name, label) => {
      addFiles(path.join(dir, name), label);
    });
    // Files beside the class folders belong to no class.
    for (const e of entries) if (e.isFile() && !e.name.startsWith('.')) listing.skipped.push(path.join(dir, e.name));
  } else {
    addFiles(dir, 0);
  }
  if (listing.files.length === 0) {
    throw new UserError(
      `${key}: the image folder ${dir} holds no images${listing.skipped.length ? ` (${listing.skipped.length} other files skipped)` : ''}`,
      `put ${[...IMAGE_EXTENSIONS].join('/')} files in it, directly or in one sub-folder per class`,
    );
  }
  if (listing.classNames && listing.classNames.length > 255) {
    throw new UserError(`${key}: ${dir} has ${listing.classNames.length} class folders; at most 255 are supported`);
  }
  return listing;
}

export interface DecodeReport {
  /** Files that failed to decode, with the reason. */
  failed: Array<{ path: string; reason: string }>;
}

/**
 * Decodes every file of a listing on every core (./decode.ts), skipping the ones that fail. Pixels stay bytes
 * here; they become floats in [0, 1] per batch.
 */
export async function decodeListing(
  listing: FolderListing,
  p: Preprocessing,
  onProgress?: (done: number, total: number) => void,
): Promise<{ pixels: Uint8Array; labels: Uint8Array; count: number; report: DecodeReport }> {
  const size = p.height * p.width * p.channels;
  const total = listing.files.length;
  const pixels = new Uint8Array(total * size);
  let done = 0;
  const reasons = await decodeFiles(
    listing.files.map((f) => f.path),
    p,
    pixels,
    (n) => {
      done += n;
      onProgress?.(done, total);
    },
  );
  const report: DecodeReport = { failed: [] };
  // Compact the decoded images in listing order.
  let count = 0;
  const labels = new Uint8Array(total);
  for (let i = 0; i < total; i++) {
    const reason = reasons[i];
    if (reason) {
      report.failed.push({ path: listing.files[i]!.path, reason });
      continue;
    }
    if (count !== i) pixels.copyWithin(count * size, i * size, (i + 1) * size);
    labels[count++] = listing.labels[i]!;
  }
  return { pixels: pixels.slice(0, count * size), labels: labels.slice(0, count), count, report };
}

export function preprocessingOf(config: Config): Preprocessing {
  return {
    height: config.height,
    width: config.width,
    channels: config.color_channel,
    fit: config.CUSTOM.fit,
    background: config.CUSTOM.background,
  };
}

/** The folder's cache name: CUSTOM.data_name, else the training folder's own name. */
export function dataNameOf(config: Config): string {
  const name = config.CUSTOM.data_name ?? path.basename(path.resolve(config.CUSTOM.train_data_path!)).replace(/[^\w.-]/g, '_');
  return name || 'images';
}

export interface FolderLoadOptions {
  log?: (msg: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Polled between cache shards while decoding: true stops after the shard in progress is saved. */
  shouldStop?: () => boolean;
}

/** Files that failed to decode named in the log; the rest are counted. */
const FAILURES_NAMED = 5;

/** The single-file cache of earlier versions (images.bin + manifest.json), replaced by shards: removed once. */
function removeSingleFileCache(root: string, log: (msg: string) => void): void {
  const old = ['images.bin', 'manifest.json'].map((f) => path.join(root, f)).filter((f) => fs.existsSync(f));
  if (old.length === 0) return;
  for (const f of old) fs.rmSync(f, { force: true });
  log(`removed the single-file image cache of an earlier version from ${root}; the images are decoded into shards once`);
}

/** Loads the configured image folders (from the cache when it matches), split into train/validation/test. */
export async function loadImageFolders(config: Config, opts: FolderLoadOptions = {}): Promise<DataSplits> {
  const log = opts.log ?? (() => {});
  const p = preprocessingOf(config);
  const c = config.CUSTOM;
  const roles = [
    { role: 'train', key: 'CUSTOM.train_data_path', dir: c.train_data_path! },
    ...(c.validation_data_path ? [{ role: 'validation', key: 'CUSTOM.validation_data_path', dir: c.validation_data_path }] : []),
    ...(c.test_data_path ? [{ role: 'test', key: 'CUSTOM.test_data_path', dir: c.test_data_path }] : []),
  ];
  const listings = roles.map((r) => ({ ...r, listing: listImageFolder(r.dir, r.key) }));
  const train = listings[0]!.listing;
  // Every split must use the training set's classes (same names, same numbers), or none at all.
  for (const { key, dir, listing } of listings.slice(1)) {
    if ((listing.classNames === null) !== (train.classNames === null)) {
      throw new UserError(
        `${key}: ${dir} is ${listing.classNames ? 'labelled (class sub-folders)' : 'flat (unlabelled)'} but the training folder is ${train.classNames ? 'labelled' : 'flat'}`,
        'use the same layout for every split: one sub-folder per class everywhere, or images directly inside everywhere',
      );
    }
    const unknown = (listing.classNames ?? []).filter((name) => !train.classNames!.includes(name));
    if (unknown.length) {
      throw new UserError(
        `${key}: ${dir} has classes the training folder lacks: ${unknown.join(', ')}`,
        `add those classes to ${c.train_data_path}, or remove them from ${dir}`,
      );
    }
    if (listing.classNames) listing.labels = listing.labels.map((l) => train.classNames!.indexOf(listing.classNames![l]!));
  }

  const root = path.join(config.project, 'data', dataNameOf(config));
  removeSingleFileCache(root, log);
  const cacheDir = cacheDirOf(root, p);
  // Every split's files, once each (a folder may serve two splits).
  const files = new Map<string, SourceFile>();
  for (const { listing } of listings) for (const f of listing.files) files.set(f.path, f);
  for (const { dir, listing } of listings.filter((l, i) => listings.findIndex((o) => o.dir === l.dir) === i)) {
    log(`${dir}: ${listing.files.length} images${listing.skipped.length ? `, ${listing.skipped.length} non-image files skipped` : ''}`);
  }
  const all = [...files.values()];
  const cached = await ensureCached(cacheDir, p, all, { log, onProgress: opts.onProgress, shouldStop: opts.shouldStop });
  if (cached.decoded === 0) log(`using the ${all.length - cached.failed.length} preprocessed images cached in ${cacheDir}`);
  if (cached.failed.length) {
    const shown = cached.failed.slice(0, FAILURES_NAMED);
    log(`${cached.failed.length} of ${all.length} files could not be decoded and are left out:`);
    for (const f of shown) log(`  ${f.path}: ${f.reason}`);
    if (cached.failed.length > shown.length) log(`  ... and ${cached.failed.length - shown.length} more`);
  }
  const rowOf = new Map<string, number>();
  all.forEach((f, i) => {
    rowOf.set(f.path, cached.rows[i]!);
  });
  const sets: Record<string, ImageSet> = {};
  for (const { role, dir, listing } of listings) {
    const kept = listing.files.map((f, i) => ({ row: rowOf.get(f.path)!, label: listing.labels[i]! })).filter((k) => k.row >= 0);
    if (kept.length === 0) {
      throw new UserError(
        `none of the ${listing.files.length} images in ${dir} could be decoded`,
        'check that the files are images (the log lists the first failures)',
      );
    }
    const set: ImageSet = {
      store: cached.store,
      rows: Uint32Array.from(kept, (k) => k.row),
      labels: Uint8Array.from(kept, (k) => k.label),
      count: kept.length,
      height: p.height,
      width: p.width,
      channels: p.channels,
    };
    sets[role] = c.in_memory ? inMemory(set) : set;
  }

  let trainSet = sets.train!,
    validation = sets.validation;
  if (!validation) ({ train: trainSet, validation } = splitValidation(trainSet, c.valset_proportion, config.seed));
  const test = sets.test ?? validation;
  return { train: trainSet, validation, test, classNames: train.classNames };
}
