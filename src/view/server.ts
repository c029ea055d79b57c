/**
 * `ae view`'s local server (node:http): the bundled single-page app, a read-only JSON API over the project's runs,
 * a server-sent event stream that announces changes (polled from the files once a second), and the runs' pictures.
 *
 * A local server is an attack surface, so: it binds 127.0.0.1 unless told otherwise; it answers GET and HEAD only
 * (405 otherwise); it serves files only from inside a listed run directory (encoded `..`, absolute paths, NUL
 * bytes and symlinks leading out are refused); on a loopback address it checks the Host header against its own
 * address (a defence against DNS rebinding); and every response carries a Content-Security-Policy without inline
 * scripts.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import type { RunListEntry } from './api-types.js';
import { isRunName, listRuns, readRun, summaryOf } from './runs.js';

/** The bundled app: <package>/dist/viewer/, from dist/view/server.js and from src/view/server.ts alike. */
export const APP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'viewer');
const APP_FILES: Record<string, string> = { '/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js', '/app.css': 'app.css' };
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'text/plain; charset=utf-8',
  '.yaml': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.png': 'image/png',
  '.bin': 'application/octet-stream',
};
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";
/** How often the event stream looks at the runs' files. */
const POLL_MS = 1000;

export interface ViewerOptions {
  project: string;
  host?: string;
  /** 0 or absent: a free port. */
  port?: number;
}

export interface Viewer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export async function startViewer(opts: ViewerOptions): Promise<Viewer> {
  const project = path.resolve(opts.project);
  // A folder that does not exist yet is shown empty (runs started there appear); a file is refused.
  if (fs.existsSync(project) && !fs.statSync(project).isDirectory()) {
    throw new UserError(
      `${opts.project} is a file, not a project folder`,
      'pass the folder that holds your runs (default: runs), e.g. ae view runs',
    );
  }
  const host = opts.host ?? '127.0.0.1';
  const streams = new Set<http.ServerResponse>();
  let allowedHosts = new Set<string>();
  const server = http.createServer((req, res) => {
    try {
      handle(req, res, project, allowedHosts, streams);
    } catch (e) {
      send(res, 500, 'text/plain; charset=utf-8', `internal error: ${(e as Error).message}`);
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE')
        reject(
          new UserError(`port ${opts.port} on ${host} is in use`, 'pass another `port`, or none to take a free one', { option: 'port' }),
        );
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND')
        reject(new UserError(`cannot listen on ${host}: ${e.code}`, 'pass `host` 127.0.0.1', { option: 'host' }));
      else reject(e);
    });
    server.listen(opts.port ?? 0, host, () => resolve((server.address() as AddressInfo).port));
  });
  const shown = host.includes(':') ? `[${host}]` : host;
  allowedHosts = LOOPBACK.has(host) ? new Set([...LOOPBACK].map((h) => `${h.includes(':') ? `[${h}]` : h}:${port}`)) : new Set();
  const poll = setInterval(() => broadcast(project, streams), POLL_MS);
  poll.unref();
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(poll);
        for (const s of streams) s.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const json = (res: http.ServerResponse, status: number, value: unknown) => send(res, status, TYPES['.json']!, JSON.stringify(value));

function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  project: string,
  allowedHosts: Set<string>,
  streams: Set<http.ServerResponse>,
) {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return send(res, 405, 'text/plain; charset=utf-8', 'read-only: GET and HEAD only', { Allow: 'GET, HEAD' });
  if (allowedHosts.size > 0 && !allowedHosts.has(req.headers.host ?? '')) {
    return send(res, 403, 'text/plain; charset=utf-8', `unexpected Host header ${JSON.stringify(req.headers.host ?? '')}`);
  }
  const raw = (req.url ?? '/').split('?')[0]!;
  let url: string;
  try {
    url = decodeURIComponent(raw);
  } catch {
    return send(res, 400, 'text/plain; charset=utf-8', 'bad URL encoding');
  }
  if (url.includes('\0')) return send(res, 400, 'text/plain; charset=utf-8', 'bad path');
  const app = APP_FILES[url];
  if (app) return serveFile(req, res, path.join(APP_DIR, app));
  // The page's code split into chunks by esbuild (TensorFlow.js, loaded when images are dropped on the map).
  if (/^\/chunks\/[\w-]+\.js$/.test(url)) return serveFile(req, res, path.join(APP_DIR, url));
  if (url === '/api/runs') return json(res, 200, { project, runs: runSummaries(project) });
  if (url === '/api/events') return openStream(req, res, project, streams);
  const api = /^\/api\/runs\/([^/]+)$/.exec(url);
  if (api) {
    const name = api[1]!;
    if (!isRunName(name) || !listRuns(project).includes(name)) return json(res, 404, { error: `no run ${name}` });
    return json(res, 200, readRun(project, name));
  }
  const file = /^\/runs\/([^/]+)\/(.+)$/.exec(url);
  if (file) {
    const [, name, rel] = file as unknown as [string, string, string];
    if (!isRunName(name) || !listRuns(project).includes(name)) return send(res, 404, 'text/plain; charset=utf-8', `no run ${name}`);
    const inside = resolveInside(path.join(project, name), rel);
    if (!inside) return send(res, 403, 'text/plain; charset=utf-8', 'outside the run directory');
    return serveFile(req, res, inside);
  }
  send(res, 404, 'text/plain; charset=utf-8', 'not found');
}

/**
 * `rel` resolved under `root`, or null when it would leave it: absolute paths, `..` segments, and symlinks whose
 * target lies outside (the real path must stay under the root's real path).
 */
export function resolveInside(root: string, rel: string): string | null {
  if (path.isAbsolute(rel) || /^[a-zA-Z]:/.test(rel) || rel.split(/[/\\]/).some((seg) => seg === '..')) return null;
  const target = path.join(root, rel);
  let real: string;
  let realRoot: string;
  try {
    real = fs.realpathSync(target);
    realRoot = fs.realpathSync(root);
  } catch {
    return target; // missing: serveFile answers 404
  }
  return real === realRoot || real.startsWith(realRoot + path.sep) ? real : null;
}

/**
 * A file, whole or (with a `Range: bytes=a-b` header) in part: the page reads a large map's arrays separately, the
 * ones the first picture needs first. Only the requested bytes are read from disk.
 */
function serveFile(req: http.IncomingMessage, res: http.ServerResponse, file: string) {
  let size: number;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return send(res, 404, 'text/plain; charset=utf-8', 'not found');
    size = stat.size;
  } catch {
    const app = file.startsWith(APP_DIR) ? ' (the viewer app is not built: run npm run build)' : '';
    return send(res, 404, 'text/plain; charset=utf-8', `not found${app}`);
  }
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (!range) return send(res, 200, type, fs.readFileSync(file), { 'Accept-Ranges': 'bytes' });
  const from = Number(range[1]);
  const to = Math.min(size - 1, range[2] ? Number(range[2]) : size - 1);
  if (from > to || from >= size)
    return send(res, 416, 'text/plain; charset=utf-8', 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
  const body = Buffer.alloc(to - from + 1);
  const fd = fs.openSync(file, 'r');
  try {
    let got = 0;
    while (got < body.length) {
      const n = fs.readSync(fd, body, got, body.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  send(res, 206, type, body, { 'Content-Range': `bytes ${from}-${to}/${size}`, 'Accept-Ranges': 'bytes' });
}

/** Server-sent events: `runs` with every run's summary now, and again whenever a run's files change. */
function openStream(req: http.IncomingMessage, res: http.ServerResponse, project: string, streams: Set<http.ServerResponse>): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  });
  streams.add(res);
  lastSent.delete(res);
  sendSnapshot(project, res);
  req.on('close', () => streams.delete(res));
}

const lastSent = new WeakMap<http.ServerResponse, string>();

/** Every run's summary with its progress: what /api/runs answers and the event stream sends. */
function runSummaries(project: string): RunListEntry[] {
  return listRuns(project).map((n) => {
    const r = readRun(project, n);
    return { ...summaryOf(r), progress: r.progress };
  });
}

function snapshot(project: string): string {
  return JSON.stringify({ runs: runSummaries(project) });
}

function sendSnapshot(project: string, res: http.ServerResponse, data = snapshot(project)): void {
  const digest = createHash('sha1').update(data).digest('hex');
  if (lastSent.get(res) === digest) return;
  lastSent.set(res, digest);
  res.write(`event: runs\ndata: ${data}\n\n`);
}

function broadcast(project: string, streams: Set<http.ServerResponse>): void {
  if (streams.size === 0) return;
  const data = snapshot(project);
  for (const s of streams) sendSnapshot(project, s, data);
}
