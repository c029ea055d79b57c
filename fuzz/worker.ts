/**
 * A fuzz campaign's inputs read in a worker thread (fuzz/campaign.ts's runIsolated): announces each run before
 * reading it, so the main thread can tell a hang from slow progress and terminate this thread.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../src/backend/index.js';
import { judge, prepare } from './campaign.js';
import { buildTargets, type SeedRun } from './targets.js';

const job = workerData as {
  target: string;
  from: number;
  to: number;
  seed: number;
  workDir: string;
  timeLimitMs?: number;
  allocationBound?: number;
  seedRun: SeedRun;
};
await initBackend('wasm');
const target = (await buildTargets(job.seedRun)).find((t) => t.name === job.target);
if (!target) throw new Error(`no fuzz target ${job.target}`);
const dir = path.join(job.workDir, target.name, 'case');
const baseline = await prepare(target, dir);
// Test hook (test/fuzz.test.ts): a reader stuck in a synchronous loop at this run, which only terminating the
// thread can stop.
const stuckAt = process.env.AE_FUZZ_TEST_STUCK_RUN;
for (let run = job.from; run < job.to; run++) {
  parentPort!.postMessage({ type: 'start', run });
  if (stuckAt !== undefined && Number(stuckAt) === run) for (;;);
  parentPort!.postMessage({ type: 'done', ...(await judge(target, job, run, dir, baseline)) });
}
await target.dispose?.();
