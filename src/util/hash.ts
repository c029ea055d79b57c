/** Content digests used to verify files: SHA-256 for what we write (checkpoints, caches), MD5 for the datasets' published sums. */
import { createHash } from 'node:crypto';

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function md5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}
