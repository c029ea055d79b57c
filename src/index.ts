/** The library: the same pipeline the CLI drives, importable with types. Nothing here prints or exits. */
export { loadConfig, resolveConfig, readConfigFile, mergeConfig, modelSignature, configHash } from './config/load.js';
export { FIELDS, configSchema, datasetOf, defaultConfig, type Config, type FieldSpec } from './config/schema.js';
export { UserError, TrainingInterrupted } from './errors.js';
export { initBackend, tf, type BackendName } from './backend/index.js';
export { withAccel, nativeBuilt, type AccelSettings } from './accel/index.js';
export {
  loadMnist,
  loadIdxDataset,
  ensureMnistFiles,
  ensureIdxFiles,
  splitValidation,
  MNIST,
  FASHION_MNIST,
  MNIST_FILES,
  MNIST_MIRRORS,
  type IdxDataset,
} from './data/mnist.js';
export {
  loadImageFolders,
  listImageFolder,
  decodeListing,
  IMAGE_EXTENSIONS,
  type Preprocessing,
  type FolderListing,
} from './data/folder.js';
export { parseIdx, parseIdxImages, parseIdxLabels, encodeIdx } from './data/idx.js';
export { batchTensor, head, inMemory, subset, type DataSplits, type ImageSet, type MemorySet, type StreamedSet } from './data/dataset.js';
export {
  createModel,
  reconstruct,
  isVariational,
  MODEL_SPECS,
  specOf,
  type ModelSpec,
  type Autoencoder,
  type ImageShape,
  type ModelKind,
  type VariationalAutoencoder,
} from './models/registry.js';
export { evaluateLoss, meanSquaredError, addNoise, type NoiseOptions } from './models/loss.js';
export { evaluateObjective, objective, gaussianKl, reparameterise, klWeightAt, type ObjectiveValues } from './models/objective.js';
export { AE } from './models/ae/model.js';
export { BottleneckCAE } from './models/bottleneck-cae/model.js';
export { CAE } from './models/cae/model.js';
export { ConvVAE } from './models/conv-vae/model.js';
export { VAE } from './models/vae/model.js';
export { train, resume, type TrainEvent, type TrainOptions, type TrainResult, type StepLoss } from './train/trainer.js';
export { loadData, binarizeSplits } from './data/load.js';
export { importanceSampledNll, type VariationalMetrics } from './evaluate/likelihood.js';
export { sample, type SampleOptions, type SampleResult } from './use/sample.js';
export { loadModel, type LoadedModel } from './checkpoint/model-state.js';
export {
  readCheckpoint,
  writeCheckpoint,
  CHECKPOINT_FORMAT_VERSION,
  type Checkpoint,
  type HistoryRow,
  type TrainingState,
} from './checkpoint/checkpoint.js';
export { openRunDir, readRunConfig, RunDir } from './checkpoint/run-dir.js';
export { Rng, deriveSeed } from './util/rng.js';
export { tsne, tsneAffinities, TSNE_DEFAULTS, type TsneOptions, type TsneResult } from './embed/tsne.js';
export { pca, type PcaResult } from './embed/pca.js';
export {
  exactKnn,
  knnSearch,
  approximateKnn,
  neighbours,
  APPROX_KNN_MIN_POINTS,
  type ApproxKnnOptions,
  type Neighbours,
} from './embed/knn.js';
export { transformPoints, TRANSFORM_DEFAULTS, type ReferenceMap, type TransformOptions, type TransformResult } from './embed/transform.js';
export { multiscaleConditionalP } from './embed/affinities.js';
export { readMapData, type MapData } from './evaluate/map-data.js';
export { knnAccuracy, leaveOneOutKnnAccuracy, trustworthiness, rocAuc } from './evaluate/metrics.js';
export { keepClasses } from './data/load.js';
export { embed, EMBED_METHODS, type EmbedMethod, type Embedding, type EmbeddingParams } from './embed/index.js';
export { embedInWorker } from './embed/worker.js';
export {
  evaluateRun,
  splitLoss,
  type EvaluateOptions,
  type EvaluateResult,
  type TestMetrics,
  type LatentMetrics,
  type EmbeddingMetrics,
  type Split,
} from './evaluate/evaluate-run.js';
export { encodeSet, fitLatentPca, forEachLatentBatch, type Latents } from './evaluate/latents.js';
export { encode, openRunModel, type EncodeOptions, type EncodeResult, type UseOptions } from './use/encode.js';
export { reconstructionErrors } from './models/loss.js';
export { exportProjector, spriteCapacity, MAX_SPRITE_SIDE, type ProjectorInput, type ProjectorResult } from './render/projector.js';
export { score, percentileOf, type ScoreOptions, type ScoreResult, type ScoredRow } from './use/score.js';
export { openInput, SPLITS, type InputSource, type InputRow, type InputBatch } from './use/inputs.js';
export { CODE_FORMATS, npyHeader, type CodeFormat } from './use/code-writers.js';
export { interpolate, type InterpolateOptions, type InterpolateResult } from './use/interpolate.js';
export {
  exportOnnx,
  exportSafetensors,
  importSafetensors,
  configInSafetensors,
  EXPORT_FORMATS,
  type ExportFormat,
  type ExportOptions,
  type ExportResult,
  type ImportOptions,
  type ImportResult,
} from './exchange/index.js';
export { readSafetensors, writeSafetensors, type SafetensorsFile } from './exchange/safetensors.js';
export { toTorchStateDict, loadTorchStateDict, type TorchTensor, type StateDictMismatch } from './exchange/torch-layout.js';
export { IncrementalPca, type PcaProjection } from './embed/incremental-pca.js';
export { symmetricEigen } from './embed/eigen.js';
