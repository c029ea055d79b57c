/**
 * Filling an inverted-dropout mask from a seeded generator's stream: natively (about 20x faster) when the addon
 * is built, else in JavaScript, with identical values either way (native/dropout.hpp continues the same sfc32
 * stream that src/util/rng.ts draws from).
 */
import type { Rng } from '../util/rng.js';
import { nativeAddon } from './context.js';

/** mask[i] = (i-th uniform draw of rng) >= rate ? keep : 0, for every element of mask (callers use a fresh rng per mask). */
export function fillDropoutMask(rng: Rng, rate: number, keep: number, mask: Float32Array): void {
  const native = nativeAddon();
  if (native) {
    native.dropoutMask({ state: rng.state(), rate, keep, out: mask });
    return;
  }
  const u = new Float64Array(mask.length);
  rng.fillUniform(u);
  for (let i = 0; i < mask.length; i++) mask[i] = u[i]! >= rate ? keep : 0;
}
