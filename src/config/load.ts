/** Reads, merges and validates config files; every refusal names the key, what was given and what is allowed. */
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import YAML from 'yaml';
import type { z } from 'zod';
import { UserError } from '../errors.js';
import { DEFAULT_ENCODER_CHANNELS } from '../models/conv-bottleneck/spec.js';
import { halvings } from '../models/spec.js';
import { specOf, variationalKinds } from '../models/specs.js';
import { datasetOf, configSchema, FIELDS, type Config } from './schema.js';

type Plain = Record<string, unknown>;

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s && s.length > 60 ? `${s.slice(0, 57)}...` : String(s);
}

function valueAt(obj: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const p of path) cur = cur && typeof cur === 'object' ? (cur as Plain)[p as string] : undefined;
  return cur;
}

/** Turns zod issues into one message per problem: `key: given X; allowed Y`. */
function formatIssues(error: z.ZodError, input: unknown, source: string): string {
  const lines = error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length ? `${issue.path.join('.')}.` : '';
      const known = FIELDS.map((f) => f.key)
        .filter((k) => k.startsWith(prefix))
        .map((k) => k.slice(prefix.length).split('.')[0]);
      return issue.keys
        .map(
          (k) =>
            `  ${prefix}${k}: unknown key; allowed keys${prefix ? ` under ${prefix.slice(0, -1)}` : ''}: ${[...new Set(known)].join(', ')}`,
        )
        .join('\n');
    }
    const key = issue.path.join('.') || '(top level)';
    const field = FIELDS.find((f) => f.key === key);
    const allowed = issue.message.replace(/^Invalid input: /, '');
    return `  ${key}: given ${describeValue(valueAt(input, issue.path))}; ${allowed}${field ? ` (${field.doc})` : ''}`;
  });
  return `invalid config ${source}:\n${lines.join('\n')}`;
}

/** Checks that span several keys. */
function checkCrossField(c: Config, source: string): void {
  const problems: string[] = [];
  const spec = specOf(c.model_type);
  const times = halvings(spec, c);
  const factor = 2 ** times;
  if (c.height % factor !== 0 || c.width % factor !== 0) {
    const byChannels =
      spec.downsampling === 'encoder_channels' ? ` (once per entry of encoder_channels ${JSON.stringify(c.encoder_channels)})` : '';
    problems.push(
      `  height/width: given ${c.height}x${c.width}; the ${c.model_type} halves the image ${times === 2 ? 'twice' : `${times} times`}${byChannels}, so both must be divisible by ${factor}`,
    );
  }
  const variational = spec.variational;
  for (const key of ['beta', 'kl_warmup_epochs'] as const) {
    if (!variational && c[key] !== null) {
      problems.push(
        `  ${key}: given ${c[key]} for model_type ${c.model_type}; it weighs a VAE's KL term, so it applies to ${variationalKinds().join(' and ')} only (drop it, or pick a variational model_type)`,
      );
    }
  }
  const dataset = datasetOf(c);
  if (c.dataset !== null && c.dataset !== 'folder' && !c.MNIST_train) {
    problems.push(
      `  dataset/MNIST_train: given dataset ${c.dataset} with MNIST_train false; drop MNIST_train, or set dataset: folder for your images`,
    );
  }
  if (dataset !== 'folder' && (c.height !== 28 || c.width !== 28 || c.color_channel !== 1)) {
    problems.push(
      `  height/width/color_channel: given ${c.height}x${c.width}x${c.color_channel}; ${dataset === 'mnist' ? 'MNIST' : 'Fashion-MNIST'} images are 28x28x1`,
    );
  }
  if (dataset === 'folder' && c.CUSTOM.train_data_path === null) {
    problems.push(
      '  CUSTOM.train_data_path: missing; image folders need at least a training folder (one sub-folder per class, or images directly inside)',
    );
  }
  if (c.name === 'data') {
    problems.push('  name: given "data", which is reserved: <project>/data/ holds the preprocessed image caches; pick another run name');
  }
  if (c.convert2grayscale && c.color_channel !== 1) {
    problems.push(
      `  convert2grayscale/color_channel: given true with color_channel ${c.color_channel}; converting to grayscale leaves one channel, set color_channel: 1`,
    );
  }
  if (problems.length)
    throw new UserError(
      `invalid config ${source}:\n${problems.join('\n')}`,
      'change the keys named above so they agree; docs/config.md lists every key',
    );
}

/** Validates a plain object as a config (defaults filled in). */
export function resolveConfig(input: unknown, source = '(inline)'): Config {
  if (input === null || input === undefined) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new UserError(
      `invalid config ${source}: expected a mapping of keys to values, got ${Array.isArray(input) ? 'a list' : typeof input}`,
    );
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throw new UserError(formatIssues(parsed.error, input, source), 'see the config keys in docs/config.md');
  checkCrossField(parsed.data, source);
  return parsed.data;
}

/**
 * YAML (or JSON) text as a value, for every reader of our YAML: warnings are errors too (an unknown tag such as
 * `!in_memory:` is a typo or damage, not a value), and none reaches stderr as a Node warning (the fuzzer saw
 * YAMLWarning lines printed for damaged files). Throws the first problem.
 */
export function parseYaml(text: string): unknown {
  const parsed = YAML.parseDocument(text, { logLevel: 'silent' });
  const problem = parsed.errors[0] ?? parsed.warnings[0];
  if (problem) throw new Error(problem.message);
  return parsed.toJS();
}

/** Parses a YAML or JSON file (YAML is a superset of JSON) into a plain object. */
export function readConfigFile(file: string): Plain {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(
      `cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'check the path of the config file',
    );
  }
  let doc: unknown;
  const invalid = (message: string) =>
    new UserError(
      `config file ${file} is not valid YAML or JSON: ${message.split('\n')[0]}`,
      'fix the syntax at that line (one `key: value` per line, nested keys indented under their parent), or write the file as JSON',
    );
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw invalid((e as Error).message);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new UserError(
      `config file ${file} must hold a mapping of keys to values (like \`model_type: AE\`), got ${Array.isArray(doc) ? 'a list' : `the ${typeof doc} ${describeValue(doc)}`}`,
      'write one `key: value` per line at the top level, as in configs/mnist-ae.yaml',
    );
  }
  return doc as Plain;
}

/** Deep-merges `over` onto `base` (plain objects merge; everything else replaces). */
export function mergeConfig(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? mergeConfig(b as Plain, v as Plain)
        : v;
  }
  return out;
}

/** Loads a config file, applies overrides (e.g. from the CLI), and validates the result. */
export function loadConfig(file?: string, overrides: Plain = {}): Config {
  const base = file ? readConfigFile(file) : {};
  return resolveConfig(mergeConfig(base, overrides), file ?? '(defaults)');
}

/** Architecture keys added later, with the value every earlier checkpoint was built with. */
const LATER_KEYS_AS_BUILT: Partial<Record<string, unknown>> = { encoder_channels: DEFAULT_ENCODER_CHANNELS };

/** The keys that fix the network's shape: a checkpoint only loads into a model with the same signature. */
export function modelSignature(c: Config): string {
  const base = { model_type: c.model_type, height: c.height, width: c.width, color_channel: c.color_channel };
  const arch: Record<string, unknown> = { ...base };
  for (const key of specOf(c.model_type).architectureKeys) {
    // Keys added after the first checkpoints sign only when they differ from what those were built with, so older
    // runs still load.
    if (key in LATER_KEYS_AS_BUILT && JSON.stringify(c[key]) === JSON.stringify(LATER_KEYS_AS_BUILT[key])) continue;
    arch[key] = c[key];
  }
  return JSON.stringify(arch);
}

/** A short stable hash of the whole resolved config. */
export function configHash(c: Config): string {
  return createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16);
}
