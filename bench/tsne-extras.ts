/**
 * Two measurements on all 70,000 MNIST images' AE codes (`npm run bench:tsne -- --transform` / `--multiscale`):
 *   transform   the 10,000 test images placed onto a map of the 60,000 training images (transformPoints), against
 *               embedding all 70,000 jointly: the test points' 2-D 5-NN accuracy against the training points
 *   multiscale  perplexity 30 against the multiscale [30, 300]: local structure (2-D 5-NN accuracy,
 *               trustworthiness) and global structure (the correlation between the 45 distances of the 10 class
 *               centroids in the codes and on the map)
 */
import { knnAccuracy, leaveOneOutKnnAccuracy, trustworthiness } from '../src/evaluate/metrics.js';
import { transformPoints } from '../src/embed/transform.js';
import { tsne } from '../src/embed/tsne.js';

export interface LabelledCodes {
  codes: Float32Array;
  labels: Uint8Array;
  n: number;
  dim: number;
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

export function transformBenchmark(train: LabelledCodes, test: LabelledCodes): void {
  let t0 = performance.now();
  const map = tsne(train.codes, train.n, train.dim, { seed: 0 }).embedding;
  const mapSeconds = seconds(t0);
  t0 = performance.now();
  const placed = transformPoints({ data: train.codes, coords: map, n: train.n, dim: train.dim }, test.codes, test.n);
  const placeSeconds = seconds(t0);
  const accPlaced = knnAccuracy(map, train.labels, placed.coords, test.labels, 2, 5);
  const accStart = knnAccuracy(map, train.labels, placed.initial, test.labels, 2, 5);
  const all = new Float32Array((train.n + test.n) * train.dim);
  all.set(train.codes);
  all.set(test.codes, train.codes.length);
  t0 = performance.now();
  const joint = tsne(all, train.n + test.n, train.dim, { seed: 0 }).embedding;
  const jointSeconds = seconds(t0);
  const accJoint = knnAccuracy(joint.subarray(0, 2 * train.n), train.labels, joint.subarray(2 * train.n), test.labels, 2, 5);
  const accCodes = knnAccuracy(train.codes, train.labels, test.codes, test.labels, train.dim, 5);
  console.log(`\ntest points' 5-NN accuracy against the training points (${test.n} onto ${train.n}):`);
  console.log('| how the test points got their place | time (s) | 2-D 5-NN accuracy |');
  console.log('| --- | ---: | ---: |');
  console.log(
    `| transform onto the training map (map ${mapSeconds.toFixed(1)} s, then) | ${placeSeconds.toFixed(1)} | ${accPlaced.toFixed(4)} |`,
  );
  console.log(`| transform's start only (weighted mean of 15 neighbours) | - | ${accStart.toFixed(4)} |`);
  console.log(`| embedded jointly with the training points | ${jointSeconds.toFixed(1)} | ${accJoint.toFixed(4)} |`);
  console.log(`| (the ${train.dim}-D codes themselves) | - | ${accCodes.toFixed(4)} |`);
}

/** Pearson correlation of the pairwise distances between class centroids in the codes and on the map. */
export function centroidDistanceCorrelation(x: LabelledCodes, map: Float32Array): number {
  const classes = [...new Set(x.labels)].sort((a, b) => a - b);
  const centroid = (data: Float32Array, dim: number) =>
    classes.map((c) => {
      const sum = new Float64Array(dim);
      let count = 0;
      for (let i = 0; i < x.n; i++) {
        if (x.labels[i] !== c) continue;
        count++;
        for (let d = 0; d < dim; d++) sum[d]! += data[i * dim + d]!;
      }
      return sum.map((v) => v / count);
    });
  const pairs = (cs: Float64Array[]) => {
    const out: number[] = [];
    for (let a = 0; a < cs.length; a++)
      for (let b = a + 1; b < cs.length; b++) out.push(Math.hypot(...cs[a]!.map((v, d) => v - cs[b]![d]!)));
    return out;
  };
  const u = pairs(centroid(x.codes, x.dim)),
    v = pairs(centroid(map, 2));
  const mean = (a: number[]) => a.reduce((s, t) => s + t, 0) / a.length;
  const mu = mean(u),
    mv = mean(v);
  let suv = 0,
    suu = 0,
    svv = 0;
  u.forEach((a, i) => {
    suv += (a - mu) * (v[i]! - mv);
    suu += (a - mu) ** 2;
    svv += (v[i]! - mv) ** 2;
  });
  return suv / Math.sqrt(suu * svv);
}

export function multiscaleBenchmark(x: LabelledCodes): void {
  console.log('\n| affinities | time (s) | 2-D 5-NN accuracy | trustworthiness (5 x 2,000) | class-centroid distance correlation |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const perplexity of [30, [30, 300]] as const) {
    const t0 = performance.now();
    const map = tsne(x.codes, x.n, x.dim, { seed: 0, perplexity }).embedding;
    const s = seconds(t0);
    let trust = 0;
    for (let seed = 0; seed < 5; seed++) trust += trustworthiness(x.codes, x.dim, map, 2, x.n, 10, 2000, seed) / 5;
    const name = typeof perplexity === 'number' ? `perplexity ${perplexity}` : `multiscale [${perplexity.join(', ')}]`;
    console.log(
      `| ${name} | ${s.toFixed(1)} | ${leaveOneOutKnnAccuracy(map, x.labels, 2, 5).toFixed(4)} | ${trust.toFixed(4)} | ${centroidDistanceCorrelation(x, map).toFixed(3)} |`,
    );
  }
}
