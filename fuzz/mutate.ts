/**
 * Seeded mutators for the fuzzer (fuzz/run.ts): blind byte mutations (as AFL's havoc stage: bit flips, boundary
 * values, deleted, repeated and inserted ranges, truncation) and a structure-aware one for JSON-like values, which
 * reaches the checks behind a format's framing (a header whose length and checksum are still right but whose
 * fields are hostile: negative sizes, offsets past the end, 2^53, wrong types, `__proto__` keys).
 */
import { Rng } from '../src/util/rng.js';

export { Rng };

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!;

/** Integers that break size arithmetic: zero, one, signs, powers of two at 32- and 53-bit edges. */
export const INTERESTING_NUMBERS: readonly number[] = [
  0,
  1,
  -1,
  2,
  3,
  7,
  255,
  256,
  65535,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 8,
  2 ** 40,
  2 ** 53,
  -(2 ** 31),
  1.5,
  0.1,
  1e308,
  -1e-308,
];

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x22, 0x7b, 0x5b];

/** Replacement values of every JSON type, for the structure-aware mutator. */
const ODD_VALUES: readonly unknown[] = [
  null,
  true,
  '',
  'float32',
  'F64',
  'constructor',
  '__proto__',
  '../../etc/passwd',
  'x'.repeat(300),
  [],
  [-1],
  [0],
  [2 ** 31, 2 ** 31],
  [1e9, 1e9, 1e9],
  {},
  { offset: 0 },
  ...INTERESTING_NUMBERS,
];

/** Applies 1-4 random byte-level mutations to a copy of `input`. */
export function mutateBytes(rng: Rng, input: Uint8Array, others: readonly Uint8Array[] = []): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  const stack = 1 + rng.int(4);
  for (let s = 0; s < stack; s++) {
    const op = rng.int(10);
    if (b.length === 0 && op !== 6) {
      b = Uint8Array.from({ length: 1 + rng.int(16) }, () => rng.int(256));
      continue;
    }
    const at = rng.int(b.length);
    switch (op) {
      case 0: // flip one bit
        b[at]! ^= 1 << rng.int(8);
        break;
      case 1: // a boundary byte
        b[at] = pick(rng, INTERESTING_BYTES);
        break;
      case 2: {
        // a boundary 32-bit or 64-bit little/big-endian integer (length fields, counts, offsets)
        const v = pick(rng, [0, 1, 0xffffffff, 0x7fffffff, 0x80000000, b.length, b.length + 1, 0x10000]);
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        if (at + 4 <= b.length) view.setUint32(at, v >>> 0, rng.int(2) === 0);
        if (rng.int(4) === 0 && at + 8 <= b.length) view.setBigUint64(at, BigInt(v) * BigInt(1 + rng.int(2 ** 20)), true);
        break;
      }
      case 3: {
        // delete a range
        const len = 1 + rng.int(Math.min(b.length - at, 64));
        b = concat(b.subarray(0, at), b.subarray(at + len));
        break;
      }
      case 4: {
        // repeat a range
        const len = 1 + rng.int(Math.min(b.length - at, 64));
        b = concat(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
        break;
      }
      case 5: // insert random bytes
        b = concat(
          b.subarray(0, at),
          Uint8Array.from({ length: 1 + rng.int(16) }, () => rng.int(256)),
          b.subarray(at),
        );
        break;
      case 6: // truncate
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 7: {
        // splice in a piece of another input (a valid chunk in the wrong place)
        const other = others.length > 0 ? pick(rng, others) : input;
        if (other.length === 0) break;
        const from = rng.int(other.length),
          len = 1 + rng.int(Math.min(other.length - from, 256));
        b = concat(b.subarray(0, at), other.subarray(from, from + len), b.subarray(at + len));
        break;
      }
      case 8: {
        // a run of ASCII digits replaced by a hostile number (sizes and offsets in text headers)
        const text = Buffer.from(b);
        const runs = [...text.toString('latin1').matchAll(/-?\d+(\.\d+)?/g)];
        if (runs.length === 0) break;
        const run = pick(rng, runs);
        const number = String(pick(rng, INTERESTING_NUMBERS));
        b = concat(b.subarray(0, run.index), Buffer.from(number, 'latin1'), b.subarray(run.index! + run[0].length));
        break;
      }
      default: // overwrite a range with one byte value
        b.fill(pick(rng, INTERESTING_BYTES), at, at + 1 + rng.int(Math.min(b.length - at, 32)));
    }
  }
  return b;
}

/** A copy of `value` with 1-3 structure-aware changes at random places (values replaced, keys removed or added). */
export function mutateJson(rng: Rng, value: unknown): unknown {
  let out = structuredClone(value);
  const stack = 1 + rng.int(3);
  for (let s = 0; s < stack; s++) out = mutateOnce(rng, out);
  return out;
}

function mutateOnce(rng: Rng, root: unknown): unknown {
  // Every place in the tree (the root included), then one changed.
  const places: Array<{ parent: Record<string, unknown> | unknown[] | null; key: string | number }> = [{ parent: null, key: '' }];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach((child, i) => {
        places.push({ parent: v, key: i });
        walk(child);
      });
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, child] of Object.entries(v)) {
        places.push({ parent: v as Record<string, unknown>, key: k });
        walk(child);
      }
    }
  };
  walk(root);
  const place = pick(rng, places);
  const current = place.parent === null ? root : (place.parent as Record<string | number, unknown>)[place.key];
  const replacement = (): unknown => {
    const r = rng.int(6);
    if (typeof current === 'number' && r < 3)
      return pick(rng, [current + 1, current - 1, current * 2, -current, current + 0.5, ...INTERESTING_NUMBERS]);
    if (typeof current === 'string' && r < 2) return current.slice(0, rng.int(current.length + 1));
    return structuredClone(pick(rng, ODD_VALUES));
  };
  if (place.parent === null) return replacement();
  const op = rng.int(6);
  if (Array.isArray(place.parent)) {
    const i = place.key as number;
    if (op === 0) place.parent.splice(i, 1);
    else if (op === 1) place.parent.splice(i, 0, structuredClone(place.parent[i]));
    else place.parent[i] = replacement();
  } else {
    const obj = place.parent;
    const key = place.key as string;
    if (op === 0) delete obj[key];
    else if (op === 1)
      Object.defineProperty(obj, pick(rng, ['__proto__', 'constructor', 'toString', `${key}_`, '']), {
        value: replacement(),
        enumerable: true,
        configurable: true,
        writable: true,
      });
    else obj[key] = replacement();
  }
  return root;
}

const concat = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);
