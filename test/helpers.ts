/** Shared test fixtures: real MNIST from ../shared/data/mnist (or AE_TEST_MNIST), small subsets, temp folders. */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { type DataSplits, head } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MNIST_DIR = process.env.AE_TEST_MNIST ?? path.resolve(ROOT, '..', 'shared', 'data', 'mnist');

let cached: DataSplits | null = null;

/** Real MNIST, split with seed 0, cut to small sizes so tests stay fast on 2 cores. */
export async function smallMnist(nTrain = 512, nVal = 128): Promise<DataSplits> {
  cached ??= await loadMnist(MNIST_DIR, 0.2, 0);
  return {
    train: head(cached.train, nTrain),
    validation: head(cached.validation, nVal),
    test: head(cached.test, nVal),
    classNames: cached.classNames,
  };
}

export function tempDir(prefix = 'ae-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Every file under `dir`, relative, sorted: to assert nothing unexpected (like temp files) was left. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}

/**
 * The `ae` command as users run it: dist/cli.js, which `npm test` builds first (pretest). Spawning it directly
 * (not through tsx) keeps each run of the bad-input and CLI suites at a few tenths of a second, and lets signals
 * reach the CLI itself. A dist/ older than src/ is refused, so a test never checks stale code.
 */
export const CLI_JS = path.join(ROOT, 'dist', 'cli.js');

function assertBuilt(): void {
  const newest = (dir: string): number =>
    Math.max(
      ...fs
        .readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => fs.statSync(path.join(e.parentPath, e.name)).mtimeMs),
    );
  if (!fs.existsSync(CLI_JS) || fs.statSync(CLI_JS).mtimeMs < newest(path.join(ROOT, 'src'))) {
    throw new Error('dist/ is missing or older than src/: run `npm run build` first (`npm test` does)');
  }
}

/** Runs `ae ARGS` to completion, in `cwd`, with CI set (plain progress lines) and extra environment. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  assertBuilt();
  return spawnSync(process.execPath, [CLI_JS, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    env: { ...process.env, CI: '1', ...opts.env },
  });
}

/** Runs `ae ARGS` to completion without blocking the event loop (so several can run at once). */
export function runCliAsync(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = startCli(args, opts);
  let stdout = '',
    stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/** Starts `ae ARGS` without waiting (for signals and kills mid-run). */
export function startCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcessWithoutNullStreams {
  assertBuilt();
  return spawn(process.execPath, [CLI_JS, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, CI: '1', ...opts.env } });
}

/** A PNG decoded to RGB pixels (sharp), for checks on what a picture shows. */
export async function readPng(file: string): Promise<{ width: number; height: number; rgb: Uint8Array }> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Share of pixels that differ from white (the pictures' background) by more than `tolerance` in some channel. */
export function inkShare(png: { rgb: Uint8Array }, tolerance = 8): number {
  let ink = 0;
  for (let p = 0; p < png.rgb.length; p += 3) {
    if (255 - png.rgb[p]! > tolerance || 255 - png.rgb[p + 1]! > tolerance || 255 - png.rgb[p + 2]! > tolerance) ink++;
  }
  return ink / (png.rgb.length / 3);
}

/** The RGB of one pixel. */
export function pixelAt(png: { width: number; rgb: Uint8Array }, x: number, y: number): [number, number, number] {
  const o = 3 * (Math.round(y) * png.width + Math.round(x));
  return [png.rgb[o]!, png.rgb[o + 1]!, png.rgb[o + 2]!];
}
