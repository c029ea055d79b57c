import { test } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { initBackend } from '../src/backend/index.js';
import { exactKnn, knnSearch } from '../src/embed/knn.js';
import { conditionalP, spaceFillingOrder, symmetrize } from '../src/embed/affinities.js';
import { QuadTree } from '../src/embed/quadtree.js';
import { EXACT_MAX_DIM, pca, symmetricEigen } from '../src/embed/pca.js';
import { IncrementalPca } from '../src/embed/incremental-pca.js';
import { tsne } from '../src/embed/tsne.js';
import { knnAccuracy, trustworthiness } from '../src/evaluate/metrics.js';
import { Rng } from '../src/util/rng.js';
import { bounds2d } from '../src/util/bounds.js';

function gaussian(n: number, dim: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * dim }, () => rng.normal() * scale);
}

/** `perCluster` points around each of `clusters` far-apart centres in `dim` dimensions, with labels. */
function clusters(clustersN: number, perCluster: number, dim: number, seed: number): { x: Float32Array; labels: Uint8Array } {
  const rng = new Rng(seed);
  const n = clustersN * perCluster;
  const x = new Float32Array(n * dim),
    labels = new Uint8Array(n);
  for (let c = 0; c < clustersN; c++) {
    const centre = Array.from({ length: dim }, () => rng.normal() * 10);
    for (let p = 0; p < perCluster; p++) {
      const i = c * perCluster + p;
      labels[i] = c;
      for (let d = 0; d < dim; d++) x[i * dim + d] = centre[d]! + rng.normal();
    }
  }
  return { x, labels };
}

test('exact kNN agrees with brute force, nearest first, self excluded', async () => {
  await initBackend('wasm');
  const k = 9;
  // 1,500 points span several row blocks and column blocks of the native search (384 rows, 1,024 columns).
  for (const [n, dim] of [
    [300, 7],
    [1500, 50],
  ] as const) {
    const x = gaussian(n, dim, 1);
    for (const native of [undefined, null]) {
      // the native addon when built, then the TypeScript path
      const nb = exactKnn(x, n, dim, k, native);
      for (let i = 0; i < n; i += 37) {
        const d = Array.from({ length: n }, (_, j) => {
          let s = 0;
          for (let t = 0; t < dim; t++) s += (x[i * dim + t]! - x[j * dim + t]!) ** 2;
          return { j, s };
        })
          .filter((e) => e.j !== i)
          .sort((a, b) => a.s - b.s)
          .slice(0, k);
        assert.deepEqual(
          [...nb.indices.subarray(i * k, i * k + k)],
          d.map((e) => e.j),
        );
        d.forEach((e, r) => {
          assert.ok(Math.abs(nb.distances[i * k + r]! - e.s) < 1e-3 * Math.max(1, e.s));
        });
      }
    }
  }
  const n = 300,
    dim = 7,
    x = gaussian(n, dim, 1);
  const q = knnSearch(x, n, x.subarray(0, 5 * dim), 5, dim, 1, false);
  assert.deepEqual([...q.indices], [0, 1, 2, 3, 4], 'a query equal to a reference row finds it');
});

test('affinities reach the target perplexity and P is symmetric, summing to 1', async () => {
  await initBackend('wasm');
  const n = 400,
    dim = 5,
    perplexity = 10;
  const x = gaussian(n, dim, 2);
  const nb = exactKnn(x, n, dim, 30);
  const cond = conditionalP(nb, n, perplexity);
  const typescript = conditionalP(nb, n, perplexity, 1e-5, 100, null);
  for (let i = 0; i < n; i += 50) {
    let h = 0;
    for (let t = 0; t < 30; t++) {
      const p = cond[i * 30 + t]!;
      if (p > 0) h -= p * Math.log(p);
    }
    assert.ok(Math.abs(Math.exp(h) - perplexity) < 0.01, `perplexity of row ${i}: ${Math.exp(h)}`);
  }
  // The native search (when built) and the TypeScript one give the same rows.
  for (let t = 0; t < n * 30; t++) assert.ok(Math.abs(cond[t]! - typescript[t]!) < 1e-9, `P_j|i ${t}: ${cond[t]} vs ${typescript[t]}`);
  const p = symmetrize(nb, n, cond);
  let total = 0;
  const entry = (i: number, j: number) => {
    for (let c = p.rowPtr[i]!; c < p.rowPtr[i + 1]!; c++) if (p.cols[c] === j) return p.vals[c]!;
    return 0;
  };
  for (let i = 0; i < n; i++)
    for (let c = p.rowPtr[i]!; c < p.rowPtr[i + 1]!; c++) {
      total += p.vals[c]!;
      assert.ok(Math.abs(p.vals[c]! - entry(p.cols[c]!, i)) < 1e-15);
    }
  assert.ok(Math.abs(total - 1) < 1e-9);
});

test('Barnes-Hut repulsion: exact at theta 0, close at theta 0.5, coincident points handled', () => {
  const n = 400;
  const rng = new Rng(3);
  const y = Float64Array.from({ length: 2 * n }, () => rng.normal() * 5);
  y[2] = y[0]!;
  y[3] = y[1]!; // points 0 and 1 coincide
  const tree = new QuadTree(16);
  tree.build(y, n);
  let zExact = 0;
  const exact = new Float64Array(2 * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const dx = y[2 * i]! - y[2 * j]!,
        dy = y[2 * i + 1]! - y[2 * j + 1]!;
      const q = 1 / (1 + dx * dx + dy * dy);
      zExact += q;
      exact[2 * i]! += q * q * dx;
      exact[2 * i + 1]! += q * q * dy;
    }
  const f = new Float64Array(2 * n);
  const z0 = tree.repulsionAll(y, n, 0, f);
  assert.ok(Math.abs(z0 - zExact) < 1e-9 * zExact);
  for (let k = 0; k < 2 * n; k++) assert.ok(Math.abs(f[k]! - exact[k]!) < 1e-9);
  const z5 = tree.repulsionAll(y, n, 0.5, f);
  assert.ok(Math.abs(z5 - zExact) < 0.02 * zExact, `Z ${z5} vs ${zExact}`);
  // The forces too: the approximation's relative error over all points is a few per cent at theta 0.5, and the
  // coincident pair gets no force from each other (their difference is zero), only from the rest.
  let err = 0,
    norm = 0;
  for (let k = 0; k < 2 * n; k++) {
    err += (f[k]! - exact[k]!) ** 2;
    norm += exact[k]! ** 2;
  }
  assert.ok(Math.sqrt(err / norm) < 0.05, `relative force error at theta 0.5: ${Math.sqrt(err / norm)}`);
  assert.ok(Math.sqrt(err / norm) > 0, 'theta 0.5 approximates (it is not the exact sum again)');
  for (const k of [0, 1, 2, 3])
    assert.ok(Math.abs(f[k]! - exact[k]!) < 0.1 * Math.abs(exact[k]!) + 1e-6, `coincident point force ${k}: ${f[k]} vs ${exact[k]}`);
});

test('PCA finds the directions of largest variance, in order: exactly up to EXACT_MAX_DIM columns, by randomized iteration beyond', async () => {
  await initBackend('wasm');
  const n = 2000,
    dim = 6;
  const rng = new Rng(4);
  const scales = [5, 3, 1, 0.5, 0.2, 0.1];
  const x = Float32Array.from({ length: n * dim }, (_, i) => rng.normal() * scales[i % dim]!);
  const { scores, variances } = pca(x, n, dim, 3);
  [25, 9, 1].forEach((v, c) => {
    assert.ok(Math.abs(variances[c]! - v) < 0.1 * v, `variance ${c}: ${variances[c]}`);
  });
  // The first score is (up to sign) the first coordinate.
  let dot = 0,
    nx = 0,
    ns = 0;
  for (let i = 0; i < n; i++) {
    dot += scores[i * 3]! * x[i * dim]!;
    nx += x[i * dim]! ** 2;
    ns += scores[i * 3]! ** 2;
  }
  assert.ok(Math.abs(dot) / Math.sqrt(nx * ns) > 0.99);
  // Up to EXACT_MAX_DIM columns PCA is exact: the variances are the sample variances along the coordinates
  // (the data's columns are independent), and each direction's largest coefficient is positive.
  const sample = (d: number) => {
    let m = 0,
      q = 0;
    for (let i = 0; i < n; i++) m += x[i * dim + d]!;
    m /= n;
    for (let i = 0; i < n; i++) q += (x[i * dim + d]! - m) ** 2;
    return q / (n - 1);
  };
  assert.ok(dim <= EXACT_MAX_DIM);
  for (const d of [0, 1, 2]) {
    assert.ok(Math.abs(variances[d]! - sample(d)) < 0.02 * sample(d), `variance ${d}: ${variances[d]} vs ${sample(d)}`);
  }
  assert.ok(dot > 0, 'the first direction is signed with its largest coefficient positive');
  // Wider data goes through the randomized iteration: it finds the same leading variances.
  const wide = EXACT_MAX_DIM + 22,
    rows = 600;
  const y = Float32Array.from({ length: rows * wide }, (_, i) => rng.normal() * (i % wide < 3 ? [6, 4, 2][i % wide]! : 0.1));
  const w = pca(y, rows, wide, 2);
  for (const [c, v] of [36, 16].entries()) assert.ok(Math.abs(w.variances[c]! - v) < 0.15 * v, `wide variance ${c}: ${w.variances[c]}`);
  const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  assert.deepEqual(
    [...values].map((v) => Math.round(v * 1e9) / 1e9),
    [3, 1],
  );
});

test('symmetric eigen-decomposition: A v = lambda v, orthonormal vectors, eigenvalues descending and as constructed', () => {
  const rng = new Rng(11);
  for (const m of [1, 2, 7, 64, 180]) {
    // A = Q diag(lambda) Q^T with a random orthogonal Q (Gram-Schmidt of a Gaussian matrix) and known lambda,
    // one of them repeated.
    const q = Float64Array.from({ length: m * m }, () => rng.normal());
    for (let c = 0; c < m; c++) {
      for (let p = 0; p < c; p++) {
        let dot = 0;
        for (let r = 0; r < m; r++) dot += q[r * m + c]! * q[r * m + p]!;
        for (let r = 0; r < m; r++) q[r * m + c]! -= dot * q[r * m + p]!;
      }
      let norm = 0;
      for (let r = 0; r < m; r++) norm += q[r * m + c]! ** 2;
      for (let r = 0; r < m; r++) q[r * m + c]! /= Math.sqrt(norm);
    }
    const lambda = Array.from({ length: m }, (_, i) => (i === 1 ? 0 : i) - m / 3).map((v, i) => (i === 2 && m > 2 ? 0 - m / 3 : v));
    const a = new Float64Array(m * m);
    for (let r = 0; r < m; r++)
      for (let c = 0; c < m; c++) for (let k = 0; k < m; k++) a[r * m + c]! += q[r * m + k]! * lambda[k]! * q[c * m + k]!;
    const { values, vectors } = symmetricEigen(a, m);
    const expected = [...lambda].sort((x, y) => y - x);
    for (let i = 0; i < m; i++)
      assert.ok(Math.abs(values[i]! - expected[i]!) < 1e-9 * m, `m ${m}: eigenvalue ${i} ${values[i]} vs ${expected[i]}`);
    let residual = 0,
      orthogonality = 0;
    for (let c = 0; c < m; c++) {
      for (let r = 0; r < m; r++) {
        let av = 0;
        for (let k = 0; k < m; k++) av += a[r * m + k]! * vectors[k * m + c]!;
        residual = Math.max(residual, Math.abs(av - values[c]! * vectors[r * m + c]!));
      }
      for (let c2 = 0; c2 < m; c2++) {
        let dot = 0;
        for (let k = 0; k < m; k++) dot += vectors[k * m + c]! * vectors[k * m + c2]!;
        orthogonality = Math.max(orthogonality, Math.abs(dot - (c === c2 ? 1 : 0)));
      }
    }
    assert.ok(residual < 1e-10 * m && orthogonality < 1e-10 * m, `m ${m}: residual ${residual}, orthogonality ${orthogonality}`);
  }
});

/** Exact PCA of n x dim rows from their covariance matrix (float64): mean, components as rows, variances. */
function exactPca(x: Float32Array, n: number, dim: number) {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d]! += x[i * dim + d]! / n;
  const cov = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < dim; a++)
      for (let b = 0; b < dim; b++) cov[a * dim + b]! += ((x[i * dim + a]! - mean[a]!) * (x[i * dim + b]! - mean[b]!)) / (n - 1);
  const { values, vectors } = symmetricEigen(cov, dim);
  const components = Array.from({ length: dim }, (_, c) => Float64Array.from({ length: dim }, (_, d) => vectors[d * dim + c]!));
  return { mean, components, values };
}

test('incremental PCA, fitted batch by batch, finds the exact principal components and projects onto them', async () => {
  await initBackend('wasm');
  const n = 600,
    dim = 40,
    k = 5;
  const rng = new Rng(12);
  // Five strong directions (random, not axis-aligned) over weak isotropic noise and an offset.
  const directions = Array.from({ length: k }, () => Array.from({ length: dim }, () => rng.normal()));
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const weights = [10, 8, 6, 4, 2].map((s) => s * rng.normal());
    for (let d = 0; d < dim; d++) x[i * dim + d] = 3 + 0.1 * rng.normal() + weights.reduce((acc, w, c) => acc + w * directions[c]![d]!, 0);
  }
  const exact = exactPca(x, n, dim);
  const total = exact.values.reduce((a, b) => a + b, 0);
  const exactRatio = exact.values.slice(0, k).reduce((a, b) => a + b, 0) / total;
  for (const batchRows of [37, 100]) {
    const fit = new IncrementalPca(dim, k, batchRows);
    for (let start = 0; start < n; start += 50) fit.add(x.subarray(start * dim, (start + 50) * dim), 50);
    const p = fit.finish();
    assert.equal(p.dim, k);
    assert.equal(p.fitRows, n);
    assert.ok(
      Math.abs(p.explainedVarianceRatio - exactRatio) < 1e-3,
      `batches of ${batchRows}: ratio ${p.explainedVarianceRatio} vs ${exactRatio}`,
    );
    // Each score column equals, up to sign, the projection of the centred rows on the exact component.
    const scores = p.transform(x, n);
    for (let c = 0; c < k; c++) {
      const expected = Array.from({ length: n }, (_, i) =>
        exact.components[c]!.reduce((acc, v, d) => acc + v * (x[i * dim + d]! - exact.mean[d]!), 0),
      );
      let dot = 0,
        ne = 0,
        ns = 0;
      for (let i = 0; i < n; i++) {
        dot += expected[i]! * scores[i * k + c]!;
        ne += expected[i]! ** 2;
        ns += scores[i * k + c]! ** 2;
      }
      assert.ok(
        Math.abs(dot) / Math.sqrt(ne * ns) > 0.9999,
        `batches of ${batchRows}: component ${c} correlation ${dot / Math.sqrt(ne * ns)}`,
      );
      assert.ok(Math.abs(Math.sqrt(ns / ne) - 1) < 1e-3, `component ${c}: score scale ${Math.sqrt(ns / ne)}`);
    }
  }
  // Fewer rows than components: as many components as the centred rows span.
  const few = new IncrementalPca(dim, k);
  few.add(x, 3);
  assert.equal(few.finish().dim, 2);
});

test('t-SNE separates clusters, lowers the KL divergence, and its callback can stop it', async () => {
  await initBackend('wasm');
  const { x, labels } = clusters(4, 60, 10, 5);
  const n = labels.length;
  const { typescriptKernels, bestKernels } = await import('../src/embed/kernels.js');
  for (const kernels of [typescriptKernels(), bestKernels()]) {
    const kls: number[] = [];
    const r = tsne(x, n, 10, {
      perplexity: 15,
      seed: 0,
      kernels,
      callback: (_it, kl) => {
        kls.push(kl);
      },
    });
    assert.equal(r.embedding.length, 2 * n);
    assert.equal(r.iterations, 1000);
    assert.ok(kls[kls.length - 1]! < kls[5]!, `${kernels.name} KL ${kls.join(' ')}`);
    const acc = knnAccuracy(r.embedding, labels, r.embedding, labels, 2, 6); // the point itself is one of 6
    assert.ok(acc > 0.99, `${kernels.name} 2-D 5-NN accuracy ${acc}`);
    assert.ok(trustworthiness(x, 10, r.embedding, 2, n, 10) > 0.9);
  }
  let calls = 0;
  const stopped = tsne(x, n, 10, { perplexity: 15, callbackEvery: 10, callback: () => ++calls === 3 });
  assert.equal(stopped.iterations, 30);
});

test("renumbering the points along the map's space-filling curve mid-run keeps the optimisation and the output order", async () => {
  await initBackend('wasm');
  const { x, labels } = clusters(4, 60, 10, 5);
  const n = labels.length;
  const order = spaceFillingOrder(
    Float64Array.from({ length: 2 * n }, (_, i) => x[Math.floor(i / 2) * 10 + (i % 2)]!),
    n,
  );
  assert.deepEqual(
    Array.from(order).sort((a, b) => a - b),
    Array.from({ length: n }, (_, i) => i),
    'a permutation',
  );
  // A 4 x 4 grid of points: the Hilbert curve visits each 2 x 2 quadrant before the next.
  const grid = Float64Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? Math.floor(i / 2) % 4 : Math.floor(i / 8)));
  const quadrant = (p: number) => (grid[2 * p]! >= 2 ? 1 : 0) + (grid[2 * p + 1]! >= 2 ? 2 : 0);
  const visits = Array.from(spaceFillingOrder(grid, 16), quadrant);
  for (let q = 0; q < 4; q++) assert.equal(new Set(visits.slice(4 * q, 4 * q + 4)).size, 1, `quadrant by quadrant: ${visits}`);
  const kls: number[][] = [[], []];
  const runs = [[], [0, 50, 250, 500]].map((reorderAt, r) =>
    tsne(x, n, 10, { perplexity: 15, seed: 0, reorderAt, callback: (_it, kl) => void kls[r]!.push(kl) }),
  );
  // The same sums in another order: after 50 iterations (all renumbered from the start), equal to rounding. The
  // rounding differences then grow, as t-SNE is chaotic (1e-9 at 50 iterations, 5e-6 at 100; the runs end in
  // nearby optima, KL 0.57-0.61 on x86-64 and arm64), so after that only the descent itself is checked.
  assert.ok(Math.abs(kls[0]![0]! - kls[1]![0]!) < 1e-9 * kls[0]![0]!, `KL after 50 iterations: ${kls[0]![0]} vs ${kls[1]![0]}`);
  for (const k of kls) assert.ok(k[k.length - 1]! < 0.9 * k[5]!, `the KL falls after the last renumbering: ${k.join(' ')}`);
  for (const r of runs) assert.ok(knnAccuracy(r.embedding, labels, r.embedding, labels, 2, 6) > 0.99, 'row i is still point i');
});

test('metrics: k-NN accuracy and trustworthiness behave on known cases', async () => {
  await initBackend('wasm');
  const train = Float32Array.from([0, 0, 0, 1, 10, 10, 10, 11]);
  const trainY = Uint8Array.from([0, 0, 1, 1]);
  const testX = Float32Array.from([0, 0.5, 10, 10.5, 0.2, 0.1]);
  assert.equal(knnAccuracy(train, trainY, testX, Uint8Array.from([0, 1, 0]), 2, 1), 1);
  assert.equal(knnAccuracy(train, trainY, testX, Uint8Array.from([1, 1, 0]), 2, 1), 2 / 3);
  const x = gaussian(300, 2, 6);
  assert.ok(trustworthiness(x, 2, x, 2, 300, 10) > 0.9999, 'an embedding equal to the data is fully trustworthy');
  assert.ok(trustworthiness(x, 2, gaussian(300, 2, 7), 2, 300, 10) < 0.7, 'a random embedding is not');
  // Against the definition with full sorts (Venna & Kaski; scikit-learn's formula) on a partly faithful embedding.
  const high = gaussian(200, 5, 11),
    low = new Float32Array(400);
  for (let i = 0; i < 200; i++) {
    low[2 * i] = high[5 * i]! + 0.3 * high[5 * i + 2]!;
    low[2 * i + 1] = high[5 * i + 1]!;
  }
  const k = 7,
    lowNb = exactKnn(low, 200, 2, k);
  let penalty = 0;
  for (let i = 0; i < 200; i++) {
    const d = Array.from({ length: 200 }, (_, j) => {
      let s = 0;
      for (let t = 0; t < 5; t++) s += (high[5 * i + t]! - high[5 * j + t]!) ** 2;
      return j === i ? -1 : s;
    });
    const order = d.map((_, j) => j).sort((a, b) => d[a]! - d[b]! || a - b);
    const rank = new Array<number>(200);
    order.forEach((j, r) => {
      rank[j] = r;
    });
    for (let t = 0; t < k; t++) penalty += Math.max(0, rank[lowNb.indices[i * k + t]!]! - k);
  }
  const expected = 1 - (2 / (200 * k * (2 * 200 - 3 * k - 1))) * penalty;
  assert.ok(
    Math.abs(trustworthiness(high, 5, low, 2, 200, k, 200) - expected) < 1e-12,
    `${trustworthiness(high, 5, low, 2, 200, k, 200)} vs ${expected}`,
  );
  assert.ok(expected < 0.99 && expected > 0.6, `a partly faithful embedding: ${expected}`);
});

test('native and TypeScript gradient kernels agree (both paths are exercised)', async (t) => {
  const { nativeKernels, typescriptKernels } = await import('../src/embed/kernels.js');
  const { tsneNative } = await import('../src/accel/index.js');
  const native = tsneNative(2);
  if (!native) {
    // CI requires the addon (AE_REQUIRE_NATIVE); a machine without it says so instead of passing unchecked.
    assert.equal(process.env.AE_REQUIRE_NATIVE, undefined, 'AE_REQUIRE_NATIVE is set but the native addon did not load');
    t.skip('the native addon is not built: nothing to compare the TypeScript kernels with');
    return;
  }
  const n = 3000;
  const rng = new Rng(8);
  const y = Float64Array.from({ length: 2 * n }, () => rng.normal() * 10);
  const ts = typescriptKernels(),
    nat = nativeKernels(native);
  for (const theta of [0, 0.5]) {
    const a = new Float64Array(2 * n),
      b = new Float64Array(2 * n);
    const za = ts.repulsion(y, n, theta, a),
      zb = nat.repulsion(y, n, theta, b);
    assert.ok(Math.abs(za - zb) < 1e-9 * za, `Z ${za} vs ${zb}`);
    for (let k = 0; k < 2 * n; k++) assert.ok(Math.abs(a[k]! - b[k]!) < 1e-9 * (1 + Math.abs(a[k]!)), `force ${k} at theta ${theta}`);
  }
  const { x } = clusters(3, 50, 4, 9);
  const nb = exactKnn(x, 150, 4, 20);
  const p = symmetrize(nb, 150, conditionalP(nb, 150, 5));
  const ya = Float64Array.from({ length: 300 }, () => rng.normal());
  const ta = new Float64Array(300),
    tb = new Float64Array(300);
  ts.attraction(p, ya, ta);
  nat.attraction(p, ya, tb);
  // The native loop computes q in single precision (8 divisions per instruction): agreement to ~1e-6 relative.
  const scale = Math.max(...ta.map(Math.abs));
  for (let k = 0; k < 300; k++) assert.ok(Math.abs(ta[k]! - tb[k]!) < 1e-5 * scale, `attraction ${k}: ${ta[k]} vs ${tb[k]}`);

  // The KL term: both kernels against the definition, KL = sum p log(p / q) with q_ij = 1 / ((1 + d^2) Z).
  const z = ts.repulsion(ya, 150, 0, new Float64Array(300));
  let direct = 0,
    entropy = 0;
  for (let i = 0; i < 150; i++) {
    for (let c = p.rowPtr[i]!; c < p.rowPtr[i + 1]!; c++) {
      const j = p.cols[c]!,
        d2 = (ya[2 * i]! - ya[2 * j]!) ** 2 + (ya[2 * i + 1]! - ya[2 * j + 1]!) ** 2;
      direct += p.vals[c]! * Math.log(p.vals[c]! * (1 + d2) * z);
      entropy += p.vals[c]! * Math.log(p.vals[c]!);
    }
  }
  for (const kernels of [ts, nat]) {
    const kl = entropy + kernels.klTerm(p, ya) + Math.log(z);
    assert.ok(Math.abs(kl - direct) < 1e-6 * Math.abs(direct), `${kernels.name} KL ${kl} vs ${direct}`);
  }

  // One descent step: the same update, gains and re-centred layout from both.
  const step = { exaggeration: 12, z, momentum: 0.5, lr: 20 };
  const states = [0, 1].map(() => ({ update: Float64Array.from(ta, (v) => v * 0.1), gains: new Float64Array(300).fill(1) }));
  const ys = [Float64Array.from(ya), Float64Array.from(ya)];
  ts.descend(ys[0]!, ta, tb, states[0]!, step);
  nat.descend(ys[1]!, ta, tb, states[1]!, step);
  let mean = 0;
  for (let k = 0; k < 300; k++) {
    assert.ok(Math.abs(ys[0]![k]! - ys[1]![k]!) < 1e-12, `descend y ${k}`);
    assert.equal(states[0]!.gains[k], states[1]!.gains[k]);
    mean += ys[0]![k]!;
  }
  assert.ok(Math.abs(mean) < 1e-9, 'the layout is re-centred');
  assert.ok(
    ys[0]!.some((v, k) => Math.abs(v - ya[k]!) > 1e-6),
    'the step moved the points',
  );
});

/** Exact repulsion: force_i = sum_j q_ij^2 (y_i - y_j), Z = sum_{i != j} q_ij. */
function exactRepulsion(y: Float64Array, n: number): { force: Float64Array; z: number } {
  const force = new Float64Array(2 * n);
  let z = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const dx = y[2 * i]! - y[2 * j]!,
        dy = y[2 * i + 1]! - y[2 * j + 1]!;
      const q = 1 / (1 + dx * dx + dy * dy);
      z += q;
      force[2 * i]! += q * q * dx;
      force[2 * i + 1]! += q * q * dy;
    }
  }
  return { force, z };
}

test('the AVX-512 and AVX2 attraction and KL sums both match float64 sums, over rows of every length', async (t) => {
  await initBackend('wasm');
  if (process.arch !== 'x64') {
    t.skip("the AVX paths are x86-64 only (the kernels test above checks this machine's own)");
    return;
  }
  if (!(await import('../src/accel/index.js')).tsneNative()) {
    assert.equal(process.env.AE_REQUIRE_NATIVE, undefined, 'AE_REQUIRE_NATIVE is set but the native addon did not load');
    t.skip('the native addon is not built');
    return;
  }
  // Rows of 0 to 40 entries: the 16-wide loop, its masked tail, and empty rows; positions spread like a map's.
  const n = 400;
  const rng = new Rng(21);
  const rowPtr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) rowPtr[i + 1] = rowPtr[i]! + (i % 41);
  const cols = Int32Array.from({ length: rowPtr[n]! }, () => Math.floor(rng.uniform() * n));
  const vals = Float64Array.from({ length: rowPtr[n]! }, () => rng.uniform() * 1e-3);
  const y = Float64Array.from({ length: 2 * n }, () => rng.normal() * 30);
  const input = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ae-attraction-')), 'input.json');
  fs.writeFileSync(input, JSON.stringify({ rowPtr: Array.from(rowPtr), cols: Array.from(cols), vals: Array.from(vals), y: Array.from(y) }));
  const script = `import fs from 'node:fs'; import { tsneNative } from './src/accel/index.ts'; import { nativeKernels } from './src/embed/kernels.ts';
    import { loadAddon } from './src/accel/addon.ts';
    const d = JSON.parse(fs.readFileSync(${JSON.stringify(input)}, 'utf8'));
    const p = { n: ${n}, rowPtr: Int32Array.from(d.rowPtr), cols: Int32Array.from(d.cols), vals: Float64Array.from(d.vals) };
    const y = Float64Array.from(d.y);
    const k = nativeKernels(tsneNative()); const out = new Float64Array(${2 * n}); k.attraction(p, y, out);
    process.stdout.write(JSON.stringify({ path: loadAddon().gemmPath(), attraction: Array.from(out), kl: k.klTerm(p, y) }));`;
  let attraction = 0,
    kl = 0;
  const expected = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    for (let c = rowPtr[i]!; c < rowPtr[i + 1]!; c++) {
      const j = cols[c]!,
        dx = y[2 * i]! - y[2 * j]!,
        dy = y[2 * i + 1]! - y[2 * j + 1]!;
      expected[2 * i]! += (vals[c]! * dx) / (1 + dx * dx + dy * dy);
      expected[2 * i + 1]! += (vals[c]! * dy) / (1 + dx * dx + dy * dy);
      kl += vals[c]! * Math.log1p(dx * dx + dy * dy);
    }
  }
  for (const v of expected) attraction = Math.max(attraction, Math.abs(v));
  const avx512 = fs.readFileSync('/proc/cpuinfo', 'utf8').includes('avx512f');
  for (const off of avx512 ? ['0', '1'] : ['1']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, AE_NO_AVX512: off },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { path: string; attraction: number[]; kl: number };
    if (off === '0') assert.equal(got.path, 'avx512');
    // Single-precision positions and q: within ~1e-6 of the largest force; the KL term to ~1e-6 relative.
    for (let e = 0; e < 2 * n; e++)
      assert.ok(
        Math.abs(got.attraction[e]! - expected[e]!) < 2e-6 * attraction,
        `${got.path} attraction ${e}: ${got.attraction[e]} vs ${expected[e]}`,
      );
    assert.ok(Math.abs(got.kl - kl) < 1e-6 * kl, `${got.path} KL term ${got.kl} vs ${kl}`);
  }
  fs.rmSync(path.dirname(input), { recursive: true });
});

test('FFT-accelerated repulsion (native) matches the exact sums; the choice of method follows the options', async (t) => {
  const { nativeKernels, typescriptKernels } = await import('../src/embed/kernels.js');
  const { tsneNative } = await import('../src/accel/index.js');
  const { chooseRepulsion, FFT_MIN_POINTS } = await import('../src/embed/tsne.js');
  assert.throws(() => chooseRepulsion(typescriptKernels(), 10, { repulsion: 'fft' }), /native kernels/);
  const native = tsneNative(2);
  if (!native) {
    assert.equal(process.env.AE_REQUIRE_NATIVE, undefined, 'AE_REQUIRE_NATIVE is set but the native addon did not load');
    t.skip('the native addon is not built: the FFT repulsion is native only');
    return;
  }
  const kernels = nativeKernels(native);
  const rng = new Rng(12);
  {
    // 'auto' takes FFT from FFT_MIN_POINTS points and Barnes-Hut below; both give Z for the same layout.
    const m = FFT_MIN_POINTS;
    const y = Float64Array.from({ length: 2 * m }, () => rng.normal() * 20);
    const out = new Float64Array(2 * m);
    const zFft = kernels.repulsionFft!(y, m, out),
      zBh = kernels.repulsion(y, m, 0.5, out);
    assert.notEqual(zFft, zBh);
    assert.equal(chooseRepulsion(kernels, m, {}).method, 'fft');
    assert.equal(chooseRepulsion(kernels, m, {}).repel(y, m, out), zFft);
    assert.equal(chooseRepulsion(kernels, m - 1, { theta: 0.5 }).repel(y, m, out), zBh);
    assert.equal(chooseRepulsion(kernels, m, { repulsion: 'barnes-hut', theta: 0.5 }).repel(y, m, out), zBh);
  }
  const n = 1500;
  // Two clusters, at spans from a fresh PCA initialisation (1e-4) to a late embedding (~80 units): below 50
  // units the grid has 50 boxes per axis, above it boxes are 1 unit wide, so both regimes are checked. The grids
  // are transformed in single precision, which bounds the agreement at the tightest span (~2e-5).
  for (const [span, forceTol, zTol] of [
    [1e-4, 1e-4, 1e-6],
    [5, 1e-3, 1e-4],
    [30, 0.02, 5e-3],
    [80, 0.06, 0.01],
  ] as const) {
    const y = Float64Array.from({ length: 2 * n }, (_, k) => (rng.normal() * 0.15 + (k % 4 < 2 ? 0.25 : -0.25)) * span);
    const exact = exactRepulsion(y, n);
    const force = new Float64Array(2 * n);
    const z = kernels.repulsionFft!(y, n, force);
    let err = 0,
      norm = 0;
    for (let k = 0; k < 2 * n; k++) {
      err += (force[k]! - exact.force[k]!) ** 2;
      norm += exact.force[k]! ** 2;
    }
    const rel = Math.sqrt(err / norm);
    assert.ok(rel < forceTol, `span ${span}: relative force error ${rel}`);
    assert.ok(Math.abs(z / exact.z - 1) < zTol, `span ${span}: Z ${z} vs exact ${exact.z}`);
  }
});

test("native symmetrisation and renumbering of P give the TypeScript loops' bits; bad neighbour lists are refused", async (t) => {
  const { tsneNative } = await import('../src/accel/index.js');
  const { localityOrder, permuteP } = await import('../src/embed/affinities.js');
  const native = tsneNative(2);
  if (!native) {
    assert.equal(process.env.AE_REQUIRE_NATIVE, undefined, 'AE_REQUIRE_NATIVE is set but the native addon did not load');
    t.skip('the native addon is not built: nothing to compare the TypeScript loops with');
    return;
  }
  // Random neighbour lists (uneven in-degrees, mutual pairs, rows spread over several of the native code's
  // 1024-row buckets) and a real kNN graph.
  const rng = new Rng(12);
  const n = 5000,
    k = 12;
  const indices = new Int32Array(n * k);
  for (let i = 0; i < n; i++) {
    const picked = new Set<number>();
    while (picked.size < k) {
      // Half the picks near i (mutual pairs, duplicates after symmetrising), half anywhere; never i itself.
      const j = rng.uniform() < 0.5 ? (i + 1 + Math.floor(rng.uniform() * 20)) % n : Math.floor(rng.uniform() * n);
      if (j !== i) picked.add(j);
    }
    indices.set([...picked], i * k);
  }
  const cond = Float64Array.from({ length: n * k }, () => rng.uniform() / k);
  const { x } = clusters(4, 500, 6, 3);
  const knn = exactKnn(x, 2000, 6, 10);
  for (const [nb, count, c] of [
    [{ k, indices, distances: new Float32Array(n * k) }, n, cond],
    [knn, 2000, conditionalP(knn, 2000, 4)],
  ] as const) {
    const a = symmetrize(nb, count, c, native),
      b = symmetrize(nb, count, c, null);
    assert.deepEqual(a.rowPtr, b.rowPtr);
    assert.deepEqual(a.cols, b.cols);
    assert.deepEqual(a.vals, b.vals);
    const order = localityOrder(b);
    const pa = permuteP(b, order, native),
      pb = permuteP(b, order, null);
    assert.deepEqual(pa.rowPtr, pb.rowPtr);
    assert.deepEqual(pa.cols, pb.cols);
    assert.deepEqual(pa.vals, pb.vals);
    // Renumbered back into the first P's arrays (the optimiser's ping-pong): the same entries, in those arrays.
    const back = new Int32Array(count);
    order.forEach((i, r) => {
      back[i] = r;
    });
    for (const impl of [native, null]) {
      const spare = { n: b.n, rowPtr: b.rowPtr.slice(), cols: b.cols.slice(), vals: b.vals.slice() };
      const again = permuteP(pa, back, impl, spare);
      assert.ok(again.cols === spare.cols && again.vals === spare.vals && again.rowPtr === spare.rowPtr, 'written into the spare arrays');
      assert.deepEqual([again.rowPtr, again.cols, again.vals], [b.rowPtr, b.cols, b.vals], 'renumbering back restores P');
      assert.throws(() => permuteP(pa, back, impl, pa), /`into` must be another P of the same size/);
    }
    // P's values in single precision for the native loops: each one rounded as Math.fround rounds it.
    const single = new Float32Array(a.vals.length);
    native.toFloat32({ from: a.vals, to: single, count: single.length });
    assert.ok(
      a.vals.every((v, i) => single[i] === Math.fround(v)),
      'toFloat32 rounds each value to the nearest float',
    );
  }
  const bad = indices.slice();
  bad[7] = n;
  assert.throws(
    () => symmetrize({ k, indices: bad, distances: new Float32Array(n * k) }, n, cond, native),
    /symmetrize: indices must lie in \[0, n\)/,
  );
  bad[7] = 0; // row 0's own index
  assert.throws(() => symmetrize({ k, indices: bad, distances: new Float32Array(n * k) }, n, cond, native), /not among its own neighbours/);
  const p = symmetrize(knn, 2000, conditionalP(knn, 2000, 4), native);
  const twice = new Int32Array(2000); // not a permutation: point 0 twice
  assert.throws(() => permuteP(p, twice, native), /permuteP: .*order be a permutation/);
});

test('bounds2d: the box of interleaved points equals Math.min/max over them, for the first n points, grown across sets, empty for none', () => {
  const rng = new Rng(7);
  const a = Float64Array.from({ length: 2 * 500 }, () => rng.normal() * 10);
  const b = Float32Array.from({ length: 2 * 300 }, () => rng.normal() * 3 + 5);
  const box = (pts: ArrayLike<number>, n: number) => {
    const xs = Array.from({ length: n }, (_, i) => pts[2 * i]!),
      ys = Array.from({ length: n }, (_, i) => pts[2 * i + 1]!);
    return { minX: Math.min(...xs), maxX: Math.max(...xs), minY: Math.min(...ys), maxY: Math.max(...ys) };
  };
  assert.deepEqual(bounds2d(a), box(a, 500));
  assert.deepEqual(bounds2d(a, 120), box(a, 120)); // the rest of the array (a larger buffer) is not looked at
  const both = box([...a, ...b], 800);
  assert.deepEqual(bounds2d(b, undefined, bounds2d(a)), both);
  assert.notDeepEqual(bounds2d(b), both); // b alone lies inside a narrower box: growing from a's box is what widened it
  assert.deepEqual(bounds2d(new Float32Array(0)), { minX: Infinity, maxX: -Infinity, minY: Infinity, maxY: -Infinity });
});
