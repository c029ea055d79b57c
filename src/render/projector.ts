/**
 * An Embedding Projector folder (TensorBoard's projector plugin and the standalone projector.tensorflow.org open
 * it as it is; see docs/exchange.md): `projector_config.json`, `tensors.bytes` (row-major float32), `metadata.tsv`,
 * `sprite.png` (thumbnails packed row by row from the top left, at most 8192 x 8192 pixels) and
 * `bookmarks.json`, whose one bookmark shows our own 2-D map without the page recomputing it (the hosted page
 * caps its t-SNE at 10k points). When the thumbnails of all points do not fit the sprite, a seeded sample of the
 * points is exported, and the result says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { imageCanvas, newCanvas } from './canvas.js';
import { writeFileAtomic } from '../util/fs.js';
import { Rng } from '../util/rng.js';

/** The Projector refuses sprites larger than this on a side (WebGL texture limit it assumes). */
export const MAX_SPRITE_SIDE = 8192;

export interface ProjectorPoint {
  label: string;
  split: string;
  reconstructionError: number;
  path: string;
}

export interface ProjectorInput {
  /** n x dim, row-major. */
  codes: Float32Array;
  dim: number;
  /** One per point. */
  points: ProjectorPoint[];
  /** n images, HWC floats in [0, 1], for the sprite; or image i on demand (only the sprite's are read). */
  images: Float32Array | ((i: number) => Float32Array);
  height: number;
  width: number;
  channels: number;
  /** Our 2-D map (n x 2) and how it was made, for the bookmark. */
  map?: { coords: Float32Array; method: 'tsne' | 'umap' | 'pca'; description: string; perplexity?: number };
  tensorName: string;
  seed: number;
  /** The sprite's largest side (default MAX_SPRITE_SIDE; smaller only to exercise the sampling). */
  maxSpriteSide?: number;
}

export interface ProjectorResult {
  dir: string;
  files: string[];
  /** Points exported (fewer than given when the sprite could not hold them all). */
  exported: number;
  /** Indices (into the input) of the points exported, in order. */
  indices: Int32Array;
  note: string | null;
}

const tsvField = (s: string) => s.replace(/[\t\r\n]/g, ' ');

/** How many thumbnails of w x h fit in a sprite of at most MAX_SPRITE_SIDE on a side. */
export function spriteCapacity(width: number, height: number, side = MAX_SPRITE_SIDE): number {
  return Math.floor(side / width) * Math.floor(side / height);
}

/** The Projector's bookmark: its `State` with the projection of every point, 2-D. */
function bookmark(map: NonNullable<ProjectorInput['map']>, indices: Int32Array, n: number, dim: number): object {
  // The page knows t-SNE ('tsne-0/1') and PCA ('pca-0/1') projections in bookmarks; a UMAP map goes in the
  // t-SNE slot, and the bookmark's label says which map it is.
  const kind = map.method === 'pca' ? 'pca' : 'tsne';
  const projections = Array.from(indices, (i) => ({ [`${kind}-0`]: map.coords[2 * i]!, [`${kind}-1`]: map.coords[2 * i + 1]! }));
  return {
    label: `${map.description} (computed by autoencoders${map.method === 'umap' ? ', shown in the t-SNE slot' : ''})`,
    isSelected: true,
    selectedProjection: kind,
    dataSetDimensions: [n, dim],
    tSNEIteration: kind === 'tsne' ? 1000 : 0,
    tSNEPerplexity: map.perplexity ?? 0,
    tSNELearningRate: 0,
    tSNEis3d: false,
    UMAPIteration: 0,
    UMAPis3d: false,
    pcaComponentDimensions: kind === 'pca' ? [0, 1] : [],
    projections,
    selectedPoints: [],
    cameraDef: { orthographic: true, position: [0, 0, 5], target: [0, 0, 0], zoom: 1 },
    selectedColorOptionName: 'label',
    forceCategoricalColoring: true,
    selectedLabelOption: 'label',
  };
}

export async function exportProjector(dir: string, input: ProjectorInput, force = false): Promise<ProjectorResult> {
  const n = input.points.length;
  if (n === 0) throw new UserError('nothing to export to the Embedding Projector: no points');
  const configFile = path.join(dir, 'projector_config.json');
  if (fs.existsSync(configFile) && !force)
    throw new UserError(`${dir} already holds a projector export`, 'pass `force` to replace it, or another folder', {
      option: 'force',
    });
  fs.mkdirSync(dir, { recursive: true });
  const { height, width, channels, dim } = input;
  const side = input.maxSpriteSide ?? MAX_SPRITE_SIDE;
  const capacity = spriteCapacity(width, height, side);
  let indices = Int32Array.from({ length: n }, (_, i) => i);
  let note: string | null = null;
  if (n > capacity) {
    indices = new Rng(input.seed).permutation(n).subarray(0, capacity).slice().sort();
    note = `the sprite holds at most ${capacity} thumbnails of ${width}x${height} (${side} px a side): exported a seeded sample of ${capacity} of the ${n} points`;
  }
  const m = indices.length;
  // Tensors: row-major float32.
  const tensors = new Float32Array(m * dim);
  indices.forEach((i, r) => {
    tensors.set(input.codes.subarray(i * dim, (i + 1) * dim), r * dim);
  });
  writeFileAtomic(path.join(dir, 'tensors.bytes'), new Uint8Array(tensors.buffer));
  // Metadata: several columns, so a header row.
  const lines = ['label\tsplit\treconstruction_error\tpath'];
  for (const i of indices) {
    const p = input.points[i]!;
    lines.push([p.label, p.split, p.reconstructionError.toPrecision(6), p.path].map(tsvField).join('\t'));
  }
  writeFileAtomic(path.join(dir, 'metadata.tsv'), `${lines.join('\n')}\n`);
  // Sprite: a square-ish grid, row by row from the top left.
  const cols = Math.ceil(Math.sqrt(m)),
    rows = Math.ceil(m / cols);
  const { canvas, ctx } = newCanvas(cols * width, rows * height);
  const size = height * width * channels;
  indices.forEach((i, r) => {
    const pixels = typeof input.images === 'function' ? input.images(i) : input.images.subarray(i * size, (i + 1) * size);
    ctx.drawImage(imageCanvas(pixels, 0, height, width, channels), (r % cols) * width, Math.floor(r / cols) * height);
  });
  writeFileAtomic(path.join(dir, 'sprite.png'), await canvas.encode('png'));
  const files = ['tensors.bytes', 'metadata.tsv', 'sprite.png'];
  const embedding: Record<string, unknown> = {
    tensorName: input.tensorName,
    tensorShape: [m, dim],
    tensorPath: 'tensors.bytes',
    metadataPath: 'metadata.tsv',
    sprite: { imagePath: 'sprite.png', singleImageDim: [width, height] },
  };
  if (input.map) {
    writeFileAtomic(path.join(dir, 'bookmarks.json'), `${JSON.stringify([bookmark(input.map, indices, m, dim)])}\n`);
    embedding.bookmarksPath = 'bookmarks.json';
    files.push('bookmarks.json');
  }
  writeFileAtomic(configFile, `${JSON.stringify({ embeddings: [embedding] }, null, 2)}\n`);
  files.push('projector_config.json');
  return { dir, files: files.map((f) => path.join(dir, f)), exported: m, indices, note };
}
