// The fingerprint of the native kernels' sources (every file of native/, binding.gyp, and the prebuild's own
// flags): scripts/prebuild.mjs records it beside the binaries in prebuilds/SOURCES.sha256, and a test checks
// that the committed prebuilds were built from the sources of the same commit.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function nativeSourcesHash(root, flags) {
  const hash = createHash('sha256');
  const files = fs
    .readdirSync(path.join(root, 'native'))
    .sort()
    .map((f) => path.join('native', f));
  for (const rel of [...files, 'binding.gyp']) {
    hash.update(`${rel}\n`);
    hash.update(fs.readFileSync(path.join(root, rel)));
  }
  hash.update(flags.join(' '));
  return hash.digest('hex');
}
