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

test("the AVX-512 element-wise kernels (losses, their gradients, Adam, activations) give the AVX2 copies' bits", {
  skip: skip || (!fs.readFileSync('/proc/cpuinfo', 'utf8').includes('avx512f') && 'this CPU has no AVX-512'),
}, () => {
  // One script, run with and without AE_NO_AVX512: odd sizes so every copy's vector loop, 8-lane remainder and
  // padded tail run; probabilities reaching 0 and 1 so the clip and its zero gradient are exercised.
  const script = `import { loadAddon } from './src/accel/addon.ts';
    const a = loadAddon(); let s = 7; const u = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 2 ** 32; };
    const v = (n, f = u) => Float32Array.from({ length: n }, f);
    const n = 1021, p = v(n, (_, i) => (i % 97 === 0 ? 0 : i % 89 === 0 ? 1 : u())), t = v(n);
    const out = { path: a.gemmPath() };
    out.bce = a.bce({ pred: p, target: t, epsilon: 1e-7, scale: 1 / 3 });
    const g = new Float32Array(n); a.bceGrad({ pred: p, target: t, epsilon: 1e-7, scale: 0.25, out: g }); out.bceGrad = Array.from(g);
    out.mse = a.mse({ pred: p, target: t });
    const mg = new Float32Array(n); a.mseGrad({ pred: p, target: t, dLoss: 1, out: mg }); out.mseGrad = Array.from(mg);
    const w = v(n, () => u() - 0.5), m = v(n), vv = v(n), gr = v(n, () => u() - 0.5);
    a.adam({ p: w, g: gr, m, v: vv, lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 0.1, c2: 0.001, threads: 2 });
    out.adam = [...w, ...m, ...vv];
    for (const activation of [1, 2]) {
      const x = v(5, () => 8 * u() - 4), b = v(37, () => u() - 0.5), y = new Float32Array(5 * 37);
      a.denseForward({ x, w: new Float32Array(37).fill(1), b, mask: null, y, batch: 5, inFeatures: 1, outFeatures: 37, activation, threads: 2 });
      const dy = v(5 * 37), dz = new Float32Array(5 * 37), db = new Float32Array(37);
      a.denseBackpropParams({ dy, x, y, mask: null, dz, dw: new Float32Array(37), db, batch: 5, inFeatures: 1, outFeatures: 37, activation, threads: 2 });
      out['dense' + activation] = [...y, ...dz, ...db];
    }
    process.stdout.write(JSON.stringify(out));`;
  const run = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const wide = run({ ...process.env, AE_NO_AVX512: '0' });
  const narrow = run({ ...process.env, AE_NO_AVX512: '1' });
  assert.equal(wide.path, 'avx512');
  assert.equal(narrow.path, 'avx2');
  for (const key of ['bce', 'bceGrad', 'mse', 'mseGrad', 'adam', 'dense1', 'dense2']) assert.deepEqual(wide[key], narrow[key], key);
  // Entries at 0 are clipped: their gradient is 0 (accel.test.ts checks the values against cpu and float64).
  const clipped = (wide.bceGrad as number[]).filter((_, i) => i % 97 === 0);
  assert.ok(clipped.length === 11 && clipped.every((x) => x === 0), String(clipped));
});
