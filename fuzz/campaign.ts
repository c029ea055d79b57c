/**
 * One fuzzing campaign over a target (fuzz/targets.ts): seeded mutants, each written to a fresh folder and read,
 * each outcome classified. Clean outcomes: the input loaded, or the reader refused it with a UserError whose
 * message names the file (or its folder). Everything else is a finding: another exception (a crash of the
 * reader's logic: TypeError, RangeError...), a UserError that does not say which file, an input slower than the
 * time limit, or the process's peak memory growing by more than the allocation bound (a size field believed
 * before it was checked against the file's own size).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../src/errors.js';
import { Rng } from './mutate.js';
import type { Sample, Target } from './targets.js';

export interface Finding {
  target: string;
  seed: number;
  run: number;
  kind: 'exception' | 'unnamed-file' | 'slow' | 'allocation';
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

export async function runCampaign(target: Target, opts: CampaignOptions): Promise<CampaignResult> {
  const timeLimit = opts.timeLimitMs ?? 5000;
  const bound = opts.allocationBound ?? 512 * 1024 * 1024;
  const dir = path.join(opts.workDir, target.name, 'case');
  const result: CampaignResult = {
    target: target.name,
    runs: 0,
    loaded: 0,
    refused: 0,
    findings: [],
    refusals: [],
    slowestMs: 0,
    seconds: 0,
  };
  const refusals = new Map<string, number>();
  const started = performance.now();
  // The peak RSS after the unmutated seeds load: the baseline the allocation bound is measured from.
  for (const s of target.seeds) await attempt(target, s, dir);
  const baseline = process.resourceUsage().maxRSS * 1024;
  const first = opts.only ?? 0,
    last = opts.only !== undefined ? opts.only + 1 : opts.runs;
  for (let run = first; run < last; run++) {
    const sample = mutantOf(target, opts.seed, run);
    const t0 = performance.now();
    const outcome = await attempt(target, sample, dir);
    const ms = performance.now() - t0;
    result.runs++;
    result.slowestMs = Math.max(result.slowestMs, ms);
    const finding = (kind: Finding['kind'], message: string) =>
      result.findings.push({ target: target.name, seed: opts.seed, run, kind, message, sample });
    if (outcome === null) result.loaded++;
    else if (isClean(target, outcome, dir)) {
      result.refused++;
      const key = (outcome.message.split('\n')[0] ?? '').split(dir).join('<file>').replace(/\d+/g, 'N').slice(0, 140);
      refusals.set(key, (refusals.get(key) ?? 0) + 1);
    } else if (outcome instanceof UserError) finding('unnamed-file', outcome.message);
    else finding('exception', `${outcome.name}: ${outcome.message}\n${(outcome.stack ?? '').split('\n').slice(1, 4).join('\n')}`);
    if (ms > timeLimit) finding('slow', `${ms.toFixed(0)} ms (limit ${timeLimit})`);
    const peak = process.resourceUsage().maxRSS * 1024;
    if (peak - baseline > bound) finding('allocation', `peak RSS grew by ${((peak - baseline) / 2 ** 20).toFixed(0)} MB`);
    if (opts.onProgress && result.runs % 500 === 0) opts.onProgress(result.runs, result);
  }
  result.refusals = [...refusals.entries()].sort((a, b) => b[1] - a[1]);
  result.seconds = (performance.now() - started) / 1000;
  return result;
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
