/**
 * The config: every key, its type, range, default and meaning, defined once here. The zod schema, the README's
 * config table (`npm run docs:config`) and the error messages are all built from this list.
 */
import { z } from 'zod';

export interface FieldSpec {
  /** Dotted key path, as written in the config file. */
  key: string;
  schema: z.ZodType;
  default: unknown;
  doc: string;
}

const positiveInt = z.number().int().positive();

export const FIELDS: FieldSpec[] = [
  { key: 'seed', schema: z.number().int().min(0).max(2 ** 32 - 1), default: 0, doc: 'Seed for every random choice: weight init, validation split, batch order, dropout, noise.' },
  { key: 'model_type', schema: z.enum(['AE', 'CAE']), default: 'AE', doc: '`AE` (fully connected) or `CAE` (convolutional).' },
  { key: 'denoising', schema: z.boolean(), default: false, doc: 'Add Gaussian noise to each input batch; the loss compares the reconstruction with the clean input.' },
  { key: 'noise_mean', schema: z.number().finite(), default: 0, doc: 'Mean of the denoising noise.' },
  { key: 'noise_std', schema: z.number().finite().min(0), default: 0.1, doc: 'Standard deviation of the denoising noise (>= 0).' },
  { key: 'height', schema: positiveInt, default: 28, doc: 'Image height in pixels (MNIST: 28; CAE: divisible by 4).' },
  { key: 'width', schema: positiveInt, default: 28, doc: 'Image width in pixels (MNIST: 28; CAE: divisible by 4).' },
  { key: 'color_channel', schema: z.union([z.literal(1), z.literal(3)]), default: 1, doc: 'Channels per image: 1 (grayscale) or 3 (RGB). MNIST: 1.' },
  { key: 'convert2grayscale', schema: z.boolean(), default: false, doc: 'Image folders: convert colour images to one channel (needs `color_channel: 1`).' },
  { key: 'dataset', schema: z.enum(['mnist', 'fashion-mnist', 'folder']).nullable(), default: null, doc: '`mnist`, `fashion-mnist` or `folder` (your images, `CUSTOM.*`); `null` follows `MNIST_train` (true: mnist, false: folder).' },
  { key: 'MNIST_train', schema: z.boolean(), default: true, doc: 'The reference\'s switch: `true` trains on MNIST, `false` on the image folders of `CUSTOM.*` (used when `dataset` is null).' },
  { key: 'MNIST.path', schema: z.string().min(1), default: 'data/mnist', doc: 'Folder of the four MNIST `.gz` IDX files, relative to the working directory; missing files are fetched and MD5-checked.' },
  { key: 'MNIST.MNIST_valset_proportion', schema: z.number().gt(0).lt(1), default: 0.2, doc: 'Share of the 60,000 training images held out for validation, chosen with `seed`; in (0, 1).' },
  { key: 'MNIST.subset', schema: z.number().int().min(10).max(60000).nullable(), default: null, doc: 'Use only the first N of the 60,000 training images (before the split), for quick runs; `null` uses all.' },
  { key: 'FASHION_MNIST.path', schema: z.string().min(1), default: 'data/fashion-mnist', doc: 'Folder of the four Fashion-MNIST `.gz` IDX files; missing files are fetched and MD5-checked.' },
  { key: 'FASHION_MNIST.valset_proportion', schema: z.number().gt(0).lt(1), default: 0.2, doc: 'Share of the 60,000 Fashion-MNIST training images held out for validation; in (0, 1).' },
  { key: 'FASHION_MNIST.subset', schema: z.number().int().min(10).max(60000).nullable(), default: null, doc: 'Use only the first N Fashion-MNIST training images (before the split); `null` uses all.' },
  { key: 'CUSTOM.train_data_path', schema: z.string().min(1).nullable(), default: null, doc: 'Image folder for training: one sub-folder per class (labelled) or images directly inside (unlabelled).' },
  { key: 'CUSTOM.validation_data_path', schema: z.string().min(1).nullable(), default: null, doc: 'Image folder for validation; `null` splits it from the training folder by `CUSTOM.valset_proportion`.' },
  { key: 'CUSTOM.test_data_path', schema: z.string().min(1).nullable(), default: null, doc: 'Image folder for test mode; `null` uses the validation images.' },
  { key: 'CUSTOM.valset_proportion', schema: z.number().gt(0).lt(1), default: 0.2, doc: 'Share of the training folder held out for validation when no validation folder is given, chosen with `seed`.' },
  { key: 'CUSTOM.fit', schema: z.enum(['squash', 'pad']), default: 'squash', doc: 'Resizing to height x width: `squash` stretches to fill; `pad` keeps the aspect ratio and pads with `CUSTOM.background`.' },
  { key: 'CUSTOM.background', schema: z.enum(['black', 'white']), default: 'black', doc: 'Colour under transparent pixels (RGBA images are composited on it) and of the padding.' },
  { key: 'CUSTOM.data_name', schema: z.string().min(1).regex(/^[\w.-]+$/, 'only letters, digits, _, . and -').nullable(), default: null, doc: 'Cache folder name: preprocessed images go to `<project>/data/<data_name>/`; `null` takes the training folder\'s name.' },
  { key: 'project', schema: z.string().min(1), default: 'runs', doc: 'Folder that holds the runs.' },
  { key: 'name', schema: z.string().min(1).regex(/^[\w.-]+$/, 'only letters, digits, _, . and -'), default: 'mnist-ae', doc: 'Run name: the run directory is `<project>/<name>/` (`data` is reserved for the image caches).' },
  { key: 'batch_size', schema: positiveInt, default: 128, doc: 'Images per training batch.' },
  { key: 'epochs', schema: positiveInt, default: 10, doc: 'Passes over the training set.' },
  { key: 'lr', schema: z.number().positive().finite(), default: 1e-3, doc: 'Adam learning rate (betas 0.9/0.999, epsilon 1e-8, as PyTorch).' },
  { key: 'hidden_dim', schema: positiveInt, default: 256, doc: 'AE: width of the hidden layer.' },
  { key: 'latent_dim', schema: positiveInt, default: 32, doc: 'AE: size of the latent code.' },
  { key: 'dropout', schema: z.number().min(0).lt(1), default: 0.1, doc: 'AE: dropout rate after each hidden ReLU, in [0, 1).' },
  { key: 'backend', schema: z.enum(['wasm', 'cpu', 'webgpu']), default: 'wasm', doc: '`wasm` (XNNPACK, fast), `cpu` (pure JS, slow; for checking) or `webgpu` (a GPU through WebGPU; what `--device gpu` sets).' },
];

export interface Config {
  seed: number;
  model_type: 'AE' | 'CAE';
  denoising: boolean;
  noise_mean: number;
  noise_std: number;
  height: number;
  width: number;
  color_channel: 1 | 3;
  convert2grayscale: boolean;
  dataset: 'mnist' | 'fashion-mnist' | 'folder' | null;
  MNIST_train: boolean;
  MNIST: { path: string; MNIST_valset_proportion: number; subset: number | null };
  FASHION_MNIST: { path: string; valset_proportion: number; subset: number | null };
  CUSTOM: {
    train_data_path: string | null; validation_data_path: string | null; test_data_path: string | null;
    valset_proportion: number; fit: 'squash' | 'pad'; background: 'black' | 'white'; data_name: string | null;
  };
  project: string;
  name: string;
  batch_size: number;
  epochs: number;
  lr: number;
  hidden_dim: number;
  latent_dim: number;
  dropout: number;
  backend: 'wasm' | 'cpu' | 'webgpu';
}

/** Builds the strict (unknown keys refused) nested zod object from FIELDS. */
function buildSchema(): z.ZodType<Config> {
  interface Node { [k: string]: Node | z.ZodType }
  const tree: Node = {};
  for (const f of FIELDS) {
    const parts = f.key.split('.');
    let node = tree;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Node;
    node[parts[parts.length - 1]!] = f.schema.default(f.default as never);
  }
  const toZod = (node: Node): z.ZodType => {
    const shape: Record<string, z.ZodType> = {};
    for (const [k, v] of Object.entries(node)) {
      shape[k] = v instanceof z.ZodType ? v : toZod(v).prefault({} as never);
    }
    return z.strictObject(shape);
  };
  return toZod(tree) as unknown as z.ZodType<Config>;
}

export const configSchema = buildSchema();

/** The dataset a config selects: `dataset` when set, else the reference's `MNIST_train` switch. */
export function datasetOf(c: Config): 'mnist' | 'fashion-mnist' | 'folder' {
  return c.dataset ?? (c.MNIST_train ? 'mnist' : 'folder');
}

/** Default config, as the schema resolves an empty file. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}
