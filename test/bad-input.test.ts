/**
 * Every bad input refused clearly: each case runs the real CLI in a fresh folder and asserts a non-zero exit, a
 * message naming the problem (and, where the user must act, a hint), no stack trace, and that nothing was left
 * half-written (the folder's files are exactly what the case put there, byte for byte where it matters).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync, gunzipSync } from 'node:zlib';
import { resolveConfig } from '../src/config/load.js';
import { train } from '../src/train/trainer.js';
import { encodeIdx } from '../src/data/idx.js';
import { MNIST_FILES } from '../src/data/mnist.js';
import { CHECKPOINT_FORMAT_VERSION } from '../src/checkpoint/checkpoint.js';
import { exportSafetensors } from '../src/exchange/index.js';
import { MNIST_DIR, runCliAsync, smallMnist, tempDir, listFiles } from './helpers.js';

async function ae(args: string[], cwd: string) {
  // AE_DATA_DIRS points at an empty folder and the mirrors are unreachable here, so data cases never fall back.
  const r = await runCliAsync(args, { cwd, env: { AE_DATA_DIRS: path.join(cwd, 'no-local-copies') } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A small finished AE run (1 epoch on 256 images), made once and copied into each case that needs one. */
let runFixture: string | null = null;
async function finishedRun(): Promise<string> {
  if (runFixture) return runFixture;
  const project = tempDir('ae-bad-fixture-');
  const cfg = resolveConfig({ project, name: 'run', epochs: 1, batch_size: 64, MNIST: { path: MNIST_DIR, subset: 320 } });
  await train(cfg, { data: await smallMnist(256, 64) });
  runFixture = path.join(project, 'run');
  return runFixture;
}

/** Copies the real MNIST files into dir/mnist, with `edit` applied to the named file's gunzipped bytes. */
function mnistCopy(dir: string, file?: string, edit?: (raw: Buffer) => Buffer): string {
  const out = path.join(dir, 'mnist');
  fs.mkdirSync(out);
  for (const f of Object.values(MNIST_FILES)) {
    const bytes = fs.readFileSync(path.join(MNIST_DIR, f.name));
    fs.writeFileSync(path.join(out, f.name), f.name === file && edit ? gzipSync(edit(gunzipSync(bytes))) : bytes);
  }
  return out;
}

const cfg = (dir: string, yaml: string) => {
  fs.writeFileSync(path.join(dir, 'c.yaml'), yaml);
  return ['train', '--config', 'c.yaml'];
};
const mnistYaml = (p: string) => `MNIST:\n  path: ${JSON.stringify(p)}\n`;

interface Case {
  name: string;
  /** Prepares the folder and returns the CLI arguments. */
  setup: (dir: string) => string[] | Promise<string[]>;
  /** What the message must say (the problem, and the key, file or value concerned). */
  message: RegExp;
  /** Whether a "hint:" line with the fix is required. */
  hint?: boolean;
}

const CASES: Case[] = [
  // --- config ---
  {
    name: 'config that is not YAML',
    setup: (d) => cfg(d, 'epochs: [1, 2\n'),
    message: /config file c\.yaml is not valid YAML or JSON/,
    hint: true,
  },
  { name: 'config that is a list', setup: (d) => cfg(d, '- 1\n- 2\n'), message: /must hold a mapping of keys to values/, hint: true },
  { name: 'unknown key', setup: (d) => cfg(d, 'epoch: 3\n'), message: /epoch: unknown key/, hint: true },
  { name: 'unknown nested key', setup: (d) => cfg(d, 'MNIST:\n  pth: x\n'), message: /MNIST\.pth: unknown key/, hint: true },
  { name: 'wrong type', setup: (d) => cfg(d, 'epochs: ten\n'), message: /epochs: given "ten"/, hint: true },
  { name: 'negative learning rate', setup: (d) => cfg(d, 'lr: -0.01\n'), message: /lr: given -0\.01/, hint: true },
  { name: 'batch_size 0', setup: (d) => cfg(d, 'batch_size: 0\n'), message: /batch_size: given 0/, hint: true },
  {
    name: 'validation proportion outside (0, 1)',
    setup: (d) => cfg(d, 'MNIST:\n  MNIST_valset_proportion: 1.5\n'),
    message: /MNIST\.MNIST_valset_proportion: given 1\.5/,
    hint: true,
  },
  { name: 'noise_std < 0', setup: (d) => cfg(d, 'noise_std: -0.1\n'), message: /noise_std: given -0\.1/, hint: true },
  { name: 'dropout >= 1', setup: (d) => cfg(d, 'dropout: 1\n'), message: /dropout: given 1/, hint: true },
  { name: 'unknown model_type', setup: (d) => cfg(d, 'model_type: GAN\n'), message: /model_type: given "GAN"/, hint: true },
  {
    name: 'CAE size not divisible by 4',
    setup: (d) => cfg(d, 'model_type: CAE\ndataset: folder\nheight: 30\nwidth: 32\nCUSTOM:\n  train_data_path: imgs\n'),
    message: /height\/width: given 30x32; .* divisible by 4/,
    hint: true,
  },
  { name: 'color_channel not 1 or 3', setup: (d) => cfg(d, 'color_channel: 2\n'), message: /color_channel: given 2/, hint: true },
  { name: 'MNIST with another image size', setup: (d) => cfg(d, 'height: 32\n'), message: /MNIST images are 28x28x1/, hint: true },
  { name: 'run name with a slash', setup: (d) => cfg(d, 'name: a/b\n'), message: /name: given "a\/b"/, hint: true },
  {
    name: 'run name reserved for the image cache',
    setup: (d) => cfg(d, 'name: data\n'),
    message: /name: given "data", which is reserved/,
    hint: true,
  },
  {
    name: 'grayscale conversion with 3 channels',
    setup: (d) => cfg(d, 'dataset: folder\ncolor_channel: 3\nconvert2grayscale: true\nCUSTOM:\n  train_data_path: imgs\n'),
    message: /set color_channel: 1/,
    hint: true,
  },
  {
    name: 'image folders without a training folder',
    setup: (d) => cfg(d, 'MNIST_train: false\n'),
    message: /CUSTOM\.train_data_path: missing/,
    hint: true,
  },
  {
    name: 'missing config file',
    setup: () => ['train', '--config', 'nope.yaml'],
    message: /cannot read config file nope\.yaml: ENOENT/,
    hint: true,
  },
  { name: 'non-numeric --epochs', setup: () => ['train', '--epochs', 'two'], message: /expected an integer/ },

  // --- data ---
  {
    name: 'missing MNIST files (offline)',
    setup: (d) => cfg(d, mnistYaml(path.join(d, 'empty-mnist'))),
    message: /MNIST file train-images-idx3-ubyte\.gz is missing from .*empty-mnist and could not be downloaded/,
    hint: true,
  },
  {
    name: 'truncated gzip',
    setup: (d) => {
      const m = mnistCopy(d);
      const f = path.join(m, MNIST_FILES.testLabels.name);
      fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 2000));
      return cfg(d, mnistYaml(m));
    },
    message: /t10k-labels-idx1-ubyte\.gz/,
    hint: true,
  },
  {
    name: 'wrong IDX magic',
    setup: (d) =>
      cfg(
        d,
        mnistYaml(
          mnistCopy(d, MNIST_FILES.testLabels.name, (raw) => {
            raw[3] = 7;
            return raw;
          }),
        ),
      ),
    message: /t10k-labels-idx1-ubyte\.gz.*magic|magic.*t10k-labels-idx1-ubyte\.gz/,
    hint: true,
  },
  {
    name: 'image/label count mismatch',
    setup: (d) => cfg(d, mnistYaml(mnistCopy(d, MNIST_FILES.testLabels.name, () => Buffer.from(encodeIdx([9999], new Uint8Array(9999)))))),
    message: /holds 10000 images but .* holds 9999 labels/,
    hint: true,
  },
  {
    name: 'image dimensions that disagree with the config',
    setup: (d) =>
      cfg(
        d,
        mnistYaml(
          mnistCopy(d, MNIST_FILES.testImages.name, () => Buffer.from(encodeIdx([10000, 32, 32], new Uint8Array(10000 * 32 * 32)))),
        ),
      ),
    message: /holds 32x32 images; MNIST images are 28x28/,
    hint: true,
  },
  {
    name: 'empty image folder',
    setup: (d) => {
      fs.mkdirSync(path.join(d, 'imgs'));
      return cfg(d, 'dataset: folder\nCUSTOM:\n  train_data_path: imgs\n');
    },
    message: /the image folder imgs holds no images/,
    hint: true,
  },
  {
    name: 'missing image folder',
    setup: (d) => cfg(d, 'dataset: folder\nCUSTOM:\n  train_data_path: photos\n'),
    message: /CUSTOM\.train_data_path: cannot read the image folder photos \(it does not exist\)/,
    hint: true,
  },
  {
    name: 'image folder that is a file',
    setup: (d) => {
      fs.writeFileSync(path.join(d, 'imgs'), 'x');
      return cfg(d, 'dataset: folder\nCUSTOM:\n  train_data_path: imgs\n');
    },
    message: /cannot read the image folder imgs \(ENOTDIR\)/,
    hint: true,
  },

  // --- checkpoints and runs ---
  {
    name: 'corrupt checkpoint',
    setup: async (d) => {
      const run = copyRun(await finishedRun(), d);
      flip(path.join(run, 'weights', 'last.ckpt'));
      return ['resume', 'run', '--epochs', '2'];
    },
    message: /damaged: tensor data does not match its SHA-256/,
    hint: true,
  },
  {
    name: 'truncated checkpoint',
    setup: async (d) => {
      const run = copyRun(await finishedRun(), d);
      const f = path.join(run, 'weights', 'last.ckpt');
      fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 5000));
      return ['resume', 'run', '--epochs', '2'];
    },
    message: /truncated/,
    hint: true,
  },
  {
    name: 'checkpoint of another latent size',
    setup: async (d) => {
      const run = copyRun(await finishedRun(), d);
      const c = path.join(run, 'config.yaml');
      fs.writeFileSync(c, fs.readFileSync(c, 'utf8').replace('latent_dim: 32', 'latent_dim: 16'));
      return ['test', 'run', '--embed', 'pca'];
    },
    message: /was written for a different model/,
    hint: true,
  },
  {
    name: 'checkpoint of another model type',
    setup: async (d) => {
      const run = copyRun(await finishedRun(), d);
      const c = path.join(run, 'config.yaml');
      fs.writeFileSync(c, fs.readFileSync(c, 'utf8').replace('model_type: AE', 'model_type: CAE'));
      return ['resume', 'run', '--epochs', '2'];
    },
    message: /was written for a different model/,
    hint: true,
  },
  {
    name: 'checkpoint of a newer format',
    setup: async (d) => {
      const run = copyRun(await finishedRun(), d);
      newerFormat(path.join(run, 'weights', 'last.ckpt'));
      return ['resume', 'run', '--epochs', '2'];
    },
    message: new RegExp(
      `format version ${CHECKPOINT_FORMAT_VERSION + 1}; this version of autoencoders reads up to ${CHECKPOINT_FORMAT_VERSION}`,
    ),
    hint: true,
  },
  {
    name: 'resume of a folder that is not a run',
    setup: (d) => {
      fs.mkdirSync(path.join(d, 'stuff'));
      return ['resume', 'stuff'];
    },
    message: /stuff is not a run directory|stuff.*config\.yaml/,
    hint: true,
  },
  {
    name: 'resume of a missing folder',
    setup: () => ['resume', 'runs/none'],
    message: /run directory runs\/none does not exist/,
    hint: true,
  },
  {
    name: 'train onto an existing run name',
    setup: async (d) => {
      copyRun(await finishedRun(), path.join(d, 'runs'));
      return cfg(d, `name: run\n${mnistYaml(MNIST_DIR)}`);
    },
    message: /runs[/\\]run already exists/,
    hint: true,
  },
  {
    name: 'test without the requested checkpoint',
    setup: async (d) => {
      const run = copyRun(await finishedRun(), d);
      fs.rmSync(path.join(run, 'weights', 'best.ckpt'));
      return ['test', 'run'];
    },
    message: /has no best checkpoint/,
    hint: true,
  },
  {
    name: 'test --count 0',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      return ['test', 'run', '--count', '0', '--embed', 'pca'];
    },
    message: /--count 0/,
    hint: true,
  },

  // --- using a run: encode, score, interpolate, projector ---
  {
    name: 'encode a run without weights',
    setup: async (d) => {
      fs.rmSync(path.join(copyRun(await finishedRun(), d), 'weights', 'best.ckpt'));
      return ['encode', 'run'];
    },
    message: /run has no best checkpoint/,
    hint: true,
  },
  {
    name: 'encode images that cannot be decoded',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      fs.mkdirSync(path.join(d, 'junk'));
      fs.writeFileSync(path.join(d, 'junk', 'a.png'), 'not a png');
      fs.writeFileSync(path.join(d, 'junk', 'b.jpg'), 'not a jpeg');
      return ['encode', 'run', '--input', 'junk', '--out', 'new/codes.npy'];
    },
    message: /none of the 2 images given with --input could be read/,
    hint: true,
  },
  {
    name: 'encode an empty input folder',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      fs.mkdirSync(path.join(d, 'empty'));
      return ['encode', 'run', '--input', 'empty'];
    },
    message: /--input empty: the image folder empty holds no images/,
    hint: true,
  },
  {
    name: 'encode to a file that exists',
    setup: async (d) => {
      fs.writeFileSync(path.join(copyRun(await finishedRun(), d), 'codes_test.npy'), 'earlier codes');
      return ['encode', 'run'];
    },
    message: /codes_test\.npy exists/,
    hint: true,
  },
  {
    name: 'encode into a folder that is a file',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      fs.writeFileSync(path.join(d, 'out'), 'a file');
      return ['encode', 'run', '--out', 'out/codes.npy'];
    },
    message: /cannot write out[/\\]codes\.npy: .*out is a file/,
    hint: true,
  },
  {
    name: 'score with a percentile outside (0, 100)',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      return ['score', 'run', '--percentile', '100'];
    },
    message: /--percentile 100 is outside \(0, 100\)/,
    hint: true,
  },
  {
    name: 'interpolate with one step',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      return ['interpolate', 'run', '--from', '0', '--to', '1', '--steps', '1'];
    },
    message: /--steps 1: the line needs at least its two ends/,
    hint: true,
  },
  {
    name: 'sample from a model without a prior',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      return ['sample', 'run'];
    },
    message: /is a run of model_type AE, which has no prior to sample from/,
    hint: true,
  },
  {
    name: 'sample with a count of zero',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      return ['sample', 'run', '--count', '0'];
    },
    message: /--count 0: expected a whole number from 1 to 10000/,
    hint: true,
  },
  {
    name: 'beta on a model without a KL term',
    setup: (d) => cfg(d, 'model_type: BottleneckCAE\nbeta: 4\n'),
    message: /beta: given 4 for model_type BottleneckCAE; it weighs a VAE's KL term/,
  },
  {
    name: 'projector export into a folder that holds one',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      fs.mkdirSync(path.join(d, 'proj'));
      fs.writeFileSync(path.join(d, 'proj', 'projector_config.json'), '{}');
      return ['encode', 'run', '--out', 'c.npy', '--projector', 'proj'];
    },
    message: /proj already holds a projector export/,
    hint: true,
  },

  // --- export and import ---
  {
    name: 'export in an unknown format',
    setup: async (d) => {
      copyRun(await finishedRun(), d);
      return ['export', 'run', '--format', 'tflite'];
    },
    message: /argument 'tflite' is invalid\. Allowed choices are onnx, safetensors/,
  },
  {
    name: 'export a run without weights',
    setup: async (d) => {
      fs.rmSync(path.join(copyRun(await finishedRun(), d), 'weights', 'best.ckpt'));
      return ['export', 'run', '--format', 'onnx'];
    },
    message: /has no best checkpoint/,
    hint: true,
  },
  {
    name: 'export over an existing file',
    setup: async (d) => {
      const run = copyRun(await finishedRun(), d);
      fs.mkdirSync(path.join(run, 'export'));
      fs.writeFileSync(path.join(run, 'export', 'model.safetensors'), 'an earlier export');
      return ['export', 'run', '--format', 'safetensors'];
    },
    message: /model\.safetensors exists/,
    hint: true,
  },
  {
    name: 'import a truncated safetensors file',
    setup: (d) => importArgs(d, (b) => b.subarray(0, b.length - 1000)),
    message:
      /not a valid safetensors file: tensor decoder\.3\.(weight|bias): data_offsets .* lie outside the \d+-byte data \(truncated\?\)/,
    hint: true,
  },
  {
    name: 'import a safetensors file whose header is not JSON',
    setup: (d) => importArgs(d, (b) => Buffer.concat([b.subarray(0, 8), Buffer.from('{"encoder.0.weight": {'), b.subarray(30)])),
    message: /not a valid safetensors file: the header is not JSON/,
    hint: true,
  },
  {
    name: 'import a safetensors file whose offsets overlap',
    setup: (d) =>
      importArgs(d, undefined, (h) => {
        const [s, e] = h['encoder.0.bias']!.data_offsets;
        h['encoder.0.bias']!.data_offsets = [s - 8, e - 8];
      }),
    message: /not a valid safetensors file: tensor encoder\.0\.bias overlaps the tensor before it/,
    hint: true,
  },
  {
    name: 'import a safetensors file with a tensor of another dtype',
    setup: (d) =>
      importArgs(d, undefined, (h) => {
        h['decoder.0.bias']!.dtype = 'F16';
      }),
    message: /tensor decoder\.0\.bias has dtype "F16"/,
    hint: true,
  },
  {
    name: 'import a state_dict of another shape',
    setup: async (d) => {
      const args = await importArgs(d);
      fs.writeFileSync(path.join(d, 'small.yaml'), `latent_dim: 16\nproject: runs\n${mnistYaml(MNIST_DIR)}`);
      return [...args, '--config', 'small.yaml'];
    },
    message: /does not fit the AE[\s\S]*wrong: encoder\.3\.weight: F32 \[32, 256\], expected F32 \[16, 256\]/,
    hint: true,
  },

  // --- environment ---
  {
    name: 'project folder that cannot be created',
    setup: (d) => {
      fs.writeFileSync(path.join(d, 'out'), 'a file');
      return cfg(d, `project: out/runs\n${mnistYaml(MNIST_DIR)}`);
    },
    message: /cannot create the project folder out[/\\]runs: (ENOTDIR|EEXIST)/,
    hint: true,
  },
];

/**
 * A copy of the fixture's safetensors export in dir/model.safetensors, optionally damaged (bytes edited, or the
 * JSON header edited and re-serialised), and the `ae import` arguments for it.
 */
async function importArgs(
  dir: string,
  editBytes?: (b: Buffer) => Buffer,
  editHeader?: (h: Record<string, { dtype: string; data_offsets: [number, number] }>) => void,
): Promise<string[]> {
  const src = copyRun(await finishedRun(), path.join(dir, 'src'));
  const file = (await exportSafetensors(src, { out: dir })).files[0]!;
  fs.rmSync(path.join(dir, 'src'), { recursive: true });
  let b = fs.readFileSync(file);
  if (editHeader) {
    const n = Number(b.readBigUInt64LE(0));
    const header = JSON.parse(b.subarray(8, 8 + n).toString());
    editHeader(header);
    const json = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    b = Buffer.concat([length, json, b.subarray(8 + n)]);
  }
  fs.writeFileSync(file, editBytes ? editBytes(b) : b);
  return ['import', 'model.safetensors', '--name', 'imported', '--project', 'runs'];
}

function copyRun(from: string, toDir: string): string {
  fs.mkdirSync(toDir, { recursive: true });
  const to = path.join(toDir, 'run');
  fs.cpSync(from, to, { recursive: true });
  return to;
}

function flip(file: string): void {
  const b = fs.readFileSync(file);
  b[b.length - 3]! ^= 0xff;
  fs.writeFileSync(file, b);
}

function newerFormat(file: string): void {
  const good = fs.readFileSync(file);
  const headerLen = good.readUInt32LE(8);
  const header = JSON.parse(good.subarray(12, 12 + headerLen).toString());
  header.format_version = CHECKPOINT_FORMAT_VERSION + 1;
  fs.writeFileSync(
    file,
    Buffer.concat([good.subarray(0, 12), Buffer.from(JSON.stringify(header).padEnd(headerLen, ' ')), good.subarray(12 + headerLen)]),
  );
}

/** The folder's files with digests of their whole contents (train.log included), to prove a failed command changed nothing. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of listFiles(dir)) {
    const p = path.join(dir, f);
    out.set(f, fs.statSync(p).isFile() ? createHash('sha256').update(fs.readFileSync(p)).digest('hex') : 'dir');
  }
  return out;
}

/** What is wrong with a case's outcome (nothing when it was refused clearly and changed no file). */
async function problemsOf(c: Case): Promise<string[]> {
  const dir = tempDir('ae-bad-');
  const args = await c.setup(dir);
  const before = snapshot(dir);
  const r = await ae(args, dir);
  const problems: string[] = [];
  if (r.code === 0 || r.code === null) problems.push(`exit code ${r.code}`);
  if (!c.message.test(r.err)) problems.push(`message does not match ${c.message}`);
  if (c.hint && !/\n\s+hint: \S/.test(r.err)) problems.push('no hint');
  if (/\n\s+at \S+ \(|\n\s+at file:/.test(r.err)) problems.push('stack trace');
  if (/this looks like a bug/.test(r.err)) problems.push('reported as a bug');
  const after = snapshot(dir);
  if (JSON.stringify([...after]) !== JSON.stringify([...before])) {
    problems.push(
      `files changed: +[${[...after.keys()].filter((k) => !before.has(k))}] -[${[...before.keys()].filter((k) => !after.has(k))}] ~[${[...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k))}]`,
    );
  }
  if (problems.length) problems.push(`stderr: ${r.err.trim().split('\n').join('\n        ')}`);
  return problems;
}

test(`the bad-input suite has ${CASES.length} distinct cases`, () => {
  assert.ok(CASES.length >= 30, `${CASES.length} cases`);
  assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, 'case names are distinct');
});

// One test per case (filterable with --test-name-pattern), two at a time: most of a case is a CLI process starting
// up, which leaves the other core idle.
describe('bad input is refused clearly with nothing half-written', { concurrency: 2 }, () => {
  before(finishedRun); // made once, before the cases that copy it run side by side
  for (const c of CASES) {
    test(c.name, async () => {
      const problems = await problemsOf(c);
      assert.deepEqual(problems, []);
    });
  }
});
