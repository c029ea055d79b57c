/** The library: the same pipeline the CLI drives, importable with types. Nothing here prints or exits. */
export { loadConfig, resolveConfig, readConfigFile, mergeConfig, modelSignature, configHash } from './config/load.js';
export { FIELDS, configSchema, defaultConfig, type Config, type FieldSpec } from './config/schema.js';
export { UserError, TrainingInterrupted } from './errors.js';
export { initBackend, tf, type BackendName } from './backend/index.js';
export { patchWasmBackend, PATCHED_KERNELS } from './backend/wasm-patches.js';
export { loadMnist, ensureMnistFiles, splitValidation, MNIST_FILES, MNIST_MIRRORS, type MnistSplits } from './data/mnist.js';
export { parseIdx, parseIdxImages, parseIdxLabels, encodeIdx } from './data/idx.js';
export { batchTensor, head, type ImageSet } from './data/dataset.js';
export { createModel, reconstruct, type Autoencoder, type ImageShape } from './models/model.js';
export { AE } from './models/ae.js';
export { CAE } from './models/cae.js';
export { train, resume, loadData, restoreWeights, checkSignature, readRunConfig, type TrainEvent, type TrainOptions, type TrainResult } from './train/trainer.js';
export { evaluateLoss } from './train/validate.js';
export { readCheckpoint, writeCheckpoint, CHECKPOINT_FORMAT_VERSION, type Checkpoint, type HistoryRow, type TrainingState } from './checkpoint/checkpoint.js';
export { createRunDir, openRunDir, RunDir } from './train/run-dir.js';
export { Rng, deriveSeed } from './util/rng.js';
