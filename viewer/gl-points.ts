/**
 * The map's points in WebGL2, our own shaders (a few hundred lines; regl-scatterplot and deck.gl would bring their
 * own event and camera models, and neither keeps the frame rate on software rendering, the one we can measure here).
 *
 * Every point lives on the GPU once (positions, class, a colour value); a frame only changes uniforms. Where no GPU
 * is present (headless Chromium runs WebGL on SwiftShader) a point costs about 0.7 microseconds, so a frame cannot
 * draw a million of them: it draws at most FRAME_POINTS. The picture is built up over frames in an offscreen
 * texture, in a seeded random order (any prefix is a uniform sample), and the last complete picture stays on screen
 * under it, moved and scaled to the current view. Zoomed in, the grid index names the points on screen and, when
 * they fit in a frame, exactly those are drawn. With a GPU the same code completes in one or two frames.
 */
import type { PointIndex } from './point-index.js';

/** Screen (CSS px) = (tx + scale * x, ty - scale * y) for data (x, y). */
export interface View {
  scale: number;
  tx: number;
  ty: number;
}

/** Points drawn per frame at most (about 25 ms on 2 cores of software rendering). */
export const FRAME_POINTS = 20_000;

const POINT_VS = `#version 300 es
in vec2 a_pos;
in float a_label;
in float a_value;
uniform vec2 u_scale;
uniform vec2 u_offset;
uniform float u_size;
uniform int u_mode;
uniform sampler2D u_palette;
uniform sampler2D u_gradient;
out vec4 v_colour;
void main() {
  vec4 cls = texelFetch(u_palette, ivec2(int(a_label), 0), 0);
  if (cls.a < 0.5) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 0.0; v_colour = vec4(0.0); return; }
  float w = float(textureSize(u_gradient, 0).x);
  v_colour = u_mode == 0 ? vec4(cls.rgb, 1.0) : vec4(texture(u_gradient, vec2((a_value * (w - 1.0) + 0.5) / w, 0.5)).rgb, 1.0);
  gl_Position = vec4(a_pos * u_scale + u_offset, 0.0, 1.0);
  gl_PointSize = u_size;
}`;
const POINT_FS = `#version 300 es
precision highp float;
in vec4 v_colour;
uniform float u_size;
out vec4 o;
void main() {
  // Round points once they are big enough for the shape to show.
  if (u_size >= 4.0 && length(gl_PointCoord - 0.5) > 0.5) discard;
  o = v_colour;
}`;
const QUAD_VS = `#version 300 es
in vec2 a_corner;
uniform vec4 u_rect;
out vec2 v_uv;
void main() { v_uv = a_corner; gl_Position = vec4(mix(u_rect.xy, u_rect.zw, a_corner), 0.0, 1.0); }`;
const QUAD_FS = `#version 300 es
precision highp float;
in vec2 v_uv;
uniform sampler2D u_tex;
out vec4 o;
void main() { o = texture(u_tex, v_uv); }`;

interface Target {
  fbo: WebGLFramebuffer;
  tex: WebGLTexture;
  view: View | null;
  /** The content (colours, visibility, size) it was drawn with. */
  version: number;
  /** Points of the shuffled order drawn so far; `complete` once the whole picture is in. */
  done: number;
  complete: boolean;
}

export class PointLayer {
  private readonly gl: WebGL2RenderingContext;
  private readonly pointProgram: WebGLProgram;
  private readonly quadProgram: WebGLProgram;
  /** Vertex arrays of the same points: in the shuffled order, and cell by cell (the index's order). */
  private readonly shuffledVao: WebGLVertexArrayObject;
  private readonly cellVao: WebGLVertexArrayObject;
  private readonly quadVao: WebGLVertexArrayObject;
  private readonly valueBuffers: [WebGLBuffer, WebGLBuffer];
  private readonly palette: WebGLTexture;
  private readonly gradient: WebGLTexture;
  private still: Target | null = null;
  private build: Target | null = null;
  private version = 0;
  private mode = 0;
  private size = 3;
  private cssW = 1;
  private cssH = 1;
  private dpr = 1;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly index: PointIndex,
    private readonly shuffled: Int32Array,
    labels: Uint8Array,
  ) {
    const gl = canvas.getContext('webgl2', { antialias: false, premultipliedAlpha: true, alpha: false, preserveDrawingBuffer: false });
    if (!gl) throw new Error('this page needs WebGL2 to draw the map (enable hardware acceleration or WebGL in the browser settings)');
    this.gl = gl;
    this.pointProgram = program(gl, POINT_VS, POINT_FS);
    this.quadProgram = program(gl, QUAD_VS, QUAD_FS);
    const { coords, n } = index;
    const gather = <T extends Float32Array | Uint8Array>(order: Int32Array, src: T, width: number, make: (len: number) => T): T => {
      const out = make(order.length * width);
      for (let k = 0; k < order.length; k++) for (let w = 0; w < width; w++) out[k * width + w] = src[order[k]! * width + w]!;
      return out;
    };
    const vao = (order: Int32Array): [WebGLVertexArrayObject, WebGLBuffer] => {
      const v = gl.createVertexArray()!;
      gl.bindVertexArray(v);
      attribute(gl, this.pointProgram, 'a_pos', gather(order, coords.subarray(0, 2 * n), 2, (l) => new Float32Array(l)), 2, gl.FLOAT);
      attribute(gl, this.pointProgram, 'a_label', gather(order, labels, 1, (l) => new Uint8Array(l)), 1, gl.UNSIGNED_BYTE);
      const values = attribute(gl, this.pointProgram, 'a_value', new Float32Array(n), 1, gl.FLOAT);
      gl.bindVertexArray(null);
      return [v, values];
    };
    const [a, va] = vao(shuffled);
    const [b, vb] = vao(index.order);
    this.shuffledVao = a;
    this.cellVao = b;
    this.valueBuffers = [va, vb];
    this.quadVao = gl.createVertexArray()!;
    gl.bindVertexArray(this.quadVao);
    attribute(gl, this.quadProgram, 'a_corner', new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), 2, gl.FLOAT);
    gl.bindVertexArray(null);
    this.palette = texture(gl);
    this.gradient = texture(gl);
  }

  /** Class colours (RGB per class) and which classes are shown. */
  setClasses(colours: Array<[number, number, number]>, hidden: Set<number>): void {
    const rgba = new Uint8Array(256 * 4);
    for (let c = 0; c < 256; c++) {
      const [r, g, b] = colours[c % colours.length]!;
      rgba.set([r, g, b, hidden.has(c) ? 0 : 255], 4 * c);
    }
    upload(this.gl, this.palette, rgba, 256, this.gl.NEAREST);
    this.version++;
  }

  /** Colour by class (null), or by a value per point in [0, 1] along `gradient` (RGB stops, linearly mixed). */
  setValues(values: Float32Array | null, gradient: Array<[number, number, number]> = [[0, 0, 0]]): void {
    const gl = this.gl;
    this.mode = values ? 1 : 0;
    if (values) {
      const orders = [this.shuffled, this.index.order];
      orders.forEach((order, k) => {
        const v = new Float32Array(order.length);
        for (let j = 0; j < order.length; j++) v[j] = values[order[j]!]!;
        gl.bindBuffer(gl.ARRAY_BUFFER, this.valueBuffers[k]!);
        gl.bufferData(gl.ARRAY_BUFFER, v, gl.STATIC_DRAW);
      });
      const rgba = new Uint8Array(gradient.length * 4);
      gradient.forEach(([r, g, b], i) => rgba.set([r, g, b, 255], 4 * i));
      upload(gl, this.gradient, rgba, gradient.length, gl.LINEAR);
    }
    this.version++;
  }

  setPointSize(cssPixels: number): void {
    this.size = cssPixels;
    this.version++;
  }

  /** The drawing buffer's size: CSS pixels times the device pixel ratio (sharp on HiDPI screens). */
  resize(cssW: number, cssH: number, dpr: number): void {
    this.cssW = Math.max(1, cssW);
    this.cssH = Math.max(1, cssH);
    this.dpr = dpr;
    this.canvas.width = Math.round(this.cssW * dpr);
    this.canvas.height = Math.round(this.cssH * dpr);
    for (const t of [this.still, this.build]) if (t) this.dispose(t);
    this.still = null;
    this.build = null;
  }

  /**
   * Draws one frame of the map at `view`. Returns true when the picture at this view is complete, false when more
   * frames are needed (call again on the next animation frame, with the same view when it has not moved).
   *
   * A frame after a change (the view moved, or colours changed) is cheap and goes straight to the screen: the last
   * complete picture moved to this view with FRAME_POINTS points (a sample) drawn sharp over it, or, zoomed in, all
   * the points on screen. Frames at the same view then build the whole picture in an offscreen texture, FRAME_POINTS
   * at a time, shown over the last complete one until it is done.
   */
  frame(view: View, exactLimit = FRAME_POINTS): boolean {
    const gl = this.gl;
    const [w, h] = [this.canvas.width, this.canvas.height];
    const ranges = this.index.ranges(this.visibleRect(view));
    const visible = ranges.reduce((s, [a, b]) => s + b - a, 0);
    const still = this.still?.view && this.still.version === this.version ? this.still : null;
    // The complete picture of this view is on screen already (a redraw of the overlay alone, a hover): no work.
    if (still && sameView(still.view!, view)) return true;
    const build = (this.build ??= this.target());
    const atRest = build.view !== null && sameView(build.view, view) && build.version === this.version;
    if (!atRest) {
      build.view = { ...view };
      build.version = this.version;
      build.done = 0;
      build.complete = false;
      this.toScreen();
      if (visible > exactLimit && still) this.drawTexture(still.tex, still.view!, view);
      this.drawPoints(view, ranges, visible <= exactLimit ? 'exact' : 'sample');
      gl.bindVertexArray(null);
      return false;
    }
    if (!build.complete) {
      gl.bindFramebuffer(gl.FRAMEBUFFER, build.fbo);
      gl.viewport(0, 0, w, h);
      if (build.done === 0) {
        gl.clearColor(0, 0, 0, 0);
        gl.clear(gl.COLOR_BUFFER_BIT);
      }
      gl.disable(gl.BLEND);
      if (build.done === 0 && visible <= exactLimit) {
        this.drawPoints(view, ranges, 'exact');
        build.done = this.index.n;
      } else build.done += this.drawPoints(view, ranges, build.done);
      build.complete = build.done >= this.index.n;
    }
    this.toScreen();
    if (still && !build.complete) this.drawTexture(still.tex, still.view!, view);
    this.drawTexture(build.tex, view, view);
    gl.bindVertexArray(null);
    if (build.complete) {
      // The finished picture becomes the one kept under the next; the old one is reused for building.
      this.build = this.still;
      this.still = build;
      if (this.build) this.build.view = null;
    }
    return build.complete;
  }

  /** The default framebuffer, cleared white, blending premultiplied colours over it. */
  private toScreen(): void {
    const gl = this.gl;
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
  }

  /**
   * Points into the bound framebuffer: 'exact' (every point in `ranges`, cell order), 'sample' (the first
   * FRAME_POINTS of the shuffled order), or the FRAME_POINTS that follow position `from` of it. Returns how many.
   */
  private drawPoints(view: View, ranges: Array<[number, number]>, what: 'exact' | 'sample' | number): number {
    const gl = this.gl;
    this.usePoints(view);
    if (what === 'exact') {
      gl.bindVertexArray(this.cellVao);
      for (const [a, b] of ranges) gl.drawArrays(gl.POINTS, a, b - a);
      return this.index.n;
    }
    const from = what === 'sample' ? 0 : what;
    const count = Math.min(FRAME_POINTS, this.index.n - from);
    gl.bindVertexArray(this.shuffledVao);
    gl.drawArrays(gl.POINTS, from, count);
    return count;
  }

  private visibleRect(view: View) {
    const pad = this.size / view.scale;
    return {
      x0: -view.tx / view.scale - pad,
      x1: (this.cssW - view.tx) / view.scale + pad,
      y0: (view.ty - this.cssH) / view.scale - pad,
      y1: view.ty / view.scale + pad,
    };
  }

  private usePoints(view: View): void {
    const gl = this.gl;
    const p = this.pointProgram;
    gl.useProgram(p);
    gl.uniform2f(gl.getUniformLocation(p, 'u_scale'), (2 * view.scale) / this.cssW, (2 * view.scale) / this.cssH);
    gl.uniform2f(gl.getUniformLocation(p, 'u_offset'), (2 * view.tx) / this.cssW - 1, 1 - (2 * view.ty) / this.cssH);
    gl.uniform1f(gl.getUniformLocation(p, 'u_size'), this.size * this.dpr);
    gl.uniform1i(gl.getUniformLocation(p, 'u_mode'), this.mode);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.palette);
    gl.uniform1i(gl.getUniformLocation(p, 'u_palette'), 0);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this.gradient);
    gl.uniform1i(gl.getUniformLocation(p, 'u_gradient'), 1);
  }

  /** A texture drawn at view `from` placed on screen at view `to` (moved and scaled). */
  private drawTexture(tex: WebGLTexture, from: View, to: View): void {
    const gl = this.gl;
    const f = to.scale / from.scale;
    const [left, right] = [to.tx - f * from.tx, to.tx + f * (this.cssW - from.tx)];
    const [top, bottom] = [to.ty - f * from.ty, to.ty + f * (this.cssH - from.ty)];
    const cx = (x: number) => (2 * x) / this.cssW - 1;
    const cy = (y: number) => 1 - (2 * y) / this.cssH;
    gl.useProgram(this.quadProgram);
    gl.uniform4f(gl.getUniformLocation(this.quadProgram, 'u_rect'), cx(left), cy(bottom), cx(right), cy(top));
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.uniform1i(gl.getUniformLocation(this.quadProgram, 'u_tex'), 0);
    gl.bindVertexArray(this.quadVao);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  private target(): Target {
    const gl = this.gl;
    const tex = texture(gl);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, this.canvas.width, this.canvas.height, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    const fbo = gl.createFramebuffer()!;
    gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    return { fbo, tex, view: null, version: -1, done: 0, complete: false };
  }

  private dispose(t: Target): void {
    this.gl.deleteFramebuffer(t.fbo);
    this.gl.deleteTexture(t.tex);
  }
}

const sameView = (a: View, b: View) => a.scale === b.scale && a.tx === b.tx && a.ty === b.ty;

function program(gl: WebGL2RenderingContext, vs: string, fs: string): WebGLProgram {
  const p = gl.createProgram()!;
  for (const [type, src] of [
    [gl.VERTEX_SHADER, vs],
    [gl.FRAGMENT_SHADER, fs],
  ] as const) {
    const s = gl.createShader(type)!;
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`map shader: ${gl.getShaderInfoLog(s)}`);
    gl.attachShader(p, s);
  }
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(`map shaders: ${gl.getProgramInfoLog(p)}`);
  return p;
}

function attribute(gl: WebGL2RenderingContext, p: WebGLProgram, name: string, data: ArrayBufferView, size: number, type: number): WebGLBuffer {
  const buffer = gl.createBuffer()!;
  gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
  gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
  const loc = gl.getAttribLocation(p, name);
  gl.enableVertexAttribArray(loc);
  gl.vertexAttribPointer(loc, size, type, false, 0, 0);
  return buffer;
}

function texture(gl: WebGL2RenderingContext): WebGLTexture {
  const t = gl.createTexture()!;
  gl.bindTexture(gl.TEXTURE_2D, t);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  return t;
}

function upload(gl: WebGL2RenderingContext, t: WebGLTexture, rgba: Uint8Array, width: number, filter: number): void {
  gl.bindTexture(gl.TEXTURE_2D, t);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, filter);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, filter);
}
