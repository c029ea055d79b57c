/**
 * One fuzzing campaign over a target (fuzz/targets.ts): seeded mutants, each written to a fresh folder and read,
 * each outcome classified. Clean outcomes: the input loaded, or the reader refused it with a UserError whose
 * message names the file (or its folder). Everything else is a finding: another exception (a crash of the
 * reader's logic: TypeError, RangeError...), a UserError that does not say which file, an input slower than the
 * time limit, the process's peak memory growing by more than the allocation bound (a size field believed
 * before it was checked against the file's own size), or a process warning printed while reading.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { UserError } from '../src/errors.js';
import { Rng } from './mutate.js';
import type { Sample, SeedRun, Target } from './targets.js';

export interface Finding {
  target: string;
  seed: number;
  run: number;
  kind: 'exception' | 'unnamed-file' | 'slow' | 'allocation' | 'hang' | 'warning';
  message: string;
  sample: Sample;
}

export interface CampaignResult {
  target: string;
  runs: number;
  loaded: number;
  refused: number;
  findings: Finding[];
  /** The commonest refusals (first line of the message, file paths cut), with counts. */
  refusals: Array<[string, number]>;
  slowestMs: number;
  seconds: number;
}

export interface CampaignOptions {
  runs: number;
  seed: number;
  /** Scratch folder: each input goes to <workDir>/<target>/case/. */
  workDir: string;
  /** Per-input wall time above which an input is a finding (ms). */
  timeLimitMs?: number;
  /** Growth of the process's peak RSS, beyond the first inputs', that counts as an oversized allocation (bytes). */
  allocationBound?: number;
  /** Only this run number (to replay one finding). */
  only?: number;
  onProgress?: (done: number, result: CampaignResult) => void;
}

/** The mutant of run `run` under `seed`: the same on every machine and in every order of runs. */
export function mutantOf(target: Target, seed: number, run: number): Sample {
  const rng = new Rng((seed * 1_000_003 + run * 7919 + hashName(target.name)) >>> 0);
  return target.mutate(rng, target.seeds[rng.int(target.seeds.length)]!);
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** What one input did, as a worker thread reports it (plain data). */
export interface RunOutcome {
  run: number;
  ms: number;
  loaded: boolean;
  /** The refusal's first line with paths and numbers generalised, when it was a clean refusal. */
  refusal: string | null;
  findings: Array<{ kind: Finding['kind']; message: string }>;
}

/** Loads the unmutated seeds once and returns the peak RSS then: the baseline the allocation bound counts from. */
export async function prepare(target: Target, dir: string): Promise<number> {
  for (const s of target.seeds) await attempt(target, s, dir);
  return process.resourceUsage().maxRSS * 1024;
}

/** Makes run `run`'s mutant, reads it and classifies the outcome. */
export async function judge(
  target: Target,
  opts: { seed: number; timeLimitMs?: number; allocationBound?: number },
  run: number,
  dir: string,
  baseline: number,
): Promise<RunOutcome> {
  const timeLimit = opts.timeLimitMs ?? 5000;
  const bound = opts.allocationBound ?? 512 * 1024 * 1024;
  const sample = mutantOf(target, opts.seed, run);
  // A process warning while reading (a library's emitWarning) reaches the user's terminal as noise: a finding.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message.split('\n')[0]}`);
  process.on('warning', onWarning);
  const t0 = performance.now();
  const outcome = await attempt(target, sample, dir);
  const ms = performance.now() - t0;
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  process.off('warning', onWarning);
  const result: RunOutcome = { run, ms, loaded: outcome === null, refusal: null, findings: [] };
  for (const w of warnings) result.findings.push({ kind: 'warning', message: w });
  if (outcome !== null) {
    if (isClean(target, outcome, dir)) {
      result.refusal = (outcome.message.split('\n')[0] ?? '').split(dir).join('<file>').replace(/\d+/g, 'N').slice(0, 140);
    } else if (outcome instanceof UserError) result.findings.push({ kind: 'unnamed-file', message: outcome.message });
    else {
      const where = (outcome.stack ?? '').split('\n').slice(1, 4).join('\n');
      result.findings.push({ kind: 'exception', message: `${outcome.name}: ${outcome.message}\n${where}` });
    }
  }
  if (ms > timeLimit) result.findings.push({ kind: 'slow', message: `${ms.toFixed(0)} ms (limit ${timeLimit})` });
  const peak = process.resourceUsage().maxRSS * 1024;
  if (peak - baseline > bound)
    result.findings.push({ kind: 'allocation', message: `peak RSS grew by ${((peak - baseline) / 2 ** 20).toFixed(0)} MB` });
  return result;
}

/** Adds one run's outcome to a campaign's tally. */
export class Tally {
  readonly result: CampaignResult;
  private readonly refusals = new Map<string, number>();
  private readonly started = performance.now();
  constructor(
    private readonly target: Target,
    private readonly seed: number,
  ) {
    this.result = { target: target.name, runs: 0, loaded: 0, refused: 0, findings: [], refusals: [], slowestMs: 0, seconds: 0 };
  }
  add(o: RunOutcome): void {
    const r = this.result;
    r.runs++;
    r.slowestMs = Math.max(r.slowestMs, o.ms);
    if (o.loaded) r.loaded++;
    if (o.refusal !== null) {
      r.refused++;
      this.refusals.set(o.refusal, (this.refusals.get(o.refusal) ?? 0) + 1);
    }
    for (const f of o.findings)
      r.findings.push({
        target: this.target.name,
        seed: this.seed,
        run: o.run,
        kind: f.kind,
        message: f.message,
        sample: mutantOf(this.target, this.seed, o.run),
      });
  }
  finish(): CampaignResult {
    this.result.refusals = [...this.refusals.entries()].sort((a, b) => b[1] - a[1]);
    this.result.seconds = (performance.now() - this.started) / 1000;
    return this.result;
  }
}

/**
 * Runs a campaign in a worker thread with a watchdog: an input still being read after `hangMs` is a `hang`
 * finding; the worker is terminated (which stops even a synchronous loop) and a fresh one goes on with the next
 * run. The worker rebuilds the targets from the seed run already on disk.
 */
export async function runIsolated(target: Target, opts: CampaignOptions & { seedRun: SeedRun; hangMs?: number }): Promise<CampaignResult> {
  const hangMs = opts.hangMs ?? 30_000;
  const tally = new Tally(target, opts.seed);
  const first = opts.only ?? 0,
    last = opts.only !== undefined ? opts.only + 1 : opts.runs;
  let next = first;
  while (next < last) {
    next = await new Promise<number>((resolve, reject) => {
      // The worker is TypeScript, loaded through tsx as the fuzzer itself is (a dev tool; tsx is a dev dependency).
      const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
        workerData: {
          target: target.name,
          from: next,
          to: last,
          seed: opts.seed,
          workDir: opts.workDir,
          timeLimitMs: opts.timeLimitMs,
          allocationBound: opts.allocationBound,
          seedRun: opts.seedRun,
        },
      });
      let current = -1,
        since = 0,
        done = next,
        settled = false;
      const settle = (resumeAt: number) => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        void worker.terminate().then(() => resolve(resumeAt));
      };
      const fail = (kind: Finding['kind'], message: string) => {
        tally.add({ run: current, ms: performance.now() - since, loaded: false, refusal: null, findings: [{ kind, message }] });
        settle(current + 1);
      };
      const watchdog = setInterval(() => {
        if (current >= 0 && performance.now() - since >= hangMs) fail('hang', `still reading after ${hangMs} ms`);
      }, 200);
      worker.on('message', (m: { type: 'start'; run: number } | ({ type: 'done' } & RunOutcome)) => {
        if (m.type === 'start') {
          current = m.run;
          since = performance.now();
          return;
        }
        current = -1;
        done = m.run + 1;
        tally.add(m);
        if (opts.onProgress && tally.result.runs % 500 === 0) opts.onProgress(tally.result.runs, tally.result);
      });
      // An error that escapes the reader (an unhandled rejection inside a library, say) or an exit in the middle
      // of an input is that input's finding; before any input it is the campaign's own failure.
      worker.on('error', (e) => {
        if (current >= 0) return fail('exception', `the worker died: ${e.name}: ${e.message}`);
        clearInterval(watchdog);
        settled = true;
        reject(e);
      });
      worker.on('exit', (code) => {
        if (settled) return;
        if (current >= 0) return fail('exception', `the worker exited (${code}) while reading`);
        settled = true;
        clearInterval(watchdog);
        if (done === next && done < last) reject(new Error(`the fuzz worker exited (${code}) without reading an input`));
        else resolve(done);
      });
    });
  }
  return tally.finish();
}

/** Writes the sample into a fresh folder and reads it; null when it loaded, else what was thrown. */
async function attempt(target: Target, sample: Sample, dir: string): Promise<Error | null> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(sample)) fs.writeFileSync(path.join(dir, name), bytes);
  try {
    await target.read(dir);
    return null;
  } catch (e) {
    return e instanceof Error ? e : new Error(`a non-Error was thrown: ${String(e)}`);
  }
}

function isClean(target: Target, e: Error, dir: string): boolean {
  if (target.anyErrorIsClean && !e.name.startsWith('FastPath')) return true;
  if (target.cleanError) return target.cleanError(e, dir);
  return e instanceof UserError && e.message.includes(dir);
}

/** Saves a finding's input files under `outDir`/<target>-<seed>-<run>/ with a note of what happened. */
export function saveFinding(f: Finding, outDir: string): string {
  const dir = path.join(outDir, `${f.target}-${f.seed}-${f.run}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(f.sample)) fs.writeFileSync(path.join(dir, name), bytes);
  fs.writeFileSync(path.join(dir, 'FINDING.txt'), `${f.kind}\n${f.message}\n`);
  return dir;
}
