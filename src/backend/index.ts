/** Chooses and prepares the TensorFlow.js backend. */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { patchWasmBackend } from '../accel/index.js';
import { UserError } from '../errors.js';

export type BackendName = 'wasm' | 'cpu' | 'webgpu';

const NO_ADAPTER_HINT =
  "WebGPU needs a GPU and its driver: on Linux the GPU's Vulkan driver (NVIDIA's driver, or Mesa's for AMD/Intel: `apt-get install libvulkan1 mesa-vulkan-drivers`; `vulkaninfo` should list the GPU), on macOS Metal, on Windows D3D12. Without one, train on the CPU: `backend` wasm";

/**
 * Brings up TensorFlow.js's WebGPU backend on Node through the `webgpu` package (Google's Dawn, prebuilt inside
 * the package). Both packages are optional dependencies: an install that skipped them, or a machine without a
 * GPU adapter, gets a UserError saying what is missing and how to get it.
 */
async function initWebGpu(): Promise<void> {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('webgpu');
  } catch (e) {
    throw new UserError(
      `the webgpu backend needs the optional package \`webgpu\`, which is not installed (${(e as Error).message.split('\n')[0]})`,
      'install it next to autoencoders: npm install webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0; or train on the CPU: `backend` wasm',
      { option: 'backend' },
    );
  }
  // Probe for an adapter in a child process first: when there is none, Dawn writes its reasons to stderr in a
  // format that reads like a crash. The child's output becomes one line of our message instead.
  const probe = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { create } = await import(${JSON.stringify(pathToFileURL(entry).href)}); const a = await create([]).requestAdapter(); process.stdout.write(a ? 'adapter' : 'none');`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (probe.stdout !== 'adapter') {
    const reason = (probe.stderr ?? '')
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /^(Warning|Error|error):/.test(l));
    throw new UserError(
      `no WebGPU adapter found: this machine offers no GPU that WebGPU (Dawn) can use${reason ? ` (Dawn: ${reason.replace(/^(Warning|Error|error):\s*/, '')})` : ''}`,
      NO_ADAPTER_HINT,
    );
  }
  const webgpu = (await import(pathToFileURL(entry).href)) as {
    create(flags: string[]): { requestAdapter(): Promise<unknown> };
    globals: Record<string, unknown>;
  };
  const gpu = webgpu.create([]);
  if (!(await gpu.requestAdapter()))
    throw new UserError('no WebGPU adapter found (the probe found one, this process did not)', NO_ADAPTER_HINT);
  // tfjs-backend-webgpu looks for navigator.gpu and the WebGPU globals (GPUBufferUsage, ...), as in a browser.
  Object.assign(globalThis, webgpu.globals);
  const global = globalThis as unknown as { navigator?: object };
  global.navigator ??= {};
  Object.defineProperty(global.navigator, 'gpu', { value: gpu, configurable: true });
  try {
    await import('@tensorflow/tfjs-backend-webgpu' as string);
  } catch (e) {
    throw new UserError(
      `the webgpu backend needs the optional package \`@tensorflow/tfjs-backend-webgpu\` (${(e as Error).message.split('\n')[0]})`,
      'npm install @tensorflow/tfjs-backend-webgpu@4.22.0; or train on the CPU: `backend` wasm',
      { option: 'backend' },
    );
  }
}

let silenced = false;

/** tfjs prints a banner about tfjs-node on first use in Node; it is advice we deliberately don't take. */
function silenceNodeBanner(): void {
  if (silenced) return;
  silenced = true;
  tf.env().set('IS_TEST', true); // suppresses "Hi there 👋. Looks like you are running TensorFlow.js in Node.js"
  tf.env().set('PROD', true);
}

/** Activates `name` (wasm: XNNPACK + our kernels, src/accel/kernel-table.ts; cpu: the pure-JS reference backend; webgpu: the GPU). */
export async function initBackend(name: BackendName = 'wasm'): Promise<void> {
  silenceNodeBanner();
  if (name === 'wasm') patchWasmBackend();
  if (tf.getBackend() === name) return;
  if (name === 'webgpu') await initWebGpu();
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`TensorFlow.js backend '${name}' failed to initialise`);
  await tf.ready();
}

export { tf };
