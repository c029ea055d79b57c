import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, resolveConfig } from '../src/config/load.js';
import { defaultConfig } from '../src/config/schema.js';
import { UserError } from '../src/errors.js';
import { ROOT, tempDir } from './helpers.js';

function refused(input: unknown, ...patterns: RegExp[]): void {
  assert.throws(
    () => resolveConfig(input, 'test.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof UserError, `expected a UserError, got ${e}`);
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

test('defaults come from the schema and match the reference', () => {
  const c = defaultConfig();
  assert.equal(c.model_type, 'AE');
  assert.equal(c.hidden_dim, 256);
  assert.equal(c.latent_dim, 32);
  assert.equal(c.dropout, 0.1);
  assert.equal(c.MNIST.MNIST_valset_proportion, 0.2);
  assert.equal(c.MNIST.path, 'data/mnist');
  assert.equal(c.backend, 'wasm');
});

test('refusals name the key, what was given and what is allowed', () => {
  refused({ lr: -1 }, /lr: given -1/, />0/);
  refused({ batch_size: 0 }, /batch_size: given 0/);
  refused({ batch_size: 2.5 }, /batch_size: given 2.5/, /int/i);
  refused({ MNIST: { MNIST_valset_proportion: 1 } }, /MNIST\.MNIST_valset_proportion: given 1/);
  refused({ MNIST: { MNIST_valset_proportion: 0 } }, /MNIST\.MNIST_valset_proportion: given 0/);
  refused({ noise_std: -0.1 }, /noise_std: given -0\.1/);
  refused({ dropout: 1 }, /dropout: given 1/);
  refused({ model_type: 'GAN' }, /model_type: given "GAN"/, /"AE"\|"CAE"\|"BottleneckCAE"\|"VAE"\|"ConvVAE"/);
  refused({ model_type: 'VAE', reconstruction_loss: 'l1' }, /reconstruction_loss: given "l1"/);
  refused({ model_type: 'VAE', beta: -1 }, /beta: given -1/);
  refused({ color_channel: 2 }, /color_channel: given 2/);
  refused({ epochs: '10' }, /epochs: given "10"/, /expected number/);
  refused({ denoising: 'yes' }, /denoising: given "yes"/, /boolean/);
  refused({ backend: 'gpu' }, /backend: given "gpu"/);
  refused({ name: 'a/b' }, /name: given "a\/b"/);
});

test('unknown keys are refused with the allowed ones, nested keys included', () => {
  refused({ learning_rate: 0.1 }, /learning_rate: unknown key/, /allowed keys: .*\blr\b/);
  refused({ MNIST: { valset: 0.1 } }, /MNIST\.valset: unknown key/, /allowed keys under MNIST: path, MNIST_valset_proportion/);
});

test('cross-key checks: CAE needs sizes divisible by 4; MNIST is 28x28x1; image folders need a training folder', () => {
  refused({ model_type: 'CAE', height: 30, width: 30, MNIST_train: false, CUSTOM: { train_data_path: 'x' } }, /divisible by 4/);
  refused({ height: 32 }, /MNIST images are 28x28x1/);
  refused({ MNIST_train: false }, /CUSTOM\.train_data_path: missing/);
  refused({ dataset: 'mnist', MNIST_train: false }, /dataset\/MNIST_train: given dataset mnist with MNIST_train false/);
  assert.equal(
    resolveConfig({ MNIST_train: false, height: 64, width: 48, color_channel: 3, CUSTOM: { train_data_path: 'x' } }).color_channel,
    3,
  );
});

test('config files: YAML and JSON load, overrides apply, bad files are refused clearly', () => {
  const dir = tempDir();
  const yaml = path.join(dir, 'a.yaml');
  fs.writeFileSync(yaml, 'model_type: CAE\nepochs: 3\nMNIST:\n  path: elsewhere\n');
  const c = loadConfig(yaml, { epochs: 5, name: undefined });
  assert.equal(c.model_type, 'CAE');
  assert.equal(c.epochs, 5);
  assert.equal(c.MNIST.path, 'elsewhere');
  assert.equal(c.MNIST.MNIST_valset_proportion, 0.2, 'nested defaults survive a partial nested mapping');
  const json = path.join(dir, 'b.json');
  fs.writeFileSync(json, JSON.stringify({ latent_dim: 8 }));
  assert.equal(loadConfig(json).latent_dim, 8);
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, 'model_type: [AE\n');
  assert.throws(() => loadConfig(bad), /not valid YAML or JSON/);
  fs.writeFileSync(bad, '- a\n- b\n');
  assert.throws(() => loadConfig(bad), /must hold a mapping/);
  assert.throws(() => loadConfig(path.join(dir, 'missing.yaml')), /cannot read config file .*missing\.yaml: ENOENT/);
});

test('every preset in configs/ is valid and listed in docs/config.md', () => {
  const presets = fs.readdirSync(path.join(ROOT, 'configs')).filter((f) => f.endsWith('.yaml'));
  assert.deepEqual(presets.sort(), [
    'celeba-64.yaml',
    'fashion-ae.yaml',
    'fashion-bcae.yaml',
    'fashion-cae.yaml',
    'fashion-convvae.yaml',
    'fashion-vae.yaml',
    'mnist-ae.yaml',
    'mnist-bcae.yaml',
    'mnist-cae.yaml',
    'mnist-convvae.yaml',
    'mnist-dae.yaml',
    'mnist-dcae.yaml',
    'mnist-tiny.yaml',
    'mnist-vae-2d.yaml',
    'mnist-vae-binarized.yaml',
    'mnist-vae.yaml',
  ]);
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'config.md'), 'utf8');
  for (const p of presets) {
    const config = loadConfig(path.join(ROOT, 'configs', p));
    assert.equal(config.name, p.replace(/\.yaml$/, ''), `${p}: the run is named after the preset`);
    assert.ok(doc.includes(`| \`${p}\` |`), `${p} is in the presets table of docs/config.md`);
  }
});
