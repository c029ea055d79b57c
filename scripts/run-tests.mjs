#!/usr/bin/env node
/**
 * `npm test`: every test/*.test.ts through node:test, two files at a time (CI has 2 cores), the longest files first.
 * node:test starts files in the order given; alphabetical order left two long files (the browser and viewer tests)
 * for the end, where one core idled while the other finished them (about 30 s of a 4.5-minute suite). New files
 * run after the listed ones, in name order. Arguments are passed on (e.g. --test-name-pattern).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The longest files, longest first (seconds measured on the 2-core machine, with another file alongside). */
const LONGEST_FIRST = [
  'scale', // 85 s (PyTorch DDP and Dask processes)
  'exchange', // 67 s
  'bad-input', // 60 s
  'faults', // 42 s
  'fuzz', // 40 s
  'test-mode', // 34 s
  'use', // 33 s
  'folder', // 29 s
  'view-browser', // 28 s
  'cli', // 26 s
  'view', // 23 s
].map((name) => `test/${name}.test.ts`);

const all = fs
  .readdirSync(path.join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `test/${f}`)
  .sort();
const files = [...LONGEST_FIRST.filter((f) => all.includes(f)), ...all.filter((f) => !LONGEST_FIRST.includes(f))];
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', ...process.argv.slice(2), ...files];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
