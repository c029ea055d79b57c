/**
 * The baseline any k-number code must beat: PCA with k components, fitted exactly (eigenvectors of the training
 * split's covariance) on the same 48k training split the models train on (seed 0), scored on the official test set:
 * reconstruction MSE per pixel and the 5-NN accuracy of the k-number codes (classifier fit on the training codes),
 * the same two figures `ae test` reports for a model.
 *   npm run bench:pca -- --dataset mnist --components 32
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { initBackend, tf } from '../src/backend/index.js';
import { loadIdxDataset, loadMnist, FASHION_MNIST } from '../src/data/mnist.js';
import { symmetricEigen } from '../src/embed/eigen.js';
import { knnAccuracy } from '../src/evaluate/metrics.js';

const opts = new Command('bench:pca')
  .addOption(new Option('--dataset <name>', 'mnist or fashion-mnist').choices(['mnist', 'fashion-mnist']).default('mnist'))
  .option('--components <k>', 'principal components', (v) => Number(v), 32)
  .option('--data <dir>', 'the dataset folder (default ../shared/data/<dataset>)')
  .parse()
  .opts<{ dataset: 'mnist' | 'fashion-mnist'; components: number; data?: string }>();
const dir = opts.data ?? path.resolve('..', 'shared', 'data', opts.dataset);

await initBackend('wasm');
const data = opts.dataset === 'mnist' ? await loadMnist(dir, 0.2, 0) : await loadIdxDataset(FASHION_MNIST, dir, 0.2, 0);
const d = 784;
const k = opts.components;
const t0 = performance.now();
const { mean, components } = tf.tidy(() => {
  const x = tf.tensor2d(data.train.images, [data.train.count, d]);
  const mu = tf.mean(x, 0);
  const xc = tf.sub(x, mu);
  const cov = tf.div(tf.matMul(xc, xc, true, false), data.train.count - 1);
  const eig = symmetricEigen(Float64Array.from(cov.dataSync()), d);
  // Eigenvalues ascending or descending: take the k largest by value.
  const order = Array.from(eig.values, (v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, k)
    .map(([, i]) => i);
  const v = new Float32Array(d * k);
  order.forEach((col, j) => {
    for (let r = 0; r < d; r++) v[r * k + j] = eig.vectors[r * d + col]!;
  });
  return { mean: mu.dataSync() as Float32Array, components: v };
});
const project = (images: Float32Array, n: number) =>
  tf.tidy(() => {
    const xc = tf.sub(tf.tensor2d(images, [n, d]), tf.tensor1d(mean));
    const codes = tf.matMul(xc, tf.tensor2d(components, [d, k]));
    const recon = tf.add(tf.matMul(codes, tf.tensor2d(components, [d, k]), false, true), tf.tensor1d(mean));
    const x = tf.tensor2d(images, [n, d]);
    const mse = tf.mean(tf.squaredDifference(tf.clipByValue(recon, 0, 1), x));
    const raw = tf.mean(tf.squaredDifference(recon, x));
    return { codes: codes.dataSync() as Float32Array, mse: mse.dataSync()[0]!, raw: raw.dataSync()[0]! };
  });
const train = project(data.train.images, data.train.count);
const test = project(data.test.images, data.test.count);
const acc = knnAccuracy(train.codes, data.train.labels, test.codes, data.test.labels, k, 5);
console.log(
  `${opts.dataset}: PCA-${k} fitted on ${data.train.count} training images (${((performance.now() - t0) / 1000).toFixed(1)} s): test MSE ${test.mse.toFixed(5)} with reconstructions clipped to [0, 1] (${test.raw.toFixed(5)} unclipped), training MSE ${train.mse.toFixed(5)}, latent 5-NN accuracy ${acc.toFixed(4)}`,
);
