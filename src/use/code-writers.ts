/**
 * Writing latent codes as they stream in, row by row, in three formats:
 * - `npy`: NumPy's own format (version 1.0: magic, a header dict, little-endian float32 rows), so `numpy.load`
 *   reads it; the rows' labels and paths go beside it in `<name>.rows.csv`.
 * - `csv`: one line per image, `index,label,class,path,z0,z1,...` under a header.
 * - `bin`: raw little-endian float32, row-major, with a JSON sidecar `<name>.json` (shape, dtype, byte order)
 *   and the rows in `<name>.rows.csv`.
 * Every file is written atomically (a temp file renamed into place when all rows are in).
 */
import path from 'node:path';
import { AtomicStream } from '../util/fs.js';
import type { InputRow } from './inputs.js';

export const CODE_FORMATS = ['npy', 'csv', 'bin'] as const;
export type CodeFormat = (typeof CODE_FORMATS)[number];

/** CSV field quoting (RFC 4180): quoted when it holds a comma, quote or line break. */
export function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const rowFields = (r: InputRow) => [r.index, r.label, r.className, r.path].map(csvField).join(',');
const ROW_HEADER = 'index,label,class,path';

export interface CodeWriter {
  write(codes: Float32Array, rows: InputRow[]): void;
  /** Finishes every file; returns their paths. */
  commit(): string[];
  abort(): void;
}

/** Little-endian float32 bytes of `codes` (a copy on big-endian machines would be needed; Node runs on LE ones). */
const bytesOf = (codes: Float32Array) => new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength);

/**
 * The .npy header for float32 of `shape` (rows x dim for codes), padded with spaces so that magic + header is a
 * multiple of 64 bytes and long enough for any row count below 10^15, so the final count can overwrite the first
 * guess in place.
 */
export function npyHeader(...shape: number[]): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 128; // 10 bytes of magic and length + a 118-byte dict line: room for 15-digit counts
  const text = `${dict.padEnd(total - 10 - 1, ' ')}\n`;
  const out = new Uint8Array(total);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(Buffer.from(text, 'latin1'), 10);
  return out;
}

class RowsCsv {
  private readonly stream: AtomicStream;
  constructor(file: string) {
    this.stream = new AtomicStream(file);
    this.stream.write(`${ROW_HEADER}\n`);
  }
  write(rows: InputRow[]): void {
    this.stream.write(rows.map((r) => `${rowFields(r)}\n`).join(''));
  }
  commit(): string {
    this.stream.commit();
    return this.stream.file;
  }
  abort(): void {
    this.stream.abort();
  }
}

/** The rows file beside a codes file: codes.npy -> codes.rows.csv. */
export function rowsFileOf(file: string): string {
  return path.join(path.dirname(file), `${path.basename(file, path.extname(file))}.rows.csv`);
}

export function openCodeWriter(file: string, format: CodeFormat, dim: number): CodeWriter {
  if (format === 'csv') {
    const stream = new AtomicStream(file);
    stream.write(`${ROW_HEADER},${Array.from({ length: dim }, (_, d) => `z${d}`).join(',')}\n`);
    return {
      write(codes, rows) {
        const lines = rows.map((r, i) => `${rowFields(r)},${Array.from(codes.subarray(i * dim, (i + 1) * dim)).join(',')}\n`);
        stream.write(lines.join(''));
      },
      commit: () => {
        stream.commit();
        return [file];
      },
      abort: () => stream.abort(),
    };
  }
  const stream = new AtomicStream(file);
  const rowsCsv = new RowsCsv(rowsFileOf(file));
  let count = 0;
  if (format === 'npy') stream.write(npyHeader(0, dim));
  return {
    write(codes, rows) {
      stream.write(bytesOf(codes));
      rowsCsv.write(rows);
      count += rows.length;
    },
    commit() {
      const files = [file, rowsCsv.commit()];
      if (format === 'npy') {
        stream.writeAt(0, npyHeader(count, dim));
      } else {
        const sidecar = new AtomicStream(`${file.replace(/\.bin$/, '')}.json`);
        sidecar.write(
          `${JSON.stringify({ dtype: 'float32', byte_order: 'little', shape: [count, dim], order: 'row-major', rows: path.basename(rowsFileOf(file)) }, null, 2)}\n`,
        );
        sidecar.commit();
        files.push(sidecar.file);
      }
      stream.commit();
      return files;
    },
    abort() {
      stream.abort();
      rowsCsv.abort();
    },
  };
}
