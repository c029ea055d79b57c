// Builds the optional native kernels (native/ae_native.cc: t-SNE, convolutions, matrix products) with node-gyp and the machine's compiler.
// Nothing is downloaded: node-gyp is pointed at the headers of the Node.js that runs this script (or npm's
// configured nodedir); without headers or a compiler, installation continues and autoencoders uses its
// TypeScript kernels instead (same algorithms, about 3x slower).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const fallback = (why) => {
  console.warn(`autoencoders: not building the native kernels (${why}); t-SNE will use its TypeScript kernels and training the wasm ones.`);
  process.exit(0);
};

if (process.env.AE_SKIP_NATIVE === '1') fallback('AE_SKIP_NATIVE=1');
const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')].filter(Boolean);
const nodedir = candidates.find((dir) => fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')));
if (!nodedir) fallback('no Node.js headers found next to this Node.js, and node-gyp would download them');
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`]] : ['node-gyp', ['rebuild', `--nodedir=${nodedir}`]];
const r = spawnSync(cmd, args, { stdio: 'inherit' });
if (r.status !== 0) fallback(r.error ? r.error.message : 'the build failed, see above');
