import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx, parseIdxImages, parseIdxLabels, IDX_IMAGES_MAGIC } from '../src/data/idx.js';
import { ensureMnistFiles, loadMnist, md5, MNIST_FILES, splitValidation } from '../src/data/mnist.js';
import { UserError } from '../src/errors.js';
import { MNIST_DIR, tempDir, listFiles, smallMnist } from './helpers.js';
import { concatSets } from '../src/data/dataset.js';

function images(n: number, rows = 28, cols = 28): Uint8Array {
  const data = new Uint8Array(n * rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 256;
  return encodeIdx([n, rows, cols], data);
}

test('IDX: images scale to [0, 1], labels parse, gzip or raw', () => {
  const raw = images(3, 4, 5);
  for (const bytes of [raw, gzipSync(raw)]) {
    const img = parseIdxImages(bytes, 'x');
    assert.equal(img.count, 3);
    assert.equal(img.rows, 4);
    assert.equal(img.cols, 5);
    assert.equal(img.images.length, 60);
    assert.equal(img.images[1], Math.fround(37 / 255));
  }
  assert.deepEqual([...parseIdxLabels(encodeIdx([4], Uint8Array.from([1, 2, 3, 9])), 'y')], [1, 2, 3, 9]);
});

test('IDX: wrong magic, truncated payload, truncated gzip and short files are refused with the file named', () => {
  const labels = encodeIdx([4], Uint8Array.from([1, 2, 3, 4]));
  assert.throws(
    () => parseIdxImages(labels, 'f.gz'),
    (e: unknown) => e instanceof UserError && /f\.gz has IDX magic number 0x00000801, expected 0x00000803/.test(e.message),
  );
  assert.throws(() => parseIdxLabels(images(2), 'g'), /expected 0x00000801/);
  const img = images(2);
  assert.throws(
    () => parseIdxImages(img.subarray(0, img.length - 10), 'h'),
    /header promises 2x28x28 = 1568 bytes of data but the file holds 1558/,
  );
  const gz = gzipSync(img);
  assert.throws(() => parseIdxImages(gz.subarray(0, gz.length >> 1), 'i.gz'), /i\.gz is a corrupt or truncated gzip file/);
  assert.throws(() => parseIdxImages(Uint8Array.from([0, 0]), 'j'), /too short/);
  assert.equal(IDX_IMAGES_MAGIC, 0x803);
});

test('real MNIST: 48k/12k split with the seed, the official 10k test set, values in [0, 1]', async () => {
  const m = await loadMnist(MNIST_DIR, 0.2, 0);
  assert.equal(m.train.count, 48000);
  assert.equal(m.validation.count, 12000);
  assert.equal(m.test.count, 10000);
  assert.equal(m.train.images.length, 48000 * 784);
  let max = 0,
    min = 1;
  for (const v of m.test.images) {
    if (v > max) max = v;
    if (v < min) min = v;
  }
  assert.equal(min, 0);
  assert.equal(max, 1);
  // The test labels of the official set start 7, 2, 1, 0, 4.
  assert.deepEqual([...m.test.labels.subarray(0, 5)], [7, 2, 1, 0, 4]);
});

test('the validation split depends on the seed only, and train/validation are disjoint', () => {
  const n = 100;
  const set = {
    images: Float32Array.from({ length: n }, (_, i) => i),
    labels: new Uint8Array(n),
    count: n,
    height: 1,
    width: 1,
    channels: 1,
  };
  const a = splitValidation(set, 0.3, 1),
    b = splitValidation(set, 0.3, 1),
    c = splitValidation(set, 0.3, 2);
  assert.equal(a.validation.count, 30);
  assert.deepEqual(a.validation.images, b.validation.images);
  assert.notDeepEqual(a.validation.images, c.validation.images);
  const all = new Set([...a.train.images, ...a.validation.images]);
  assert.equal(all.size, n);
});

test('missing MNIST files: fetched from a mirror and MD5-checked; a bad download is refused and leaves nothing', async () => {
  const realBytes = new Map(Object.values(MNIST_FILES).map((f) => [f.name, fs.readFileSync(path.join(MNIST_DIR, f.name))]));
  const saved = process.env.AE_DATA_DIRS;
  process.env.AE_DATA_DIRS = ''; // no local copies: force the network path
  try {
    const dir = path.join(tempDir(), 'mnist');
    const fetched: string[] = [];
    await ensureMnistFiles(dir, {
      mirrors: ['https://mirror.test/'],
      fetchFn: async (url) => {
        fetched.push(url);
        return realBytes.get(url.split('/').pop() as (typeof MNIST_FILES)[keyof typeof MNIST_FILES]['name'])!;
      },
    });
    assert.equal(fetched.length, 4);
    for (const f of Object.values(MNIST_FILES)) assert.equal(md5(fs.readFileSync(path.join(dir, f.name))), f.md5);

    const bad = path.join(tempDir(), 'mnist');
    await assert.rejects(
      ensureMnistFiles(bad, { mirrors: ['https://mirror.test/'], fetchFn: async () => Uint8Array.from([1, 2, 3]) }),
      (e: unknown) => e instanceof UserError && /MD5 5289df737df57326fcdd22597afb1fac, expected/.test(e.message),
    );
    assert.deepEqual(listFiles(bad), [], 'no partial or unverified file is left');

    const offline = path.join(tempDir(), 'mnist');
    await assert.rejects(
      ensureMnistFiles(offline, {
        fetchFn: async () => {
          throw new Error('getaddrinfo ENOTFOUND');
        },
      }),
      (e: unknown) =>
        e instanceof UserError &&
        /could not be downloaded/.test(e.message) &&
        /ENOTFOUND/.test(e.message) &&
        /put the four MNIST files \(train-images-idx3-ubyte\.gz, .*\) into .*mnist/.test(e.message),
    );
  } finally {
    if (saved === undefined) delete process.env.AE_DATA_DIRS;
    else process.env.AE_DATA_DIRS = saved;
  }
});

test('missing MNIST files are copied from a local data folder after an MD5 check, without the network', async () => {
  const saved = process.env.AE_DATA_DIRS;
  process.env.AE_DATA_DIRS = path.dirname(MNIST_DIR);
  try {
    const dir = path.join(tempDir(), 'mnist');
    await ensureMnistFiles(dir, {
      fetchFn: async () => {
        throw new Error('network must not be used');
      },
    });
    assert.deepEqual(
      listFiles(dir),
      Object.values(MNIST_FILES)
        .map((f) => f.name)
        .sort(),
    );
  } finally {
    if (saved === undefined) delete process.env.AE_DATA_DIRS;
    else process.env.AE_DATA_DIRS = saved;
  }
});

test('images and labels that disagree in count are refused', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, MNIST_FILES.trainImages.name), gzipSync(images(20)));
  fs.writeFileSync(path.join(dir, MNIST_FILES.trainLabels.name), gzipSync(encodeIdx([19], new Uint8Array(19))));
  fs.writeFileSync(path.join(dir, MNIST_FILES.testImages.name), gzipSync(images(5)));
  fs.writeFileSync(path.join(dir, MNIST_FILES.testLabels.name), gzipSync(encodeIdx([5], new Uint8Array(5))));
  await assert.rejects(loadMnist(dir, 0.2, 0), /holds 20 images but .* holds 19 labels/);
  fs.writeFileSync(path.join(dir, MNIST_FILES.trainImages.name), gzipSync(images(19, 32, 32)));
  await assert.rejects(loadMnist(dir, 0.2, 0), /holds 32x32 images; MNIST images are 28x28/);
});

test('concatSets puts sets one after another, images and labels together', async () => {
  const data = await smallMnist(64, 32);
  const all = concatSets([data.train, data.validation, data.test]);
  assert.equal(all.count, 64 + 32 + 32);
  assert.deepEqual([all.height, all.width, all.channels], [28, 28, 1]);
  assert.deepEqual(all.images.subarray(64 * 784, 96 * 784), data.validation.images);
  assert.deepEqual(all.labels.subarray(96), data.test.labels);
  assert.throws(() => concatSets([]), /at least one set/);
});
