/** Shared test fixtures: real MNIST from ../shared/data/mnist (or AE_TEST_MNIST), small subsets, temp folders. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMnist, type MnistSplits } from '../src/data/mnist.js';
import { head } from '../src/data/dataset.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MNIST_DIR = process.env.AE_TEST_MNIST ?? path.resolve(ROOT, '..', 'shared', 'data', 'mnist');

let cached: MnistSplits | null = null;

/** Real MNIST, split with seed 0, cut to small sizes so tests stay fast on 2 cores. */
export async function smallMnist(nTrain = 512, nVal = 128): Promise<MnistSplits> {
  cached ??= await loadMnist(MNIST_DIR, 0.2, 0);
  return { train: head(cached.train, nTrain), validation: head(cached.validation, nVal), test: head(cached.test, nVal), classNames: cached.classNames };
}

export function tempDir(prefix = 'ae-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Every file under `dir`, relative, sorted: to assert nothing unexpected (like temp files) was left. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}
