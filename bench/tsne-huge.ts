/**
 * t-SNE at a million points (`npm run bench:tsne -- --huge`): the latent codes of a trained AE for all 70,000
 * images of MNIST (and of Fashion-MNIST), each image also under 14 seeded small shifts and rotations (15 versions,
 * 1,050,000 codes): real data with the structure of a large image collection (near-duplicates, classes), not noise.
 * Prints wall time per phase, peak memory, the approximate neighbours' recall on a seeded sample of points,
 * 2-D 5-NN accuracy (10,000 seeded points against the whole map) and trustworthiness (5 x 2,000 points).
 */
import fs from 'node:fs';
import { cpuDescription } from './machine.js';
import os from 'node:os';
import path from 'node:path';
import { MAP_FORMAT, packArrays } from '../src/evaluate/map-data.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { loadIdxDataset, MNIST, FASHION_MNIST } from '../src/data/mnist.js';
import { concatSets, type MemorySet } from '../src/data/dataset.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { openRunDir, readRunConfig } from '../src/checkpoint/run-dir.js';
import { encodeSet } from '../src/evaluate/latents.js';
import { trustworthiness } from '../src/evaluate/metrics.js';
import { knnSearch, neighbours, type Neighbours } from '../src/embed/knn.js';
import { tsne } from '../src/embed/tsne.js';
import type { Autoencoder } from '../src/models/registry.js';
import { Rng } from '../src/util/rng.js';

export const COPIES = 15;
const MAX_ANGLE = (15 * Math.PI) / 180;
const MAX_SHIFT = 2;

/** Pixel (y, x) of an h x w image, 0 outside it. */
function pixel(src: Float32Array, h: number, w: number, y: number, x: number): number {
  return y >= 0 && y < h && x >= 0 && x < w ? src[y * w + x]! : 0;
}

/** An image rotated by `angle` about its centre and shifted by (dx, dy) pixels, with bilinear sampling. */
export function augment(src: Float32Array, h: number, w: number, angle: number, dx: number, dy: number, out: Float32Array): void {
  const cx = (w - 1) / 2,
    cy = (h - 1) / 2,
    cos = Math.cos(angle),
    sin = Math.sin(angle);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Inverse map: the source position that lands on (x, y).
      const u = x - cx - dx,
        v = y - cy - dy;
      const sx = cos * u + sin * v + cx,
        sy = -sin * u + cos * v + cy;
      const x0 = Math.floor(sx),
        y0 = Math.floor(sy),
        fx = sx - x0,
        fy = sy - y0;
      out[y * w + x] =
        (1 - fy) * ((1 - fx) * pixel(src, h, w, y0, x0) + fx * pixel(src, h, w, y0, x0 + 1)) +
        fy * ((1 - fx) * pixel(src, h, w, y0 + 1, x0) + fx * pixel(src, h, w, y0 + 1, x0 + 1));
    }
  }
}

/** The codes of every image under COPIES versions (copy 0 unchanged), copy by copy; labels repeat. */
export function augmentedCodes(model: Autoencoder, set: MemorySet, seed: number): { codes: Float32Array; labels: Uint8Array; dim: number } {
  const n = set.count;
  let dim = 0;
  let codes = new Float32Array(0);
  const labels = new Uint8Array(n * COPIES);
  const version: MemorySet = { ...set, images: new Float32Array(set.images.length) };
  for (let copy = 0; copy < COPIES; copy++) {
    const rng = new Rng(seed * 1000 + copy);
    for (let i = 0; i < n; i++) {
      const src = set.images.subarray(i * 784, (i + 1) * 784);
      const out = version.images.subarray(i * 784, (i + 1) * 784);
      if (copy === 0) out.set(src);
      else
        augment(
          src,
          28,
          28,
          (2 * rng.uniform() - 1) * MAX_ANGLE,
          (2 * rng.uniform() - 1) * MAX_SHIFT,
          (2 * rng.uniform() - 1) * MAX_SHIFT,
          out,
        );
    }
    const t = performance.now();
    const latents = encodeSet(model, version);
    if (copy === 0) console.log(`  encoding ${n} images: ${((performance.now() - t) / 1000).toFixed(1)} s per version`);
    if (copy === 0) {
      dim = latents.dim;
      codes = new Float32Array(n * COPIES * dim);
    }
    codes.set(latents.codes, copy * n * dim);
    labels.set(set.labels, copy * n);
  }
  return { codes, labels, dim };
}

/**
 * k nearest map points (2-D, exact) of each query point among all n, through a uniform grid: each query scans
 * rings of cells outwards until no unseen cell can hold a closer point than its k-th.
 */
export function gridKnn2d(coords: Float32Array, n: number, queries: Int32Array, k: number): Int32Array {
  let minX = Infinity,
    minY = Infinity,
    maxX = -Infinity,
    maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    minX = Math.min(minX, coords[2 * i]!);
    maxX = Math.max(maxX, coords[2 * i]!);
    minY = Math.min(minY, coords[2 * i + 1]!);
    maxY = Math.max(maxY, coords[2 * i + 1]!);
  }
  const side = Math.max(1, Math.ceil(Math.sqrt(n / 4)));
  const cw = (maxX - minX) / side || 1,
    ch = (maxY - minY) / side || 1;
  const cellOf = (x: number, y: number) => [
    Math.min(side - 1, Math.floor((x - minX) / cw)),
    Math.min(side - 1, Math.floor((y - minY) / ch)),
  ];
  const start = new Int32Array(side * side + 1);
  const cell = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const [cx, cy] = cellOf(coords[2 * i]!, coords[2 * i + 1]!);
    cell[i] = cy! * side + cx!;
    start[cell[i]! + 1]!++;
  }
  for (let c = 0; c < side * side; c++) start[c + 1]! += start[c]!;
  const members = new Int32Array(n);
  const fill = start.slice(0, side * side);
  for (let i = 0; i < n; i++) members[fill[cell[i]!]!++] = i;
  const out = new Int32Array(queries.length * k);
  const best: Array<[number, number]> = [];
  queries.forEach((q, qi) => {
    const x = coords[2 * q]!,
      y = coords[2 * q + 1]!;
    const [cx, cy] = cellOf(x, y) as [number, number];
    best.length = 0;
    for (let r = 0; r <= side; r++) {
      for (let gy = cy - r; gy <= cy + r; gy++) {
        for (let gx = cx - r; gx <= cx + r; gx++) {
          if (Math.max(Math.abs(gx - cx), Math.abs(gy - cy)) !== r || gx < 0 || gy < 0 || gx >= side || gy >= side) continue;
          const c = gy * side + gx;
          for (let m = start[c]!; m < start[c + 1]!; m++) {
            const j = members[m]!;
            if (j !== q) best.push([(coords[2 * j]! - x) ** 2 + (coords[2 * j + 1]! - y) ** 2, j]);
          }
        }
      }
      best.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      best.length = Math.min(best.length, k);
      // Cells of ring r + 1 lie at least r cell sizes away from the query.
      if (best.length === k && best[k - 1]![0] <= (r * Math.min(cw, ch)) ** 2) break;
    }
    best.forEach(([, j], t) => {
      out[qi * k + t] = j;
    });
  });
  return out;
}

interface HugeRow {
  dataset: string;
  n: number;
  phases: Record<string, number>;
  total: number;
  recall: number;
  knn5: number;
  trust: number;
  peakGiB: number;
  kl: number;
}

/** Recall of approximate neighbours against exact ones, on `sample` seeded points: the share of each point's
 *  exact k nearest that the approximate search found. */
export function neighbourRecall(codes: Float32Array, n: number, dim: number, approx: Neighbours, sample: number, seed: number): number {
  const k = approx.k;
  const picks = new Rng(seed).permutation(n).subarray(0, sample);
  const queries = new Float32Array(sample * dim);
  picks.forEach((p, i) => {
    queries.set(codes.subarray(p * dim, (p + 1) * dim), i * dim);
  });
  // k + 1 exact neighbours: the point itself is among them (at distance 0), and is dropped.
  const exact = knnSearch(codes, n, queries, sample, dim, k + 1, false, 32);
  let found = 0;
  picks.forEach((p, i) => {
    const mine = new Set(approx.indices.subarray(p * k, (p + 1) * k));
    const truth = Array.from(exact.indices.subarray(i * (k + 1), (i + 1) * (k + 1)))
      .filter((j) => j !== p)
      .slice(0, k);
    for (const j of truth) if (mine.has(j)) found++;
  });
  return found / (sample * k);
}

export interface HugeDataset {
  name: string;
  dir: string;
  /** The run whose best AE encodes the images (trained by the caller when missing). */
  run: () => Promise<string>;
}

/**
 * Saves a million-point map as a run `ae view` opens: the encoding AE's config, history and best weights (so images
 * dropped on the map are encoded by it) and vis_outputs/map_tsne.json/.bin with the coordinates, labels, codes and
 * each point's image index (errors are not computed: zeros; no thumbnails, no neighbours).
 */
function saveMapRun(
  out: string,
  aeRun: string,
  name: string,
  coords: Float32Array,
  labels: Uint8Array,
  codes: Float32Array,
  dim: number,
  images: number,
  classes: string[],
): string {
  const dir = path.join(out, name);
  fs.mkdirSync(path.join(dir, 'vis_outputs'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'weights'), { recursive: true });
  for (const f of ['config.yaml', 'history.jsonl', path.join('weights', 'best.ckpt'), path.join('weights', 'last.ckpt')])
    fs.copyFileSync(path.join(aeRun, f), path.join(dir, f));
  const n = labels.length;
  const packed = packArrays([
    ['coords', 'float32', [n, 2], coords],
    ['labels', 'uint8', [n], labels],
    ['indices', 'int32', [n], Int32Array.from({ length: n }, (_, i) => i % images)],
    ['errors', 'float32', [n], new Float32Array(n)],
    ['neighbours', 'int32', [n, 0], new Int32Array(0)],
    ['codes', 'float32', [n, dim], codes],
  ]);
  const header = {
    format: MAP_FORMAT,
    method: 'tsne',
    description: `t-SNE of ${n.toLocaleString('en')} AE codes (${COPIES} versions of ${images.toLocaleString('en')} images)`,
    split: 'all',
    count: n,
    height: 28,
    width: 28,
    channels: 1,
    k: 0,
    classes,
    arrays: packed.index,
  };
  writeFileAtomic(path.join(dir, 'vis_outputs', 'map_tsne.bin'), packed.bytes);
  writeFileAtomic(path.join(dir, 'vis_outputs', 'map_tsne.json'), JSON.stringify(header));
  return dir;
}

export async function hugeBenchmark(sets: HugeDataset[], mapOut?: string): Promise<void> {
  const rows: HugeRow[] = [];
  for (const s of sets) {
    if (!fs.existsSync(s.dir)) {
      console.log(`${s.name}: ${s.dir} not found, skipped`);
      continue;
    }
    const run = openRunDir(await s.run());
    const { model } = loadModel(readRunConfig(run), run.bestCheckpoint);
    const splits = await loadIdxDataset(s.name === 'MNIST' ? MNIST : FASHION_MNIST, s.dir, 0.2, 0);
    const data = concatSets([splits.train, splits.validation, splits.test]);
    let t = performance.now();
    const { codes, labels, dim } = augmentedCodes(model, data, 0);
    const n = labels.length;
    console.log(
      `${s.name}: ${n} codes x ${dim} (${COPIES} versions of ${data.count} images) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    const t0 = performance.now();
    const perplexity = 30;
    const nb = neighbours(codes, n, dim, 3 * perplexity, 0);
    const phases: Record<string, number> = { neighbours: (performance.now() - t0) / 1000 };
    console.log(
      `  neighbours: ${phases.neighbours!.toFixed(1)} s, RSS ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB, ${process.resourceUsage().minorPageFault.toLocaleString('en')} page faults so far`,
    );
    const recall = neighbourRecall(codes, n, dim, nb, 1000, 0);
    console.log(`  recall@90 of the neighbours on 1,000 seeded points: ${recall.toFixed(4)}`);
    let phase = '';
    t = performance.now();
    const r = tsne(codes, n, dim, {
      seed: 0,
      perplexity,
      neighbours: nb,
      onStage: (stage) => {
        const now = performance.now();
        if (phase) phases[phase] = (phases[phase] ?? 0) + (now - t) / 1000;
        phase = stage;
        t = now;
        console.log(
          `  ${stage} from ${((now - t0) / 1000).toFixed(1)} s, RSS ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB, ${process.resourceUsage().minorPageFault.toLocaleString('en')} page faults so far`,
        );
      },
      callback: (it, kl) => {
        if (it % 250 === 0) console.log(`  iteration ${it}: KL ${kl.toFixed(3)} at ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      },
    });
    phases[phase] = (phases[phase] ?? 0) + (performance.now() - t) / 1000;
    const total = Object.values(phases).reduce((a, b) => a + b, 0);
    const peakGiB = process.resourceUsage().maxRSS / 2 ** 20;
    const queries = new Rng(1).permutation(n).subarray(0, 10000);
    const mapNb = gridKnn2d(r.embedding, n, queries, 5);
    let correct = 0;
    queries.forEach((q, qi) => {
      const votes = new Int32Array(256);
      for (let t2 = 0; t2 < 5; t2++) votes[labels[mapNb[qi * 5 + t2]!]!]!++;
      let best = labels[mapNb[qi * 5]!]!;
      for (let c = 0; c < 256; c++) if (votes[c]! > votes[best]!) best = c;
      if (best === labels[q]) correct++;
    });
    let trust = 0;
    for (let seed = 0; seed < 5; seed++) trust += trustworthiness(codes, dim, r.embedding, 2, n, 10, 2000, seed) / 5;
    if (mapOut) {
      const classes = Array.from({ length: 10 }, (_, c) => String(c));
      const saved = saveMapRun(
        mapOut,
        run.dir,
        `${s.name.toLowerCase()}-1m-map`,
        Float32Array.from(r.embedding),
        labels,
        codes,
        dim,
        data.count,
        splits.classNames ?? classes,
      );
      console.log(`  map saved as a run: ${saved} (ae view ${mapOut})`);
    }
    const row: HugeRow = { dataset: s.name, n, phases, total, recall, knn5: correct / queries.length, trust, peakGiB, kl: r.kl };
    rows.push(row);
    console.log(`  ${JSON.stringify(row)}`);
  }
  console.log(
    `\nmachine: ${os.cpus().length} cores (${cpuDescription()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  );
  console.log(
    '| data | points | neighbours (s) | affinities (s) | initialisation (s) | optimisation (s) | total (s) | peak RSS (GiB) | recall@90 (1,000 points) | 2-D 5-NN accuracy (10,000 points) | trustworthiness (5 x 2,000) | KL |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const p = (k: string) => (r.phases[k] ?? 0).toFixed(1);
    console.log(
      `| ${r.dataset} | ${r.n.toLocaleString('en')} | ${p('neighbours')} | ${p('affinities')} | ${p('initialisation')} | ${p('optimisation')} | ${r.total.toFixed(1)} | ${r.peakGiB.toFixed(1)} | ${r.recall.toFixed(4)} | ${r.knn5.toFixed(3)} | ${r.trust.toFixed(4)} | ${r.kl.toFixed(3)} |`,
    );
  }
}
