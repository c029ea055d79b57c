/**
 * The safetensors format (Hugging Face; PyTorch's usual weight file): an 8-byte little-endian header length N,
 * N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, ..., "__metadata__": { string: string } }`
 * (offsets relative to the byte buffer after the header, which they must cover exactly, without holes or
 * overlaps), then the tensors' bytes, little-endian and row-major. We read and write F32 and I64 tensors.
 */
import fs from 'node:fs';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { TorchDtype, TorchTensor } from './torch-layout.js';

const BYTES: Record<TorchDtype, number> = { F32: 4, I64: 8 };
/** The reference implementation refuses headers over 100 MB. */
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsFile {
  tensors: Map<string, TorchTensor>;
  metadata: Record<string, string>;
}

/** Writes tensors (in the order given) and string metadata atomically. */
export function writeSafetensors(file: string, tensors: TorchTensor[], metadata: Record<string, string>): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.data.length * BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pads the header with spaces so the tensors start 8-byte aligned (as the reference writer does).
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    const src = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    src.copy(out, at);
    at += src.length;
  }
  writeFileAtomic(file, out);
}

/** Reads and validates a safetensors file; every defect is a UserError naming the file and what is wrong. */
export function readSafetensors(file: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const bad = (why: string) =>
    new UserError(
      `${file} is not a valid safetensors file: ${why}`,
      'save the state_dict with safetensors.torch.save_file(model.state_dict(), path)',
    );
  if (bytes.length < 8) throw bad(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLength = bytes.readBigUInt64LE(0);
  if (headerLength > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) {
    throw bad(`its header claims ${headerLength} bytes, but the file has ${bytes.length - 8} after the length (truncated?)`);
  }
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    throw bad(`the header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('the header is not a JSON object');
  const buffer = bytes.subarray(8 + n);
  const tensors = new Map<string, TorchTensor>();
  const spans: Array<[number, number, string]> = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = readMetadata(entry, bad);
      continue;
    }
    const t = readEntry(name, entry, buffer, bad);
    tensors.set(name, t.tensor);
    spans.push([t.begin, t.end, name]);
  }
  checkCoverage(spans, buffer.length, bad);
  return { tensors, metadata };
}

function readMetadata(entry: unknown, bad: (why: string) => UserError): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || Object.values(entry).some((v) => typeof v !== 'string')) {
    throw bad('__metadata__ must map strings to strings');
  }
  return entry as Record<string, string>;
}

function readEntry(
  name: string,
  entry: unknown,
  buffer: Buffer,
  bad: (why: string) => UserError,
): { tensor: TorchTensor; begin: number; end: number } {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e !== 'object' || e === null) throw bad(`tensor ${name}: not an object`);
  if (e.dtype !== 'F32' && e.dtype !== 'I64') {
    throw bad(`tensor ${name} has dtype ${JSON.stringify(e.dtype)}; only F32 (and I64 for num_batches_tracked) are read`);
  }
  const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!Array.isArray(e.shape) || !e.shape.every(isCount))
    throw bad(`tensor ${name}: shape ${JSON.stringify(e.shape)} is not a list of sizes`);
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw bad(`tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  const shape = e.shape as number[];
  const count = shape.reduce((a, b) => a * b, 1);
  const dtype = e.dtype as TorchDtype;
  if (end < begin || end > buffer.length) {
    throw bad(`tensor ${name}: data_offsets [${begin}, ${end}] lie outside the ${buffer.length}-byte data (truncated?)`);
  }
  if (end - begin !== count * BYTES[dtype]) {
    throw bad(`tensor ${name}: data_offsets span ${end - begin} bytes, but ${dtype} [${shape.join(', ')}] needs ${count * BYTES[dtype]}`);
  }
  // A copy: the file's buffer need not be aligned for a typed-array view.
  const raw = Uint8Array.from(buffer.subarray(begin, end));
  const data = dtype === 'F32' ? new Float32Array(raw.buffer) : new BigInt64Array(raw.buffer);
  return { tensor: { name, dtype, shape, data }, begin, end };
}

/** The tensors must tile the byte buffer exactly: no overlaps, no holes (the format's rule). */
function checkCoverage(spans: Array<[number, number, string]>, length: number, bad: (why: string) => UserError): void {
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, name] of spans) {
    if (begin < at) throw bad(`tensor ${name} overlaps the tensor before it (bytes ${begin}..${end})`);
    if (begin > at) throw bad(`bytes ${at}..${begin} before tensor ${name} belong to no tensor`);
    at = end;
  }
  if (at !== length) throw bad(`the data has ${length} bytes, the tensors cover ${at}`);
}
