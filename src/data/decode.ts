/**
 * Image decoding on every core. Files that take the PNG fast path (./png.ts) are decoded by a pool of worker
 * threads, one per core; the rest go through sharp (libvips), whose pipelines run on libuv's thread pool, at the same
 * time. Both give the same bytes for a file; pixels stay bytes (HWC) here.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DecodeDone, DecodeJob } from './decode-worker.js';

/** How every image is turned into the model's input. */
export interface Preprocessing {
  height: number;
  width: number;
  channels: 1 | 3;
  fit: 'squash' | 'pad';
  background: 'black' | 'white';
}

// sharp (and its libvips binary) is loaded on first use, so runs on MNIST never load it.
type SharpFn = typeof import('sharp');
let sharpLoader: Promise<SharpFn> | null = null;
const loadSharp = (): Promise<SharpFn> =>
  (sharpLoader ??= import('sharp').then((m) => {
    m.default.cache(false); // every file is decoded once: libvips's operation cache only costs time here
    return m.default;
  }));

/** Decodes one file with sharp into `out` (height * width * channels bytes, HWC). Throws when it cannot. */
export async function decodeWithSharp(file: string, p: Preprocessing, out: Uint8Array): Promise<void> {
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

/** Files per message to a worker: small enough to balance the load, large enough that messages cost nothing. */
const JOB_FILES = 64;

/** The worker pool, started on first use and kept; an idle worker never holds the process open. */
class DecodePool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly waiting = new Map<number, (done: DecodeDone) => void>();
  private readonly queue: Array<{ job: DecodeJob; resolve: (done: DecodeDone) => void }> = [];
  private readonly current = new Map<number, { worker: Worker; files: number }>();
  private readonly dead = new Set<Worker>();
  private nextId = 0;

  constructor(size: number) {
    const fromSource = import.meta.url.endsWith('.ts');
    const entry = new URL(fromSource ? './decode-worker.ts' : './decode-worker.js', import.meta.url);
    for (let i = 0; i < size; i++) {
      // Under tsx (tests, development) the worker's entry is TypeScript: a bootstrap registers tsx first.
      const worker = fromSource
        ? new Worker(
            `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`,
            { eval: true },
          )
        : new Worker(entry);
      worker.on('message', (done: DecodeDone) => {
        const resolve = this.waiting.get(done.id);
        this.waiting.delete(done.id);
        this.current.delete(done.id);
        worker.unref();
        this.release(worker);
        resolve?.(done);
      });
      // A worker that dies (out of memory, say) hands its files to sharp and leaves the pool.
      worker.on('error', () => {
        for (const [id, job] of this.current) {
          if (job.worker !== worker) continue;
          this.current.delete(id);
          this.waiting.get(id)?.({ id, pixels: new Uint8Array(0), decoded: new Uint8Array(job.files) });
          this.waiting.delete(id);
        }
        const at = this.idle.indexOf(worker);
        if (at >= 0) this.idle.splice(at, 1);
        this.dead.add(worker);
        if (this.dead.size === this.workers.length) {
          for (const q of this.queue.splice(0))
            q.resolve({ id: q.job.id, pixels: new Uint8Array(0), decoded: new Uint8Array(q.job.files.length) });
        }
      });
      worker.unref(); // after on('message'), which would take a reference again
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  run(files: string[], target: DecodeJob['target']): Promise<DecodeDone> {
    return new Promise((resolve) => {
      if (this.dead.size === this.workers.length)
        return resolve({ id: -1, pixels: new Uint8Array(0), decoded: new Uint8Array(files.length) });
      const job = { id: this.nextId++, files, target };
      const worker = this.idle.pop();
      if (worker) this.send(worker, job, resolve);
      else this.queue.push({ job, resolve });
    });
  }

  private send(worker: Worker, job: DecodeJob, resolve: (done: DecodeDone) => void): void {
    this.waiting.set(job.id, resolve);
    this.current.set(job.id, { worker, files: job.files.length });
    worker.ref(); // held while it works, so an awaiting process stays alive; idle workers never hold it open
    worker.postMessage(job);
  }

  private release(worker: Worker): void {
    const next = this.queue.shift();
    if (next) this.send(worker, next.job, next.resolve);
    else this.idle.push(worker);
  }
}

let pool: DecodePool | null = null;

/**
 * Decodes `files` into `out` (files.length images, HWC bytes, in order). Returns, per file, null when decoded or
 * the reason it could not be. `onDecoded` counts files as they finish (for progress bars).
 */
export async function decodeFiles(
  files: string[],
  p: Preprocessing,
  out: Uint8Array,
  onDecoded?: (count: number) => void,
): Promise<Array<string | null>> {
  const size = p.height * p.width * p.channels;
  const reasons: Array<string | null> = files.map(() => null);
  const general: number[] = [];
  // At the target size both fits leave the pixels as they are, so the fast path serves either. A pool is not
  // started for a handful of files.
  if (pool || files.length >= 8) {
    pool ??= new DecodePool(Math.max(1, os.availableParallelism()));
    const target = { height: p.height, width: p.width, channels: p.channels };
    const jobs: Promise<void>[] = [];
    for (let start = 0; start < files.length; start += JOB_FILES) {
      const part = files.slice(start, start + JOB_FILES);
      jobs.push(
        pool.run(part, target).then((done) => {
          let count = 0;
          for (let i = 0; i < part.length; i++) {
            if (done.decoded[i]) {
              out.set(done.pixels.subarray(i * size, (i + 1) * size), (start + i) * size);
              count++;
            } else general.push(start + i);
          }
          if (count) onDecoded?.(count);
        }),
      );
    }
    await Promise.all(jobs);
  } else {
    for (let i = 0; i < files.length; i++) general.push(i);
  }
  // The rest through sharp, several at a time (its pipelines run on libuv's thread pool).
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < general.length; k = next++) {
      const i = general[k]!;
      try {
        await decodeWithSharp(files[i]!, p, out.subarray(i * size, (i + 1) * size));
      } catch (e) {
        reasons[i] = (e as Error).message.split('\n')[0]!;
      }
      onDecoded?.(1);
    }
  };
  await Promise.all(Array.from({ length: Math.max(2, os.availableParallelism() * 2) }, worker));
  return reasons;
}
