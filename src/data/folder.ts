/**
 * Your own images: folders of PNG, JPEG, WebP, GIF (first frame), TIFF or AVIF, decoded with sharp (libvips),
 * resized to height x width, converted to the configured channels and scaled to [0, 1].
 *
 * Layouts: a folder with one sub-folder per class labels every image by its sub-folder's name (sorted, so class
 * numbers are stable); a folder with the images directly inside is unlabelled. Files that are not images (by
 * extension) are skipped and counted; images that fail to decode are listed and skipped.
 *
 * The decoded sets are cached under <project>/data/<data_name>/ (see ./cache.ts), keyed by every source file's
 * path, size and modification time and by the preprocessing parameters.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { splitValidation } from './mnist.js';
import type { DataSplits, ImageSet } from './dataset.js';
import { loadCache, saveCache, type CacheKey, type SourceFile } from './cache.js';

export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif']);

/** How every image is turned into the model's input. */
export interface Preprocessing {
  height: number;
  width: number;
  channels: 1 | 3;
  fit: 'squash' | 'pad';
  background: 'black' | 'white';
}

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

// sharp (and its libvips binary) is loaded on first use, so runs on MNIST never load it.
type SharpFn = typeof import('sharp');
let sharpLoader: Promise<SharpFn> | null = null;
const loadSharp = (): Promise<SharpFn> => (sharpLoader ??= import('sharp').then((m) => m.default));

/** Decodes one file into `out` (height * width * channels bytes, HWC). Throws when sharp cannot decode it. */
async function decodeInto(file: string, p: Preprocessing, out: Uint8Array): Promise<void> {
  const sharp = await loadSharp();
  const bg = p.background === 'white' ? { r: 255, g: 255, b: 255, alpha: 1 } : { r: 0, g: 0, b: 0, alpha: 1 };
  let img = sharp(file, { pages: 1, failOn: 'error' })
    .flatten({ background: bg })
    .resize(p.width, p.height, { fit: p.fit === 'pad' ? 'contain' : 'fill', background: bg });
  img = p.channels === 1 ? img.grayscale() : img.toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== p.width || info.height !== p.height || info.channels < p.channels) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
  }
  if (info.channels === p.channels) {
    out.set(data);
  } else {
    // Drop extra channels (an alpha channel libvips kept, or colour channels of a grayscale result).
    for (let i = 0, o = 0; o < out.length; i += info.channels, o += p.channels) {
      for (let c = 0; c < p.channels; c++) out[o + c] = data[i + c]!;
    }
  }
}

export interface DecodeReport {
  /** Files that failed to decode, with the reason. */
  failed: Array<{ path: string; reason: string }>;
}

/**
 * Decodes every file of a listing (several at a time: sharp runs them on libuv's thread pool, so all cores
 * work), skipping the ones that fail. Pixels stay bytes here; they become floats in [0, 1] after the cache.
 */
export async function decodeListing(
  listing: FolderListing,
  p: Preprocessing,
  onProgress?: (done: number, total: number) => void,
): Promise<{ pixels: Uint8Array; labels: Uint8Array; count: number; report: DecodeReport }> {
  const size = p.height * p.width * p.channels;
  const total = listing.files.length;
  const pixels = new Uint8Array(total * size);
  const ok = new Uint8Array(total);
  const report: DecodeReport = { failed: [] };
  let next = 0,
    done = 0;
  const worker = async () => {
    for (let i = next++; i < total; i = next++) {
      try {
        await decodeInto(listing.files[i]!.path, p, pixels.subarray(i * size, (i + 1) * size));
        ok[i] = 1;
      } catch (e) {
        report.failed.push({ path: listing.files[i]!.path, reason: (e as Error).message.split('\n')[0]! });
      }
      onProgress?.(++done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.max(2, os.availableParallelism() * 2) }, worker));
  // Compact the decoded images in listing order.
  let count = 0;
  const labels = new Uint8Array(total);
  for (let i = 0; i < total; i++) {
    if (!ok[i]) continue;
    if (count !== i) pixels.copyWithin(count * size, i * size, (i + 1) * size);
    labels[count++] = listing.labels[i]!;
  }
  report.failed.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { pixels: pixels.slice(0, count * size), labels: labels.slice(0, count), count, report };
}

function toImageSet(pixels: Uint8Array, labels: Uint8Array, count: number, p: Preprocessing): ImageSet {
  const images = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) images[i] = pixels[i]! / 255;
  return { images, labels, count, height: p.height, width: p.width, channels: p.channels };
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

  const dataName = dataNameOf(config);
  const cacheDir = path.join(config.project, 'data', dataName);
  const key: CacheKey = {
    preprocessing: p,
    splits: listings.map(({ role, listing }) => ({ role, files: listing.files, labels: listing.labels })),
    classNames: train.classNames,
  };
  const sets: Record<string, ImageSet> = {};
  const cached = loadCache(cacheDir, key, log);
  if (cached) {
    log(`using the preprocessed images cached in ${cacheDir}`);
    for (const s of cached) sets[s.role] = toImageSet(s.pixels, s.labels, s.count, p);
  } else {
    const decoded = [];
    for (const { role, dir, listing } of listings) {
      const skipped = listing.skipped.length ? `, ${listing.skipped.length} non-image files skipped` : '';
      log(`decoding ${listing.files.length} images from ${dir} to ${p.height}x${p.width}x${p.channels}${skipped}`);
      const d = await decodeListing(listing, p, opts.onProgress);
      for (const f of d.report.failed) log(`  skipped ${f.path}: cannot decode (${f.reason})`);
      if (d.count === 0) {
        throw new UserError(
          `none of the ${listing.files.length} images in ${dir} could be decoded`,
          'check that the files are images (the log lists each failure)',
        );
      }
      decoded.push({ role, pixels: d.pixels, labels: d.labels, count: d.count });
      sets[role] = toImageSet(d.pixels, d.labels, d.count, p);
    }
    try {
      saveCache(cacheDir, key, decoded);
      log(`cached the preprocessed images in ${cacheDir}`);
    } catch (e) {
      log(
        `could not write the cache in ${cacheDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the next run decodes again`,
      );
    }
  }

  let trainSet = sets.train!,
    validation = sets.validation;
  if (!validation) ({ train: trainSet, validation } = splitValidation(trainSet, c.valset_proportion, config.seed));
  const test = sets.test ?? validation;
  return { train: trainSet, validation, test, classNames: train.classNames };
}
