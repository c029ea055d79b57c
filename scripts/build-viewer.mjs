// Bundles the `ae view` page (viewer/) into dist/viewer/: app.ts through esbuild (no CDN at run time), plus the
// HTML and CSS as they are. Run by `npm run build`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'viewer');
fs.mkdirSync(out, { recursive: true });
/**
 * The page runs the run's own model code (src/models, src/embed's placement) for images dropped on the map; two
 * Node-only modules are swapped for browser stand-ins: the backend chooser (TensorFlow.js as bundled) and the
 * native addon and its context (no addon: the kernels' TensorFlow.js and TypeScript paths).
 */
const BROWSER_STAND_INS = {
  [path.join(root, 'src', 'backend', 'index.ts')]: path.join(root, 'viewer', 'shims', 'backend.ts'),
  [path.join(root, 'src', 'accel', 'context.ts')]: path.join(root, 'viewer', 'shims', 'accel-context.ts'),
  [path.join(root, 'src', 'accel', 'addon.ts')]: path.join(root, 'viewer', 'shims', 'accel-addon.ts'),
};
const standIns = {
  name: 'browser-stand-ins',
  setup(b) {
    b.onResolve({ filter: /\/(index|context|addon)\.js$/ }, (args) => {
      const target = path.resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts');
      return BROWSER_STAND_INS[target] ? { path: BROWSER_STAND_INS[target] } : undefined;
    });
  },
};
fs.rmSync(path.join(out, 'chunks'), { recursive: true, force: true });
await build({
  entryPoints: [path.join(root, 'viewer', 'app.ts')],
  outdir: out,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  format: 'esm',
  target: 'es2020',
  platform: 'browser',
  minify: true,
  sourcemap: true,
  plugins: [standIns],
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) fs.copyFileSync(path.join(root, 'viewer', f), path.join(out, f));
