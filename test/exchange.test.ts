import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { tf } from '../src/backend/index.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { resolveConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { batchTensor, head, type ImageSet } from '../src/data/dataset.js';
import { loadData } from '../src/data/load.js';
import { UserError } from '../src/errors.js';
import { configInSafetensors, exportOnnx, exportSafetensors, importSafetensors } from '../src/exchange/index.js';
import { reconstruct } from '../src/models/registry.js';
import { train } from '../src/train/trainer.js';
import { MNIST_DIR, runCli, smallMnist, tempDir } from './helpers.js';

/** A short run on 256 MNIST images, or on a small folder of 16x16 colour images (three tinted classes). */
async function mnistRun(over: Record<string, unknown>): Promise<{ dir: string; config: Config }> {
  const config = resolveConfig({
    project: tempDir('ae-exchange-'),
    name: 'run',
    epochs: 1,
    batch_size: 32,
    MNIST: { path: MNIST_DIR, subset: 2000 },
    ...over,
  });
  await train(config, { data: await smallMnist(256, 64) });
  return { dir: path.join(config.project, config.name), config };
}

async function colourRun(modelType: 'AE' | 'CAE' | 'BottleneckCAE' | 'ConvVAE'): Promise<{ dir: string; config: Config }> {
  const root = tempDir('ae-exchange-colour-');
  const tints = { red: [220, 40, 40], green: [40, 200, 60], blue: [50, 60, 220] };
  for (const [split, count] of [
    ['train', 8],
    ['test', 3],
  ] as const) {
    for (const [name, rgb] of Object.entries(tints)) {
      fs.mkdirSync(path.join(root, split, name), { recursive: true });
      for (let i = 0; i < count; i++) {
        const px = Buffer.alloc(16 * 16 * 3);
        // A class tint with a gradient along x, so that pixel positions and channels both matter.
        for (let p = 0; p < 256; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.min(255, rgb[c]! * (0.5 + ((p % 16) + i) / 40));
        await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
          .png()
          .toFile(path.join(root, split, name, `${i}.png`));
      }
    }
  }
  const config = resolveConfig({
    dataset: 'folder',
    model_type: modelType,
    height: 16,
    width: 16,
    color_channel: 3,
    hidden_dim: 64,
    latent_dim: 8,
    epochs: 1,
    batch_size: 8,
    project: path.join(root, 'runs'),
    name: modelType.toLowerCase(),
    CUSTOM: { train_data_path: path.join(root, 'train'), test_data_path: path.join(root, 'test'), valset_proportion: 0.25 },
  });
  await train(config);
  return { dir: path.join(config.project, config.name), config };
}

/** Our latent (NCHW for the CAE) and reconstruction (NCHW) of `set`, in inference mode, from the best checkpoint. */
function oursOf(config: Config, dir: string, set: ImageSet) {
  const { model } = loadModel(config, path.join(dir, 'weights', 'best.ckpt'));
  const out = tf.tidy(() => {
    const x = batchTensor(set, null, 0, set.count);
    const z = model.encode(x, { training: false, seed: 0 });
    return {
      image: tf.transpose(x, [0, 3, 1, 2]).dataSync() as Float32Array,
      latent: (z.shape.length === 4 ? tf.transpose(z, [0, 3, 1, 2]) : z).dataSync() as Float32Array,
      recon: tf.transpose(reconstruct(model, x, { training: false, seed: 0 }), [0, 3, 1, 2]).dataSync() as Float32Array,
    };
  });
  model.params.dispose();
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('ONNX export: onnxruntime reproduces our latent and reconstruction within 1e-5 (every model type; colour AE, CAE, BottleneckCAE)', async () => {
  const runs = [
    { label: 'AE', ...(await mnistRun({})) },
    { label: 'CAE', ...(await mnistRun({ model_type: 'CAE', batch_size: 16 })) },
    { label: 'denoising CAE', ...(await mnistRun({ model_type: 'CAE', batch_size: 16, denoising: true, noise_std: 0.2 })) },
    { label: 'colour AE', ...(await colourRun('AE')) },
    { label: 'colour CAE', ...(await colourRun('CAE')) },
    { label: 'BottleneckCAE', ...(await mnistRun({ model_type: 'BottleneckCAE', latent_dim: 16 })) },
    { label: 'VAE', ...(await mnistRun({ model_type: 'VAE', latent_dim: 8 })) },
    { label: 'ConvVAE', ...(await mnistRun({ model_type: 'ConvVAE', latent_dim: 8 })) },
    { label: 'colour BottleneckCAE', ...(await colourRun('BottleneckCAE')) },
  ];
  for (const { label, dir, config } of runs) {
    const { files } = await exportOnnx(dir);
    assert.deepEqual(
      files.map((f) => path.basename(f)),
      ['autoencoder.onnx', 'decoder.onnx'],
    );
    // The file parsed back: IR version, opset, the input's NCHW shape with a named (dynamic) batch axis.
    const proto = onnxProto.onnx.ModelProto.decode(fs.readFileSync(files[0]!));
    assert.equal(Number(proto.irVersion), 8);
    assert.equal(Number(proto.opsetImport[0]!.version), 17);
    const dims = proto.graph!.input![0]!.type!.tensorType!.shape!.dim!;
    assert.deepEqual(
      dims.map((d) => d.dimParam || Number(d.dimValue)),
      ['N', config.color_channel, config.height, config.width],
      label,
    );
    assert.deepEqual(
      proto.graph!.output!.map((o) => o.name),
      ['latent', 'reconstruction'],
    );
    const data = await loadData(config);
    const set = head(data.test, 16);
    const ours = oursOf(config, dir, set);
    const session = await ort.InferenceSession.create(files[0]!);
    const shape = [set.count, config.color_channel, config.height, config.width];
    const out = await session.run({ image: new ort.Tensor('float32', ours.image, shape) });
    const dLatent = maxAbsDiff(out.latent!.data as Float32Array, ours.latent);
    const dRecon = maxAbsDiff(out.reconstruction!.data as Float32Array, ours.recon);
    assert.ok(dLatent <= 1e-5 && dRecon <= 1e-5, `${label}: latent ${dLatent}, reconstruction ${dRecon}`);
    // Another batch size through the same session (the batch axis is dynamic), and the decoder on its own.
    const three = await session.run({
      image: new ort.Tensor('float32', ours.image.subarray(0, (ours.image.length / set.count) * 3), [3, ...shape.slice(1)]),
    });
    assert.equal(three.reconstruction!.dims[0], 3);
    const decoder = await ort.InferenceSession.create(files[1]!);
    const decoded = await decoder.run({ latent: out.latent! });
    assert.ok(maxAbsDiff(decoded.reconstruction!.data as Float32Array, ours.recon) <= 1e-5, `${label} decoder`);
  }
});

/** A safetensors file parsed by the format's rules, independently of src/exchange/safetensors.ts. */
function parseSafetensors(file: string) {
  const b = fs.readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0, 'tensors start 8-byte aligned');
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const data = b.subarray(8 + n);
  const f32 = (name: string) => {
    const [s, e] = header[name]!.data_offsets;
    return new Float32Array(Uint8Array.from(data.subarray(s, e)).buffer);
  };
  const i64 = (name: string) => data.readBigInt64LE(header[name]!.data_offsets[0]);
  return { header, f32, i64, dataBytes: data.length };
}

test('safetensors export: the reference state_dict (names, PyTorch layouts, num_batches_tracked) and the config as metadata', async () => {
  const ae = await mnistRun({});
  const file = (await exportSafetensors(ae.dir)).files[0]!;
  assert.equal(path.basename(file), 'model.safetensors');
  const st = parseSafetensors(file);
  const { __metadata__: meta, ...tensors } = st.header as Record<string, never>;
  assert.deepEqual(
    Object.entries(tensors).map(([k, v]: [string, { dtype: string; shape: number[] }]) => `${k} ${v.dtype} ${v.shape.join('x')}`),
    [
      'encoder.0.weight F32 256x784',
      'encoder.0.bias F32 256',
      'encoder.3.weight F32 32x256',
      'encoder.3.bias F32 32',
      'decoder.0.weight F32 256x32',
      'decoder.0.bias F32 256',
      'decoder.3.weight F32 784x256',
      'decoder.3.bias F32 784',
    ],
  );
  const spans = Object.values(tensors as Record<string, { data_offsets: [number, number] }>).map((t) => t.data_offsets);
  assert.equal(spans.at(-1)![1], st.dataBytes, 'the tensors cover the data');
  assert.deepEqual(JSON.parse((meta as unknown as Record<string, string>).config!), JSON.parse(JSON.stringify(ae.config)));
  const { model } = loadModel(ae.config, path.join(ae.dir, 'weights', 'best.ckpt'));
  const ours = (name: string) => model.params.variables.find((v) => v.name === name)!.variable.dataSync() as Float32Array;
  // Linear: PyTorch [out, in] against ours [in, out].
  const w = st.f32('encoder.0.weight'),
    w0 = ours('encoder.0.weight');
  for (const [o, i] of [
    [0, 0],
    [17, 400],
    [255, 783],
  ] as const)
    assert.equal(w[o * 784 + i], w0[i * 256 + o]);
  model.params.dispose();

  const cae = await mnistRun({ model_type: 'CAE', batch_size: 16 });
  const cst = parseSafetensors((await exportSafetensors(cae.dir)).files[0]!);
  const { model: cm, steps } = loadModel(cae.config, path.join(cae.dir, 'weights', 'best.ckpt'));
  assert.equal(steps, 16, '1 epoch of 256 training images in batches of 16');
  const cOurs = (name: string) => cm.params.variables.find((v) => v.name === name)!.variable.dataSync() as Float32Array;
  assert.deepEqual(cst.header['encoder.1.conv.weight']!.shape, [64, 32, 3, 3]);
  assert.deepEqual(cst.header['decoder.1.deconv.weight']!.shape, [128, 64, 2, 2]);
  assert.deepEqual(cst.header['encoder.2.bn.num_batches_tracked'], {
    dtype: 'I64',
    shape: [],
    data_offsets: cst.header['encoder.2.bn.num_batches_tracked']!.data_offsets,
  });
  assert.equal(cst.i64('encoder.2.bn.num_batches_tracked'), 16n);
  // Conv2d: PyTorch [out, in, kh, kw] against ours [kh, kw, in, out]; ConvTranspose2d: [in, out, kh, kw] against [kh, kw, out, in].
  const conv = cst.f32('encoder.1.conv.weight'),
    conv0 = cOurs('encoder.1.conv.weight');
  assert.equal(conv[((5 * 32 + 7) * 3 + 2) * 3 + 1], conv0[((2 * 3 + 1) * 32 + 7) * 64 + 5]);
  const deconv = cst.f32('decoder.1.deconv.weight'),
    deconv0 = cOurs('decoder.1.deconv.weight');
  assert.equal(deconv[((9 * 64 + 3) * 2 + 1) * 2 + 0], deconv0[((1 * 2 + 0) * 64 + 3) * 128 + 9]);
  assert.deepEqual(cst.f32('encoder.3.bn.running_var'), cOurs('encoder.3.bn.running_var'));
  cm.params.dispose();

  // A colour AE: PyTorch flattens NCHW images (c, y, x); ours are flattened (y, x, c).
  const colour = await colourRun('AE');
  const kst = parseSafetensors((await exportSafetensors(colour.dir)).files[0]!);
  const { model: km } = loadModel(colour.config, path.join(colour.dir, 'weights', 'best.ckpt'));
  const k0 = km.params.variables.find((v) => v.name === 'encoder.0.weight')!.variable.dataSync() as Float32Array;
  const kw = kst.f32('encoder.0.weight');
  for (const [o, c, y, x] of [
    [3, 2, 5, 9],
    [60, 0, 15, 0],
  ] as const)
    assert.equal(kw[o * 768 + c * 256 + y * 16 + x], k0[((y * 16 + x) * 3 + c) * 64 + o]);
  km.params.dispose();
});

test('ae import: an exported state_dict comes back as a run with identical weights; another model is refused with what differs', async () => {
  for (const run of [await mnistRun({ model_type: 'CAE', batch_size: 16 }), await colourRun('AE'), await colourRun('ConvVAE')]) {
    const file = (await exportSafetensors(run.dir)).files[0]!;
    const carried = configInSafetensors(file) as Record<string, unknown>;
    const config = resolveConfig({ ...carried, name: 'imported' });
    const r = await importSafetensors(file, config);
    const a = loadModel(run.config, path.join(run.dir, 'weights', 'best.ckpt')).model;
    const b = loadModel(config, path.join(r.runDir, 'weights', 'best.ckpt')).model;
    a.params.variables.forEach((v, i) => {
      assert.deepEqual(b.params.variables[i]!.variable.dataSync(), v.variable.dataSync(), v.name);
    });
    a.params.dispose();
    b.params.dispose();
  }
  const cae = await mnistRun({ model_type: 'CAE', batch_size: 16 });
  const file = (await exportSafetensors(cae.dir)).files[0]!;
  const aeConfig = resolveConfig({ project: cae.config.project, name: 'wrong', MNIST: { path: MNIST_DIR } });
  await assert.rejects(
    importSafetensors(file, aeConfig),
    (e: unknown) =>
      e instanceof UserError &&
      /does not fit the AE/.test(e.message) &&
      /missing: encoder\.0\.weight \[256, 784\]/.test(e.message) &&
      /unexpected: encoder\.0\.conv\.weight/.test(e.message),
  );
  assert.ok(!fs.existsSync(path.join(cae.config.project, 'wrong')), 'nothing created');

  // The CLI: import with the carried config under a new name, then ae test on the imported run.
  const imported = runCli(['import', file, '--name', 'from-file', '--project', cae.config.project]);
  assert.equal(imported.status, 0, imported.stderr);
  const tested = runCli(['test', path.join(cae.config.project, 'from-file'), '--embed', 'pca', '--limit', '40', '--count', '3']);
  assert.equal(tested.status, 0, tested.stderr);
  const original = runCli(['test', cae.dir, '--embed', 'pca', '--limit', '40', '--count', '3']);
  const loss = (out: string) => out.match(/test loss \(MSE\): ([\d.]+)/)![1];
  assert.equal(loss(tested.stdout), loss(original.stdout));
});
