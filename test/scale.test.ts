/**
 * The scale-out scripts run for real (scale/): our run -> safetensors export -> PyTorch DistributedDataParallel
 * with 2 processes (gloo) -> `ae import` -> our test loss; and batch scoring on a Dask LocalCluster of 2 workers
 * against `ae score` and `ae encode` on the same images. They need Debian's python3-torch, python3-dask,
 * python3-distributed and python3-pil (AE_PYTHON picks the interpreter; default /usr/bin/python3): without them the
 * tests skip with the reason; CI installs them and sets AE_REQUIRE_SCALE=1, so there they run.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/config/load.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { exportSafetensors, importSafetensors } from '../src/exchange/index.js';
import { readSafetensors } from '../src/exchange/safetensors.js';
import { train } from '../src/train/trainer.js';
import { encode } from '../src/use/encode.js';
import { score } from '../src/use/score.js';
import { MNIST_DIR, ROOT, smallMnist, tempDir } from './helpers.js';

const PYTHON = process.env.AE_PYTHON ?? '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import torch, dask, distributed, PIL, numpy'], { encoding: 'utf8' });
const ready = probe.status === 0;
if (!ready && process.env.AE_REQUIRE_SCALE === '1') {
  throw new Error(
    `AE_REQUIRE_SCALE=1 but ${PYTHON} cannot import torch, dask, distributed, PIL: apt-get install python3-torch python3-dask python3-distributed python3-pil`,
  );
}
const skip = ready
  ? false
  : `${PYTHON} lacks torch/dask/distributed/PIL (apt-get install python3-torch python3-dask python3-distributed python3-pil): scale tests skipped`;

/** Runs a scale/ script and returns its last stdout line parsed (each prints one JSON line). */
function script(name: string, args: string[], cwd: string): Record<string, unknown> {
  const r = spawnSync(PYTHON, [path.join(ROOT, 'scale', name), ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONWARNINGS: 'ignore' },
    timeout: 300_000,
  });
  // On failure, say what the script printed: a timeout or a Python traceback is otherwise only "ETIMEDOUT".
  if (r.status !== 0)
    assert.fail(
      `${name} ${r.error ? r.error.message : `exited with ${r.status ?? r.signal}`}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-4000)}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** name -> values of a safetensors file's float32 tensors. */
function tensors(file: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of readSafetensors(file).tensors) if (t.dtype === 'F32') out.set(name, t.data as Float32Array);
  return out;
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let m = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  }
  return m;
}

let work: string;
let runDir: string;
let exported: string;
before(async () => {
  if (!ready) return;
  await initBackend('wasm');
  work = tempDir('ae-scale-');
  // A short real run of the AE (no dropout: its masks are drawn per process, which would make 1 and 2 processes
  // differ by more than rounding).
  const config = resolveConfig({
    project: work,
    name: 'ae',
    epochs: 1,
    batch_size: 64,
    dropout: 0,
    MNIST: { path: MNIST_DIR, subset: 2000 },
  });
  await train(config, { data: await smallMnist(1024, 256) });
  runDir = path.join(work, 'ae');
  exported = (await exportSafetensors(runDir, { out: path.join(work, 'export') })).files.find((f) => f.endsWith('.safetensors'))!;
});

test("scale: DDP with 2 processes (gloo) trains from our export to the weights 1 process reaches with the same global batch; ae import takes the result and our test MSE is PyTorch's", {
  skip,
}, async () => {
  // In float64: in float32 the two runs drift apart by ~1e-4 over 100 steps, as Adam divides each gradient by its
  // running RMS and so magnifies the last-bit differences of sums taken in another order; in float64 those
  // differences stay below float32's resolution, so the saved weights agree to rounding or exactly.
  const common = [
    exported,
    '--steps',
    '200',
    '--batch-size',
    '64',
    '--subset',
    '6000',
    '--threads',
    '1',
    '--mnist',
    MNIST_DIR,
    '--float64',
  ];
  const one = script('ddp_train.py', [...common, '--procs', '1', '--out', 'one.safetensors'], work);
  const two = script('ddp_train.py', [...common, '--procs', '2', '--out', 'two.safetensors', '--name', 'ae-ddp'], work);
  assert.equal(one.processes, 1);
  assert.equal(two.processes, 2);
  assert.equal(two.steps, 200);
  const start = tensors(exported),
    w1 = tensors(path.join(work, 'one.safetensors')),
    w2 = tensors(path.join(work, 'two.safetensors'));
  // Training moved the weights; DDP's averaged gradients of two half batches took the same steps as one process's
  // whole batch (up to float32 rounding in the sums).
  assert.ok(maxDiff(start, w2) > 0.02, `the weights barely moved: ${maxDiff(start, w2)}`);
  assert.ok(maxDiff(w1, w2) < 1e-6, `1 vs 2 processes differ by ${maxDiff(w1, w2)}`);
  assert.ok(Math.abs((one.test_mse as number) - (two.test_mse as number)) < 1e-6);
  // The launcher path (torchrun, or one process per machine): two processes started apart, finding each other
  // through RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT, take the same steps.
  const port = await freePort();
  const launched = await Promise.all(
    [0, 1].map(
      (rank) =>
        new Promise<number | null>((resolve) => {
          const env = {
            ...process.env,
            RANK: String(rank),
            LOCAL_RANK: String(rank),
            WORLD_SIZE: '2',
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
          };
          const child = spawn(PYTHON, [path.join(ROOT, 'scale', 'ddp_train.py'), ...common, '--out', 'env.safetensors'], {
            cwd: work,
            env,
            stdio: 'ignore',
          });
          child.on('exit', resolve);
        }),
    ),
  );
  assert.deepEqual(launched, [0, 0]);
  assert.ok(maxDiff(w1, tensors(path.join(work, 'env.safetensors'))) < 1e-6);
  // 200 steps of Adam lower the test loss from where our run left it.
  const before = JSON.parse(fs.readFileSync(path.join(runDir, 'history.jsonl'), 'utf8').trim().split('\n').pop()!).val_loss as number;
  assert.ok((two.test_mse as number) < before, `test MSE ${two.test_mse} not below the run's validation loss ${before}`);

  // Back: the file carries the config (name ae-ddp), ae import makes a run of it, and our evaluation of that run
  // gives PyTorch's test MSE.
  const carried = JSON.parse(readSafetensors(path.join(work, 'two.safetensors')).metadata.config!);
  assert.equal(carried.name, 'ae-ddp');
  const config = resolveConfig({ ...carried, project: work });
  const imported = await importSafetensors(path.join(work, 'two.safetensors'), config);
  await evaluateRun(imported.runDir, { count: 3, embed: 'pca' }); // the whole test file, as PyTorch's figure
  const metrics = JSON.parse(fs.readFileSync(path.join(imported.runDir, 'vis_outputs', 'metrics.json'), 'utf8'));
  assert.ok(Math.abs(metrics.test_mse - (two.test_mse as number)) < 1e-6, `ours ${metrics.test_mse}, PyTorch ${two.test_mse}`);
});

test('scale: every model type builds from its export and trains under 2-process DDP (VAE, BottleneckCAE)', { skip }, async () => {
  for (const model_type of ['VAE', 'BottleneckCAE'] as const) {
    const config = resolveConfig({
      project: work,
      name: model_type.toLowerCase(),
      model_type,
      epochs: 1,
      batch_size: 64,
      MNIST: { path: MNIST_DIR },
    });
    await train(config, { data: await smallMnist(256, 64) });
    const file = (await exportSafetensors(path.join(work, config.name), { out: path.join(work, `export-${config.name}`) })).files.find(
      (f) => f.endsWith('.safetensors'),
    )!;
    const r = script(
      'ddp_train.py',
      [
        file,
        '--procs',
        '2',
        '--steps',
        '20',
        '--batch-size',
        '32',
        '--subset',
        '2000',
        '--threads',
        '1',
        '--out',
        `${config.name}-ddp.safetensors`,
      ],
      work,
    );
    assert.equal(r.steps, 20);
    assert.ok(Number.isFinite(r.last_loss) && Number.isFinite(r.test_mse), JSON.stringify(r));
    const back = resolveConfig({ ...config, name: `${config.name}-ddp` });
    const imported = await importSafetensors(path.join(work, `${config.name}-ddp.safetensors`), back);
    assert.ok(fs.existsSync(path.join(imported.runDir, 'weights', 'best.ckpt')));
  }
});

test('scale: Dask LocalCluster of 2 workers scores and encodes an image folder as ae score and ae encode do (scores within 1e-5, same flags, labels, paths)', {
  skip,
}, async () => {
  // 150 real digits as PNGs in two class folders (28 x 28: decoded the same by Pillow and libvips, no resizing).
  const images = path.join(work, 'digits');
  const data = await smallMnist(16, 150);
  for (let i = 0; i < 150; i++) {
    const dir = path.join(images, i % 3 === 0 ? 'a' : 'b');
    fs.mkdirSync(dir, { recursive: true });
    const pixels = Buffer.from(Uint8Array.from(data.test.images!.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)));
    await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(path.join(dir, `${String(i).padStart(3, '0')}.png`));
  }
  const ours = await score(runDir, { input: [images], outDir: path.join(work, 'ours'), weights: 'best' });
  const codes = await encode(runDir, { input: [images], out: path.join(work, 'codes.npy'), weights: 'best' });
  const r = script(
    'score_dask.py',
    [exported, images, '--out', 'dask', '--run', runDir, '--percentile', '95', '--workers', '2', '--partition-size', '40', '--codes'],
    work,
  );
  assert.equal(r.workers, 2);
  assert.equal(r.partitions, 4);
  assert.ok((r.model_builds as number) <= 2, `the model was built ${r.model_builds} times for 4 partitions on 2 workers`);
  assert.equal(r.images, 150);
  assert.equal(r.threshold, ours.threshold);
  const parse = (file: string) =>
    fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(','));
  const theirs = new Map(parse(path.join(work, 'dask', 'scores.csv')).map((f) => [path.resolve(work, f[3]!), f]));
  assert.equal(theirs.size, ours.rows.length);
  let flagged = 0;
  for (const row of ours.rows) {
    const f = theirs.get(path.resolve(row.path!))!;
    assert.ok(f, `${row.path} missing from the Dask scores`);
    assert.equal(Number(f[0]), row.index);
    assert.equal(f[1] === '' ? null : Number(f[1]), row.label);
    assert.equal(f[2] === '' ? null : f[2], row.className);
    assert.ok(Math.abs(Number(f[4]) - row.score) < 1e-5, `${row.path}: ${f[4]} vs ${row.score}`);
    assert.equal(f[5] === '1', row.flagged, row.path!);
    flagged += row.flagged ? 1 : 0;
  }
  assert.ok(flagged > 0, 'some images are flagged at the 95th percentile');
  // The codes: each partition's .npy rows (in its rows.csv order) against ae encode's, by index.
  const ourCodes = readNpy(codes.files.find((f) => f.endsWith('.npy'))!);
  let rows = 0;
  for (let k = 0; k < 4; k++) {
    const part = readNpy(path.join(work, 'dask', `codes-${String(k).padStart(5, '0')}.npy`));
    const index = parse(path.join(work, 'dask', `codes-${String(k).padStart(5, '0')}.rows.csv`)).map((f) => Number(f[0]));
    assert.equal(part.shape[1], ourCodes.shape[1]);
    index.forEach((i, r) => {
      for (let j = 0; j < part.shape[1]!; j++) {
        const d = Math.abs(part.values[r * part.shape[1]! + j]! - ourCodes.values[i * ourCodes.shape[1]! + j]!);
        assert.ok(d < 1e-4, `code ${i}.${j} differs by ${d}`);
      }
    });
    rows += index.length;
  }
  assert.equal(rows, 150);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A float32 .npy file (version 1, little-endian, C order), read by the format's rules. */
function readNpy(file: string): { shape: number[]; values: Float32Array } {
  const b = fs.readFileSync(file);
  assert.equal(b.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  const len = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + len).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]!
    .split(',')
    .filter((s) => s.trim())
    .map(Number);
  const data = b.subarray(10 + len);
  return { shape, values: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)) };
}
