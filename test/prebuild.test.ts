import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, tempDir } from './helpers.js';
// @ts-expect-error plain JavaScript modules of the build scripts, without type declarations
import { nativeSourcesHash } from '../scripts/native-sources.mjs';
// @ts-expect-error see above
import { FLAGS } from '../scripts/prebuild.mjs';

const TARGETS = ['linux-x64', 'linux-arm64'];
/** npm's own node-gyp, which npm points install scripts at (npm_config_node_gyp). */
const NODE_GYP = path.resolve(
  path.dirname(process.execPath),
  '..',
  'lib',
  'node_modules',
  'npm',
  'node_modules',
  'node-gyp',
  'bin',
  'node-gyp.js',
);

test('the committed prebuilds were built from the native sources of this commit, stripped, for x86-64 and AArch64', () => {
  const expected = nativeSourcesHash(ROOT, FLAGS);
  for (const target of TARGETS) {
    const dir = path.join(ROOT, 'prebuilds', target);
    const recorded = fs.readFileSync(path.join(dir, 'SOURCES.sha256'), 'utf8').trim();
    assert.equal(recorded, expected, `prebuilds/${target} is stale: run npm run prebuild and commit the result`);
    const bin = fs.readFileSync(path.join(dir, 'ae_native.napi.glibc.node'));
    assert.deepEqual([...bin.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'an ELF file');
    // e_machine at offset 18: 62 = x86-64, 183 = AArch64.
    assert.equal(bin.readUInt16LE(18), target === 'linux-x64' ? 62 : 183);
    assert.ok(bin.length < 1024 * 1024, `${target}: ${bin.length} bytes (stripped binaries stay under 1 MB)`);
    assert.ok(!bin.includes(Buffer.from('.debug_info')), 'no debug sections');
  }
});

/** A package folder as npm unpacks it (package.json, native sources, scripts, node_modules), without build/. */
function packageCopy(withPrebuilds: boolean): string {
  const dir = tempDir('ae-install-');
  for (const rel of ['package.json', 'binding.gyp', 'native', 'scripts', ...(withPrebuilds ? ['prebuilds'] : [])]) {
    fs.cpSync(path.join(ROOT, rel), path.join(dir, rel), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** A PATH holding only node: no cc, c++, g++, make or python, as on a slim Node.js image. */
function pathWithoutCompiler(): string {
  const bin = tempDir('ae-bin-');
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  return bin;
}

function install(dir: string, env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [path.join(dir, 'scripts', 'build-native.mjs')], { cwd: dir, encoding: 'utf8', env });
}

/** Loads the addon the way src/accel/addon.ts does (node-gyp-build from the package root) and multiplies 2 x 2 matrices. */
function loadAndUse(dir: string, env: NodeJS.ProcessEnv) {
  const script = `
    const file = require('node-gyp-build').path(${JSON.stringify(dir)});
    const addon = require(file);
    const c = new Float32Array(4);
    addon.matmul({ a: Float32Array.of(1, 2, 3, 4), b: Float32Array.of(5, 6, 7, 8), c, batch: 1, m: 2, n: 2, k: 2,
      transA: false, transB: false, broadcastB: false, threads: 2 });
    console.log(JSON.stringify({ file, c: Array.from(c) }));`;
  return spawnSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8', env });
}

test('npm install without a compiler loads the prebuild for this machine; without one either, it falls back cleanly', {
  skip: os.platform() !== 'linux' || !['x64', 'arm64'].includes(os.arch()) ? 'prebuilds exist for linux-x64 and linux-arm64 only' : false,
}, () => {
  const env = { ...process.env, PATH: pathWithoutCompiler(), npm_config_node_gyp: '', npm_config_build_from_source: '' };
  const withPrebuild = packageCopy(true);
  const r = install(withPrebuild, env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`using the prebuilt native kernels prebuilds/linux-${os.arch()}/ae_native\\.napi\\.glibc\\.node`));
  assert.ok(!fs.existsSync(path.join(withPrebuild, 'build')), 'nothing was compiled');
  const used = loadAndUse(withPrebuild, env);
  assert.equal(used.status, 0, used.stderr);
  const { file, c } = JSON.parse(used.stdout) as { file: string; c: number[] };
  assert.equal(path.relative(withPrebuild, file), path.join('prebuilds', `linux-${os.arch()}`, 'ae_native.napi.glibc.node'));
  assert.deepEqual(c, [19, 22, 43, 50]);

  // No prebuild for this machine and no compiler: the install still succeeds, says why, and builds nothing.
  const without = packageCopy(false);
  const f = install(without, env);
  assert.equal(f.status, 0, f.stderr);
  assert.match(f.stderr, /no native kernels \(no prebuild for this machine, and compiling failed/);
  assert.ok(!fs.existsSync(path.join(without, 'build', 'Release', 'ae_native.node')));
  assert.notEqual(loadAndUse(without, env).status, 0, 'nothing to load: the TypeScript/wasm paths run');
});

test('with no prebuild for the machine, npm install compiles the sources with node-gyp, and the local build is what loads', {
  skip: !fs.existsSync(NODE_GYP) ? `npm's node-gyp not found at ${NODE_GYP}` : false,
}, () => {
  const dir = packageCopy(false);
  const r = install(dir, { ...process.env, npm_config_node_gyp: NODE_GYP, npm_config_build_from_source: '' });
  assert.equal(r.status, 0, r.stderr);
  const used = loadAndUse(dir, process.env);
  assert.equal(used.status, 0, used.stderr);
  const { file, c } = JSON.parse(used.stdout) as { file: string; c: number[] };
  assert.equal(path.relative(dir, file), path.join('build', 'Release', 'ae_native.node'));
  assert.deepEqual(c, [19, 22, 43, 50]);
});
