/**
 * The native matrix product on shapes that exercise every edge of its blocking (rows not a multiple of the
 * micro-tile's 6 or 12, columns not of 16 or 32, k across the 256/512 blocks, transposes, a broadcast B), against
 * float64 products computed here; and the AVX-512 path (where the CPU has it) against the AVX2 one, run in a child
 * process with AE_NO_AVX512=1.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { loadAddon } from '../src/accel/addon.js';

const native = loadAddon();
const skip = native ? false : 'the native addon is not built here';
if (!native && process.env.AE_REQUIRE_NATIVE === '1') throw new Error('AE_REQUIRE_NATIVE=1 but the native addon is not built');

const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [5, 7, 3],
  [12, 256, 32],
  [13, 257, 33],
  [128, 784, 256],
  [127, 600, 100],
  [37, 513, 17],
];

/** Seeded values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** op(A) op(B) in float64, batch by batch. */
function reference(
  a: Float32Array,
  b: Float32Array,
  batch: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  broadcastB: boolean,
): Float64Array {
  const c = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = t * m * k;
    const bo = broadcastB ? 0 : t * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a[ao + (transA ? q * m + i : i * k + q)]! * b[bo + (transB ? j * k + q : q * n + j)]!;
        c[t * m * n + i * n + j] = s;
      }
  }
  return c;
}

test('native matmul on edge shapes, transposed and batched, matches float64 products (relative to sqrt(k))', { skip }, () => {
  const cases: Array<[number, number, number, boolean, boolean, number, boolean]> = [];
  for (const [m, k, n] of SHAPES) cases.push([m, k, n, false, false, 1, false]);
  cases.push(
    [13, 257, 33, true, false, 1, false],
    [13, 257, 33, false, true, 1, false],
    [13, 257, 33, true, true, 1, false],
    [7, 40, 35, false, false, 3, false],
    [7, 40, 35, false, true, 3, true],
  );
  for (const [m, k, n, transA, transB, batch, broadcastB] of cases) {
    const a = values(batch * m * k, m * 7 + k);
    const b = values((broadcastB ? 1 : batch) * k * n, n * 13 + k);
    for (const threads of [1, 2]) {
      const c = new Float32Array(batch * m * n).fill(Number.NaN);
      native!.matmul({ a, b, c, batch, m, n, k, transA, transB, broadcastB, threads });
      const want = reference(a, b, batch, m, n, k, transA, transB, broadcastB);
      let worst = 0;
      for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i]! - want[i]!));
      // float32 sums of k products of values below 1: errors grow like sqrt(k) ulps.
      assert.ok(
        worst < 2e-6 * Math.sqrt(k) * 4,
        `${m}x${k}x${n} transA ${transA} transB ${transB} batch ${batch} threads ${threads} (${native!.gemmPath()}): max error ${worst}`,
      );
    }
  }
});

test('the AVX-512 matrix product agrees with the AVX2 one (where the CPU has AVX-512)', {
  skip: skip || (!fs.readFileSync('/proc/cpuinfo', 'utf8').includes('avx512f') && 'this CPU has no AVX-512'),
}, () => {
  assert.equal(native!.gemmPath(), 'avx512');
  const [m, k, n] = [127, 600, 100];
  const a = values(m * k, 1);
  const b = values(k * n, 2);
  const c = new Float32Array(m * n);
  native!.matmul({ a, b, c, batch: 1, m, n, k, transA: false, transB: false, broadcastB: false, threads: 2 });
  // The same product in a process where AVX-512 is held back: the AVX2 micro-kernel.
  const script = `import { loadAddon } from './src/accel/addon.ts';
    const a = loadAddon(); let s = 1; const v = (n) => Float32Array.from({ length: n }, () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 2 ** 31 - 1; });
    s = 1; const A = v(${m * k}); s = 2; const B = v(${k * n}); const C = new Float32Array(${m * n});
    a.matmul({ a: A, b: B, c: C, batch: 1, m: ${m}, n: ${n}, k: ${k}, transA: false, transB: false, broadcastB: false, threads: 2 });
    process.stdout.write(JSON.stringify({ path: a.gemmPath(), c: Array.from(C) }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, AE_NO_AVX512: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const other = JSON.parse(r.stdout) as { path: string; c: number[] };
  assert.equal(other.path, 'avx2');
  let worst = 0;
  for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i]! - other.c[i]!));
  assert.ok(worst < 1e-4, `AVX-512 and AVX2 products differ by ${worst} at most (summation order only)`);
});
