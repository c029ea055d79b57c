// `npm install`'s step for the optional native kernels (native/ae_native.cc: t-SNE, convolutions, matrix products).
// 1. A prebuilt binary for this platform and architecture ships in prebuilds/ (linux-x64, linux-arm64; see
//    scripts/prebuild.mjs): when it loads here, nothing is compiled. `npm_config_build_from_source=true`
//    (`npm install --build-from-source`) skips this step.
// 2. Otherwise node-gyp compiles the sources with the machine's compiler. Nothing is downloaded: node-gyp is
//    pointed at the headers of the Node.js that runs this script (or npm's configured nodedir).
// 3. Without a prebuild, headers or a compiler, installation continues and autoencoders uses its TypeScript
//    kernels for t-SNE and TensorFlow.js's wasm ones for training (same algorithms, several times slower).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fallback = (why) => {
  console.warn(`autoencoders: no native kernels (${why}); t-SNE will use its TypeScript kernels and training the wasm ones.`);
  process.exit(0);
};

/** The prebuild node-gyp-build would load here, when there is one for this machine and it loads. */
function loadablePrebuild() {
  const prebuilds = path.join(root, 'prebuilds');
  if (!fs.existsSync(prebuilds)) return null;
  try {
    const require = createRequire(import.meta.url);
    const file = require('node-gyp-build').path(root);
    if (!file.startsWith(prebuilds + path.sep)) return null;
    require(file);
    return file;
  } catch {
    return null;
  }
}

if (process.env.AE_SKIP_NATIVE === '1') fallback('AE_SKIP_NATIVE=1');
if (process.env.npm_config_build_from_source !== 'true') {
  const prebuild = loadablePrebuild();
  if (prebuild) {
    console.log(
      `autoencoders: using the prebuilt native kernels ${path.relative(root, prebuild)} (npm install --build-from-source compiles them instead)`,
    );
    process.exit(0);
  }
}
const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')].filter(Boolean);
const nodedir = candidates.find((dir) => fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')));
if (!nodedir) fallback('no prebuild for this machine, and no Node.js headers next to this Node.js to compile against');
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`]] : ['node-gyp', ['rebuild', `--nodedir=${nodedir}`]];
const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
if (r.status !== 0)
  fallback(
    r.error
      ? `no prebuild for this machine, and compiling failed: ${r.error.message}`
      : 'no prebuild for this machine, and compiling failed (see above)',
  );
