/**
 * Runs embed() on a worker thread, so the CLI (and later the dashboard) stays responsive: the main thread gets
 * progress messages and can stop a t-SNE run through a shared flag the optimiser polls at each report.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend/index.js';
import { embed, type EmbedMethod, type Embedding } from './index.js';
import { TSNE_DEFAULTS } from './tsne.js';
import { UserError } from '../errors.js';

interface Job {
  latents: Float32Array;
  n: number;
  dim: number;
  method: EmbedMethod;
  seed: number;
  perplexity: number;
  reportEvery: number;
  inputNote?: string;
  stopFlag: Int32Array;
}

export type WorkerMessage =
  | { type: 'progress'; iteration: number; kl: number }
  | { type: 'stage'; stage: string }
  | { type: 'done'; embedding: Embedding }
  | { type: 'error'; message: string; hint?: string; user: boolean };

export interface WorkerEmbedOptions {
  seed?: number;
  perplexity?: number;
  reportEvery?: number;
  /** What the codes are when they were reduced before (e.g. `PCA-50`): named in the description. */
  inputNote?: string;
  onProgress?: (iteration: number, kl: number) => void;
  /** t-SNE's preparation stages as they start: neighbours, affinities, initialisation, optimisation. */
  onStage?: (stage: string) => void;
  /** Polled at each report; true stops the optimisation and returns the layout so far. */
  shouldStop?: () => boolean;
}

/** embed() on a worker thread. */
export function embedInWorker(
  latents: Float32Array,
  n: number,
  dim: number,
  method: EmbedMethod,
  opts: WorkerEmbedOptions = {},
): Promise<Embedding> {
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  const job: Job = {
    latents,
    n,
    dim,
    method,
    seed: opts.seed ?? 0,
    perplexity: opts.perplexity ?? TSNE_DEFAULTS.perplexity,
    reportEvery: opts.reportEvery ?? TSNE_DEFAULTS.callbackEvery,
    ...(opts.inputNote ? { inputNote: opts.inputNote } : {}),
    stopFlag,
  };
  // Under tsx (tests, development) the source is .ts; once built it is .js.
  const fromSource = import.meta.url.endsWith('.ts');
  const self = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url);
  return new Promise((resolve, reject) => {
    // Running from source (tests, development), Node 20 does not apply the TypeScript loader to a worker's entry
    // module, so a small bootstrap registers tsx first and then imports this file.
    const worker = fromSource
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(self.href)}); })`,
          { eval: true, workerData: job },
        )
      : new Worker(self, { workerData: job });
    const poll = setInterval(() => {
      if (opts.shouldStop?.()) Atomics.store(stopFlag, 0, 1);
    }, 100);
    const finish = () => clearInterval(poll);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') opts.onProgress?.(m.iteration, m.kl);
      else if (m.type === 'stage') opts.onStage?.(m.stage);
      else if (m.type === 'done') {
        finish();
        resolve(m.embedding);
        void worker.terminate();
      } else {
        finish();
        reject(m.user ? new UserError(m.message, m.hint) : new Error(m.message));
        void worker.terminate();
      }
    });
    worker.on('error', (e) => {
      finish();
      reject(e);
    });
    worker.on('exit', (code) => {
      finish();
      if (code !== 0) reject(new Error(`embedding worker exited with code ${code}`));
    });
  });
}

async function workerMain(job: Job): Promise<void> {
  await initBackend('wasm');
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  try {
    const embedding = embed(job.latents, job.n, job.dim, job.method, {
      seed: job.seed,
      ...(job.inputNote ? { inputNote: job.inputNote } : {}),
      tsne: {
        perplexity: job.perplexity,
        callbackEvery: job.reportEvery,
        onStage: (stage) => post({ type: 'stage', stage }),
        callback: (iteration, kl) => {
          post({ type: 'progress', iteration, kl });
          return Atomics.load(job.stopFlag, 0) === 1;
        },
      },
    });
    post({ type: 'done', embedding });
  } catch (e) {
    // A UserError keeps its kind across the thread boundary, so the CLI still prints it without a stack trace.
    if (e instanceof UserError) post({ type: 'error', message: e.message.split('\n  hint: ')[0]!, hint: e.hint, user: true });
    else post({ type: 'error', message: (e as Error).message, user: false });
  }
}

if (!isMainThread && parentPort && (workerData as Job | undefined)?.stopFlag) {
  void workerMain(workerData as Job);
}
