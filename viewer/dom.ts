/** DOM helpers the page's modules share: element construction and image thumbnails. */
import type { MapHeader } from '../src/evaluate/map-format.js';

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** Image i of `pixels` (uint8 HWC, `h`'s shape) as a canvas of its own size. */
export function imageCanvas(pixels: Uint8Array, i: number, h: { height: number; width: number; channels: number }): HTMLCanvasElement {
  const small = new ImageData(h.width, h.height);
  const px = h.width * h.height;
  for (let p = 0; p < px; p++) {
    const base = (i * px + p) * h.channels;
    const [r, g, b] = h.channels === 1 ? [pixels[base]!, pixels[base]!, pixels[base]!] : [pixels[base]!, pixels[base + 1]!, pixels[base + 2]!];
    small.data.set([r, g, b, 255], p * 4);
  }
  const c = el('canvas', { width: String(h.width), height: String(h.height) });
  c.getContext('2d')!.putImageData(small, 0, 0);
  return c;
}

/** Draws one thumbnail (uint8 HWC) into a new canvas, scaled up `scale` times; blank when there are no pixels. */
export function thumbnail(pixels: Uint8Array | null, i: number, h: MapHeader | { height: number; width: number; channels: number }, scale = 3): HTMLCanvasElement {
  const c = el('canvas', { width: String(h.width * scale), height: String(h.height * scale), class: 'thumb' });
  if (!pixels || pixels.length < (i + 1) * h.width * h.height * h.channels) return c;
  const g = c.getContext('2d')!;
  g.imageSmoothingEnabled = false;
  g.drawImage(imageCanvas(pixels, i, h), 0, 0, c.width, c.height);
  return c;
}

/** Offers `text` as a file download named `name`. */
export function download(name: string, text: string, type = 'text/csv'): void {
  const a = el('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

/** A CSV field, quoted when it needs to be. */
export const csvField = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/**
 * Sizes a canvas's drawing buffer to its CSS size (or the fallback) times the device pixel ratio and returns its 2-D
 * context scaled to CSS pixels and cleared, with that size: sharp on HiDPI screens.
 */
export function hidpiContext(canvas: HTMLCanvasElement, fallbackW: number, fallbackH: number): { g: CanvasRenderingContext2D; w: number; h: number } {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || fallbackW;
  const h = canvas.clientHeight || fallbackH;
  canvas.width = w * ratio;
  canvas.height = h * ratio;
  const g = canvas.getContext('2d')!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  return { g, w, h };
}

/** mulberry32: a small seeded generator of numbers in [0, 1), so a seed always gives the same picks and order. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
