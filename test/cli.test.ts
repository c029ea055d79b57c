import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { inFlags } from '../src/cli/errors.js';
import { buildProgram } from '../src/cli/program.js';
import { MNIST_DIR, ROOT, runCli, startCli, tempDir, listFiles } from './helpers.js';

function ae(args: string[], cwd: string) {
  const r = runCli(args, { cwd });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function writeConfig(dir: string, extra = ''): string {
  const file = path.join(dir, 'cfg.yaml');
  fs.writeFileSync(file, `name: cli\nepochs: 2\nbatch_size: 32\nMNIST:\n  path: ${JSON.stringify(MNIST_DIR)}\n  subset: 1500\n${extra}`);
  return file;
}

test('--help works on every command (the list read from the program), naming each of its flags', () => {
  const dir = tempDir();
  const program = buildProgram();
  const commands = program.commands.map((c) => c.name());
  assert.ok(commands.length >= 10, `commands: ${commands.join(', ')}`);
  // Every command's help as commander prints it for `ae <command> --help` (the same program object the CLI runs).
  for (const c of program.commands) {
    const help = c.helpInformation();
    assert.match(help, new RegExp(`^Usage: ae ${c.name()} `), c.name());
    for (const o of c.options) assert.ok(help.includes(o.long!), `ae ${c.name()} --help does not show ${o.long}`);
  }
  // Through the built CLI (each spawn costs a second of start-up, so three: the top level, a command, and the
  // reference-style program with the train and test flags it shares).
  const cases: Array<{ args: string[]; usage: RegExp; flags: string[] }> = [
    { args: ['--help'], usage: /Usage: ae \[options\] \[command\]/, flags: commands },
    {
      args: ['test', '--help'],
      usage: /Usage: ae test /,
      flags: program.commands.find((c) => c.name() === 'test')!.options.map((o) => o.long!),
    },
    { args: ['-m', 'train', '--help'], usage: /Usage: ae \[options\]/, flags: ['--mode', '--cont', '--config', '--limit', '--device'] },
  ];
  for (const { args, usage, flags } of cases) {
    const r = ae(args, dir);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.match(r.out, usage, args.join(' '));
    for (const flag of flags) assert.ok(r.out.includes(flag), `ae ${args.join(' ')} does not show ${flag}`);
  }
});

test('library messages reach the user in flags: backquoted API options become the command line flags, other words stay', () => {
  const program = buildProgram();
  assert.equal(inFlags('`limit` 1 leaves nothing to evaluate', program), '--limit 1 leaves nothing to evaluate');
  assert.equal(inFlags('pass `gridSize` 20 or `outDir` x; `nllSamples`', program), 'pass --grid 20 or --out x; --nll');
  assert.equal(inFlags('the optional package `webgpu`; `model_type: AE`', program), 'the optional package `webgpu`; `model_type: AE`');
  assert.equal(inFlags('train on the CPU: `backend` wasm', program), 'train on the CPU: --device cpu');
  // Through the built CLI: the library's `count` message, as the user sees it.
  const dir = tempDir();
  const r = ae(['sample', 'nowhere', '--count', '0'], dir);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /^error: --count 0: expected a whole number from 1 to 10000\n {2}hint: pass --count 64, for example/);
});

test('bad input exits non-zero with a clear message and no stack trace', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'bad.yaml'), 'lr: -1\nfoo: 2\n');
  let r = ae(['train', '--config', 'bad.yaml'], dir);
  assert.equal(r.code, 1);
  assert.match(r.err, /lr: given -1/);
  assert.match(r.err, /foo: unknown key/);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  assert.deepEqual(listFiles(dir), ['bad.yaml'], 'no run directory made');
  // --device gpu goes through the real WebGPU stack (Dawn from the optional `webgpu` package); these machines have
  // no GPU, so it must say so, say how to get one, and write nothing. (On a machine with a GPU this trains.)
  r = ae(['train', '-d', 'gpu'], dir);
  assert.equal(r.code, 1);
  const webgpuInstalled = fs.existsSync(path.join(ROOT, 'node_modules', 'webgpu', 'package.json'));
  assert.match(r.err, webgpuInstalled ? /no WebGPU adapter found/ : /needs the optional package `webgpu`/);
  assert.match(r.err, /--device cpu/);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  assert.deepEqual(listFiles(dir), ['bad.yaml'], 'no run directory made');
  r = ae(['resume', 'runs/none'], dir);
  assert.equal(r.code, 1);
  assert.match(r.err, /run directory runs\/none does not exist/);
  r = ae(['train', '--config', 'missing.yaml'], dir);
  assert.match(r.err, /cannot read config file missing\.yaml: ENOENT/);
  r = ae(['train', '--epochs', 'two'], dir);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /expected an integer/);
});

/** Starts training, sends `signal` once it is under way, and returns the exit code and output. */
function interrupt(args: string[], cwd: string, signal: NodeJS.Signals): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = startCli(args, { cwd });
    let out = '',
      err = '',
      sent = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (!sent && /epoch 1\/2 step \d+\/\d+ loss/.test(out)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`${signal} mid-epoch saves a consistent last checkpoint, says how to resume, and resume finishes the run`, async () => {
    const dir = tempDir();
    const cfg = writeConfig(dir);
    const r = await interrupt(['train', '--config', cfg], dir, signal);
    assert.equal(r.code, code, r.err);
    assert.match(r.err, new RegExp(`${signal} received`));
    assert.match(r.err, /resume with: ae resume runs\/cli/);
    const ckpt = readCheckpoint(path.join(dir, 'runs', 'cli', 'weights', 'last.ckpt'));
    assert.equal(ckpt.header.state.epoch, 0);
    assert.ok(ckpt.header.state.step > 0 && ckpt.header.state.step < 38, `stopped mid-epoch at step ${ckpt.header.state.step}`);
    assert.ok(!listFiles(dir).some((f) => f.includes('.tmp-')));

    const done = ae(['resume', 'runs/cli'], dir);
    assert.equal(done.code, 0, done.err);
    assert.match(done.out, new RegExp(`from epoch 1 step ${ckpt.header.state.step}`));
    const history = fs
      .readFileSync(path.join(dir, 'runs', 'cli', 'history.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      history.map((h) => h.epoch),
      [1, 2],
    );
    assert.equal(history[1].step, 2 * 38);
  });
}

test('reference-style flags: -m train then -c 1 -n NAME continues the run; --unique picks a free name', () => {
  const dir = tempDir();
  const cfg = writeConfig(dir);
  let r = ae(['-m', 'train', '--config', cfg, '-n', 'ref', '--epochs', '1'], dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /run directory: runs\/ref/);
  r = ae(['-m', 'train', '--config', cfg, '-n', 'ref', '-c', '1', '--epochs', '2'], dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /resuming AE in runs\/ref/);
  r = ae(['train', '--config', cfg, '--name', 'ref', '--epochs', '1', '--unique'], dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /run directory: runs\/ref-2/);
});
