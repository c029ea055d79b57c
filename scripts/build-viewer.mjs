// Bundles the `ae view` page (viewer/) into dist/viewer/: app.ts through esbuild (no CDN at run time), plus the
// HTML and CSS as they are. Run by `npm run build`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'viewer');
fs.mkdirSync(out, { recursive: true });
await build({
  entryPoints: [path.join(root, 'viewer', 'app.ts')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2020',
  sourcemap: true,
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) fs.copyFileSync(path.join(root, 'viewer', f), path.join(out, f));
