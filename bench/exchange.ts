/**
 * The PyTorch round trip of `ae export --format safetensors` and `ae import`, for every model type (the new ones
 * through scale/models.py):
 *   1. a short run here, exported; the reference PyTorch model loads the file (strict) and reproduces our latent
 *      and reconstruction on real test images (largest absolute differences printed);
 *   2. the reference model trained briefly in PyTorch, saved as safetensors, imported here: our test-set MSE of
 *      the imported run against PyTorch's evaluation of the same weights (relative difference printed);
 *   3. where /usr/bin/python3 has `onnx` (Debian's python3-onnx), onnx.checker on the ONNX export of each run.
 *   npm run bench:exchange [-- --images 500 --steps 100 --models AE,BottleneckCAE]
 *   npm run bench:exchange -- --folder DIR --size 64 --encoder-channels 32,64,128,256 --models BottleneckCAE,ConvVAE
 * Needs /usr/bin/python3 with torch (Debian's python3-torch; optional, never a dependency).
 */
import fs from 'node:fs';
import { cpuDescription } from './machine.js';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { tf } from '../src/backend/index.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { resolveConfig } from '../src/config/load.js';
import { batchTensor, head } from '../src/data/dataset.js';
import { loadData } from '../src/data/load.js';
import { exportOnnx, exportSafetensors, importSafetensors } from '../src/exchange/index.js';
import { evaluateLoss, evalBatchSize } from '../src/models/loss.js';
import type { ModelKind } from '../src/models/registry.js';
import { train } from '../src/train/trainer.js';
import { npyHeader } from '../src/use/code-writers.js';

const count = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got ${v}`);
  return n;
};
const opts = new Command('bench:exchange')
  .description('PyTorch round trip of the safetensors export and import; onnx.checker on the ONNX export')
  .option('--images <n>', 'test images compared in step 1', count, 500)
  .option('--steps <n>', 'PyTorch training steps in step 2', count, 100)
  .option('--models <list>', 'comma-separated model types', 'AE,CAE,BottleneckCAE,VAE,ConvVAE')
  .option('--mnist <dir>', 'MNIST folder', process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist'))
  .option('--folder <dir>', 'an image folder instead of MNIST, at --size x --size RGB (steps 1 and 3 only)')
  .option('--size <n>', 'image height and width with --folder', count, 64)
  .option('--encoder-channels <list>', 'encoder_channels of the BottleneckCAE and ConvVAE, e.g. 32,64,128,256')
  .parse()
  .opts<{ images: number; steps: number; mnist: string; models: string; folder?: string; size: number; encoderChannels?: string }>();
const dataSource = opts.folder
  ? { dataset: 'folder', height: opts.size, width: opts.size, color_channel: 3, CUSTOM: { train_data_path: opts.folder } }
  : { MNIST: { path: opts.mnist } };
const trunk = opts.encoderChannels ? { encoder_channels: opts.encoderChannels.split(',').map(Number) } : {};

const here = path.dirname(fileURLToPath(import.meta.url));
const python = (args: string[]) => {
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', cwd: here, env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
  if (r.status !== 0)
    throw new Error(`PyTorch side failed (needs /usr/bin/python3 with torch): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
};
const writeNpy = (file: string, t: tf.Tensor) => {
  const data = t.dataSync() as Float32Array;
  fs.writeFileSync(file, Buffer.concat([npyHeader(...t.shape), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
};
const hasOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-exchange-'));
console.log(`machine: ${os.cpus().length} cores, ${cpuDescription()}; ${new Date().toISOString().slice(0, 10)}`);
try {
  for (const kind of opts.models.split(',') as ModelKind[]) {
    // 1. Ours -> PyTorch.
    const config = resolveConfig({
      model_type: kind,
      name: kind.toLowerCase(),
      project: tmp,
      epochs: 1,
      batch_size: 64,
      ...(opts.folder ? dataSource : { MNIST: { path: opts.mnist, subset: kind === 'CAE' ? 1500 : 6000 } }),
      ...(kind === 'BottleneckCAE' || kind === 'ConvVAE' ? trunk : {}),
    });
    await train(config, {});
    const runDir = path.join(tmp, config.name);
    const st = await exportSafetensors(runDir);
    const data = await loadData(config, () => {});
    const set = head(data.test, opts.images);
    const { model } = loadModel(config, path.join(runDir, 'weights', 'best.ckpt'));
    // In batches: the CAE's activations for hundreds of images at once outgrow the 32-bit WebAssembly heap.
    const parts: Record<'images' | 'latent' | 'recon', tf.Tensor[]> = { images: [], latent: [], recon: [] };
    for (let start = 0; start < set.count; start += evalBatchSize(model)) {
      const end = Math.min(set.count, start + evalBatchSize(model));
      tf.tidy(() => {
        const x = batchTensor(set, null, start, end);
        const z = model.encode(x, { training: false, seed: 0 });
        parts.images.push(tf.keep(tf.transpose(x, [0, 3, 1, 2])));
        parts.latent.push(tf.keep(z.shape.length === 4 ? tf.transpose(z, [0, 3, 1, 2]) : z));
        parts.recon.push(tf.keep(tf.transpose(model.decode(z, { training: false, seed: 0 }), [0, 3, 1, 2])));
      });
    }
    for (const [name, list] of Object.entries(parts)) {
      const whole = tf.concat(list);
      writeNpy(path.join(tmp, `${name}.npy`), whole);
      tf.dispose([whole, ...list]);
    }
    model.params.dispose();
    const check = python([
      'reference_exchange.py',
      'check',
      kind,
      st.files[0]!,
      ...['images', 'latent', 'recon'].map((f) => path.join(tmp, `${f}.npy`)),
    ]);
    console.log(
      `${kind} ours -> PyTorch: ${check.images} test images, max |latent diff| ${check.latent_max_abs_diff.toExponential(2)}, max |reconstruction diff| ${check.reconstruction_max_abs_diff.toExponential(2)}`,
    );
    if (hasOnnx) {
      const onnxFiles = (await exportOnnx(runDir)).files;
      const script = `import onnx, sys\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\nprint('{}')`;
      python(['-c', script, ...onnxFiles]);
      console.log(`${kind} onnx.checker (full_check): ${onnxFiles.map((f) => path.basename(f)).join(', ')} pass`);
    }

    // 2. PyTorch -> ours (on MNIST).
    if (opts.folder) continue;
    const file = path.join(tmp, `${kind}-pytorch.safetensors`);
    const theirs = python(['reference_exchange.py', 'train', kind, opts.mnist, String(opts.steps), file]);
    const imported = resolveConfig({ model_type: kind, name: `${kind.toLowerCase()}-imported`, project: tmp, MNIST: { path: opts.mnist } });
    const { runDir: importedDir } = await importSafetensors(file, imported);
    const importedModel = loadModel(imported, path.join(importedDir, 'weights', 'best.ckpt')).model;
    const ours = await evaluateLoss(importedModel, data.test, null, 0);
    importedModel.params.dispose();
    const rel = Math.abs(ours - theirs.test_mse) / theirs.test_mse;
    console.log(
      `${kind} PyTorch -> ours: ${theirs.steps} PyTorch steps; test MSE PyTorch ${theirs.test_mse.toFixed(7)}, ours after import ${ours.toFixed(7)}, relative difference ${rel.toExponential(2)}`,
    );
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
