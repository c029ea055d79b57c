/**
 * MNIST and Fashion-MNIST (the same four-file IDX layout): find the files (or fetch them, MD5-checked, written
 * atomically), parse them and split the training set into train/validation with the config's seed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { md5 } from '../util/hash.js';
import { UserError } from '../errors.js';
import { writeFileAtomic, removeStaleTempFiles } from '../util/fs.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { parseIdxImages, parseIdxLabels } from './idx.js';
import { head, subset, type DataSplits, type ImageSet, type MemorySet } from './dataset.js';

export const MNIST_FILES = {
  trainImages: { name: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
  trainLabels: { name: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
  testImages: { name: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3' },
  testLabels: { name: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
} as const;

/** The mirrors torchvision uses, in its order. */
export const MNIST_MIRRORS = ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'];

interface IdxFile {
  name: string;
  md5: string;
}

/** One dataset in MNIST's four-file IDX layout. */
export interface IdxDataset {
  /** Its sub-folder in the local data folders (`mnist`, `fashion-mnist`). */
  name: string;
  /** Its name in messages. */
  title: string;
  /** The config key of its folder, named in messages. */
  pathKey: string;
  files: { trainImages: IdxFile; trainLabels: IdxFile; testImages: IdxFile; testLabels: IdxFile };
  mirrors: string[];
  classNames: string[];
}

export const MNIST: IdxDataset = {
  name: 'mnist',
  title: 'MNIST',
  pathKey: 'MNIST.path',
  files: MNIST_FILES,
  mirrors: MNIST_MIRRORS,
  classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
};

/** Zalando's Fashion-MNIST: 28x28 grayscale clothing in 10 classes, a drop-in harder MNIST. */
export const FASHION_MNIST: IdxDataset = {
  name: 'fashion-mnist',
  title: 'Fashion-MNIST',
  pathKey: 'FASHION_MNIST.path',
  files: {
    trainImages: { name: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
    trainLabels: { name: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
    testImages: { name: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
    testLabels: { name: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
  },
  mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
  classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
};

/**
 * Folders searched for verified copies before going to the network: `AE_DATA_DIRS` (path-separated list of
 * folders holding `mnist/` or `fashion-mnist/`), else a `shared/data` folder beside the project, as on our CI machines. A copy is
 * used only if its MD5 matches; it is copied into MNIST.path, never used in place.
 */
export function localDataDirs(): string[] {
  const env = process.env.AE_DATA_DIRS;
  if (env !== undefined) return env.split(path.delimiter).filter(Boolean);
  return [path.resolve('..', 'shared', 'data')];
}

export { md5 };

export type FetchFn = (url: string) => Promise<Uint8Array>;

const defaultFetch: FetchFn = async (url) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
};

export interface EnsureOptions {
  fetchFn?: FetchFn;
  mirrors?: string[];
  log?: (msg: string) => void;
}

/** Makes sure every MNIST file is present in `dir` (copying or downloading what is missing). */
export function ensureMnistFiles(dir: string, opts: EnsureOptions = {}): Promise<void> {
  return ensureIdxFiles(MNIST, dir, opts);
}

/** Makes sure every file of `spec` is present in `dir` (copying or downloading what is missing). */
export async function ensureIdxFiles(spec: IdxDataset, dir: string, opts: EnsureOptions = {}): Promise<void> {
  const log = opts.log ?? (() => {});
  const missing = Object.values(spec.files).filter((f) => !fs.existsSync(path.join(dir, f.name)));
  if (missing.length === 0) return;
  const created = !fs.existsSync(dir);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(
      `cannot create the ${spec.title} folder ${dir}: ${(e as NodeJS.ErrnoException).code}`,
      `set ${spec.pathKey} to a folder you can write, or put the files there yourself`,
    );
  }
  removeStaleTempFiles(dir);
  const failures: string[] = [];
  for (const file of missing) {
    const target = path.join(dir, file.name);
    const local = localDataDirs()
      .map((d) => path.join(d, spec.name, file.name))
      .find((p) => fs.existsSync(p));
    if (local) {
      const bytes = fs.readFileSync(local);
      if (md5(bytes) === file.md5) {
        writeFileAtomic(target, bytes);
        log(`copied ${file.name} from ${path.dirname(local)} (MD5 verified)`);
        continue;
      }
      log(`ignoring ${local}: MD5 mismatch`);
    }
    let done = false;
    for (const mirror of opts.mirrors ?? spec.mirrors) {
      const url = mirror + file.name;
      try {
        log(`downloading ${url}`);
        const bytes = await (opts.fetchFn ?? defaultFetch)(url);
        const sum = md5(bytes);
        if (sum !== file.md5) {
          failures.push(`${url}: MD5 ${sum}, expected ${file.md5}`);
          continue;
        }
        writeFileAtomic(target, bytes);
        done = true;
        break;
      } catch (e) {
        failures.push(`${url}: ${(e as Error).message}`);
      }
    }
    if (!done) {
      // Leave no trace of a failed fetch: a folder made just now and still empty goes again.
      if (created && fs.readdirSync(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
      throw new UserError(
        `${spec.title} file ${file.name} is missing from ${dir} and could not be downloaded:\n    ${failures.join('\n    ')}`,
        `put the four ${spec.title} files (${Object.values(spec.files)
          .map((f) => f.name)
          .join(', ')}) into ${path.resolve(dir)}, or set ${spec.pathKey} to the folder that holds them`,
      );
    }
  }
}

function readFile(dir: string, name: string): Uint8Array {
  const p = path.join(dir, name);
  try {
    return fs.readFileSync(p);
  } catch (e) {
    throw new UserError(`cannot read ${p}: ${(e as NodeJS.ErrnoException).code}`);
  }
}

/** Parses one images+labels pair and checks they agree with each other and with 28x28. */
function loadPair(spec: IdxDataset, dir: string, images: string, labels: string): MemorySet {
  const img = parseIdxImages(readFile(dir, images), path.join(dir, images));
  const lab = parseIdxLabels(readFile(dir, labels), path.join(dir, labels));
  if (img.count !== lab.length) {
    throw new UserError(
      `${path.join(dir, images)} holds ${img.count} images but ${path.join(dir, labels)} holds ${lab.length} labels`,
      'the two files must come from the same set; replace the damaged one',
    );
  }
  if (img.rows !== 28 || img.cols !== 28) {
    throw new UserError(
      `${path.join(dir, images)} holds ${img.rows}x${img.cols} images; ${spec.title} images are 28x28`,
      `${spec.pathKey} must hold the official ${spec.title} files; for other images use dataset: folder`,
    );
  }
  return { images: img.images, labels: lab, count: img.count, height: img.rows, width: img.cols, channels: 1 };
}

/** Splits off round(proportion * n) images for validation, chosen by a permutation seeded from `seed`. */
export function splitValidation<S extends ImageSet>(set: S, proportion: number, seed: number): { train: S; validation: S } {
  const nVal = Math.round(set.count * proportion);
  if (nVal < 1 || nVal >= set.count) {
    throw new UserError(`validation proportion ${proportion} of ${set.count} images leaves an empty train or validation set`);
  }
  const perm = new Rng(deriveSeed(seed, 'validation-split')).permutation(set.count);
  const valIdx = perm.subarray(0, nVal).slice().sort();
  const trainIdx = perm.subarray(nVal).slice().sort();
  return { train: subset(set, trainIdx), validation: subset(set, valIdx) };
}

/** Loads MNIST from `dir` (fetching missing files), split into train/validation/test. */
export function loadMnist(
  dir: string,
  valProportion: number,
  seed: number,
  opts: EnsureOptions & { subset?: number | null } = {},
): Promise<DataSplits<MemorySet>> {
  return loadIdxDataset(MNIST, dir, valProportion, seed, opts);
}

/** Loads an IDX dataset from `dir` (fetching missing files), split into train/validation/test. */
export async function loadIdxDataset(
  spec: IdxDataset,
  dir: string,
  valProportion: number,
  seed: number,
  opts: EnsureOptions & { subset?: number | null } = {},
): Promise<DataSplits<MemorySet>> {
  await ensureIdxFiles(spec, dir, opts);
  const full = loadPair(spec, dir, spec.files.trainImages.name, spec.files.trainLabels.name);
  const all = opts.subset ? head(full, opts.subset) : full;
  const test = loadPair(spec, dir, spec.files.testImages.name, spec.files.testLabels.name);
  return { ...splitValidation(all, valProportion, seed), test, classNames: spec.classNames };
}
