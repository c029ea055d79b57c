/** The dataset a config names, loaded: MNIST, Fashion-MNIST or image folders (through their cache). */
import fs from 'node:fs';
import path from 'node:path';
import { datasetOf, type Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { type DataSplits, type ImageSet, inMemory, subset } from './dataset.js';
import { loadImageFolders } from './folder.js';
import { FASHION_MNIST, loadIdxDataset, loadMnist, MNIST_FILES } from './mnist.js';

const MNIST_FILE_NAMES = Object.values(MNIST_FILES).map((f) => f.name);

export async function loadData(
  config: Config,
  log?: (msg: string) => void,
  onProgress?: (done: number, total: number) => void,
  shouldStop?: () => boolean,
): Promise<DataSplits> {
  const loaded = await loadAll(config, log, onProgress, shouldStop);
  const splits = config.binarize ? binarizeSplits(loaded, config.seed) : loaded;
  return config.classes ? keepClasses(splits, config.classes) : splits;
}

/**
 * A fixed binarisation (`binarize: true`): each pixel becomes 1 with probability equal to its intensity, drawn once
 * per split from the seed, as Larochelle & Murray (2011) made binarised MNIST. New arrays, in memory (also for image
 * folders, which are otherwise streamed): the loaded data may be shared (see recentIdx).
 */
export function binarizeSplits(splits: DataSplits, seed: number): DataSplits {
  const binarize = (streamedOrNot: ImageSet, split: string): ImageSet => {
    const set = inMemory(streamedOrNot); // the draws run over the whole split in order, so it is held in memory
    const rng = new Rng(deriveSeed(seed, 'binarize', split));
    const images = new Float32Array(set.images.length);
    for (let i = 0; i < images.length; i++) images[i] = rng.uniform() < set.images[i]! ? 1 : 0;
    return { ...set, images };
  };
  return {
    ...splits,
    train: binarize(splits.train, 'train'),
    validation: binarize(splits.validation, 'validation'),
    test: binarize(splits.test, 'test'),
  };
}

/**
 * Keeps only the given classes in the training and validation splits (one-class training); the test split keeps
 * every class, so a model trained on one class is scored on all of them.
 */
export function keepClasses(splits: DataSplits, classes: number[]): DataSplits {
  const names = splits.classNames;
  if (!names) {
    throw new UserError(
      'classes: the images are unlabelled (a flat folder), so there are no classes to keep',
      'use class sub-folders, or set classes: null',
    );
  }
  const unknown = classes.filter((c) => c >= names.length);
  if (unknown.length) {
    throw new UserError(
      `classes: ${unknown.join(', ')} not among the ${names.length} classes (0-${names.length - 1})`,
      `pick class numbers from 0 to ${names.length - 1}: ${names.map((n, i) => `${i} ${n}`).join(', ')}`,
    );
  }
  const wanted = new Set(classes);
  const keep = (set: ImageSet) =>
    subset(
      set,
      Int32Array.from({ length: set.count }, (_, i) => i).filter((i) => wanted.has(set.labels[i]!)),
    );
  const kept = { ...splits, train: keep(splits.train), validation: keep(splits.validation) };
  if (kept.train.count === 0 || kept.validation.count === 0) {
    throw new UserError(
      `classes: [${classes.join(', ')}] leaves ${kept.train.count} training and ${kept.validation.count} validation images`,
      'use more of the dataset (a larger subset) or other classes',
    );
  }
  return kept;
}

/**
 * The IDX datasets last loaded, held weakly: a command that needs the same data twice (ae score reads the input
 * split and the training split) parses the files once, and nothing stays in memory once no one holds the data.
 */
const recentIdx = new Map<string, WeakRef<DataSplits>>();

async function loadAll(
  config: Config,
  log?: (msg: string) => void,
  onProgress?: (done: number, total: number) => void,
  shouldStop?: () => boolean,
): Promise<DataSplits> {
  const dataset = datasetOf(config);
  if (dataset === 'folder') return loadImageFolders(config, { log, onProgress, shouldStop });
  const dir = path.resolve(dataset === 'mnist' ? config.MNIST.path : config.FASHION_MNIST.path);
  const stamp = filesStamp(dir);
  const key = JSON.stringify([dataset, dir, stamp, config.MNIST, config.FASHION_MNIST, config.seed]);
  const cached = stamp ? recentIdx.get(key)?.deref() : undefined;
  if (cached) return cached;
  const splits = await loadIdx(config, log);
  const after = filesStamp(dir); // files fetched or copied just now are stamped after the load
  if (after) recentIdx.set(JSON.stringify([dataset, dir, after, config.MNIST, config.FASHION_MNIST, config.seed]), new WeakRef(splits));
  return splits;
}

function loadIdx(config: Config, log?: (msg: string) => void): Promise<DataSplits> {
  return datasetOf(config) === 'mnist'
    ? loadMnist(config.MNIST.path, config.MNIST.MNIST_valset_proportion, config.seed, { subset: config.MNIST.subset, log })
    : loadIdxDataset(FASHION_MNIST, config.FASHION_MNIST.path, config.FASHION_MNIST.valset_proportion, config.seed, {
        subset: config.FASHION_MNIST.subset,
        log,
      });
}

/** The files' identity (size and modification time), or null when one is missing (it will be fetched). */
function filesStamp(dir: string): string | null {
  try {
    return MNIST_FILE_NAMES.map((f) => {
      const st = fs.statSync(path.join(dir, f));
      return `${st.size}:${st.mtimeMs}`;
    }).join(',');
  } catch {
    return null;
  }
}
