import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { resolveConfig } from '../src/config/load.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { train } from '../src/train/trainer.js';
import { tf } from '../src/backend/index.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { openRunDir, readRunConfig } from '../src/checkpoint/run-dir.js';
import { batchTensor, head, inMemory, type MemorySet } from '../src/data/dataset.js';
import { loadData } from '../src/data/load.js';
import { MNIST_DIR, smallMnist, tempDir } from './helpers.js';

/** A project with a finished run (with ae test pictures), an interrupted one, a failed one and a damaged one. */
export async function fixtureProject(): Promise<string> {
  const project = tempDir('ae-view-');
  const config = resolveConfig({ project, name: 'finished', epochs: 1, batch_size: 64, MNIST: { path: MNIST_DIR, subset: 2000 } });
  await train(config, { data: await smallMnist(256, 64) });
  await evaluateRun(path.join(project, 'finished'), { limit: 40, count: 3, embed: 'pca' });
  fs.cpSync(path.join(project, 'finished'), path.join(project, 'interrupted'), { recursive: true });
  fs.rmSync(path.join(project, 'interrupted', 'vis_outputs'), { recursive: true });
  fs.writeFileSync(path.join(project, 'interrupted', 'config.yaml'), YAML.stringify({ ...config, name: 'interrupted', epochs: 5 }));
  fs.mkdirSync(path.join(project, 'failed'));
  fs.writeFileSync(path.join(project, 'failed', 'config.yaml'), YAML.stringify({ ...config, name: 'failed' }));
  fs.mkdirSync(path.join(project, 'damaged'));
  fs.writeFileSync(path.join(project, 'damaged', 'config.yaml'), 'model_type: [unclosed');
  fs.writeFileSync(path.join(project, 'damaged', 'history.jsonl'), '{"epoch": 1, "val_loss": 0.5}\n{"epoch": 2, "val_lo');
  fs.mkdirSync(path.join(project, 'data')); // the image cache folder is not a run
  return project;
}

/** The first `count` test images' latent codes (the finished run's AE) and their brute-force k nearest others. */
export async function latentNeighbours(
  project: string,
  count: number,
  k: number,
): Promise<{ codes: Float32Array; recons: Float32Array; nearest: (i: number) => number[]; set: MemorySet }> {
  const config = readRunConfig(openRunDir(path.join(project, 'finished')));
  const { model } = loadModel(config, path.join(project, 'finished', 'weights', 'best.ckpt'));
  const set = inMemory(head((await loadData(config)).test, count));
  const ctx = { training: false, seed: 0 };
  const [codes, recons] = tf.tidy(() => {
    const z = model.encode(batchTensor(set, null, 0, set.count), ctx);
    return [z.dataSync() as Float32Array, model.decode(z, ctx).dataSync() as Float32Array];
  });
  model.params.dispose();
  const dim = codes.length / count;
  const nearest = (i: number) =>
    Array.from({ length: count }, (_, j) => j)
      .filter((j) => j !== i)
      .map((j) => ({ j, d: codes.subarray(j * dim, (j + 1) * dim).reduce((acc, v, t) => acc + (v - codes[i * dim + t]!) ** 2, 0) }))
      .sort((a, b) => a.d - b.d || a.j - b.j)
      .slice(0, k)
      .map((x) => x.j);
  return { codes, recons, nearest, set };
}

/** A map file pair parsed by the documented format (header JSON, arrays at their offsets). */
export function readMap(dir: string, method: string) {
  const header = JSON.parse(fs.readFileSync(path.join(dir, `map_${method}.json`), 'utf8'));
  const bin = fs.readFileSync(path.join(dir, `map_${method}.bin`));
  const ab = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length);
  const arr = (name: string) => {
    const a = header.arrays[name];
    const n = a.shape.reduce((x: number, y: number) => x * y, 1);
    return a.dtype === 'float32'
      ? new Float32Array(ab, a.offset, n)
      : a.dtype === 'int32'
        ? new Int32Array(ab, a.offset, n)
        : new Uint8Array(ab, a.offset, n);
  };
  return { header, arr };
}
