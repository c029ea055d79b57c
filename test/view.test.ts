import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { UserError } from '../src/errors.js';
import { CONTENT_SECURITY_POLICY, startViewer } from '../src/view/server.js';
import { MNIST_DIR, runCli, startCli, tempDir } from './helpers.js';
import { fixtureProject, latentNeighbours, readMap } from './view-fixture.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A raw request: the path is sent exactly as given (encoded dots and all). */
function request(port: number, rawPath: string, opts: { method?: string; host?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: rawPath, method: opts.method ?? 'GET', headers: { host: opts.host ?? `127.0.0.1:${port}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

// biome-ignore lint/suspicious/noExplicitAny: API replies, checked field by field below
const getJson = async (port: number, p: string) => JSON.parse((await request(port, p)).body.toString()) as Record<string, any>;

test('ae view: the runs overview and a run page from the files, pictures served, the app page without inline scripts', async () => {
  const project = await fixtureProject();
  const viewer = await startViewer({ project });
  try {
    assert.match(viewer.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const { runs } = await getJson(viewer.port, '/api/runs');
    assert.deepEqual(
      runs.map((r: { name: string; status: string; epoch: number; epochs: number | null }) => [r.name, r.status, r.epoch, r.epochs]),
      [
        ['damaged', 'failed', 1, null],
        ['failed', 'failed', 0, 1],
        ['finished', 'finished', 1, 1],
        ['interrupted', 'interrupted', 1, 5],
      ],
    );
    const damaged = runs.find((r: { name: string }) => r.name === 'damaged');
    assert.ok(
      damaged.notes.some((n: string) => /config\.yaml cannot be read/.test(n)) &&
        damaged.notes.some((n: string) => /history\.jsonl has a line that is not JSON/.test(n)),
    );
    // ae sample's and ae encode --onto's pictures in the run folder are listed too; other top-level files are not.
    const recon = path.join(project, 'finished', 'vis_outputs', 'reconstructions.png');
    fs.copyFileSync(recon, path.join(project, 'finished', 'samples.png'));
    fs.copyFileSync(recon, path.join(project, 'finished', 'codes_my-digits_on_tsne.png'));
    fs.copyFileSync(recon, path.join(project, 'finished', 'notes.png'));
    const finished = await getJson(viewer.port, '/api/runs/finished');
    const history = fs
      .readFileSync(path.join(project, 'finished', 'history.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(finished.history, history);
    assert.equal(finished.best_val_loss, history[0].val_loss);
    assert.deepEqual(finished.outputs, [
      'codes_my-digits_on_tsne.png',
      'samples.png',
      'vis_outputs/latent_pca.png',
      'vis_outputs/loss.png',
      'vis_outputs/map_pca.json',
      'vis_outputs/metrics.json',
      'vis_outputs/reconstructions.png',
    ]);
    const png = await request(viewer.port, '/runs/finished/vis_outputs/reconstructions.png');
    assert.equal(png.status, 200);
    assert.equal(png.headers['content-type'], 'image/png');
    assert.deepEqual(png.body, fs.readFileSync(path.join(project, 'finished', 'vis_outputs', 'reconstructions.png')));
    const page = await request(viewer.port, '/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    assert.match(CONTENT_SECURITY_POLICY, /script-src 'self';/);
    const html = page.body.toString();
    assert.match(html, /<script type="module" src="\/app\.js"><\/script>/);
    assert.doesNotMatch(html.replace(/<script[^>]*src="[^"]+"><\/script>/g, ''), /<script/, 'no inline script');
    assert.equal((await request(viewer.port, '/app.js')).status, 200);
  } finally {
    await viewer.close();
  }
});

/** The top `k` principal directions of row-major `data` (n x dim), by power iteration with deflation in float64. */
function principalDirections(data: Float32Array, n: number, dim: number, k: number): Float64Array[] {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j]! += data[i * dim + j]! / n;
  const cov = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < dim; a++)
      for (let b = 0; b < dim; b++) cov[a * dim + b]! += (data[i * dim + a]! - mean[a]!) * (data[i * dim + b]! - mean[b]!);
  const dirs: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    let v = Float64Array.from({ length: dim }, (_, j) => 1 + j / dim);
    for (let it = 0; it < 2000; it++) {
      const w = new Float64Array(dim);
      for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) w[a]! += cov[a * dim + b]! * v[b]!;
      for (const d of dirs) {
        const dot = w.reduce((acc, x, j) => acc + x * d[j]!, 0);
        for (let j = 0; j < dim; j++) w[j]! -= dot * d[j]!;
      }
      const norm = Math.hypot(...w);
      v = w.map((x) => x / norm);
    }
    dirs.push(v);
  }
  return dirs;
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0,
    mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]! / n;
    mb += b[i]! / n;
  }
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

test('ae test saves the map data ae view reads: coordinates, labels, errors, latent neighbours and thumbnails, checked independently', async () => {
  const project = await fixtureProject();
  const { header, arr } = readMap(path.join(project, 'finished', 'vis_outputs'), 'pca');
  assert.equal(header.format, 'ae-map-1');
  assert.deepEqual([header.count, header.k, header.height, header.width, header.channels], [40, 10, 28, 28, 1]);
  const { set, nearest, codes, recons } = await latentNeighbours(project, 40, 10);
  assert.deepEqual([...arr('labels')], [...set.labels]);
  assert.deepEqual(
    [...arr('indices')],
    Array.from({ length: 40 }, (_, i) => i),
  );
  const neighbours = arr('neighbours');
  for (let i = 0; i < 40; i++) assert.deepEqual([...neighbours.subarray(i * 10, (i + 1) * 10)], nearest(i), `neighbours of ${i}`);
  // Codes: the encoder's output, computed here again.
  const stored = arr('codes');
  const dim = codes.length / 40;
  assert.equal(stored.length, codes.length);
  for (let i = 0; i < codes.length; i++) assert.ok(Math.abs(stored[i]! - codes[i]!) < 1e-6, `code value ${i}`);
  // Coordinates (embed pca): each axis is the projection on a principal direction of the codes, found here by power
  // iteration (up to sign: correlation of magnitude 1), centred, with the first axis the wider.
  const coords = arr('coords');
  assert.equal(coords.length, 80);
  const dirs = principalDirections(codes, 40, dim, 2);
  for (const axis of [0, 1]) {
    const ours = Array.from({ length: 40 }, (_, i) => coords[i * 2 + axis]!);
    const theirs = Array.from({ length: 40 }, (_, i) => dirs[axis]!.reduce((acc, v, j) => acc + v * codes[i * dim + j]!, 0));
    assert.ok(Math.abs(Math.abs(correlation(ours, theirs)) - 1) < 1e-4, `axis ${axis}: correlation ${correlation(ours, theirs)}`);
    assert.ok(Math.abs(ours.reduce((a, b) => a + b, 0) / 40) < 1e-4, `axis ${axis} is centred`);
  }
  const spread = (axis: number) => Math.hypot(...Array.from({ length: 40 }, (_, i) => coords[i * 2 + axis]!));
  assert.ok(spread(0) >= spread(1));
  // Thumbnails, pixel for pixel: the inputs and the model's reconstructions as 8-bit values.
  const images = arr('images');
  const recon = arr('reconstructions');
  const to8 = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);
  assert.deepEqual([...images], Array.from(set.images, to8));
  assert.deepEqual([...recon], Array.from(recons, to8));
  // Errors: each image's MSE from the float reconstruction computed here.
  const errors = arr('errors');
  for (let i = 0; i < 40; i++) {
    let se = 0;
    for (let p = 0; p < 784; p++) se += (set.images[i * 784 + p]! - recons[i * 784 + p]!) ** 2;
    assert.ok(Math.abs(se / 784 - errors[i]!) < 1e-6, `error ${i}: ${se / 784} vs ${errors[i]}`);
  }
});

test('ae view serves byte ranges of run files (the page reads a large map part by part): 206 with the exact bytes, 416 past the end', async () => {
  const project = await fixtureProject();
  const viewer = await startViewer({ project });
  try {
    const file = path.join(project, 'finished', 'vis_outputs', 'map_pca.bin');
    const bytes = fs.readFileSync(file);
    const url = `${viewer.url}runs/finished/vis_outputs/map_pca.bin`;
    const part = await fetch(url, { headers: { Range: 'bytes=320-799' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 320-799/${bytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(320, 800));
    const tail = await fetch(url, { headers: { Range: `bytes=${bytes.length - 5}-` } });
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(bytes.length - 5));
    const past = await fetch(url, { headers: { Range: `bytes=${bytes.length}-${bytes.length + 10}` } });
    assert.equal(past.status, 416);
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);
  } finally {
    await viewer.close();
  }
});

test('ae view security: read-only, Host header checked, nothing served from outside a listed run', async () => {
  const project = await fixtureProject();
  const outside = tempDir('ae-view-outside-');
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(project, 'finished', 'link.txt'));
  fs.symlinkSync(outside, path.join(project, 'finished', 'linkdir'));
  const viewer = await startViewer({ project });
  const p = viewer.port;
  try {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await request(p, '/api/runs', { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD');
    }
    assert.equal((await request(p, '/api/runs', { method: 'HEAD' })).status, 200);
    assert.equal((await request(p, '/api/runs', { host: 'evil.example:80' })).status, 403, 'DNS rebinding: foreign Host');
    assert.equal((await request(p, '/api/runs', { host: `localhost:${p}` })).status, 200);
    const refused: Array<[string, number]> = [
      ['/runs/finished/..%2f..%2fsecret.txt', 403],
      ['/runs/finished/%2e%2e/%2e%2e/etc/passwd', 403],
      ['/runs/finished/vis_outputs/..%5c..%5cconfig.yaml', 403],
      ['/runs/finished//etc/passwd', 403],
      ['/runs/finished/link.txt', 403],
      ['/runs/finished/linkdir/secret.txt', 403],
      ['/runs/finished/a%00b', 400],
      ['/runs/nosuchrun/config.yaml', 404],
      ['/runs/..%2f..%2ftmp/x', 404],
      ['/api/runs/..', 404],
      ['/api/runs/data', 404],
    ];
    for (const [url, status] of refused) {
      const r = await request(p, url);
      assert.equal(r.status, status, url);
      assert.doesNotMatch(r.body.toString(), /secret/, url);
    }
    assert.equal((await request(p, '/runs/finished/config.yaml')).status, 200, 'a file inside the run is served');
  } finally {
    await viewer.close();
  }
});

test('ae view live: a run training in another process appears, its progress advances in the event stream, and Ctrl-C shows it interrupted', async () => {
  const project = tempDir('ae-view-live-');
  const viewer = await startViewer({ project });
  const events: Array<{ runs: Array<{ name: string; status: string; epoch: number; progress: { step: number; epoch: number } | null }> }> =
    [];
  const stream = http.get(
    { host: '127.0.0.1', port: viewer.port, path: '/api/events', headers: { host: `127.0.0.1:${viewer.port}` } },
    (res) => {
      let buffer = '';
      res.on('data', (c) => {
        buffer += c;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block);
          if (data) events.push(JSON.parse(data[1]!));
        }
      });
    },
  );
  const waitFor = async (what: () => boolean, label: string) => {
    for (let i = 0; i < 400 && !what(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(what(), `timed out waiting for ${label}`);
  };
  const config = path.join(project, 'live.yaml');
  // All 48,000 training images: an epoch takes a few seconds, so progress within it reaches the stream.
  fs.writeFileSync(config, YAML.stringify({ name: 'live', project, epochs: 200, MNIST: { path: MNIST_DIR } }));
  const child = startCli(['train', '--config', config]);
  try {
    await waitFor(() => events.length > 0, 'the first event');
    assert.deepEqual(events[0]!.runs, [], 'the project starts empty');
    const live = () => events.at(-1)!.runs.find((r) => r.name === 'live');
    await waitFor(() => live()?.status === 'training' && (live()?.epoch ?? 0) >= 1, 'the run to train and finish an epoch');
    const seen = live()!.epoch;
    await waitFor(() => (live()?.epoch ?? 0) > seen, 'another epoch in the stream');
    assert.ok(
      events.some((e) => (e.runs[0]?.progress?.step ?? 0) > 0),
      `progress within an epoch reached the stream: ${JSON.stringify(events.map((e) => e.runs[0]?.progress ?? null))}`,
    );
    child.kill('SIGINT');
    await waitFor(() => live()?.status === 'interrupted', 'the interrupted status');
  } finally {
    child.kill('SIGKILL');
    stream.destroy();
    await viewer.close();
  }
});

test('ae view bad input: a project path that is a file, a folder not made yet, an empty one, a port in use', async () => {
  const file = path.join(tempDir(), 'a-file');
  fs.writeFileSync(file, 'not a folder');
  await assert.rejects(
    startViewer({ project: file }),
    (e: unknown) => e instanceof UserError && /is a file, not a project folder/.test(e.message),
  );
  // Not made yet (ae view started before the first ae train): empty, and a run shows up once it is created.
  const later = path.join(tempDir(), 'runs');
  const early = await startViewer({ project: later });
  try {
    assert.deepEqual((await getJson(early.port, '/api/runs')).runs, []);
    fs.mkdirSync(path.join(later, 'first'), { recursive: true });
    fs.writeFileSync(path.join(later, 'first', 'config.yaml'), 'model_type: AE\nepochs: 3\n');
    assert.deepEqual(
      (await getJson(early.port, '/api/runs')).runs.map((r: { name: string }) => r.name),
      ['first'],
    );
  } finally {
    await early.close();
  }
  const empty = await startViewer({ project: tempDir('ae-view-empty-') });
  try {
    assert.deepEqual((await getJson(empty.port, '/api/runs')).runs, []);
    await assert.rejects(
      startViewer({ project: tempDir(), port: empty.port }),
      (e: unknown) =>
        e instanceof UserError &&
        new RegExp(`port ${empty.port} on 127\\.0\\.0\\.1 is in use`).test(e.message) &&
        /`port`/.test(e.hint ?? ''),
    );
  } finally {
    await empty.close();
  }
});

test('the ae view command prints its address, serves the project, stops on Ctrl-C, and refuses a port in use', async () => {
  const project = tempDir('ae-view-cli-');
  const child = startCli(['view', project]);
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  for (let i = 0; i < 100 && !/ae view: http/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  const url = /ae view: (http:\/\/127\.0\.0\.1:(\d+)\/) \(Ctrl-C stops it\)/.exec(out);
  assert.ok(url, out);
  const port = Number(url[2]);
  assert.deepEqual((await getJson(port, '/api/runs')).runs, []);
  const busy = runCli(['view', project, '--port', String(port)]);
  assert.equal(busy.status, 1);
  assert.match(busy.stderr, new RegExp(`error: port ${port} on 127\\.0\\.0\\.1 is in use\\n\\s+hint: pass another --port`));
  child.kill('SIGINT');
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0);
  assert.match(out, /ae view stopped/);
});
