/**
 * Anomaly detection by reconstruction error, the standard one-class protocol (Ruff et al., "Deep One-Class
 * Classification", ICML 2018): for each class c, train on the training images of class c only (config
 * `classes: [c]`), score every image of the official test set by its reconstruction error, and report the ROC-AUC
 * of telling the other classes (anomalies) from class c. Short training, stated in the table.
 *   npm run bench:anomaly                                     AE and CAE, MNIST and Fashion-MNIST, classes 0-9
 *   npm run bench:anomaly -- --models AE --datasets mnist --ae-epochs 20 --cae-epochs 1 --classes 0,1,2
 */
import fs from 'node:fs';
import { cpuDescription } from './machine.js';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { nativeBuilt } from '../src/accel/index.js';
import { initBackend } from '../src/backend/index.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { resolveConfig } from '../src/config/load.js';
import { loadData } from '../src/data/load.js';
import { rocAuc } from '../src/evaluate/metrics.js';
import { setReconstructionErrors } from '../src/models/loss.js';
import { train } from '../src/train/trainer.js';

const list = (v: string) => v.split(',');
const opts = new Command('bench:anomaly')
  .description('one-class anomaly detection: ROC-AUC per class of models trained on that class alone')
  .option('--models <list>', 'AE and/or CAE', list, ['AE', 'CAE'])
  .option('--datasets <list>', 'mnist and/or fashion-mnist', list, ['mnist', 'fashion-mnist'])
  .option('--classes <list>', 'normal classes to run', (v) => v.split(',').map(Number), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  .option('--ae-epochs <n>', 'AE training epochs', Number, 20)
  .option('--cae-epochs <n>', 'CAE training epochs', Number, 1)
  .option('--shared <dir>', 'folder holding data/mnist and data/fashion-mnist', path.resolve('..', 'shared', 'data'))
  .parse()
  .opts<{ models: string[]; datasets: string[]; classes: number[]; aeEpochs: number; caeEpochs: number; shared: string }>();

await initBackend('wasm');
console.log(
  `machine: ${os.cpus().length} cores (${cpuDescription()}), Node ${process.version}, native kernels ${nativeBuilt() ? 'on' : 'off'}`,
);
const project = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-bench-anomaly-'));
const results: Array<{ dataset: string; model: string; epochs: number; auc: number[]; seconds: number }> = [];
for (const dataset of opts.datasets) {
  for (const model of opts.models) {
    const epochs = model === 'AE' ? opts.aeEpochs : opts.caeEpochs;
    const auc: number[] = [];
    const t0 = performance.now();
    for (const c of opts.classes) {
      const config = resolveConfig({
        dataset,
        model_type: model,
        classes: [c],
        epochs,
        project,
        name: `${dataset}-${model}-${c}`,
        MNIST: { path: path.join(opts.shared, 'mnist') },
        FASHION_MNIST: { path: path.join(opts.shared, 'fashion-mnist') },
      });
      const run = await train(config);
      run.model.params.dispose();
      const { model: trained } = loadModel(config, path.join(run.runDir, 'weights', 'best.ckpt'));
      const test = (await loadData(config)).test;
      const scores = setReconstructionErrors(trained, test);
      trained.params.dispose();
      auc.push(
        rocAuc(
          scores,
          Array.from(test.labels, (l) => l !== c),
        ),
      );
      console.log(`  ${dataset} ${model} class ${c}: ROC-AUC ${(100 * auc.at(-1)!).toFixed(1)} (${epochs} epochs)`);
    }
    results.push({ dataset, model, epochs, auc, seconds: (performance.now() - t0) / 1000 });
  }
}
fs.rmSync(project, { recursive: true, force: true });

const head = `| dataset | model | epochs | ${opts.classes.join(' | ')} | mean |`;
console.log(`\n${head}\n|${' --- |'.repeat(4 + opts.classes.length)}`);
for (const r of results) {
  const mean = r.auc.reduce((a, b) => a + b, 0) / r.auc.length;
  console.log(
    `| ${r.dataset} | ${r.model} | ${r.epochs} | ${r.auc.map((a) => (100 * a).toFixed(1)).join(' | ')} | **${(100 * mean).toFixed(1)}** |`,
  );
}
console.log(
  `\nROC-AUC in %, one model per normal class, scored on the whole official test set; ${results.map((r) => `${r.dataset} ${r.model} ${r.seconds.toFixed(0)} s`).join(', ')}`,
);
