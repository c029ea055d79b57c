import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT } from './helpers.js';

test('the built package exports the pipeline under its name, and the ae bin is an executable script', () => {
  // dist/ is built by `npm install`/`npm ci` (the prepare script).
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "import { train, resume, loadConfig, createModel, readCheckpoint } from 'autoencoders'; console.log([train, resume, loadConfig, createModel, readCheckpoint].map((f) => typeof f).join(','))",
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'function,function,function,function,function');
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.bin.ae, 'dist/cli.js');
  assert.match(fs.readFileSync(path.join(ROOT, 'dist', 'cli.js'), 'utf8'), /^#!\/usr\/bin\/env node/);
});
