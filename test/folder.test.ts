import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { resolveConfig } from '../src/config/load.js';
import { train, type TrainEvent } from '../src/train/trainer.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { loadImageFolders } from '../src/data/folder.js';
import { UserError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';
import { tf } from '../src/backend/index.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { batchTensor, concatSets, type DataSplits, type ImageSet, inMemory } from '../src/data/dataset.js';
import { createModel, reconstruct, type Autoencoder } from '../src/models/registry.js';
import { LEGEND_FONT } from '../src/render/latent-map.js';
import { newCanvas } from '../src/render/canvas.js';
import { pixelAt, readPng, ROOT, tempDir } from './helpers.js';

/** Mean squared reconstruction error over a set, summed here in JavaScript (independent of the library's loss). */
function mseByHand(model: Autoencoder, set: ImageSet): number {
  const recon = tf.tidy(() => reconstruct(model, batchTensor(set, null, 0, set.count), { training: false, seed: 0 }).dataSync());
  const images = inMemory(set).images;
  let sum = 0;
  for (let i = 0; i < recon.length; i++) sum += (recon[i]! - images[i]!) ** 2;
  return sum / recon.length;
}

/** 5-NN accuracy by brute force: latents of `test` voted on by their 5 nearest latents of `train` (ties: nearest). */
/**
 * The 5-NN accuracy as ae test computes it for wide codes, by hand: the codes (16,384 numbers here) are used as
 * their principal components fitted on the test codes. With fewer test images than components, those span every
 * direction in which the centred test codes vary, so the projection is the orthogonal projection onto that span:
 * computed here from a Gram-Schmidt basis in float64, independently of the incremental PCA.
 */
function knn5ByHand(model: Autoencoder, train: ImageSet, test: ImageSet): number {
  const encode = (s: ImageSet) => tf.tidy(() => model.encode(batchTensor(s, null, 0, s.count), { training: false, seed: 0 }).dataSync());
  const dim = encode(test).length / test.count;
  const raw = encode(test);
  const mean = new Float64Array(dim);
  for (let q = 0; q < test.count; q++) for (let t = 0; t < dim; t++) mean[t]! += raw[q * dim + t]! / test.count;
  const basis: Float64Array[] = [];
  for (let q = 0; q < test.count; q++) {
    const v = Float64Array.from({ length: dim }, (_, t) => raw[q * dim + t]! - mean[t]!);
    const norm0 = Math.sqrt(v.reduce((acc, x) => acc + x * x, 0));
    for (const u of basis) {
      let dot = 0;
      for (let t = 0; t < dim; t++) dot += v[t]! * u[t]!;
      for (let t = 0; t < dim; t++) v[t]! -= dot * u[t]!;
    }
    const norm = Math.sqrt(v.reduce((acc, x) => acc + x * x, 0));
    if (norm > 1e-6 * norm0) basis.push(v.map((x) => x / norm));
  }
  const project = (codes: ArrayLike<number>, count: number) =>
    Array.from({ length: count }, (_, i) => basis.map((u) => u.reduce((acc, ut, t) => acc + (codes[i * dim + t]! - mean[t]!) * ut, 0)));
  const a = project(encode(train), train.count),
    b = project(raw, test.count);
  let correct = 0;
  for (let q = 0; q < test.count; q++) {
    const d = a
      .map((row, r) => ({ r, s: row.reduce((acc, x, t) => acc + (b[q]![t]! - x) ** 2, 0) }))
      .sort((x, y) => x.s - y.s || x.r - y.r)
      .slice(0, 5);
    const votes = new Map<number, number>();
    for (const { r } of d) votes.set(train.labels[r]!, (votes.get(train.labels[r]!) ?? 0) + 1);
    const most = Math.max(...votes.values()),
      nearest = train.labels[d[0]!.r]!;
    // The majority label; in a tie the nearest neighbour's label if it is among the tied, else the smallest.
    const winner = votes.get(nearest) === most ? nearest : Math.min(...[...votes].filter(([, v]) => v === most).map(([label]) => label));
    if (winner === test.labels[q]) correct++;
  }
  return correct / test.count;
}

const CLASSES = { blue: [40, 60, 220], green: [50, 200, 70], red: [230, 50, 40] } as const;

/**
 * A labelled folder of small colour images: per class a tint with a class-specific stripe pattern and noise,
 * alternately PNG (some with an alpha channel) and JPEG; plus a text file and a corrupt "PNG".
 */
async function makeFolder(dir: string, perClass: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  for (const [name, rgb] of Object.entries(CLASSES)) {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const channels = i % 3 === 0 ? 4 : 3;
      const px = Buffer.alloc(32 * 32 * channels);
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const stripe = ((name === 'red' ? x : name === 'green' ? y : x + y) >> 2) % 2;
          for (let c = 0; c < 3; c++)
            px[(y * 32 + x) * channels + c] = Math.max(0, Math.min(255, rgb[c]! * (0.6 + 0.4 * stripe) + rng.normal() * 12));
          if (channels === 4) px[(y * 32 + x) * channels + 3] = 255;
        }
      }
      const img = sharp(px, { raw: { width: 32, height: 32, channels } });
      if (i % 2 === 0) await img.png().toFile(path.join(dir, name, `img${i}.png`));
      else
        await img
          .removeAlpha()
          .jpeg({ quality: 90 })
          .toFile(path.join(dir, name, `img${i}.jpg`));
    }
  }
  fs.writeFileSync(path.join(dir, 'red', 'notes.txt'), 'not an image');
  fs.writeFileSync(path.join(dir, 'green', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nthis is not a PNG'));
}

function collect(): { events: TrainEvent[]; onEvent: (e: TrainEvent) => void; messages: () => string } {
  const events: TrainEvent[] = [];
  return {
    events,
    onEvent: (e) => events.push(e),
    messages: () =>
      events
        .filter((e) => e.type === 'message')
        .map((e) => (e as { text: string }).text)
        .join('\n'),
  };
}

function folderConfig(project: string, trainDir: string, testDir: string, over: Record<string, unknown> = {}) {
  return resolveConfig({
    dataset: 'folder',
    model_type: 'CAE',
    height: 32,
    width: 32,
    color_channel: 3,
    epochs: 1,
    batch_size: 8,
    project,
    name: 'colour',
    CUSTOM: { train_data_path: trainDir, test_data_path: testDir, valset_proportion: 0.25, data_name: 'shapes' },
    ...over,
  });
}

test('a labelled colour folder trains a CAE and gets every test-mode output; bad files are skipped and reported', async () => {
  const root = tempDir('ae-folder-');
  const trainDir = path.join(root, 'train'),
    testDir = path.join(root, 'test');
  await makeFolder(trainDir, 12, 1);
  await makeFolder(testDir, 4, 2);
  const project = path.join(root, 'runs');
  const log = collect();
  // 8 epochs of 4 steps: enough to lower the loss clearly below an untrained network's (checked below).
  await train(folderConfig(project, trainDir, testDir, { epochs: 8 }), { onEvent: log.onEvent });
  const text = log.messages();
  assert.match(text, /train: 37 images, 1 non-image files skipped/);
  assert.match(text, /decoding 50 images to 32x32x3/);
  assert.match(
    text,
    /2 of 50 files could not be decoded and are left out:\n.*test[/\\]green[/\\]broken\.png: .*\n.*train[/\\]green[/\\]broken\.png/,
  );
  const start = log.events.find((e) => e.type === 'start') as { trainCount: number; valCount: number };
  assert.equal(start.trainCount + start.valCount, 36, 'the 36 decodable training images, split into train and validation');

  const r = await evaluateRun(path.join(project, 'colour'), { count: 4, embed: 'pca' });
  assert.deepEqual(r.files.map((f) => path.basename(f)).sort(), [
    'latent_pca.png',
    'loss.png',
    'map_pca.bin',
    'map_pca.json',
    'metrics.json',
    'reconstructions.png',
  ]);
  const m = JSON.parse(fs.readFileSync(path.join(project, 'colour', 'vis_outputs', 'metrics.json'), 'utf8'));
  assert.deepEqual(m.classes, ['blue', 'green', 'red']);
  assert.equal(m.images, 12, 'the 12 decodable test images');
  // The numbers, recomputed here from the best checkpoint and the decoded folders: the loss and the latent 5-NN
  // accuracy; training lowered the loss well below an untrained network's, and the tints separate the classes.
  const config = folderConfig(project, trainDir, testDir, { epochs: 8 });
  const splits = await loadImageFolders(config);
  const { model } = loadModel(config, path.join(project, 'colour', 'weights', 'best.ckpt'));
  assert.ok(Math.abs(m.test_mse - mseByHand(model, splits.test)) < 1e-6, `test_mse ${m.test_mse} vs ${mseByHand(model, splits.test)}`);
  const untrained = createModel(config);
  assert.ok(m.test_mse < 0.8 * mseByHand(untrained, splits.test), `test MSE ${m.test_mse}, untrained ${mseByHand(untrained, splits.test)}`);
  assert.equal(m.latent.knn_fit_images, splits.train.count);
  assert.deepEqual(
    { components: m.latent.pca.components, fit_images: m.latent.pca.fit_images },
    { components: 11, fit_images: 12 },
    '16,384-number codes reduced to the 11 directions 12 test codes span',
  );
  assert.ok(m.latent.pca.explained_variance_ratio > 0.9999, "those capture all of the test codes' variance");
  assert.equal(m.latent.knn5_accuracy, knn5ByHand(model, splits.train, splits.test));
  assert.ok(m.latent.knn5_accuracy >= 0.75, `latent 5-NN accuracy ${m.latent.knn5_accuracy} (chance: 1/3)`);
  model.params.dispose();
  untrained.params.dispose();

  // The default map on a dozen test images: t-SNE with the perplexity lowered to (n - 1) / 3, said and recorded;
  // UMAP with its neighbours lowered the same way.
  const said: string[] = [];
  const tsneRun = await evaluateRun(path.join(project, 'colour'), { count: 4, onMessage: (t) => said.push(t) });
  assert.equal(tsneRun.metrics.embedding.perplexity, Number((11 / 3).toFixed(4)));
  assert.ok(said.includes('t-SNE perplexity lowered from 30 to 3.6667: 12 points allow at most (n - 1) / 3'), said.join('\n'));
  assert.equal(tsneRun.metrics.embedding.knn_k_2d, 5);
  assert.equal(tsneRun.metrics.embedding.trustworthiness_k10, null, 'trustworthiness needs more than 31 points');
  const umapRun = await evaluateRun(path.join(project, 'colour'), { count: 4, embed: 'umap', limit: 5 });
  assert.equal(umapRun.metrics.embedding.n_neighbors, 4);
  assert.equal(umapRun.metrics.embedding.knn_k_2d, 4);

  // The same folder in grayscale: one channel, its own cache folder beside the colour one.
  const gray = collect();
  await train(folderConfig(project, trainDir, testDir, { name: 'gray', color_channel: 1, convert2grayscale: true }), {
    onEvent: gray.onEvent,
  });
  assert.match(gray.messages(), /decoding 50 images to 32x32x1/);
  assert.deepEqual(fs.readdirSync(path.join(project, 'data', 'shapes')).sort(), ['32x32x1-squash-black', '32x32x3-squash-black']);
  const g = await evaluateRun(path.join(project, 'gray'), { count: 3, embed: 'pca' });
  assert.equal(g.files.length, 6, 'reconstructions, the map picture and its data (2 files), loss, metrics');
});

test('the preprocessing cache is used on the next run; a changed file, an added file or a new size decodes only what is new', async () => {
  const root = tempDir('ae-cache-');
  const trainDir = path.join(root, 'train');
  await makeFolder(trainDir, 6, 3);
  const base = resolveConfig({
    dataset: 'folder',
    height: 16,
    width: 16,
    color_channel: 3,
    project: path.join(root, 'runs'),
    CUSTOM: { train_data_path: trainDir },
  });
  const messages: string[] = [];
  const log = (m: string) => messages.push(m);
  const pixels = (splits: DataSplits) => inMemory(concatSets([splits.train, splits.validation])).images;
  let decoded = 0;
  const first = await loadImageFolders(base, { log, onProgress: () => decoded++ });
  assert.ok(
    messages.some((m) => m.startsWith('decoding 19 images to 16x16x3')),
    messages.join('\n'),
  );
  assert.ok(decoded > 0);
  const cacheDir = path.join(root, 'runs', 'data', 'train', '16x16x3-squash-black');
  assert.deepEqual(fs.readdirSync(cacheDir).sort(), ['shard-000000.bin', 'shard-000000.json'], 'one shard: its data and its index');
  assert.equal(fs.statSync(path.join(cacheDir, 'shard-000000.bin')).size, 18 * 16 * 16 * 3, 'the 18 decodable images, a byte per value');

  messages.length = 0;
  decoded = 0;
  const second = await loadImageFolders(base, { log, onProgress: () => decoded++ });
  assert.equal(decoded, 0, 'nothing decoded the second time');
  assert.ok(
    messages.some((m) => m.startsWith('using the 18 preprocessed images cached in')),
    messages.join('\n'),
  );
  assert.ok(second.train.store, 'folder splits are streamed from the cache');
  assert.deepEqual(pixels(second), pixels(first));
  assert.deepEqual(second.classNames, ['blue', 'green', 'red']);

  // Touching one file decodes that file only, into a new shard.
  const touched = path.join(trainDir, 'red', 'img0.png');
  fs.utimesSync(touched, new Date(), new Date(Date.now() + 5000));
  messages.length = 0;
  const afterTouch = await loadImageFolders(base, { log });
  assert.ok(
    messages.some((m) => m.startsWith('decoding 1 images to 16x16x3 (18 already cached)')),
    messages.join('\n'),
  );
  assert.deepEqual(pixels(afterTouch), pixels(first), 'the same pixels: the file was touched, not changed');
  // Two files added: only they are decoded; the new images join their class.
  await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 250, g: 0, b: 0 } } })
    .png()
    .toFile(path.join(trainDir, 'red', 'new1.png'));
  await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 0, g: 0, b: 250 } } })
    .png()
    .toFile(path.join(trainDir, 'blue', 'new2.png'));
  messages.length = 0;
  const grown = await loadImageFolders(base, { log });
  assert.ok(
    messages.some((m) => m.startsWith('decoding 2 images to 16x16x3 (19 already cached)')),
    messages.join('\n'),
  );
  assert.equal(grown.train.count + grown.validation.count, 20);
  // The same images decoded afresh, in one go, give the same splits, pixel for pixel.
  const fresh = await loadImageFolders({ ...base, project: path.join(root, 'fresh') });
  assert.deepEqual(pixels(grown), pixels(fresh));
  assert.deepEqual([...grown.train.labels], [...fresh.train.labels]);

  // A different height gets its own cache folder; the first one stays.
  messages.length = 0;
  const taller = await loadImageFolders({ ...base, height: 20 }, { log });
  assert.ok(
    messages.some((m) => m.startsWith('decoding 21 images to 20x16x3')),
    messages.join('\n'),
  );
  assert.equal(taller.train.height, 20);
  assert.deepEqual(fs.readdirSync(path.dirname(cacheDir)).sort(), ['16x16x3-squash-black', '20x16x3-squash-black']);

  // The single-file cache of the earlier format is removed, and said so.
  fs.writeFileSync(path.join(root, 'runs', 'data', 'train', 'images.bin'), 'old');
  fs.writeFileSync(path.join(root, 'runs', 'data', 'train', 'manifest.json'), '{}');
  messages.length = 0;
  await loadImageFolders(base, { log });
  assert.ok(messages.some((m) => m.startsWith('removed the single-file image cache')));
  assert.ok(!fs.existsSync(path.join(root, 'runs', 'data', 'train', 'images.bin')));
});

test('image folders: unlabelled layouts, and clear errors for empty, missing and mismatched folders', async () => {
  const root = tempDir('ae-folder-bad-');
  const flat = path.join(root, 'flat');
  fs.mkdirSync(flat);
  for (let i = 0; i < 8; i++)
    await sharp({ create: { width: 10 + i, height: 12, channels: 3, background: { r: 20 * i, g: 100, b: 50 } } })
      .png()
      .toFile(path.join(flat, `f${i}.png`));
  const cfg = (over: Record<string, unknown>) =>
    resolveConfig({ dataset: 'folder', height: 8, width: 8, color_channel: 1, project: path.join(root, 'runs'), ...over });
  const splits = await loadImageFolders(cfg({ CUSTOM: { train_data_path: flat, fit: 'pad', background: 'white' } }));
  assert.equal(splits.classNames, null, 'a flat folder is unlabelled');
  assert.equal(splits.train.count + splits.validation.count, 8);
  assert.equal(splits.train.channels, 1);

  const empty = path.join(root, 'empty');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'readme.md'), 'no images here');
  await assert.rejects(
    loadImageFolders(cfg({ CUSTOM: { train_data_path: empty } })),
    (e: unknown) => e instanceof UserError && e.message.includes(empty) && /holds no images \(1 other files skipped\)/.test(e.message),
  );
  const missing = path.join(root, 'nope');
  await assert.rejects(
    loadImageFolders(cfg({ CUSTOM: { train_data_path: missing } })),
    (e: unknown) =>
      e instanceof UserError && e.message.includes(`CUSTOM.train_data_path: cannot read the image folder ${missing} (it does not exist)`),
  );

  const labelled = path.join(root, 'labelled'),
    validation = path.join(root, 'validation');
  await makeFolder(labelled, 3, 4);
  await makeFolder(validation, 2, 5);
  fs.renameSync(path.join(validation, 'red'), path.join(validation, 'purple'));
  await assert.rejects(
    loadImageFolders(cfg({ CUSTOM: { train_data_path: labelled, validation_data_path: validation } })),
    (e: unknown) => e instanceof UserError && e.message.includes('has classes the training folder lacks: purple'),
  );
  await assert.rejects(
    loadImageFolders(cfg({ CUSTOM: { train_data_path: labelled, validation_data_path: flat } })),
    (e: unknown) => e instanceof UserError && e.message.includes('flat (unlabelled) but the training folder is labelled'),
  );

  // Nothing decodable at all refuses to start.
  const junk = path.join(root, 'junk');
  fs.mkdirSync(junk);
  fs.writeFileSync(path.join(junk, 'a.png'), 'garbage');
  fs.writeFileSync(path.join(junk, 'b.jpg'), 'garbage');
  await assert.rejects(
    loadImageFolders(cfg({ CUSTOM: { train_data_path: junk } })),
    (e: unknown) => e instanceof UserError && e.message.includes('none of the 2 images'),
  );

  // Config checks up front.
  assert.throws(
    () => resolveConfig({ dataset: 'folder', model_type: 'CAE', height: 30, width: 32, CUSTOM: { train_data_path: flat } }),
    /divisible by 4/,
  );
  assert.throws(() => resolveConfig({ dataset: 'folder' }), /CUSTOM\.train_data_path: missing/);
  assert.throws(
    () => resolveConfig({ dataset: 'folder', color_channel: 3, convert2grayscale: true, CUSTOM: { train_data_path: flat } }),
    /set color_channel: 1/,
  );
  assert.throws(() => resolveConfig({ dataset: 'fashion-mnist', height: 32 }), /Fashion-MNIST images are 28x28x1/);
});

test('Fashion-MNIST trains with the AE preset and its map legend names the clothing classes', async () => {
  const preset = resolveConfig({
    ...(await import('yaml')).parse(fs.readFileSync(path.join(ROOT, 'configs', 'fashion-ae.yaml'), 'utf8')),
    project: tempDir(),
    epochs: 2,
    FASHION_MNIST: { path: path.resolve(ROOT, '..', 'shared', 'data', 'fashion-mnist'), subset: 1200 },
  });
  assert.equal(preset.dataset, 'fashion-mnist');
  const result = await train(preset);
  const [first, second] = result.history;
  assert.ok(second!.val_loss < first!.val_loss && second!.val_loss < 0.12, `validation loss ${first!.val_loss} -> ${second!.val_loss}`);
  const r = await evaluateRun(result.runDir, { limit: 200, count: 4 });
  const names = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
  assert.deepEqual(r.metrics.classes, names);
  assert.equal(r.metrics.embedding.method, 'tsne');
  // The legend as drawn in latent_tsne.png: one line per class among the 200 images, each a swatch of the class's
  // colour and the class's name, compared pixel for pixel with the name rendered here on its own.
  assert.deepEqual(
    r.mapLegend.map((e) => e.name),
    names,
    'all ten classes occur among the first 200 test images',
  );
  const map = await readPng(path.join(result.runDir, 'vis_outputs', 'latent_tsne.png'));
  for (const entry of r.mapLegend) {
    const hex = entry.colour.match(/\w\w/g)!.map((h) => Number.parseInt(h, 16));
    assert.deepEqual(pixelAt(map, entry.swatch.x, entry.swatch.y), hex, `${entry.name}: swatch colour`);
    const { canvas, ctx } = newCanvas(map.width, map.height);
    ctx.font = LEGEND_FONT;
    ctx.fillStyle = '#222';
    ctx.fillText(entry.name, entry.text.x, entry.text.y);
    const width = Math.ceil(ctx.measureText(entry.name).width);
    const alone = await readPng(
      await canvas.encode('png').then((png) => {
        const f = path.join(tempDir(), 'text.png');
        fs.writeFileSync(f, png);
        return f;
      }),
    );
    let ink = 0,
      mismatch = 0;
    for (let y = entry.text.y - 16; y <= entry.text.y + 5; y++) {
      for (let x = entry.text.x; x <= entry.text.x + width; x++) {
        const want = pixelAt(alone, x, y),
          got = pixelAt(map, x, y);
        if (want[0] < 200) ink++;
        if (Math.abs(want[0] - got[0]) > 3) mismatch++;
      }
    }
    assert.ok(ink > 20, `${entry.name}: the name has ink`);
    assert.equal(mismatch, 0, `${entry.name}: the legend text matches the name rendered alone`);
  }
});
