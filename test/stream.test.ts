/**
 * Image folders streamed from the sharded cache on disk: the same training as in memory, bit for bit; a decode
 * that stops and goes on; shards damaged, truncated or deleted; a full disk; the PNG fast path against libvips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { CLASS_NAMES, syntheticImage, writeSyntheticFolder } from '../bench/synthetic-images.js';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { loadConfig, modelSignature, resolveConfig } from '../src/config/load.js';
import { initBackend, tf } from '../src/backend/index.js';
import { createModel } from '../src/models/registry.js';
import { ensureCached, type SourceFile } from '../src/data/cache.js';
import { batchFloats } from '../src/data/dataset.js';
import { decodeFiles, decodeWithSharp, type Preprocessing } from '../src/data/decode.js';
import { loadImageFolders } from '../src/data/folder.js';
import { DecodeInterrupted, TrainingInterrupted, UserError } from '../src/errors.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { resume, train } from '../src/train/trainer.js';
import { encode } from '../src/use/encode.js';
import { ROOT, tempDir } from './helpers.js';

const SIZE = 16;
const P: Preprocessing = { height: SIZE, width: SIZE, channels: 3, fit: 'squash', background: 'black' };

/** A labelled folder of `n` synthetic 16 x 16 PNGs (eight classes), shared by the tests below. */
async function folder(n: number): Promise<string> {
  const dir = tempDir('ae-stream-');
  await writeSyntheticFolder(path.join(dir, 'images'), 0, n, 5, undefined, SIZE);
  return path.join(dir, 'images');
}

function listed(dir: string): SourceFile[] {
  return CLASS_NAMES.flatMap((c) =>
    fs
      .readdirSync(path.join(dir, c))
      .sort()
      .map((f) => {
        const st = fs.statSync(path.join(dir, c, f));
        return { path: path.join(dir, c, f), size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
      }),
  );
}

test('streamed and in-memory training give the same losses and weights, bit for bit, also interrupted and resumed', async () => {
  const images = await folder(96);
  const project = path.join(path.dirname(images), 'runs');
  const config = (name: string, inMemoryToo: boolean) =>
    resolveConfig({
      dataset: 'folder',
      model_type: 'CAE',
      height: SIZE,
      width: SIZE,
      color_channel: 3,
      batch_size: 16,
      epochs: 3,
      seed: 11,
      project,
      name,
      CUSTOM: { train_data_path: images, valset_proportion: 0.25, in_memory: inMemoryToo },
    });
  const streamed = await train(config('streamed', false));
  const memory = await train(config('memory', true));
  assert.equal(streamed.history.length, 3);
  assert.ok(streamed.history[2]!.train_loss < streamed.history[0]!.train_loss, 'the loss falls');
  for (const key of ['train_loss', 'val_loss', 'step'] as const) {
    assert.deepEqual(
      streamed.history.map((r) => r[key]),
      memory.history.map((r) => r[key]),
      key,
    );
  }
  const weights = (name: string) => readCheckpoint(path.join(project, name, 'weights', 'last.ckpt')).data;
  assert.ok(Buffer.from(weights('streamed')).equals(Buffer.from(weights('memory'))), 'the same weights and optimiser state, byte for byte');

  // Stopped after 7 steps (in the second epoch) and resumed, streamed and in memory: identical again.
  for (const [name, inMem] of [
    ['streamed-resumed', false],
    ['memory-resumed', true],
  ] as const) {
    let steps = 0;
    await assert.rejects(
      train(config(name, inMem), {
        shouldStop: () => steps === 7,
        onEvent: (e) => {
          if (e.type === 'batch') steps++;
        },
      }),
      (e: unknown) => e instanceof TrainingInterrupted && e.epoch === 1 && e.step === 2,
    );
    await resume(path.join(project, name));
  }
  assert.ok(Buffer.from(weights('streamed-resumed')).equals(Buffer.from(weights('memory-resumed'))), 'resumed: streamed = in memory');
  const resumedHistory = readCheckpoint(path.join(project, 'streamed-resumed', 'weights', 'last.ckpt')).header.state.history;
  resumedHistory.forEach((row, i) => {
    assert.ok(Math.abs(row.train_loss - streamed.history[i]!.train_loss) < 1e-6, `resumed epoch ${i + 1} continues the uninterrupted run`);
  });

  // ae test and ae encode read the streamed split as the in-memory one; the map may cover a seeded sample.
  const a = await evaluateRun(path.join(project, 'streamed'), { embed: 'pca', count: 4, mapPoints: 12 });
  const b = await evaluateRun(path.join(project, 'memory'), { embed: 'pca', count: 4, mapPoints: 12 });
  assert.equal(a.metrics.test_mse, b.metrics.test_mse);
  assert.deepEqual(a.metrics.map_sample, { images: 12, of: 24, sampled: true });
  const mapHeader = JSON.parse(fs.readFileSync(path.join(project, 'streamed', 'vis_outputs', 'map_pca.json'), 'utf8'));
  assert.equal(mapHeader.count, 12, 'the map data holds the sample');
  const full = await evaluateRun(path.join(project, 'streamed'), { embed: 'pca', count: 4 });
  assert.deepEqual(full.metrics.map_sample, { images: 24, of: 24, sampled: false });
  const codes = async (name: string) => {
    const out = path.join(project, `${name}.npy`);
    await encode(path.join(project, name), { input: ['validation'], out, format: 'npy' });
    return fs.readFileSync(out);
  };
  assert.ok((await codes('streamed')).equals(await codes('memory')), 'ae encode: the same codes');
});

test('a stopped decode keeps its shards and the next run decodes only the rest; damaged shards are named, never used', async () => {
  const images = await folder(40);
  const files = listed(images);
  const dir = path.join(path.dirname(images), 'cache');
  // Decoding stops after the second shard of 8 images.
  let shards = 0;
  await assert.rejects(
    ensureCached(dir, P, files, { shardImages: 8, shouldStop: () => ++shards > 2 }),
    (e: unknown) => e instanceof DecodeInterrupted && e.cached === 16 && e.total === 40,
  );
  assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.json')).length, 2, 'two finished shards kept');
  const resumed = await ensureCached(dir, P, files, { shardImages: 8 });
  assert.equal(resumed.decoded, 24, 'only the 24 images not yet cached are decoded');
  // Pixels: what the cache returns is what libvips decodes from each file.
  const size = SIZE * SIZE * 3;
  const set = {
    store: resumed.store,
    rows: Uint32Array.from(resumed.rows),
    labels: new Uint8Array(40),
    count: 40,
    height: SIZE,
    width: SIZE,
    channels: 3,
  };
  const got = batchFloats(set, null, 0, 40);
  for (const i of [0, 9, 17, 39]) {
    const one = new Uint8Array(size);
    await decodeWithSharp(files[i]!.path, P, one);
    assert.deepEqual(
      Array.from(got.subarray(i * size, (i + 1) * size)),
      Array.from(one, (v) => Math.fround(v / 255)),
      `image ${i}`,
    );
  }

  // One byte of a shard changed under a reader: the read fails with the shard's name; the next run decodes it again.
  const shard1 = path.join(dir, 'shard-000001.bin');
  const bytes = fs.readFileSync(shard1);
  bytes[100]! ^= 0x40;
  fs.writeFileSync(shard1, bytes);
  assert.throws(
    () => batchFloats(set, null, 0, 40),
    (e: unknown) => e instanceof UserError && e.message.includes(shard1) && e.message.includes('checksum'),
  );
  const repaired = await ensureCached(dir, P, files, { shardImages: 8 });
  assert.equal(repaired.decoded, 8, "the damaged shard's 8 images are decoded again");
  // A truncated shard is found when the cache is opened, said so, and decoded again.
  const shard2 = path.join(dir, 'shard-000002.bin');
  fs.truncateSync(shard2, 100);
  const messages: string[] = [];
  const afterTruncation = await ensureCached(dir, P, files, { shardImages: 8, log: (m) => messages.push(m) });
  assert.ok(
    messages.some((m) => m.includes(shard2) && m.includes('holds 100 bytes')),
    messages.join('\n'),
  );
  assert.equal(afterTruncation.decoded, 8);
  const setAgain = { ...set, store: afterTruncation.store, rows: Uint32Array.from(afterTruncation.rows) };
  assert.deepEqual(batchFloats(setAgain, null, 0, 40), got, 'the same pixels as before the damage');
  // A shard deleted under a reader that has it open still reads its own (right) pixels; once reopened, the error
  // names it, never zeros.
  const rowInShard = afterTruncation.rows[0]!;
  const deleted = path.join(dir, `shard-${String(Math.floor(rowInShard / 4096)).padStart(6, '0')}.bin`);
  fs.rmSync(deleted);
  assert.deepEqual(batchFloats(setAgain, null, 0, 40), got);
  afterTruncation.store.close();
  assert.throws(
    () => batchFloats(setAgain, null, 0, 1),
    (e: unknown) => e instanceof UserError && e.message.includes(deleted) && e.message.includes('deleted'),
  );
});

test('a full disk while caching keeps the finished shards and says how much space is needed; undecodable files are counted', async () => {
  const images = await folder(24);
  for (let i = 0; i < 7; i++) fs.writeFileSync(path.join(images, 'disc', `broken${i}.png`), 'not a png');
  const root = path.dirname(images);
  const config = resolveConfig({
    dataset: 'folder',
    height: SIZE,
    width: SIZE,
    color_channel: 3,
    project: path.join(root, 'runs'),
    CUSTOM: { train_data_path: images },
  });
  const messages: string[] = [];
  const splits = await loadImageFolders(config, { log: (m) => messages.push(m) });
  assert.equal(splits.train.count + splits.validation.count, 24, 'the 24 good images; training goes on without the broken ones');
  const text = messages.join('\n');
  assert.match(text, /7 of 31 files could not be decoded and are left out:/);
  assert.equal(messages.filter((m) => /broken\d\.png: /.test(m)).length, 5, 'the first five are named');
  assert.match(text, /\.\.\. and 2 more/);

  // Disk full at the second shard's data: the first shard stays, the error says how much room the shard needs.
  const dir = path.join(root, 'full');
  process.env.AE_FAULT_INJECT = 'enospc:shard-000001.bin:1';
  try {
    await assert.rejects(
      ensureCached(dir, P, listed(images).slice(0, 20), { shardImages: 8 }),
      (e: unknown) => e instanceof UserError && /disk is full/.test(e.message) && /free at least \d+ MB/.test(e.message),
    );
  } finally {
    delete process.env.AE_FAULT_INJECT;
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['shard-000000.bin', 'shard-000000.json'], 'the finished shard, and no partial file');
  const after = await ensureCached(dir, P, listed(images).slice(0, 20), { shardImages: 8 });
  assert.equal(after.decoded, 12, 'the next run goes on from the kept shard');
});

test('the PNG fast path gives the bytes libvips gives: grey, RGB and palette PNGs; other kinds fall back to libvips', async () => {
  const dir = tempDir('ae-png-');
  const files: string[] = [];
  const write = async (name: string, img: sharp.Sharp) => {
    const file = path.join(dir, name);
    await img.toFile(file);
    files.push(file);
  };
  for (let i = 0; i < 4; i++) {
    const { pixels } = syntheticImage(i, 9, SIZE);
    const raw = () => sharp(Buffer.from(pixels), { raw: { width: SIZE, height: SIZE, channels: 3 } });
    await write(`rgb${i}.png`, raw().png({ compressionLevel: i * 3 }));
    await write(`grey${i}.png`, raw().grayscale().png());
    await write(`palette${i}.png`, raw().png({ palette: true, colours: 16 }));
    await write(`alpha${i}.png`, raw().ensureAlpha(0.5).png());
    await write(`interlaced${i}.png`, raw().png({ progressive: true }));
    await write(
      `big${i}.png`,
      raw()
        .resize(SIZE * 2, SIZE)
        .png(),
    );
    await write(`photo${i}.jpg`, raw().jpeg());
  }
  for (const channels of [3, 1] as const) {
    const p = { ...P, channels };
    const size = SIZE * SIZE * channels;
    const out = new Uint8Array(files.length * size);
    const reasons = await decodeFiles(files, p, out);
    assert.ok(reasons.every((r) => r === null));
    for (let i = 0; i < files.length; i++) {
      const one = new Uint8Array(size);
      await decodeWithSharp(files[i]!, p, one);
      assert.ok(
        Buffer.from(one).equals(Buffer.from(out.subarray(i * size, (i + 1) * size))),
        `${path.basename(files[i]!)} at ${channels} channels`,
      );
    }
  }
});

test('encoder_channels sets the trunk: four stages take the 64 x 64 preset to a 4 x 4 x 256 map; old checkpoints keep their signature', async () => {
  const images = path.join(tempDir('ae-preset-'), 'photos');
  await writeSyntheticFolder(images, 0, 96, 3, undefined, 64);
  const preset = loadConfig(path.join(ROOT, 'configs', 'celeba-64.yaml'), {
    epochs: 2,
    batch_size: 16,
    project: path.join(path.dirname(images), 'runs'),
    CUSTOM: { train_data_path: images },
  });
  assert.deepEqual(preset.encoder_channels, [32, 64, 128, 256]);
  await initBackend(preset.backend);
  const model = createModel(preset);
  const shapes = Object.fromEntries(model.params.variables.map((v) => [v.name, v.variable.shape]));
  assert.deepEqual(shapes['encoder.3.conv.weight'], [3, 3, 128, 256], 'the fourth stride-2 convolution, 128 -> 256');
  assert.deepEqual(shapes['encoder.fc.weight'], [4 * 4 * 256, 128], 'the code is read off a 4 x 4 x 256 map');
  assert.deepEqual(shapes['decoder.0.deconv.weight'], [2, 2, 128, 256], 'the decoder mirrors the stages: 256 -> 128 first');
  assert.deepEqual(shapes['decoder.3.deconv.weight'], [2, 2, 32, 32]);
  assert.deepEqual(shapes['decoder.4.deconv.weight'], [3, 3, 3, 32], 'then 32 -> the three colour channels');
  const y = tf.tidy(() => model.decode(model.encode(tf.zeros([2, 64, 64, 3]), { training: false, seed: 0 }), { training: false, seed: 0 }));
  assert.deepEqual(y.shape, [2, 64, 64, 3]);
  tf.dispose(y);
  model.params.dispose();
  const result = await train(preset);
  assert.ok(result.history[1]!.train_loss < result.history[0]!.train_loss, 'the preset trains: the loss falls');

  // Sizes must halve once per stage; the default trunk signs as before, so older runs still load.
  assert.throws(
    () => resolveConfig({ model_type: 'BottleneckCAE', height: 40, width: 40, encoder_channels: [8, 8, 8, 8] }),
    (e: unknown) => e instanceof UserError && /halves the image 4 times .*divisible by 16/.test(e.message),
  );
  const old = '{"model_type":"BottleneckCAE","height":28,"width":28,"color_channel":1,"latent_dim":32}';
  assert.equal(modelSignature(resolveConfig({ model_type: 'BottleneckCAE' })), old);
  assert.notEqual(modelSignature(resolveConfig({ model_type: 'BottleneckCAE', encoder_channels: [16, 32] })), old);
});
