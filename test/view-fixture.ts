import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { resolveConfig } from '../src/config/load.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { train } from '../src/train/trainer.js';
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
