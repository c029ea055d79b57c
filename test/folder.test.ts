import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { resolveConfig } from '../src/config/load.js';
import { train, type TrainEvent } from '../src/train/trainer.js';
import { runTest } from '../src/evaluate/test-mode.js';
import { loadImageFolders } from '../src/data/folder.js';
import { UserError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';
import { ROOT, tempDir } from './helpers.js';

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
          for (let c = 0; c < 3; c++) px[(y * 32 + x) * channels + c] = Math.max(0, Math.min(255, rgb[c]! * (0.6 + 0.4 * stripe) + rng.normal() * 12));
          if (channels === 4) px[(y * 32 + x) * channels + 3] = 255;
        }
      }
      const img = sharp(px, { raw: { width: 32, height: 32, channels } });
      if (i % 2 === 0) await img.png().toFile(path.join(dir, name, `img${i}.png`));
      else await img.removeAlpha().jpeg({ quality: 90 }).toFile(path.join(dir, name, `img${i}.jpg`));
    }
  }
  fs.writeFileSync(path.join(dir, 'red', 'notes.txt'), 'not an image');
  fs.writeFileSync(path.join(dir, 'green', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nthis is not a PNG'));
}

function collect(): { events: TrainEvent[]; onEvent: (e: TrainEvent) => void; messages: () => string } {
  const events: TrainEvent[] = [];
  return { events, onEvent: (e) => events.push(e), messages: () => events.filter((e) => e.type === 'message').map((e) => (e as { text: string }).text).join('\n') };
}

function folderConfig(project: string, trainDir: string, testDir: string, over: Record<string, unknown> = {}) {
  return resolveConfig({
    dataset: 'folder', model_type: 'CAE', height: 32, width: 32, color_channel: 3, epochs: 1, batch_size: 8, project, name: 'colour',
    CUSTOM: { train_data_path: trainDir, test_data_path: testDir, valset_proportion: 0.25, data_name: 'shapes' }, ...over,
  });
}

test('a labelled colour folder trains a CAE and gets every test-mode output; bad files are skipped and reported', async () => {
  const root = tempDir('ae-folder-');
  const trainDir = path.join(root, 'train'), testDir = path.join(root, 'test');
  await makeFolder(trainDir, 12, 1);
  await makeFolder(testDir, 4, 2);
  const project = path.join(root, 'runs');
  const log = collect();
  await train(folderConfig(project, trainDir, testDir), { onEvent: log.onEvent });
  const text = log.messages();
  assert.match(text, /decoding 37 images from .*train to 32x32x3, 1 non-image files skipped/);
  assert.match(text, /skipped .*green[/\\]broken\.png: cannot decode/);
  const start = log.events.find((e) => e.type === 'start') as { trainCount: number; valCount: number };
  assert.equal(start.trainCount + start.valCount, 36, 'the 36 decodable training images, split into train and validation');

  const r = await runTest(path.join(project, 'colour'), { count: 4, embed: 'pca' });
  assert.deepEqual(r.files.map((f) => path.basename(f)).sort(), ['latent_pca.png', 'loss.png', 'metrics.json', 'reconstructions.png']);
  const m = JSON.parse(fs.readFileSync(path.join(project, 'colour', 'vis_outputs', 'metrics.json'), 'utf8'));
  assert.deepEqual(m.classes, ['blue', 'green', 'red']);
  assert.equal(m.images, 12, 'the 12 decodable test images');
  assert.ok(m.test_mse > 0 && m.test_mse < 0.2, `test MSE ${m.test_mse}`);
  assert.equal(typeof m.latent.knn5_accuracy, 'number');

  // The same folder in grayscale: one channel, its own cache entry.
  const gray = collect();
  await train(folderConfig(project, trainDir, testDir, { name: 'gray', color_channel: 1, convert2grayscale: true }), { onEvent: gray.onEvent });
  assert.match(gray.messages(), /the images or the preprocessing changed|decoding 37 images from .* to 32x32x1/);
  const g = await runTest(path.join(project, 'gray'), { count: 3, embed: 'pca' });
  assert.equal(g.files.length, 4);
});

test('the preprocessing cache is used on the next run and rebuilt when a file or the size changes', async () => {
  const root = tempDir('ae-cache-');
  const trainDir = path.join(root, 'train');
  await makeFolder(trainDir, 6, 3);
  const base = resolveConfig({ dataset: 'folder', height: 16, width: 16, color_channel: 3, project: path.join(root, 'runs'), CUSTOM: { train_data_path: trainDir } });
  const messages: string[] = [];
  const log = (m: string) => messages.push(m);
  const first = await loadImageFolders(base, { log });
  assert.ok(messages.some((m) => m.startsWith('decoding 19 images')), messages.join('\n'));
  const cacheDir = path.join(root, 'runs', 'data', 'train');
  assert.deepEqual(fs.readdirSync(cacheDir).sort(), ['images.bin', 'manifest.json'], 'the cache folder holds exactly its two files');

  messages.length = 0;
  let decoded = 0;
  const second = await loadImageFolders(base, { log, onProgress: () => decoded++ });
  assert.equal(decoded, 0, 'nothing decoded the second time');
  assert.ok(messages.some((m) => m.startsWith('using the preprocessed images cached in')), messages.join('\n'));
  assert.deepEqual(second.train.images, first.train.images);
  assert.deepEqual(second.classNames, ['blue', 'green', 'red']);

  // Touching one file rebuilds.
  const touched = path.join(trainDir, 'red', 'img0.png');
  fs.utimesSync(touched, new Date(), new Date(Date.now() + 5000));
  messages.length = 0;
  await loadImageFolders(base, { log });
  assert.ok(messages.some((m) => m.includes('changed since the cache')), messages.join('\n'));
  assert.ok(messages.some((m) => m.startsWith('decoding 19 images')));

  // A different height rebuilds.
  messages.length = 0;
  const taller = await loadImageFolders({ ...base, height: 20 }, { log });
  assert.ok(messages.some((m) => m.startsWith('decoding 19 images')), messages.join('\n'));
  assert.equal(taller.train.height, 20);

  // A damaged cache is reported and rebuilt, never trusted.
  const bin = path.join(cacheDir, 'images.bin');
  const bytes = fs.readFileSync(bin);
  bytes[10] ^= 0xff;
  fs.writeFileSync(bin, bytes);
  messages.length = 0;
  const repaired = await loadImageFolders({ ...base, height: 20 }, { log });
  assert.ok(messages.some((m) => m.includes('damaged')), messages.join('\n'));
  assert.deepEqual(repaired.train.images, taller.train.images);
});

test('image folders: unlabelled layouts, and clear errors for empty, missing and mismatched folders', async () => {
  const root = tempDir('ae-folder-bad-');
  const flat = path.join(root, 'flat');
  fs.mkdirSync(flat);
  for (let i = 0; i < 8; i++) await sharp({ create: { width: 10 + i, height: 12, channels: 3, background: { r: 20 * i, g: 100, b: 50 } } }).png().toFile(path.join(flat, `f${i}.png`));
  const cfg = (over: Record<string, unknown>) => resolveConfig({ dataset: 'folder', height: 8, width: 8, color_channel: 1, project: path.join(root, 'runs'), ...over });
  const splits = await loadImageFolders(cfg({ CUSTOM: { train_data_path: flat, fit: 'pad', background: 'white' } }));
  assert.equal(splits.classNames, null, 'a flat folder is unlabelled');
  assert.equal(splits.train.count + splits.validation.count, 8);
  assert.equal(splits.train.channels, 1);

  const empty = path.join(root, 'empty');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'readme.md'), 'no images here');
  await assert.rejects(loadImageFolders(cfg({ CUSTOM: { train_data_path: empty } })), (e: unknown) =>
    e instanceof UserError && e.message.includes(empty) && /holds no images \(1 other files skipped\)/.test(e.message));
  const missing = path.join(root, 'nope');
  await assert.rejects(loadImageFolders(cfg({ CUSTOM: { train_data_path: missing } })), (e: unknown) =>
    e instanceof UserError && e.message.includes(`CUSTOM.train_data_path: cannot read the image folder ${missing} (it does not exist)`));

  const labelled = path.join(root, 'labelled'), validation = path.join(root, 'validation');
  await makeFolder(labelled, 3, 4);
  await makeFolder(validation, 2, 5);
  fs.renameSync(path.join(validation, 'red'), path.join(validation, 'purple'));
  await assert.rejects(loadImageFolders(cfg({ CUSTOM: { train_data_path: labelled, validation_data_path: validation } })), (e: unknown) =>
    e instanceof UserError && e.message.includes('has classes the training folder lacks: purple'));
  await assert.rejects(loadImageFolders(cfg({ CUSTOM: { train_data_path: labelled, validation_data_path: flat } })), (e: unknown) =>
    e instanceof UserError && e.message.includes('flat (unlabelled) but the training folder is labelled'));

  // Nothing decodable at all refuses to start.
  const junk = path.join(root, 'junk');
  fs.mkdirSync(junk);
  fs.writeFileSync(path.join(junk, 'a.png'), 'garbage');
  fs.writeFileSync(path.join(junk, 'b.jpg'), 'garbage');
  await assert.rejects(loadImageFolders(cfg({ CUSTOM: { train_data_path: junk } })), (e: unknown) =>
    e instanceof UserError && e.message.includes('none of the 2 images'));

  // Config checks up front.
  assert.throws(() => resolveConfig({ dataset: 'folder', model_type: 'CAE', height: 30, width: 32, CUSTOM: { train_data_path: flat } }), /divisible by 4/);
  assert.throws(() => resolveConfig({ dataset: 'folder' }), /CUSTOM\.train_data_path: missing/);
  assert.throws(() => resolveConfig({ dataset: 'folder', color_channel: 3, convert2grayscale: true, CUSTOM: { train_data_path: flat } }), /set color_channel: 1/);
  assert.throws(() => resolveConfig({ dataset: 'fashion-mnist', height: 32 }), /Fashion-MNIST images are 28x28x1/);
});

test('Fashion-MNIST trains with the AE preset and its map legend names the clothing classes', async () => {
  const preset = resolveConfig({
    ...(await import('yaml')).parse(fs.readFileSync(path.join(ROOT, 'configs', 'fashion-ae.yaml'), 'utf8')),
    project: tempDir(), epochs: 2,
    FASHION_MNIST: { path: path.resolve(ROOT, '..', 'shared', 'data', 'fashion-mnist'), subset: 1200 },
  });
  assert.equal(preset.dataset, 'fashion-mnist');
  const result = await train(preset);
  const [first, second] = result.history;
  assert.ok(second!.val_loss < first!.val_loss && second!.val_loss < 0.12, `validation loss ${first!.val_loss} -> ${second!.val_loss}`);
  const r = await runTest(result.runDir, { limit: 200, count: 4 });
  const m = r.metrics as { classes: string[]; embedding: { method: string } };
  assert.deepEqual(m.classes.slice(0, 3), ['T-shirt/top', 'Trouser', 'Pullover']);
  assert.equal(m.embedding.method, 'tsne');
  assert.ok(fs.existsSync(path.join(result.runDir, 'vis_outputs', 'latent_tsne.png')));
});
