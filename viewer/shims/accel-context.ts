/**
 * The page's stand-in for src/accel/context.ts: there is no native addon in a browser, so every kernel of
 * src/accel/ takes its TensorFlow.js or TypeScript path (the same arithmetic as `native: false` in Node).
 */
export interface AccelSettings {
  native: boolean;
  threads: number;
}

const settings: AccelSettings = { native: false, threads: 1 };

export const accelSettings = (): AccelSettings => settings;
export const withAccel = <T>(_s: Partial<AccelSettings>, fn: () => T): T => fn();
export const nativeAddon = (): null => null;
export const nativeBuilt = (): boolean => false;
export const nativeFile = (): null => null;
export const accelThreads = (): number => 1;
