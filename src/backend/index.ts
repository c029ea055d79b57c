/** Chooses and prepares the TensorFlow.js backend. */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { patchWasmBackend } from './wasm-patches.js';

export type BackendName = 'wasm' | 'cpu';

let silenced = false;

/** tfjs prints a banner about tfjs-node on first use in Node; it is advice we deliberately don't take. */
function silenceNodeBanner(): void {
  if (silenced) return;
  silenced = true;
  tf.env().set('IS_TEST', true); // suppresses "Hi there 👋. Looks like you are running TensorFlow.js in Node.js"
  tf.env().set('PROD', true);
}

/** Activates `name` (wasm: XNNPACK + our kernel patches; cpu: the pure-JS reference backend). */
export async function initBackend(name: BackendName = 'wasm'): Promise<void> {
  silenceNodeBanner();
  if (name === 'wasm') patchWasmBackend();
  if (tf.getBackend() === name) return;
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`TensorFlow.js backend '${name}' failed to initialise`);
  await tf.ready();
}

export { tf };
