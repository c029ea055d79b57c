/**
 * The config, defined once: the zod schema below holds every key's type, range, default and meaning. The
 * `Config` type is inferred from it; FIELDS (the flat list behind docs/config.md's table, `npm run
 * docs`, and behind the error messages) is read off it.
 */
import { z } from 'zod';
import { DEFAULT_ENCODER_CHANNELS } from '../models/conv-bottleneck/spec.js';
import type { ModelConfigKey } from '../models/spec.js';
import { MODEL_KINDS, MODEL_SPECS, specOf, variationalKinds } from '../models/specs.js';

const positiveInt = z.number().int().positive();
const runName = z
  .string()
  .min(1)
  .regex(/^[\w.-]+$/, 'only letters, digits, _, . and -');

/** A key: its schema, its default and its one-line meaning. */
// Which model types a key concerns is read off their specs, so a new type appears in these docs by itself.
/** The model types whose network reads `key`, e.g. `AE, VAE`. */
const usedBy = (key: ModelConfigKey): string =>
  MODEL_SPECS.filter((s) => (s.configKeys as readonly string[]).includes(key))
    .map((s) => s.kind)
    .join(', ');
/** What the image size must be divisible by, per group of convolutional types, e.g. `CAE, ConvVAE: divisible by 4`. */
const sizeRule = [...new Set(MODEL_SPECS.filter((s) => s.downsampling !== 0).map((s) => s.downsampling))]
  .map(
    (d) =>
      `${MODEL_SPECS.filter((s) => s.downsampling === d)
        .map((s) => s.kind)
        .join(', ')}: divisible by ${d === 'encoder_channels' ? '2 to the number of `encoder_channels` (4 by default)' : 2 ** d}`,
  )
  .join('; ');
const variationalOnly = variationalKinds().join(', ');

function field<T extends z.ZodType>(schema: T, defaultValue: z.output<T>, doc: string) {
  return schema.default(defaultValue as never).describe(doc) as unknown as z.ZodDefault<T>;
}

/** A group of keys written nested in the file (MNIST.path, ...); missing groups take all their defaults. */
function section<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape).prefault({} as never);
}

export const configSchema = z.strictObject({
  seed: field(
    z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
    0,
    'Seed for every random choice: weight init, validation split, batch order, dropout, noise.',
  ),
  model_type: field(
    z.enum(MODEL_KINDS),
    MODEL_KINDS[0],
    `${MODEL_SPECS.map((s) => `\`${s.kind}\` (${s.description})`).join(', ')}; see docs/models.md.`,
  ),
  denoising: field(
    z.boolean(),
    false,
    'Add Gaussian noise to each input batch; the loss compares the reconstruction with the clean input.',
  ),
  noise_mean: field(z.number().finite(), 0, 'Mean of the denoising noise.'),
  noise_std: field(z.number().finite().min(0), 0.1, 'Standard deviation of the denoising noise (>= 0).'),
  height: field(positiveInt, 28, `Image height in pixels (MNIST: 28; ${sizeRule}).`),
  width: field(positiveInt, 28, `Image width in pixels (MNIST: 28; ${sizeRule}).`),
  color_channel: field(z.union([z.literal(1), z.literal(3)]), 1, 'Channels per image: 1 (grayscale) or 3 (RGB). MNIST: 1.'),
  convert2grayscale: field(z.boolean(), false, 'Image folders: convert colour images to one channel (needs `color_channel: 1`).'),
  dataset: field(
    z.enum(['mnist', 'fashion-mnist', 'folder']).nullable(),
    null,
    '`mnist`, `fashion-mnist` or `folder` (your images, `CUSTOM.*`); `null` follows `MNIST_train` (true: mnist, false: folder).',
  ),
  classes: field(
    z.array(z.number().int().min(0).max(254)).min(1).nullable(),
    null,
    'Train and validate on these classes only, e.g. `[3]` (the one-class anomaly protocol); the test split keeps every class. `null` uses all.',
  ),
  MNIST_train: field(
    z.boolean(),
    true,
    "The reference's switch: `true` trains on MNIST, `false` on the image folders of `CUSTOM.*` (used when `dataset` is null).",
  ),
  MNIST: section({
    path: field(
      z.string().min(1),
      'data/mnist',
      'Folder of the four MNIST `.gz` IDX files, relative to the working directory; missing files are fetched and MD5-checked.',
    ),
    MNIST_valset_proportion: field(
      z.number().gt(0).lt(1),
      0.2,
      'Share of the 60,000 training images held out for validation, chosen with `seed`; in (0, 1).',
    ),
    subset: field(
      z.number().int().min(10).max(60000).nullable(),
      null,
      'Use only the first N of the 60,000 training images (before the split), for quick runs; `null` uses all.',
    ),
  }),
  FASHION_MNIST: section({
    path: field(
      z.string().min(1),
      'data/fashion-mnist',
      'Folder of the four Fashion-MNIST `.gz` IDX files; missing files are fetched and MD5-checked.',
    ),
    valset_proportion: field(
      z.number().gt(0).lt(1),
      0.2,
      'Share of the 60,000 Fashion-MNIST training images held out for validation; in (0, 1).',
    ),
    subset: field(
      z.number().int().min(10).max(60000).nullable(),
      null,
      'Use only the first N Fashion-MNIST training images (before the split); `null` uses all.',
    ),
  }),
  CUSTOM: section({
    train_data_path: field(
      z.string().min(1).nullable(),
      null,
      'Image folder for training: one sub-folder per class (labelled) or images directly inside (unlabelled).',
    ),
    validation_data_path: field(
      z.string().min(1).nullable(),
      null,
      'Image folder for validation; `null` splits it from the training folder by `CUSTOM.valset_proportion`.',
    ),
    test_data_path: field(z.string().min(1).nullable(), null, 'Image folder for test mode; `null` uses the validation images.'),
    valset_proportion: field(
      z.number().gt(0).lt(1),
      0.2,
      'Share of the training folder held out for validation when no validation folder is given, chosen with `seed`.',
    ),
    fit: field(
      z.enum(['squash', 'pad']),
      'squash',
      'Resizing to height x width: `squash` stretches to fill; `pad` keeps the aspect ratio and pads with `CUSTOM.background`.',
    ),
    background: field(
      z.enum(['black', 'white']),
      'black',
      'Colour under transparent pixels (RGBA images are composited on it) and of the padding.',
    ),
    in_memory: field(
      z.boolean(),
      false,
      'Hold the decoded images in memory as floats (4 bytes per value) instead of reading each batch from the cache on disk; the results are the same.',
    ),
    data_name: field(
      runName.nullable(),
      null,
      "Cache folder name: preprocessed images go to `<project>/data/<data_name>/`; `null` takes the training folder's name.",
    ),
  }),
  project: field(z.string().min(1), 'runs', 'Folder that holds the runs.'),
  name: field(runName, 'mnist-ae', 'Run name: the run directory is `<project>/<name>/` (`data` is reserved for the image caches).'),
  batch_size: field(positiveInt, 128, 'Images per training batch.'),
  epochs: field(positiveInt, 10, 'Passes over the training set.'),
  lr: field(z.number().positive().finite(), 1e-3, 'Adam learning rate (betas 0.9/0.999, epsilon 1e-8, as PyTorch).'),
  hidden_dim: field(positiveInt, 256, `${usedBy('hidden_dim')}: width of the hidden layer.`),
  latent_dim: field(positiveInt, 32, `${usedBy('latent_dim')}: size of the latent code.`),
  encoder_channels: field(
    z.array(positiveInt).min(1).max(6),
    [...DEFAULT_ENCODER_CHANNELS],
    `${usedBy('encoder_channels')}: channels of the encoder's stride-2 convolutions, one per halving of the image (the decoder mirrors them); [32, 64, 128, 256] takes 64 x 64 images to a 4 x 4 map.`,
  ),
  dropout: field(z.number().min(0).lt(1), 0.1, `${usedBy('dropout')}: dropout rate after each hidden ReLU, in [0, 1).`),
  reconstruction_loss: field(
    z.enum(['mse', 'bce']).nullable(),
    null,
    '`mse` or `bce` (binary cross-entropy, for images in [0, 1]); `null`: `mse` for the autoencoders, `bce` for the VAEs. Autoencoders average it over pixels (the reference); VAEs sum it over each image (mse as 0.5 x squared error, a unit-variance Gaussian).',
  ),
  beta: field(
    z.number().positive().finite().nullable(),
    null,
    `${variationalOnly}: weight of the KL term (beta-VAE; \`null\` = 1, the plain VAE). Refused for other models.`,
  ),
  kl_warmup_epochs: field(
    z.number().int().min(0).nullable(),
    null,
    `${variationalOnly}: raise the KL weight linearly from 0 to \`beta\` over this many epochs, step by step (\`null\` = 0, no warm-up). Refused for other models.`,
  ),
  binarize: field(
    z.boolean(),
    false,
    'Binarise every image once, seeded: each pixel becomes 1 with probability equal to its intensity (a fixed binarisation, as Larochelle & Murray 2011 made binarised MNIST).',
  ),
  backend: field(
    z.enum(['wasm', 'cpu', 'webgpu']),
    'wasm',
    '`wasm` (XNNPACK, fast), `cpu` (pure JS, slow; for checking) or `webgpu` (a GPU through WebGPU).',
  ),
});

export type Config = z.output<typeof configSchema>;

/** The reconstruction loss a config trains with (its `null` default resolved by model type). */
export function reconstructionLossOf(c: Config): 'mse' | 'bce' {
  return c.reconstruction_loss ?? specOf(c.model_type).defaultLoss;
}

export interface FieldSpec {
  /** Dotted key path, as written in the config file. */
  key: string;
  /** The key's own schema (without its default). */
  schema: z.ZodType;
  default: unknown;
  doc: string;
}

/** Every key, in schema order, read off configSchema. */
function listFields(shape: z.ZodRawShape, prefix: string, defaults: Record<string, unknown>): FieldSpec[] {
  return Object.entries(shape).flatMap(([name, schema]) => {
    const key = `${prefix}${name}`;
    if (schema instanceof z.ZodPrefault) {
      const inner = (schema.def.innerType as z.ZodObject).shape;
      return listFields(inner, `${key}.`, defaults[name] as Record<string, unknown>);
    }
    const withDefault = schema as z.ZodDefault;
    return [{ key, schema: withDefault.def.innerType as z.ZodType, default: defaults[name], doc: withDefault.description ?? '' }];
  });
}

/** Default config, as the schema resolves an empty file. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}

export const FIELDS: FieldSpec[] = listFields(configSchema.shape, '', defaultConfig() as unknown as Record<string, unknown>);

/** The dataset a config selects: `dataset` when set, else the reference's `MNIST_train` switch. */
export function datasetOf(c: Config): 'mnist' | 'fashion-mnist' | 'folder' {
  return c.dataset ?? (c.MNIST_train ? 'mnist' : 'folder');
}
