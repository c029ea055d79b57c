/**
 * What the fuzzer feeds and to what: every reader of input from outside the process. A target makes mutants of
 * real files (written by our own writers into a seed run, `makeSeedRun`) and hands each to the reader the CLI or
 * the viewer would use. The contract (fuzz/run.ts checks it): a correct load, or a UserError that names the file;
 * the viewer's run reader never throws (it turns damage into notes); images either decode to the configured size
 * or fail with an Error the folder loader records as a skipped file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import YAML from 'yaml';
import { loadConfig, resolveConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { loadMnist } from '../src/data/mnist.js';
import { encodeIdx, parseIdxImages, parseIdxLabels } from '../src/data/idx.js';
import { decodePngInto } from '../src/data/png.js';
import { decodeWithSharp, type Preprocessing } from '../src/data/decode.js';
import { ensureCached, type SourceFile } from '../src/data/cache.js';
import { shardData, shardIndex } from '../src/data/store.js';
import { head } from '../src/data/dataset.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { configInSafetensors, exportSafetensors, importSafetensors } from '../src/exchange/index.js';
import { train } from '../src/train/trainer.js';
import { openMapForPlacing, placeOnMap } from '../src/use/onto.js';
import { readRun, summaryOf } from '../src/view/runs.js';
import { startViewer, type Viewer } from '../src/view/server.js';
import { loadMapData, loadRest, MapReadError } from '../viewer/map-data.js';
import { mutateBytes, mutateJson, type Rng } from './mutate.js';

/** One input: files by name, written into a fresh folder before the reader runs. */
export type Sample = Record<string, Uint8Array>;

export interface Target {
  name: string;
  /** What the reader is and what counts as clean. */
  description: string;
  seeds: Sample[];
  mutate(rng: Rng, seed: Sample): Sample;
  /** Runs the reader on the files in `dir`; resolves when it loaded, rejects with what it threw. */
  read(dir: string): Promise<void>;
  /** Outcomes other than a load or a UserError naming a file that are still clean here (images: any Error). */
  anyErrorIsClean?: boolean;
  /** Releases what `read` kept open between inputs (the viewer-map target's server), so the worker can end. */
  dispose?(): Promise<void>;
  /** A reader with its own error type for refusals (the viewer page's): true for a clean refusal of `dir`'s files. */
  cleanError?: (e: Error, dir: string) => boolean;
}

/** A small real run: 1 epoch of the AE on 256 MNIST images, tested (map_pca.json) and exported (safetensors). */
/** The seed run's files and what the targets need from it (plain data: it is handed to worker threads). */
export interface SeedRun {
  project: string;
  runDir: string;
  config: Config;
  digits: Uint8Array;
  labels: Uint8Array;
  /** A folder of 6 PNG digits and their image cache (two shards of 3), as `ae train` on a folder writes it. */
  cacheSources: SourceFile[];
  cacheDir: string;
}

/** Images per shard in the seed cache: small, so a cache of 6 images has two shards. */
const SEED_SHARD_IMAGES = 3;
const GREY: Preprocessing = { height: 28, width: 28, channels: 1, fit: 'squash', background: 'black' };

export async function makeSeedRun(project: string, mnistDir: string): Promise<SeedRun> {
  const config = resolveConfig({
    project,
    name: 'seed',
    epochs: 1,
    batch_size: 64,
    latent_dim: 4,
    hidden_dim: 32,
    MNIST: { path: mnistDir, subset: 2000 },
  });
  const all = await loadMnist(mnistDir, 0.2, 1);
  const data = { train: head(all.train, 256), validation: head(all.validation, 64), test: head(all.test, 64), classNames: all.classNames };
  await train(config, { data });
  const runDir = path.join(project, 'seed');
  await evaluateRun(runDir, { limit: 40, count: 3, embed: 'pca' });
  await exportSafetensors(runDir, { out: project });
  const first = head(all.test, 20);
  const digits = Uint8Array.from(first.images.subarray(0, 20 * 784), (v) => Math.round(v * 255));
  const folder = path.join(project, 'cache-images');
  fs.mkdirSync(folder, { recursive: true });
  const cacheSources: SourceFile[] = [];
  for (let i = 0; i < 6; i++) {
    const file = path.join(folder, `digit-${i}.png`);
    const png = await sharp(Buffer.from(digits.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    fs.writeFileSync(file, png);
    const stat = fs.statSync(file);
    cacheSources.push({ path: file, size: stat.size, mtimeMs: stat.mtimeMs });
  }
  const cacheDir = path.join(project, 'cache-seed');
  (await ensureCached(cacheDir, GREY, cacheSources, { shardImages: SEED_SHARD_IMAGES })).store.close();
  return { project, runDir, config, digits, labels: Uint8Array.from(first.labels.subarray(0, 20)), cacheSources, cacheDir };
}

const read = (file: string): Uint8Array => new Uint8Array(fs.readFileSync(file));

/** A file's bytes mutated blindly, or (half the time, when `structured` knows its framing) its header mutated. */
function mutateOne(rng: Rng, seed: Sample, structured?: (rng: Rng, name: string, bytes: Uint8Array) => Uint8Array | null): Sample {
  const names = Object.keys(seed);
  const name = names[rng.int(names.length)]!;
  const out = { ...seed };
  const smart = structured && rng.int(2) === 0 ? structured(rng, name, seed[name]!) : null;
  out[name] = smart ?? mutateBytes(rng, seed[name]!, Object.values(seed));
  return out;
}

/** safetensors: [u64 header length][JSON header][data]; the header mutated and re-framed with its true length. */
function reframeSafetensors(rng: Rng, _name: string, bytes: Uint8Array): Uint8Array {
  const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
  const json = Buffer.from(JSON.stringify(mutateJson(rng, header)));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, bytes.subarray(8 + n)]);
}

/** A checkpoint's parts: magic, u32 header length, JSON header, then the data aligned to 4 bytes. */
export function splitCheckpoint(bytes: Uint8Array): { header: Record<string, unknown>; data: Buffer } {
  const b = Buffer.from(bytes);
  const headerLen = b.readUInt32LE(8);
  return { header: JSON.parse(b.subarray(12, 12 + headerLen).toString('utf8')), data: b.subarray(Math.ceil((12 + headerLen) / 4) * 4) };
}

/** A checkpoint framed around `header` and `data` with a true header length (the magic taken from `like`). */
export function frameCheckpoint(like: Uint8Array, header: unknown, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const start = Math.ceil((12 + json.length) / 4) * 4;
  const out = Buffer.alloc(start + data.length);
  out.set(like.subarray(0, 8));
  out.writeUInt32LE(json.length, 8);
  json.copy(out, 12);
  out.set(data, start);
  return out;
}

/** The header mutated, and its data length and checksum made true again half the time (so the checks behind them
 * are reached). */
function reframeCheckpoint(rng: Rng, _name: string, bytes: Uint8Array): Uint8Array {
  const parts = splitCheckpoint(bytes);
  let data = parts.data;
  const header = mutateJson(rng, parts.header) as Record<string, unknown>;
  if (rng.int(2) === 0 && header && typeof header === 'object') {
    if (rng.int(3) === 0) data = data.subarray(0, 4 * rng.int(data.length / 4));
    header.data_floats = data.length / 4;
    header.data_sha256 = createHash('sha256').update(data).digest('hex');
  }
  return frameCheckpoint(bytes, header, data);
}

function reframeJson(rng: Rng, name: string, bytes: Uint8Array): Uint8Array | null {
  if (!name.endsWith('.json')) return null;
  return Buffer.from(JSON.stringify(mutateJson(rng, JSON.parse(Buffer.from(bytes).toString('utf8')))));
}

function reframeYaml(rng: Rng, name: string, bytes: Uint8Array): Uint8Array | null {
  if (!name.endsWith('.yaml')) return null;
  return Buffer.from(YAML.stringify(mutateJson(rng, YAML.parse(Buffer.from(bytes).toString('utf8')))));
}

/** IDX: the big-endian shape words set to hostile sizes; gzipped half the time (as the MNIST mirrors ship it). */
function reframeIdx(rng: Rng, _name: string, bytes: Uint8Array): Uint8Array {
  const b = Buffer.from(bytes);
  const rank = b[3]!;
  const word = rng.int(rank + 1);
  const sizes = [0, 1, 28, 0xffffffff, 0x7fffffff, 0x10000, 20];
  if (4 + 4 * word + 4 <= b.length) b.writeUInt32BE(sizes[rng.int(sizes.length)]!, 4 + 4 * word);
  return rng.int(2) === 0 ? gzipSync(b) : b;
}

/** A reader that must end in a load or a UserError (the run checks which file the message names). */
export async function buildTargets(seedRun: SeedRun): Promise<Target[]> {
  const { project, runDir, config, digits: images, labels } = seedRun;
  const ckpt = path.join(runDir, 'weights', 'last.ckpt');
  const mapJson = path.join(runDir, 'vis_outputs', 'map_pca.json');
  const digit = (i: number, channels: 1 | 3) =>
    sharp(Buffer.from(images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).toColourspace(
      channels === 3 ? 'srgb' : 'b-w',
    );
  const pictures: Sample[] = [
    { 'image.png': new Uint8Array(await digit(0, 1).png().toBuffer()) },
    { 'image.png': new Uint8Array(await digit(1, 3).png({ palette: true }).toBuffer()) },
    { 'image.jpg': new Uint8Array(await digit(2, 3).jpeg().toBuffer()) },
    { 'image.webp': new Uint8Array(await digit(3, 1).webp().toBuffer()) },
  ];
  const grey = GREY;
  const cacheFiles: Sample = {};
  for (const n of [0, 1]) {
    cacheFiles[path.basename(shardData(seedRun.cacheDir, n))] = read(shardData(seedRun.cacheDir, n));
    cacheFiles[path.basename(shardIndex(seedRun.cacheDir, n))] = read(shardIndex(seedRun.cacheDir, n));
  }
  // What every cached image must read back as: the digits the folder's PNGs were made of.
  const cachePixels = seedRun.digits.subarray(0, seedRun.cacheSources.length * 784);
  let viewer: Viewer | null = null;
  const codeDim = config.latent_dim;
  const configText = fs.readFileSync(path.join(runDir, 'config.yaml'));

  return [
    {
      name: 'safetensors',
      description: '`ae import`: a safetensors file read, checked against the config and imported as a new run',
      seeds: [{ 'model.safetensors': read(path.join(project, 'model.safetensors')) }],
      mutate: (rng, seed) => mutateOne(rng, seed, reframeSafetensors),
      async read(dir) {
        // The config the file carries (what `ae import FILE` without --config reads), then the import proper.
        configInSafetensors(path.join(dir, 'model.safetensors'));
        const c = resolveConfig({ ...config, project: dir, name: 'imported' });
        await importSafetensors(path.join(dir, 'model.safetensors'), c);
      },
    },
    {
      name: 'checkpoint',
      description: '`ae resume` / `ae test`: weights/last.ckpt read, its signature checked, the weights loaded',
      seeds: [{ 'last.ckpt': read(ckpt) }],
      mutate: (rng, seed) => mutateOne(rng, seed, reframeCheckpoint),
      async read(dir) {
        loadModel(config, path.join(dir, 'last.ckpt')).model.params.dispose();
      },
    },
    {
      name: 'map',
      description: '`ae encode --onto`: an ae-map-1 map (header JSON + .bin) opened and three codes placed on it',
      seeds: [{ 'map_pca.json': read(mapJson), 'map_pca.bin': read(mapJson.replace(/\.json$/, '.bin')) }],
      mutate: (rng, seed) => mutateOne(rng, seed, reframeJson),
      async read(dir) {
        const opened = openMapForPlacing(dir, path.join(dir, 'map_pca.json'), codeDim, path.join(dir, 'codes'));
        const codes = Float32Array.from({ length: 3 * codeDim }, (_, i) => Math.sin(i));
        await placeOnMap(
          opened,
          codes,
          3,
          [0, 1, 2].map((i) => ({ index: i, path: `${i}.png`, label: null, className: null })),
        );
      },
    },
    {
      name: 'viewer-map',
      description: 'the `ae view` page: an ae-map-1 map fetched from the real server (header, ranges of the .bin) and checked',
      seeds: [{ 'map_pca.json': read(mapJson), 'map_pca.bin': read(mapJson.replace(/\.json$/, '.bin')) }],
      mutate: (rng, seed) => mutateOne(rng, seed, reframeJson),
      dispose: async () => {
        await viewer?.close();
        viewer = null;
      },
      cleanError: (e, dir) => e instanceof MapReadError && e.message.startsWith('map_pca.json ') && fs.existsSync(dir),
      async read(dir) {
        // The page's own reader (viewer/map-data.ts) with Node's fetch, against the real server on the project above.
        fs.writeFileSync(path.join(dir, 'config.yaml'), configText);
        viewer ??= await startViewer({ project: path.dirname(dir) });
        const data = await loadMapData(`${viewer.url}runs/${path.basename(dir)}`, 'map_pca.json');
        await loadRest(data);
        // What the page then indexes without further checks must hold (checked here independently of the reader).
        const { count: n, k, height, width, channels } = data.header;
        const broken: string[] = [];
        if (data.coords.length !== 2 * n) broken.push('coords');
        if (data.labels.length !== n || data.errors.length !== n) broken.push('labels/errors');
        if (data.neighbours.length !== 0 && (data.neighbours.length !== n * k || data.neighbours.some((j) => j < 0 || j >= n)))
          broken.push('neighbours');
        if (data.images && data.images.length !== n * height * width * channels) broken.push('images');
        if (data.header.classes && data.labels.some((l) => l >= data.classes.length)) broken.push('labels vs classes');
        if (broken.length > 0) throw new Error(`the page's map reader accepted a map it would misread: ${broken.join(', ')}`);
      },
    },
    {
      name: 'idx',
      description: 'MNIST-format data: IDX image and label files, raw or gzipped, parsed',
      seeds: [{ 'images-idx3-ubyte': encodeIdx([20, 28, 28], images), 'labels-idx1-ubyte': encodeIdx([20], labels) }],
      mutate: (rng, seed) => mutateOne(rng, seed, reframeIdx),
      async read(dir) {
        parseIdxImages(read(path.join(dir, 'images-idx3-ubyte')), path.join(dir, 'images-idx3-ubyte'));
        parseIdxLabels(read(path.join(dir, 'labels-idx1-ubyte')), path.join(dir, 'labels-idx1-ubyte'));
      },
    },
    {
      name: 'config',
      description: 'a config YAML file through the schema',
      seeds: [{ 'config.yaml': new Uint8Array(configText) }],
      mutate: (rng, seed) => mutateOne(rng, seed, reframeYaml),
      async read(dir) {
        loadConfig(path.join(dir, 'config.yaml'));
      },
    },
    {
      name: 'run-files',
      description: '`ae view`: a run folder (config.yaml, history.jsonl, progress.json, writer.lock) summarised; never throws',
      seeds: [
        {
          'config.yaml': new Uint8Array(configText),
          'history.jsonl': read(path.join(runDir, 'history.jsonl')),
          'progress.json': Buffer.from(
            JSON.stringify({ epoch: 1, epochs: 3, step: 2, steps: 4, samples_per_second: 900, losses: [[1, 0.2]] }),
          ),
          'writer.lock': Buffer.from(JSON.stringify({ pid: 1, host: 'elsewhere', started: '2026-12-06T00:00:00Z', command: 'train' })),
        },
      ],
      mutate: (rng, seed) => mutateOne(rng, seed, (r, name, bytes) => reframeJson(r, name, bytes) ?? reframeYaml(r, name, bytes)),
      async read(dir) {
        const project = path.dirname(dir);
        JSON.stringify(summaryOf(readRun(project, path.basename(dir))));
      },
    },
    {
      name: 'images',
      description: 'image files through the folder loader (our PNG fast path, else libvips); a failure skips the file',
      seeds: pictures,
      mutate: (rng, seed) => mutateOne(rng, seed),
      anyErrorIsClean: true,
      async read(dir) {
        const [name] = fs.readdirSync(dir);
        const file = path.join(dir, name!);
        const fast = new Uint8Array(784);
        const tookFast = decodePngInto(read(file), grey, fast);
        const general = new Uint8Array(784);
        await decodeWithSharp(file, grey, general);
        // The fast path's promise: where it takes a file, libvips gives the same bytes.
        if (tookFast && !Buffer.from(fast).equals(Buffer.from(general))) throw new FastPathMismatch(file);
      },
    },
    {
      name: 'image-cache',
      description:
        "an image folder's cache (shard data + index, two shards): reused, or dropped and decoded again; pixels read back checked",
      seeds: [cacheFiles],
      mutate: (rng, seed) => mutateOne(rng, seed, reframeJson),
      async read(dir) {
        const { store, rows } = await ensureCached(dir, grey, seedRun.cacheSources, { shardImages: SEED_SHARD_IMAGES });
        try {
          const wanted = Array.from(rows).filter((r) => r >= 0);
          const out = new Uint8Array(wanted.length * 784);
          store.read(wanted, 0, wanted.length, out);
          // The cache's promise: damage is reported or repaired, never used as wrong pixels.
          let k = 0;
          rows.forEach((r, i) => {
            if (r < 0) return;
            if (!Buffer.from(out.subarray(k * 784, (k + 1) * 784)).equals(Buffer.from(cachePixels.subarray(i * 784, (i + 1) * 784))))
              throw new Error(`the image cache gave other pixels for ${seedRun.cacheSources[i]!.path} than the file holds`);
            k++;
          });
        } finally {
          store.close();
        }
      },
    },
  ];
}

/** The PNG fast path accepted a file and decoded other bytes than libvips: a finding, not a clean refusal. */
export class FastPathMismatch extends Error {
  constructor(file: string) {
    super(`the PNG fast path and libvips decode ${file} differently`);
    this.name = 'FastPathMismatch';
  }
}
