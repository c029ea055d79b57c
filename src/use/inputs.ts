/**
 * What `ae encode` and `ae score` read: a split of the run's own data (test, validation, train), or image files
 * and folders preprocessed exactly as the run's training images (size, channels, fit, background). Delivered in
 * batches, so memory stays bounded however many files there are: folders are decoded batch by batch.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { inMemory, type MemorySet, slice } from '../data/dataset.js';
import { decodeListing, IMAGE_EXTENSIONS, listImageFolder, preprocessingOf, type FolderListing } from '../data/folder.js';
import { loadData } from '../data/load.js';
import { UserError } from '../errors.js';

export const SPLITS = ['test', 'validation', 'train'] as const;
export type SplitName = (typeof SPLITS)[number];

/** One input row: its position, its label (and class name) when known, its file when it came from one. */
export interface InputRow {
  index: number;
  label: number | null;
  className: string | null;
  path: string | null;
}

export interface InputBatch {
  /** The batch's images, in memory (a streamed split is read batch by batch). */
  set: MemorySet;
  rows: InputRow[];
}

export interface InputSource {
  /** For messages, e.g. "the test split (10000 images)". */
  description: string;
  /** Images listed; fewer may arrive when some files cannot be decoded (see `failed`). */
  total: number;
  classNames: string[] | null;
  batches(batchSize: number): AsyncGenerator<InputBatch>;
  /** Files that could not be decoded so far, with the reason. */
  failed: Array<{ path: string; reason: string }>;
}

/** The split's images, batch by batch (read from the cache on disk for a streamed split). */
async function splitSource(config: Config, split: SplitName, log?: (msg: string) => void): Promise<InputSource> {
  const data = await loadData(config, log);
  const set = data[split];
  const names = data.classNames;
  return {
    description: `the ${split} split (${set.count} images)`,
    total: set.count,
    classNames: names,
    failed: [],
    async *batches(batchSize) {
      for (let start = 0; start < set.count; start += batchSize) {
        const end = Math.min(set.count, start + batchSize);
        const rows = Array.from({ length: end - start }, (_, r) => {
          const label = names ? set.labels[start + r]! : null;
          return { index: start + r, label, className: label === null ? null : (names![label] ?? null), path: null };
        });
        yield { set: inMemory(slice(set, start, end)), rows };
      }
    },
  };
}

/** Image files and folders named on the command line, as one listing (labelled only for one labelled folder). */
function listPaths(paths: string[]): FolderListing {
  const merged: FolderListing = {
    dir: paths.length === 1 ? paths[0]! : '(several paths)',
    files: [],
    labels: [],
    classNames: null,
    skipped: [],
  };
  for (const p of paths) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(p);
    } catch {
      throw new UserError(
        `\`input\` ${p}: no such file or folder`,
        'name a split (test, validation, train), an image folder or image files',
        {
          option: 'input',
        },
      );
    }
    if (stat.isDirectory()) {
      const listing = listImageFolder(p, `\`input\` ${p}`);
      if (paths.length === 1) return listing;
      merged.files.push(...listing.files);
      merged.labels.push(...listing.files.map(() => 0));
      merged.skipped.push(...listing.skipped);
    } else {
      if (!IMAGE_EXTENSIONS.has(path.extname(p).toLowerCase())) {
        throw new UserError(
          `\`input\` ${p} is not an image file (by its extension)`,
          `pass ${[...IMAGE_EXTENSIONS].join('/')} files or a folder of them`,
        );
      }
      merged.files.push({ path: p, size: stat.size, mtimeMs: Math.floor(stat.mtimeMs) });
      merged.labels.push(0);
    }
  }
  return merged;
}

/** Image files, decoded batch by batch with the run's preprocessing; files that fail are skipped and listed. */
function pathSource(config: Config, paths: string[]): InputSource {
  const listing = listPaths(paths);
  const p = preprocessingOf(config);
  const failed: InputSource['failed'] = [];
  const names = listing.classNames;
  return {
    description: `${listing.files.length} images from ${paths.length === 1 ? paths[0] : `${paths.length} paths`} at ${p.height}x${p.width}x${p.channels}`,
    total: listing.files.length,
    classNames: names,
    failed,
    async *batches(batchSize) {
      let index = 0;
      for (let start = 0; start < listing.files.length; start += batchSize) {
        const files = listing.files.slice(start, start + batchSize);
        const labels = listing.labels.slice(start, start + batchSize);
        const decoded = await decodeListing({ ...listing, files, labels }, p);
        failed.push(...decoded.report.failed);
        if (decoded.count === 0) continue;
        const bad = new Set(decoded.report.failed.map((f) => f.path));
        const kept = files.map((f, i) => ({ f, label: labels[i]! })).filter(({ f }) => !bad.has(f.path));
        const images = new Float32Array(decoded.pixels.length);
        for (let i = 0; i < images.length; i++) images[i] = decoded.pixels[i]! / 255;
        const rows = kept.map(({ f, label }) => ({
          index: index++,
          label: names ? label : null,
          className: names ? (names[label] ?? null) : null,
          path: f.path,
        }));
        yield {
          set: { images, labels: decoded.labels, count: decoded.count, height: p.height, width: p.width, channels: p.channels },
          rows,
        };
      }
      if (index === 0) {
        throw new UserError(
          `none of the ${listing.files.length} images given with \`input\` could be read (${failed[0]?.path}: ${failed[0]?.reason})`,
          'pass PNG, JPEG, WebP, GIF, TIFF or AVIF images that open in an image viewer',
        );
      }
    },
  };
}

/** The input named by `input`: a split name (default test), or image files and folders. */
export async function openInput(config: Config, spec: string[] = ['test'], log?: (msg: string) => void): Promise<InputSource> {
  if (spec.length === 0) spec = ['test'];
  if (spec.length === 1 && (SPLITS as readonly string[]).includes(spec[0]!)) return splitSource(config, spec[0] as SplitName, log);
  return pathSource(config, spec);
}
