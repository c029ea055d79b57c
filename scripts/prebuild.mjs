// Builds the prebuilt native kernels that ship in the package, from native/ae_native.cc in this checkout:
//   prebuilds/linux-x64/ae_native.napi.glibc.node     with the machine's g++ (x86-64 baseline; AVX2 + FMA
//                                                     versions of the hot loops are picked at run time)
//   prebuilds/linux-arm64/ae_native.napi.glibc.node   with Debian's aarch64 cross compiler (g++-aarch64-linux-gnu)
// node-gyp-build (src/accel/addon.ts) loads the one matching the machine when no local build exists. N-API keeps
// one binary valid for every Node.js version from 20 on. Each needs glibc and libstdc++ of at least the versions
// printed at the end (the newest symbol versions it imports), well below this machine's own.
//   npm run prebuild               both targets
//   npm run prebuild -- x64        one of them
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeSourcesHash } from './native-sources.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = {
  x64: { cxx: 'g++', strip: 'strip', readelf: 'readelf' },
  arm64: { cxx: 'aarch64-linux-gnu-g++', strip: 'aarch64-linux-gnu-strip', readelf: 'aarch64-linux-gnu-readelf' },
};
// The flags of binding.gyp, plus what node-gyp adds for a shared module.
export const FLAGS = [
  '-O3',
  '-std=c++17',
  '-fexceptions',
  '-ffp-contract=fast',
  '-Wno-psabi',
  '-fno-math-errno',
  '-fno-trapping-math',
  '-fPIC',
  '-shared',
  '-pthread',
  '-fvisibility=hidden',
  // Linked against the system's libstdc++ (every distribution with Node.js 20 has one), bound to symbol
  // versions old enough for GCC 11 runtimes: see native/glibcxx_compat.hpp.
  '-DAE_PORTABLE_LIBSTDCXX',
  '-DNODE_GYP_MODULE_NAME=ae_native',
  '-DBUILDING_NODE_EXTENSION',
];

function nodeHeaders() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')].filter(Boolean);
  const dir = candidates.find((d) => fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')));
  if (!dir) throw new Error('no Node.js headers (include/node/node_api.h) next to this Node.js; set npm_config_nodedir');
  return path.join(dir, 'include', 'node');
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.error)
    throw new Error(`${cmd}: ${r.error.message}${r.error.code === 'ENOENT' ? ' (is the compiler installed? see the README)' : ''}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
  return r.stdout;
}

/** The newest version of `lib`'s symbols (GLIBC, GLIBCXX) the binary imports: the oldest such library it loads with. */
function newestNeeded(readelf, file, lib) {
  const versions = [...run(readelf, ['--dyn-syms', '-W', file]).matchAll(new RegExp(`@${lib}_([\\d.]+)`, 'g'))].map((m) =>
    m[1].split('.').map(Number),
  );
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1] || (a[2] ?? 0) - (b[2] ?? 0));
  return versions.length ? versions.at(-1).join('.') : 'none';
}

/** Compiles, strips and fingerprints one target into prebuilds/linux-<arch>/. */
function build(arch, include) {
  const t = TARGETS[arch];
  if (!t) throw new Error(`unknown target ${arch}: one of ${Object.keys(TARGETS).join(', ')}`);
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, 'ae_native.napi.glibc.node');
  const tmp = `${out}.tmp`;
  const t0 = Date.now();
  run(t.cxx, [...FLAGS, '-I', include, path.join(root, 'native', 'ae_native.cc'), '-o', tmp]);
  run(t.strip, ['--strip-unneeded', tmp]);
  fs.renameSync(tmp, out);
  // Which sources this binary was built from (checked by test/prebuild.test.ts).
  fs.writeFileSync(path.join(dir, 'SOURCES.sha256'), `${nativeSourcesHash(root, FLAGS)}\n`);
  const kb = (fs.statSync(out).size / 1024).toFixed(0);
  console.log(
    `${path.relative(root, out)}: ${kb} KB, needs glibc >= ${newestNeeded(t.readelf, out, 'GLIBC')}, libstdc++ >= GLIBCXX_${newestNeeded(t.readelf, out, 'GLIBCXX')} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

// Run as a script (imported, e.g. by the test, it only defines FLAGS).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const include = nodeHeaders();
  for (const arch of process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(TARGETS)) build(arch, include);
}
