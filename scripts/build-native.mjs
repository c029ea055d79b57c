// Builds the optional native t-SNE kernels (native/tsne_native.cc) with node-gyp and the machine's compiler.
// Nothing is downloaded: node-gyp builds against the Node headers npm points it at. If the build fails (no
// compiler, no headers), installation continues and autoencoders uses its TypeScript kernels instead.
import { spawnSync } from 'node:child_process';

if (process.env.AE_SKIP_NATIVE === '1') {
  console.log('autoencoders: AE_SKIP_NATIVE=1, not building the native t-SNE kernels (the TypeScript ones are used)');
  process.exit(0);
}
const gyp = process.env.npm_config_node_gyp;
const cmd = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd[0], cmd[1], { stdio: 'inherit' });
if (r.status !== 0) {
  console.warn('autoencoders: could not build the native t-SNE kernels; t-SNE will use the (slower) TypeScript kernels.');
}
process.exit(0);
