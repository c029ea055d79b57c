/**
 * npm run bench:view-load -- [--seconds 60] [--clients 200] [--streams 100] [--slow 20]
 *
 * `ae view` under load, on loopback only, stopping by itself: the real CLI serves a project with a finished run
 * (pictures, a map) while another run trains in it; `clients` concurrent keep-alive clients fetch the API, pictures
 * and map ranges as fast as they are answered, `streams` event streams stay open, and `slow` clients request the
 * largest file and never read it. Prints requests/s, p50/p99 latency, errors, the server's RSS and open file
 * descriptors before, during and after, and the training's images/s before and during the load.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpuDescription } from './machine.js';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../src/config/load.js';
import { head } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { train } from '../src/train/trainer.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    clients: { type: 'string', default: '200' },
    streams: { type: 'string', default: '100' },
    slow: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    mnist: { type: 'string', default: process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist') },
  },
});
const CLI = path.resolve('dist', 'cli.js');
if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first');
const seconds = Number(values.seconds);

// A project with a finished, tested run (its pictures and map are what clients fetch).
const project = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-view-load-'));
const all = await loadMnist(values.mnist, 0.2, 1);
const finished = resolveConfig({ project, name: 'finished', epochs: 1, batch_size: 64, MNIST: { path: values.mnist } });
await train(finished, {
  data: { train: head(all.train, 2048), validation: head(all.validation, 256), test: head(all.test, 1000), classNames: all.classNames },
});
await evaluateRun(path.join(project, 'finished'), { limit: 1000, embed: 'pca' });
const vis = path.join(project, 'finished', 'vis_outputs');
const pictures = fs.readdirSync(vis).filter((f) => f.endsWith('.png'));
const largest = fs
  .readdirSync(vis)
  .map((f) => ({ f, size: fs.statSync(path.join(vis, f)).size }))
  .sort((a, b) => b.size - a.size)[0]!;

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { cwd: project, env: { ...process.env, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

// The viewer, and the run that trains while it is loaded (long enough to outlast the measurement).
const viewer = start(['view', project]);
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  viewer.stdout!.on('data', (d) => {
    out += d;
    const m = /ae view: (http:\/\/\S+)/.exec(out);
    if (m) resolve(m[1]!);
  });
  viewer.on('exit', (code) => reject(new Error(`ae view exited (${code})`)));
});
fs.writeFileSync(
  path.join(project, 'train.yaml'),
  `project: .\nname: training\nepochs: 1000\nbatch_size: 128\nMNIST:\n  path: ${JSON.stringify(values.mnist)}\n  subset: 60000\n`,
);
const trainer = start(['train', '--config', 'train.yaml']);

const base = new URL(url);
// The clients stand for browsers, which the desktop schedules like any other program: at the viewer's priority.
os.setPriority(Math.min(19, os.getPriority() + 10));
const proc = (pid: number) => {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rssMb: Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024, fds: fs.readdirSync(`/proc/${pid}/fd`).length };
};
/** The training's images/s while `ms` pass: the mean of progress.json's per-epoch rate, sampled every 250 ms. */
async function trainingRate(ms: number): Promise<number> {
  const file = path.join(project, 'training', 'progress.json');
  const rates: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 250));
    try {
      const p = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (p.phase === 'train' && p.epoch_seconds > 0.3 && typeof p.images_per_second === 'number') rates.push(p.images_per_second);
    } catch {
      // being replaced, or not there yet
    }
  }
  return rates.length ? rates.reduce((s, r) => s + r, 0) / rates.length : Number.NaN;
}

// Wait for training to start, then measure it (and the server at rest) without load.
const waitUntil = Date.now() + 120_000;
while (!fs.existsSync(path.join(project, 'training', 'progress.json'))) {
  if (Date.now() > waitUntil || trainer.exitCode !== null) {
    viewer.kill('SIGTERM');
    trainer.kill('SIGTERM');
    throw new Error('the training run did not start within 2 minutes');
  }
  await new Promise((r) => setTimeout(r, 200));
}
await new Promise((r) => setTimeout(r, 3000));
const before = proc(viewer.pid!);
const quietRate = await trainingRate(15_000);

console.log(`machine: ${os.cpus().length} cores (${cpuDescription()}), Node ${process.version}`);
const afterRounds: Array<{ rssMb: number; fds: number }> = [];
let totalErrors = 0;
// Rounds of the same load: memory that is only the heap's high-water mark stays level from round to round, a
// leak keeps rising.
for (let roundNo = 1; roundNo <= Number(values.rounds); roundNo++) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number(values.clients) });
  const paths = [
    '/api/runs',
    '/api/runs/finished',
    '/api/runs/training',
    '/',
    '/app.js',
    ...pictures.map((p) => `/runs/finished/vis_outputs/${p}`),
    '/runs/finished/vis_outputs/map_pca.json',
  ];
  const latencies: number[] = [];
  let errors = 0,
    bytes = 0;
  let stopping = false;
  const round = roundNo;

  function get(p: string, range?: string): Promise<void> {
    return new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.get({ host: base.hostname, port: base.port, path: p, agent, headers: range ? { Range: range } : {} }, (res) => {
        res.on('data', (d: Buffer) => (bytes += d.length));
        res.on('end', () => {
          if (res.statusCode !== 200 && res.statusCode !== 206) errors++;
          latencies.push(performance.now() - t0);
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
    });
  }

  async function client(seed: number): Promise<void> {
    let i = seed;
    while (!stopping) {
      i = (i * 1103515245 + 12345) >>> 0;
      if (i % 5 === 0) await get('/runs/finished/vis_outputs/map_pca.bin', `bytes=${i % 4096}-${(i % 4096) + 65535}`);
      else await get(paths[i % paths.length]!);
    }
  }

  // Event streams: held open, read and discarded.
  const streams: http.ClientRequest[] = [];
  let events = 0;
  for (let s = 0; s < Number(values.streams); s++) {
    const req = http.get({ host: base.hostname, port: base.port, path: '/api/events', agent: false }, (res) =>
      res.on('data', () => events++),
    );
    req.on('error', () => {});
    streams.push(req);
  }
  // Slow clients: ask for the largest picture and never read (a paused socket with a tiny receive window).
  const slow: net.Socket[] = [];
  for (let s = 0; s < Number(values.slow); s++) {
    const sock = net.connect({ host: base.hostname, port: Number(base.port) }, () => {
      sock.write(`GET /runs/finished/vis_outputs/${largest.f} HTTP/1.1\r\nHost: ${base.host}\r\n\r\n`);
      sock.pause();
    });
    sock.on('error', () => {});
    slow.push(sock);
  }

  const t0 = performance.now();
  const samples: Array<{ rssMb: number; fds: number }> = [];
  const sampler = setInterval(() => samples.push(proc(viewer.pid!)), 1000);
  const loadRatePromise = (async () => {
    await new Promise((r) => setTimeout(r, 5000));
    return trainingRate(Math.max(5000, seconds * 1000 - 10_000));
  })();
  setTimeout(() => (stopping = true), seconds * 1000);
  await Promise.all(Array.from({ length: Number(values.clients) }, (_, c) => client(c + 1)));
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const loadRate = await loadRatePromise;
  for (const r of streams) r.destroy();
  for (const s of slow) s.destroy();
  agent.destroy();
  await new Promise((r) => setTimeout(r, 3000));
  const afterLoad = proc(viewer.pid!);
  afterRounds.push(afterLoad);

  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  const peak = samples.reduce((m, s) => (s.rssMb > m.rssMb ? s : m), before);
  console.log(
    `round ${round}: ${values.clients} clients + ${values.streams} event streams + ${values.slow} slow clients (${largest.f}, ${(largest.size / 1024).toFixed(0)} KB, never read) for ${elapsed.toFixed(0)} s`,
  );
  console.log(
    `  ${latencies.length} requests, ${(latencies.length / elapsed).toFixed(0)} requests/s, ${(bytes / elapsed / 2 ** 20).toFixed(1)} MB/s; latency p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms; errors ${errors}; stream events received ${events}`,
  );
  console.log(
    `  server RSS ${before.rssMb.toFixed(0)} MB before, ${peak.rssMb.toFixed(0)} MB at most during, ${afterLoad.rssMb.toFixed(0)} MB after; open fds ${before.fds} before, ${Math.max(...samples.map((s) => s.fds))} at most during, ${afterLoad.fds} after`,
  );
  console.log(
    `  training (the other process): ${quietRate.toFixed(0)} images/s without load, ${loadRate.toFixed(0)} with it (${((loadRate / quietRate) * 100).toFixed(0)} %)`,
  );
  totalErrors += errors;
}
console.log(
  `server after each round: ${afterRounds.map((a) => `${a.rssMb.toFixed(0)} MB, ${a.fds} fds`).join('; ')} (before the first: ${before.rssMb.toFixed(0)} MB, ${before.fds} fds)`,
);
trainer.kill('SIGTERM');
viewer.kill('SIGTERM');
await new Promise((r) => setTimeout(r, 2000));
fs.rmSync(project, { recursive: true, force: true });
process.exitCode = totalErrors > 0 || afterRounds.at(-1)!.fds > before.fds + 2 ? 1 : 0;
