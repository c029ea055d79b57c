/**
 * Checkpoint files: everything needed to continue a run exactly. Layout of a `.ckpt` file:
 *   8 bytes  magic "AECKPT01"
 *   4 bytes  header length L (uint32, little-endian)
 *   L bytes  header JSON (format version, config, model signature, training state, tensor table, data SHA-256)
 *   padding to a multiple of 4, then the float32 tensor data (little-endian)
 * The SHA-256 of the data is checked on load; files are written atomically.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { sha256 } from '../util/hash.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Config } from '../config/schema.js';
import type { HistoryRow } from './records.js';

export type { HistoryRow } from './records.js';

export const CHECKPOINT_FORMAT_VERSION = 1;
const MAGIC = 'AECKPT01';

export interface TensorRecord {
  name: string;
  shape: number[];
  /** Offset in floats from the start of the data section. */
  offset: number;
}

/** Where the loop stands: `epoch` (0-based) and `step` (next batch within it), plus the epoch's loss so far. */
export interface TrainingState {
  epoch: number;
  step: number;
  globalStep: number;
  epochLossSum: number;
  /** VAEs: the epoch's reconstruction and KL sums so far (absent in checkpoints of other models). */
  epochReconSum?: number;
  epochKlSum?: number;
  epochSamples: number;
  epochSeconds: number;
  bestValLoss: number | null;
  history: HistoryRow[];
}

export interface CheckpointHeader {
  format_version: number;
  created: string;
  model_signature: string;
  /** Short SHA-256 of the resolved config, to tell at a glance whether two checkpoints share a config. */
  config_hash: string;
  config: Config;
  state: TrainingState;
  variables: TensorRecord[];
  /** Adam's step count and moments; bias_correction holds its running products beta1^t and beta2^t exactly as
   *  tfjs accumulated them (float32), so a resumed run continues bit for bit (absent in older checkpoints). */
  optimizer: { iterations: number; slots: TensorRecord[]; bias_correction?: [number, number] };
  data_floats: number;
  data_sha256: string;
}

export interface Checkpoint {
  header: CheckpointHeader;
  data: Float32Array;
}

// The header as read: every field a reader trusts is checked before it sizes or indexes anything (checkpoints
// travel between machines; a damaged or hostile header must give a clear error, not a TypeError deep in a load).
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const tensorRecord = z.object({ name: z.string(), shape: z.array(size).max(8), offset: size });
const headerSchema = z.looseObject({
  format_version: z.number(),
  model_signature: z.string(),
  config: z.record(z.string(), z.unknown()),
  state: z.looseObject({
    epoch: size,
    step: size,
    globalStep: size,
    epochLossSum: z.number(),
    epochSamples: z.number(),
    epochSeconds: z.number(),
    bestValLoss: z.number().nullable(),
    history: z.array(z.record(z.string(), z.unknown())),
  }),
  variables: z.array(tensorRecord),
  optimizer: z.looseObject({
    iterations: size,
    slots: z.array(tensorRecord),
    bias_correction: z.tuple([z.number(), z.number()]).optional(),
  }),
  data_floats: size,
  data_sha256: z.string(),
});

/** Reads a tensor's values out of a checkpoint by its record. */
export function tensorValues(ckpt: Checkpoint, rec: TensorRecord): Float32Array {
  const n = rec.shape.reduce((a, b) => a * b, 1);
  return ckpt.data.subarray(rec.offset, rec.offset + n);
}

/** Serialises and writes atomically. `data` holds every tensor named in the header, at its offset. */
export function writeCheckpoint(
  file: string,
  header: Omit<CheckpointHeader, 'data_sha256' | 'data_floats' | 'format_version' | 'created'>,
  data: Float32Array,
): void {
  const dataBytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const full: CheckpointHeader = {
    format_version: CHECKPOINT_FORMAT_VERSION,
    created: new Date().toISOString(),
    ...header,
    data_floats: data.length,
    data_sha256: sha256(dataBytes),
  };
  const headerBytes = Buffer.from(JSON.stringify(full));
  const headerEnd = 12 + headerBytes.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const out = new Uint8Array(dataStart + dataBytes.length);
  out.set(Buffer.from(MAGIC, 'ascii'), 0);
  new DataView(out.buffer).setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 12);
  out.set(dataBytes, dataStart);
  writeFileAtomic(file, out);
}

/** Reads and verifies a checkpoint; any damage is a UserError naming the file. */
export function readCheckpoint(file: string): Checkpoint {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`cannot read checkpoint ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const damaged = (why: string) =>
    new UserError(
      `checkpoint ${file} is damaged: ${why}`,
      'use the other checkpoint of the run (weights/best.ckpt or weights/last.ckpt), or start a new run',
    );
  if (bytes.length < 12 || bytes.subarray(0, 8).toString('ascii') !== MAGIC) {
    throw new UserError(`${file} is not an autoencoders checkpoint (bad magic bytes)`, 'pass a weights/*.ckpt file written by `ae train`');
  }
  const headerLen = bytes.readUInt32LE(8);
  if (12 + headerLen > bytes.length) throw damaged('header is truncated');
  let header: CheckpointHeader;
  try {
    header = JSON.parse(bytes.subarray(12, 12 + headerLen).toString('utf8')) as CheckpointHeader;
  } catch {
    throw damaged('header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null || typeof header.format_version !== 'number')
    throw damaged('header has no format version');
  if (header.format_version > CHECKPOINT_FORMAT_VERSION) {
    throw new UserError(
      `checkpoint ${file} has format version ${header.format_version}; this version of autoencoders reads up to ${CHECKPOINT_FORMAT_VERSION}`,
      'upgrade autoencoders (npm install autoencoders@latest)',
    );
  }
  const parsed = headerSchema.safeParse(header);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw damaged(`header field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  for (const rec of [...header.variables, ...header.optimizer.slots]) {
    const count = rec.shape.reduce((a, b) => a * b, 1);
    if (!(rec.offset + count <= header.data_floats))
      throw damaged(`tensor ${rec.name} lies outside the data (${rec.offset} + ${count} > ${header.data_floats} floats)`);
  }
  const dataStart = Math.ceil((12 + headerLen) / 4) * 4;
  const dataBytes = bytes.subarray(dataStart);
  if (dataBytes.length !== header.data_floats * 4) {
    throw damaged(`expected ${header.data_floats * 4} bytes of tensor data, found ${dataBytes.length} (truncated?)`);
  }
  if (sha256(dataBytes) !== header.data_sha256) throw damaged('tensor data does not match its SHA-256 checksum');
  // Copy into an aligned buffer of its own so the Float32Array view is valid.
  const data = new Float32Array(header.data_floats);
  new Uint8Array(data.buffer).set(dataBytes);
  return { header, data };
}
