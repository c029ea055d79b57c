/**
 * Whether the native kernels may run, and on how many threads: a scoped context, not a process-wide switch.
 * `withAccel({ native: false }, fn)` runs fn (and everything it awaits) on the TypeScript/wasm paths, so a
 * test compares the two paths without touching any global; everything else sees the defaults (native when the
 * addon is built, one thread per core).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import os from 'node:os';
import { addonFile, loadAddon, type NativeAddon } from './addon.js';

export interface AccelSettings {
  /** Use the native addon where it is built (default true). */
  native: boolean;
  /** Threads for native kernels (default: os.availableParallelism()). */
  threads: number;
}

const scope = new AsyncLocalStorage<AccelSettings>();
let defaults: AccelSettings | undefined;

export function accelSettings(): AccelSettings {
  defaults ??= { native: true, threads: os.availableParallelism() };
  return scope.getStore() ?? defaults;
}

/** Runs `fn` with these settings (the rest inherited); the previous settings return when it ends or settles. */
export function withAccel<T>(settings: Partial<AccelSettings>, fn: () => T): T {
  return scope.run({ ...accelSettings(), ...settings }, fn);
}

/** The addon when it is built and this context allows it, else null. */
export function nativeAddon(): NativeAddon | null {
  return accelSettings().native ? loadAddon() : null;
}

/** Whether the addon was built (whatever the context says). */
export function nativeBuilt(): boolean {
  return loadAddon() !== null;
}

/** Where the addon came from: a local build (build/Release/...) or a prebuild (prebuilds/<platform>-<arch>/...), or null. */
export function nativeFile(): string | null {
  return addonFile();
}

export function accelThreads(): number {
  return accelSettings().threads;
}
