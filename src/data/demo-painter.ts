// The embedded demo data set: synthetic top-down "hotdog / not hotdog" photos,
// drawn in JS from a seeded PRNG: the same (label, size, seed) always gives
// the same pixels. The installer (demo.ts) encodes and writes them.
//
// A hotdog is a reddish-brown sausage lying in a tan bun (sometimes with
// mustard/ketchup, on a plate, bent, cropped by the border). Not-hotdogs are
// balls, boxes, triangles, polygons, rings, plates, crescents, and hard
// negatives that share one part or the colours of a hotdog (an empty bun, a
// bare sausage, bun and sausage apart, a sausage-in-bun shape in other
// colours), so neither colour nor shape alone separates the classes.
export const DEMO_CLASSES = ['hotdog', 'nothotdog'] as const;
export type DemoClass = (typeof DEMO_CLASSES)[number];

/**
 * The look of the images: bump it whenever a change here changes a pixel, so
 * the installer replaces sets drawn by an older painter.
 */
export const PAINTER_VERSION = 1;

// ---------------------------------------------------------------------------
// Randomness. Our own PRNG rather than a shared one, so the demo bytes change
// only when this file does. Each image has its own stream, so an image does not
// depend on the order of encoding, on perClass or on testFraction.

function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The seed of image `index` of class `classIndex` in a set generated with `seed`. */
export function demoImageSeed(seed: number, classIndex: number, index: number): number {
  return mix32(mix32(mix32(seed ^ 0x9e3779b9) ^ Math.imul(classIndex + 1, 0x27d4eb2f)) ^ Math.imul(index + 1, 0x165667b1));
}

class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** mulberry32: uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  range(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  sign(): number {
    return this.next() < 0.5 ? -1 : 1;
  }

  angle(): number {
    return this.next() * 2 * Math.PI;
  }

  weighted<T>(entries: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of entries) total += w;
    let r = this.next() * total;
    for (const [value, w] of entries) {
      r -= w;
      if (r < 0) return value;
    }
    return entries[entries.length - 1]![0];
  }
}

// ---------------------------------------------------------------------------
// Colours (0–255 floats).

type Rgb = readonly [number, number, number];

function hsl(hue: number, s: number, l: number): Rgb {
  const h = (((hue % 360) + 360) % 360) / 60;
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs((h % 2) - 1));
  const m = l - c / 2;
  const [r, g, b] = h < 1 ? [c, x, 0] : h < 2 ? [x, c, 0] : h < 3 ? [0, c, x] : h < 4 ? [0, x, c] : h < 5 ? [x, 0, c] : [c, 0, x];
  return [(r + m) * 255, (g + m) * 255, (b + m) * 255];
}

function scale(color: Rgb, f: number): Rgb {
  return [color[0] * f, color[1] * f, color[2] * f];
}

const bunColor = (r: Rng) => hsl(r.range(26, 42), r.range(0.45, 0.75), r.range(0.55, 0.72));
const sausageColor = (r: Rng) => hsl(r.range(358, 380), r.range(0.5, 0.8), r.range(0.27, 0.43));
const mustardColor = (r: Rng) => hsl(r.range(46, 58), r.range(0.85, 1), r.range(0.48, 0.6));
const ketchupColor = (r: Rng) => hsl(r.range(352, 366), r.range(0.75, 0.95), r.range(0.36, 0.46));

/** Any colour; one time in four a food-like one, so colour alone does not give the class away. */
function objectColor(r: Rng): Rgb {
  if (r.chance(0.25)) return r.weighted<(r: Rng) => Rgb>([[bunColor, 1], [sausageColor, 1], [mustardColor, 0.6], [ketchupColor, 0.6]])(r);
  return hsl(r.range(0, 360), r.range(0.2, 0.95), r.range(0.22, 0.78));
}

function backgroundColor(r: Rng): Rgb {
  return r.chance(0.35) ? hsl(r.range(0, 360), r.range(0, 0.15), r.range(0.15, 0.9)) : hsl(r.range(0, 360), r.range(0.1, 0.7), r.range(0.2, 0.85));
}

// ---------------------------------------------------------------------------
// Shapes as signed distance functions (negative inside, in pixels), so edges
// are anti-aliased by a linear ramp over `softness` pixels and shadows are
// the same shape with a wider ramp.

interface Shape {
  /** x0, y0, x1, y1 in pixels. */
  readonly bounds: readonly [number, number, number, number];
  distance(x: number, y: number): number;
}

/** A rotated frame with an optional parabolic bend (v -= bend·u²) for curved sausages and buns. */
class Frame {
  readonly cos: number;
  readonly sin: number;

  constructor(
    readonly cx: number,
    readonly cy: number,
    angle: number,
    readonly bend = 0,
  ) {
    this.cos = Math.cos(angle);
    this.sin = Math.sin(angle);
  }

  v(x: number, y: number): number {
    const dx = x - this.cx;
    const dy = y - this.cy;
    const u = dx * this.cos + dy * this.sin;
    return -dx * this.sin + dy * this.cos - this.bend * u * u;
  }

  toPixel(u: number, v: number): [number, number] {
    const w = v + this.bend * u * u;
    return [this.cx + u * this.cos - w * this.sin, this.cy + u * this.sin + w * this.cos];
  }

  /** Bounds of the local box [-hu, hu]×[-hv, hv], bend included. */
  bounds(hu: number, hv: number): [number, number, number, number] {
    const hvb = hv + Math.abs(this.bend) * hu * hu;
    const ex = Math.abs(hu * this.cos) + Math.abs(hvb * this.sin);
    const ey = Math.abs(hu * this.sin) + Math.abs(hvb * this.cos);
    return [this.cx - ex, this.cy - ey, this.cx + ex, this.cy + ey];
  }
}

function ellipse(f: Frame, a: number, b: number): Shape {
  return {
    bounds: f.bounds(a, b),
    distance(x, y) {
      // Inigo Quilez's cheap ellipse distance: exact on the boundary, close near it.
      const dx = x - f.cx;
      const dy = y - f.cy;
      const u = dx * f.cos + dy * f.sin;
      const v = -dx * f.sin + dy * f.cos - f.bend * u * u;
      const k0 = Math.sqrt((u * u) / (a * a) + (v * v) / (b * b));
      const k1 = Math.sqrt((u * u) / (a * a * a * a) + (v * v) / (b * b * b * b));
      return k1 === 0 ? -Math.min(a, b) : (k0 * (k0 - 1)) / k1;
    },
  };
}

function roundedRect(f: Frame, hu: number, hv: number, radius: number): Shape {
  const r = Math.min(radius, hu, hv);
  return {
    bounds: f.bounds(hu, hv),
    distance(x, y) {
      const dx = x - f.cx;
      const dy = y - f.cy;
      const u = dx * f.cos + dy * f.sin;
      const qx = Math.abs(u) - hu + r;
      const qy = Math.abs(-dx * f.sin + dy * f.cos - f.bend * u * u) - hv + r;
      const ox = Math.max(qx, 0);
      const oy = Math.max(qy, 0);
      return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0) - r;
    },
  };
}

function circle(cx: number, cy: number, radius: number): Shape {
  return {
    bounds: [cx - radius, cy - radius, cx + radius, cy + radius],
    distance: (x, y) => Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy)) - radius,
  };
}

function ring(cx: number, cy: number, radius: number, halfWidth: number): Shape {
  const outer = radius + halfWidth;
  return {
    bounds: [cx - outer, cy - outer, cx + outer, cy + outer],
    distance: (x, y) => Math.abs(Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy)) - radius) - halfWidth,
  };
}

/** A convex polygon: the largest signed distance to its edge lines (exact inside, close outside). */
function convexPolygon(points: readonly (readonly [number, number])[]): Shape {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  // Per edge: a point on it and its outward unit normal.
  const edges = new Float64Array(n * 4);
  points.forEach((p, i) => {
    const q = points[(i + 1) % n]!;
    const len = Math.sqrt((q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2) || 1;
    const flip = (q[1] - p[1]) * (mx - p[0]) - (q[0] - p[0]) * (my - p[1]) > 0 ? -1 : 1;
    edges.set([p[0], p[1], (flip * (q[1] - p[1])) / len, (-flip * (q[0] - p[0])) / len], i * 4);
  });
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return {
    bounds: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)],
    distance(x, y) {
      let d = -Infinity;
      for (let k = 0; k < edges.length; k += 4) d = Math.max(d, (x - edges[k]!) * edges[k + 2]! + (y - edges[k + 1]!) * edges[k + 3]!);
      return d;
    },
  };
}

function regularPolygon(cx: number, cy: number, radius: number, sides: number, angle: number): Shape {
  return convexPolygon(Array.from({ length: sides }, (_, i) => [cx + radius * Math.cos(angle + (2 * Math.PI * i) / sides), cy + radius * Math.sin(angle + (2 * Math.PI * i) / sides)] as const));
}

/** A stroke of `radius` along the line through `points`. */
function polyline(points: readonly (readonly [number, number])[], radius: number): Shape {
  const flat = Float64Array.from(points.flat());
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return {
    bounds: [Math.min(...xs) - radius, Math.min(...ys) - radius, Math.max(...xs) + radius, Math.max(...ys) + radius],
    distance(x, y) {
      let best = Infinity;
      for (let k = 0; k + 3 < flat.length; k += 2) {
        const ax = flat[k]!;
        const ay = flat[k + 1]!;
        const dx = flat[k + 2]! - ax;
        const dy = flat[k + 3]! - ay;
        const len2 = dx * dx + dy * dy;
        const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2));
        const ex = x - ax - t * dx;
        const ey = y - ay - t * dy;
        best = Math.min(best, ex * ex + ey * ey);
      }
      return Math.sqrt(best) - radius;
    },
  };
}

function subtract(a: Shape, b: Shape): Shape {
  return { bounds: a.bounds, distance: (x, y) => Math.max(a.distance(x, y), -b.distance(x, y)) };
}

function translate(s: Shape, dx: number, dy: number): Shape {
  const [x0, y0, x1, y1] = s.bounds;
  return { bounds: [x0 + dx, y0 + dy, x1 + dx, y1 + dy], distance: (x, y) => s.distance(x - dx, y - dy) };
}

/** Brightness factor at a pixel: shading that makes flat fills read as objects. */
type Light = (x: number, y: number) => number;

/** Rounded across the frame's v axis, with a specular streak: sausages, buns, bars. */
function cylinderLight(f: Frame, hv: number, ambient: number, streak: number): Light {
  return (x, y) => {
    const t = Math.max(-1, Math.min(1, f.v(x, y) / hv));
    const s = (t + 0.45) / 0.2;
    return ambient + (1.08 - ambient) * Math.sqrt(1 - t * t) + streak * Math.exp(-s * s);
  };
}

/** A ball lit from the upper left. */
function sphereLight(cx: number, cy: number, radius: number, streak: number): Light {
  return (x, y) => {
    const dx = (x - cx) / radius;
    const dy = (y - cy) / radius;
    const z = Math.sqrt(Math.max(0, 1 - dx * dx - dy * dy));
    const hx = dx + 0.35;
    const hy = dy + 0.35;
    return 0.5 + 0.3 * z + 0.25 * (-0.5 * dx - 0.5 * dy + 0.7 * z) + streak * Math.exp(-(hx * hx + hy * hy) / 0.04);
  };
}

/** A gentle linear ramp for flat objects. */
function rampLight(r: Rng, cx: number, cy: number, extent: number): Light {
  const a = r.angle();
  const g = r.range(-0.25, 0.25) / extent;
  const c = Math.cos(a);
  const s = Math.sin(a);
  return (x, y) => 1 + g * ((x - cx) * c + (y - cy) * s);
}

class Canvas {
  readonly pixels: Float32Array;

  constructor(readonly size: number) {
    this.pixels = new Float32Array(size * size * 3);
  }

  fill(shape: Shape, color: Rgb, opacity = 1, softness = 1, light?: Light): void {
    const n = this.size;
    const margin = softness + 1;
    const x0 = Math.max(0, Math.floor(shape.bounds[0] - margin));
    const y0 = Math.max(0, Math.floor(shape.bounds[1] - margin));
    const x1 = Math.min(n, Math.ceil(shape.bounds[2] + margin));
    const y1 = Math.min(n, Math.ceil(shape.bounds[3] + margin));
    const p = this.pixels;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const cover = 0.5 - shape.distance(x + 0.5, y + 0.5) / softness;
        if (cover <= 0) continue;
        const a = Math.min(1, cover) * opacity;
        const f = light ? light(x + 0.5, y + 0.5) : 1;
        const i = (y * n + x) * 3;
        p[i] = p[i]! + (color[0] * f - p[i]!) * a;
        p[i + 1] = p[i + 1]! + (color[1] * f - p[i + 1]!) * a;
        p[i + 2] = p[i + 2]! + (color[2] * f - p[i + 2]!) * a;
      }
    }
  }

  /** Fills every pixel with a mix of `a` and `b`, weighted by `t(x, y)` in [0, 1] (backgrounds). */
  paint(a: Rgb, b: Rgb, t: (x: number, y: number) => number): void {
    const n = this.size;
    const p = this.pixels;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const w = t(x + 0.5, y + 0.5);
        const i = (y * n + x) * 3;
        p[i] = a[0] + (b[0] - a[0]) * w;
        p[i + 1] = a[1] + (b[1] - a[1]) * w;
        p[i + 2] = a[2] + (b[2] - a[2]) * w;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Scenes.

interface Scene {
  canvas: Canvas;
  r: Rng;
  size: number;
  /** Shadow offset and look, shared by all objects of an image (one light). */
  shadow: { dx: number; dy: number; opacity: number; softness: number } | null;
}

function castShadow(scene: Scene, shape: Shape): void {
  const s = scene.shadow;
  if (s) scene.canvas.fill(translate(shape, s.dx, s.dy), [0, 0, 0], s.opacity, s.softness);
}

function smoothstep(t: number): number {
  const c = Math.max(0, Math.min(1, t));
  return c * c * (3 - 2 * c);
}

function drawBackground(scene: Scene): void {
  const { canvas, r, size } = scene;
  const a = backgroundColor(r);
  const b = r.chance(0.5) ? backgroundColor(r) : scale(a, r.range(0.6, 1.3));
  const angle = r.angle();
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const kind = r.weighted<string>([['solid', 3], ['linear', 3], ['radial', 1.5], ['stripes', 1.5], ['checks', 1], ['gingham', 1], ['blotches', 1.5]]);
  switch (kind) {
    case 'solid':
      canvas.paint(a, b, () => 0);
      break;
    case 'linear':
      canvas.paint(a, b, (x, y) => smoothstep(0.5 + ((x - size / 2) * c + (y - size / 2) * s) / size));
      break;
    case 'radial': {
      const cx = r.range(0, size);
      const cy = r.range(0, size);
      const reach = r.range(0.5, 1.2) * size;
      canvas.paint(a, b, (x, y) => smoothstep(Math.sqrt((x - cx) ** 2 + (y - cy) ** 2) / reach));
      break;
    }
    case 'stripes': {
      const period = r.range(0.06, 0.25) * size;
      const edge = r.range(1.5, 6);
      canvas.paint(a, b, (x, y) => smoothstep(0.5 + edge * Math.sin((2 * Math.PI * (x * c + y * s)) / period)));
      break;
    }
    case 'checks': {
      const period = r.range(0.08, 0.3) * size;
      canvas.paint(a, b, (x, y) => {
        const u = Math.floor((x * c + y * s) / period);
        const v = Math.floor((-x * s + y * c) / period);
        return (u + v) & 1;
      });
      break;
    }
    case 'gingham': {
      const period = r.range(0.08, 0.2) * size;
      const cloth = hsl(r.chance(0.6) ? r.range(350, 370) : r.range(0, 360), r.range(0.5, 0.9), r.range(0.35, 0.55));
      const white: Rgb = [240, 238, 232];
      canvas.paint(white, cloth, (x, y) => ((Math.floor(x / period) & 1) + (Math.floor(y / period) & 1)) / 2);
      break;
    }
    default:
      // Blotches: stone, wood, cloth.
      canvas.paint(a, b, valueNoise(r, size));
  }
}

/** A smooth random field over the image: value noise on a coarse grid, smoothly interpolated. */
function valueNoise(r: Rng, size: number): (x: number, y: number) => number {
  const cells = r.int(3, 8);
  const grid = Array.from({ length: (cells + 1) * (cells + 1) }, () => r.next());
  const at = (i: number, j: number) => grid[j * (cells + 1) + i]!;
  return (x, y) => {
    const gx = (x / size) * cells;
    const gy = (y / size) * cells;
    const i = Math.min(cells - 1, Math.floor(gx));
    const j = Math.min(cells - 1, Math.floor(gy));
    const tx = smoothstep(gx - i);
    const ty = smoothstep(gy - j);
    const top = at(i, j) + (at(i + 1, j) - at(i, j)) * tx;
    const bottom = at(i, j + 1) + (at(i + 1, j + 1) - at(i, j + 1)) * tx;
    return top + (bottom - top) * ty;
  };
}

/** A centre for an object whose half extents are ex, ey: inside the image, or one time in `crop` anywhere near it. */
function place(scene: Scene, ex: number, ey: number, crop: number): [number, number] {
  const { r, size } = scene;
  if (r.chance(crop)) return [r.range(0.08, 0.92) * size, r.range(0.08, 0.92) * size];
  const axis = (e: number) => (e * 2 < size ? r.range(e, size - e) : size / 2 + r.range(-0.1, 0.1) * size);
  return [axis(ex), axis(ey)];
}

function extents(bounds: readonly [number, number, number, number]): [number, number] {
  return [(bounds[2] - bounds[0]) / 2, (bounds[3] - bounds[1]) / 2];
}

function drawPlate(scene: Scene, cx: number, cy: number, radius: number): void {
  const { canvas, r } = scene;
  const base = hsl(r.range(0, 360), r.range(0, 0.25), r.range(0.78, 0.95));
  const plate = circle(cx, cy, radius);
  castShadow(scene, plate);
  canvas.fill(plate, base, 1, 1, rampLight(r, cx, cy, radius));
  canvas.fill(ring(cx, cy, radius * 0.78, Math.max(0.6, radius * 0.03)), scale(base, 0.86), 1, 1.5);
  if (r.chance(0.4)) canvas.fill(ring(cx, cy, radius * 0.93, Math.max(0.5, radius * 0.02)), objectColor(r), 0.8, 1);
}

/** Bun and sausage geometry, shared by hotdogs and their look-alike negatives. */
function hotdogGeometry(scene: Scene, scaleRange: readonly [number, number]) {
  const { r, size } = scene;
  const bunHalf = (r.range(scaleRange[0], scaleRange[1]) * size) / 2;
  const bunWidth = bunHalf * r.range(0.3, 0.46);
  const sausageHalf = bunHalf * r.range(0.85, 1.15);
  const sausageWidth = bunWidth * r.range(0.38, 0.55);
  const bendEnd = r.range(-0.6, 0.6) * sausageWidth;
  return { bunHalf, bunWidth, sausageHalf, sausageWidth, bend: bendEnd / (sausageHalf * sausageHalf), angle: r.angle(), roundBun: r.chance(0.6) };
}

function drawHotdog(scene: Scene): void {
  const { canvas, r, size } = scene;
  const g = hotdogGeometry(scene, [0.35, 0.95]);
  const probe = new Frame(0, 0, g.angle, g.bend);
  const [ex, ey] = extents(probe.bounds(Math.max(g.bunHalf, g.sausageHalf), g.bunWidth));
  const [cx, cy] = place(scene, ex, ey, 0.15);
  if (r.chance(0.15)) drawPlate(scene, cx + r.range(-0.05, 0.05) * size, cy + r.range(-0.05, 0.05) * size, Math.max(ex, ey) * r.range(1.05, 1.3));
  const f = new Frame(cx, cy, g.angle, g.bend);
  const bunTone = bunColor(r);
  const bun = g.roundBun ? ellipse(f, g.bunHalf, g.bunWidth) : roundedRect(f, g.bunHalf, g.bunWidth, g.bunWidth * r.range(0.6, 1));
  castShadow(scene, bun);
  canvas.fill(bun, bunTone, 1, 1, cylinderLight(f, g.bunWidth, r.range(0.6, 0.78), 0.05));
  if (r.chance(0.7)) {
    // The bun's opening: a darker groove the sausage lies in.
    const groove = roundedRect(f, g.sausageHalf * 0.95, g.sausageWidth * r.range(1.15, 1.35), g.sausageWidth * 1.3);
    canvas.fill(groove, scale(bunTone, r.range(0.68, 0.82)), 1, 2.5);
  }
  const sausage = roundedRect(f, g.sausageHalf, g.sausageWidth, g.sausageWidth);
  canvas.fill(translate(sausage, 0, Math.max(0.5, g.sausageWidth * 0.15)), [0, 0, 0], 0.25, 2);
  canvas.fill(sausage, sausageColor(r), 1, 1, cylinderLight(f, g.sausageWidth, r.range(0.55, 0.72), r.range(0.08, 0.25)));
  const toppings: Rgb[] = [];
  if (r.chance(0.55)) toppings.push(mustardColor(r));
  if (r.chance(0.2)) toppings.push(ketchupColor(r));
  for (const color of toppings) {
    const zigs = r.int(3, 9);
    const amp = g.sausageWidth * r.range(0.4, 0.7);
    const wavy = r.chance(0.4);
    const steps = wavy ? zigs * 6 : zigs * 2;
    const points = Array.from({ length: steps + 1 }, (_, i) => {
      const t = i / steps;
      const u = (t * 2 - 1) * g.sausageHalf * 0.85;
      const v = wavy ? amp * Math.sin(t * zigs * 2 * Math.PI) : (i % 2 === 0 ? amp : -amp);
      return f.toPixel(u, v);
    });
    canvas.fill(polyline(points, Math.max(0.7, g.sausageWidth * r.range(0.1, 0.2))), color, 1, 1, rampLight(r, cx, cy, g.sausageHalf));
  }
}

type ObjectKind = 'ball' | 'box' | 'triangle' | 'polygon' | 'ring' | 'plate' | 'crescent' | 'bun' | 'sausage' | 'apart' | 'fakeHotdog';

const GENERIC_OBJECTS: readonly (readonly [ObjectKind, number])[] = [
  ['ball', 2],
  ['box', 2],
  ['triangle', 1.5],
  ['polygon', 1],
  ['ring', 1],
  ['crescent', 0.8],
];

const NEGATIVE_OBJECTS: readonly (readonly [ObjectKind, number])[] = [
  ...GENERIC_OBJECTS,
  ['plate', 1],
  ['bun', 1.5],
  ['sausage', 1.5],
  ['apart', 0.6],
  ['fakeHotdog', 0.8],
];

/** Draws one object of `kind`; its size is drawn from `scaleRange` (a share of the image) first, whatever the kind. */
function drawObject(scene: Scene, kind: ObjectKind, scaleRange: readonly [number, number]): void {
  const extent = (scene.r.range(scaleRange[0], scaleRange[1]) * scene.size) / 2;
  OBJECT_PAINTERS[kind](scene, extent, scaleRange, kind);
}

type ObjectPainter = (scene: Scene, extent: number, scaleRange: readonly [number, number], kind: ObjectKind) => void;

function drawBall(scene: Scene, extent: number): void {
  const { canvas, r } = scene;
  const [cx, cy] = place(scene, extent, extent, 0.1);
  const shape = circle(cx, cy, extent);
  castShadow(scene, shape);
  canvas.fill(shape, objectColor(r), 1, 1, sphereLight(cx, cy, extent, r.range(0, 0.35)));
  if (r.chance(0.3)) canvas.fill(ring(cx, cy, extent * r.range(0.3, 0.7), Math.max(0.6, extent * 0.06)), objectColor(r), 0.9, 1);
}

function drawBox(scene: Scene, extent: number): void {
  const { canvas, r } = scene;
  const angle = r.angle();
  const hu = extent;
  const hv = extent * r.range(0.35, 1);
  const [cx, cy] = place(scene, ...extents(new Frame(0, 0, angle).bounds(hu, hv)), 0.1);
  const shape = roundedRect(new Frame(cx, cy, angle), hu, hv, hv * r.range(0, 0.4));
  castShadow(scene, shape);
  canvas.fill(shape, objectColor(r), 1, 1, rampLight(r, cx, cy, extent));
}

function drawTriangle(scene: Scene, extent: number): void {
  const { canvas, r } = scene;
  const [cx, cy] = place(scene, extent, extent, 0.1);
  const start = r.angle();
  const points = [0, 1, 2].map((k) => {
    const a = start + (2 * Math.PI * k) / 3 + r.range(-0.5, 0.5);
    const rad = extent * r.range(0.7, 1);
    return [cx + rad * Math.cos(a), cy + rad * Math.sin(a)] as const;
  });
  const shape = convexPolygon(points);
  castShadow(scene, shape);
  canvas.fill(shape, objectColor(r), 1, 1, rampLight(r, cx, cy, extent));
}

function drawPolygon(scene: Scene, extent: number): void {
  const { canvas, r } = scene;
  const [cx, cy] = place(scene, extent, extent, 0.1);
  const shape = regularPolygon(cx, cy, extent, r.int(4, 8), r.angle());
  castShadow(scene, shape);
  canvas.fill(shape, objectColor(r), 1, 1, rampLight(r, cx, cy, extent));
}

function drawRing(scene: Scene, extent: number): void {
  const { canvas, r } = scene;
  const [cx, cy] = place(scene, extent, extent, 0.1);
  const halfWidth = extent * r.range(0.1, 0.3);
  const shape = ring(cx, cy, extent - halfWidth, halfWidth);
  castShadow(scene, shape);
  canvas.fill(shape, objectColor(r), 1, 1, rampLight(r, cx, cy, extent));
}

function drawPlateObject(scene: Scene, extent: number): void {
  const [cx, cy] = place(scene, extent * 1.2, extent * 1.2, 0.1);
  drawPlate(scene, cx, cy, extent * 1.2);
}

function drawCrescent(scene: Scene, extent: number): void {
  const { canvas, r } = scene;
  const [cx, cy] = place(scene, extent, extent, 0.1);
  const a = r.angle();
  const shift = extent * r.range(0.3, 0.6);
  const shape = subtract(circle(cx, cy, extent), circle(cx + shift * Math.cos(a), cy + shift * Math.sin(a), extent * r.range(0.85, 1)));
  castShadow(scene, shape);
  const color = r.chance(0.5) ? hsl(r.range(45, 60), r.range(0.7, 0.95), r.range(0.5, 0.65)) : objectColor(r);
  canvas.fill(shape, color, 1, 1, rampLight(r, cx, cy, extent));
}

/** One part of a hotdog alone, drawn exactly as in a hotdog. */
function drawHotdogPart(scene: Scene, _extent: number, scaleRange: readonly [number, number], kind: ObjectKind): void {
  const { canvas, r } = scene;
  const g = hotdogGeometry(scene, scaleRange);
  const isBun = kind === 'bun';
  const hu = isBun ? g.bunHalf : g.sausageHalf;
  const hv = isBun ? g.bunWidth : g.sausageWidth;
  const [cx, cy] = place(scene, ...extents(new Frame(0, 0, g.angle, g.bend).bounds(hu, hv)), 0.15);
  const f = new Frame(cx, cy, g.angle, g.bend);
  const shape = isBun && g.roundBun ? ellipse(f, hu, hv) : roundedRect(f, hu, hv, isBun ? hv * 0.8 : hv);
  castShadow(scene, shape);
  const tone = isBun ? bunColor(r) : sausageColor(r);
  canvas.fill(shape, tone, 1, 1, cylinderLight(f, hv, r.range(0.55, 0.75), isBun ? 0.05 : r.range(0.08, 0.25)));
  if (isBun && r.chance(0.6)) canvas.fill(roundedRect(f, hu * 0.85, hv * r.range(0.3, 0.55), hv), scale(tone, r.range(0.68, 0.82)), 1, 2.5);
}

/** Both parts of a hotdog, side by side instead of one in the other. */
function drawApart(scene: Scene, _extent: number, scaleRange: readonly [number, number]): void {
  drawObject(scene, 'bun', [scaleRange[0] * 0.8, scaleRange[1] * 0.8]);
  drawObject(scene, 'sausage', [scaleRange[0] * 0.8, scaleRange[1] * 0.8]);
}

/** A hotdog's shape in colours no hotdog has. */
function drawFakeHotdog(scene: Scene, _extent: number, scaleRange: readonly [number, number]): void {
  const { canvas, r } = scene;
  const g = hotdogGeometry(scene, scaleRange);
  const [cx, cy] = place(scene, ...extents(new Frame(0, 0, g.angle, g.bend).bounds(g.bunHalf, g.bunWidth)), 0.15);
  const f = new Frame(cx, cy, g.angle, g.bend);
  const outer = g.roundBun ? ellipse(f, g.bunHalf, g.bunWidth) : roundedRect(f, g.bunHalf, g.bunWidth, g.bunWidth * 0.8);
  castShadow(scene, outer);
  canvas.fill(outer, hsl(r.range(70, 330), r.range(0.3, 0.9), r.range(0.35, 0.75)), 1, 1, cylinderLight(f, g.bunWidth, 0.7, 0.05));
  const inner = roundedRect(f, g.sausageHalf, g.sausageWidth, g.sausageWidth);
  canvas.fill(inner, hsl(r.range(70, 330), r.range(0.3, 0.9), r.range(0.25, 0.6)), 1, 1, cylinderLight(f, g.sausageWidth, 0.6, 0.15));
}

const OBJECT_PAINTERS: Record<ObjectKind, ObjectPainter> = {
  ball: drawBall,
  box: drawBox,
  triangle: drawTriangle,
  polygon: drawPolygon,
  ring: drawRing,
  plate: drawPlateObject,
  crescent: drawCrescent,
  bun: drawHotdogPart,
  sausage: drawHotdogPart,
  apart: drawApart,
  fakeHotdog: drawFakeHotdog,
};

function xorshift32(s: number): number {
  s ^= s << 13;
  s ^= s >>> 17;
  return s ^ (s << 5);
}

/** Triangular noise in (-1, 1) from the two halves of a 32-bit state (sd ≈ 0.41). */
function triangular(s: number): number {
  return ((s & 0xffff) + ((s >>> 16) & 0xffff) - 65535) / 65535;
}

/** Colour cast, contrast, brightness, vignette and grain; then rounds to uint8 RGB. */
function finish(scene: Scene): Buffer {
  const { r, size } = scene;
  const p = scene.canvas.pixels;
  const [g0, g1, g2] = [r.range(0.9, 1.1), r.range(0.9, 1.1), r.range(0.9, 1.1)];
  const contrast = r.range(0.8, 1.15);
  const brightness = r.range(-20, 20);
  const amp = r.range(2, 20);
  const lumaShare = r.range(0.3, 0.7);
  const vignette = r.chance(0.3) ? r.range(0.2, 0.5) : 0;
  // Per-pixel noise from an inline xorshift: Rng calls here would dominate the generation time.
  let state = Math.floor(r.next() * 0xffffffff) | 1;
  const out = new Uint8ClampedArray(p.length); // rounds and clamps on store
  for (let y = 0; y < size; y++) {
    const dy = (y + 0.5) / size - 0.5;
    for (let x = 0; x < size; x++) {
      const dx = (x + 0.5) / size - 0.5;
      const shade = 1 - vignette * (dx * dx + dy * dy) * 2;
      const gain = contrast * shade;
      state = xorshift32(state);
      const offset = (128 - 128 * contrast + brightness) * shade + triangular(state) * amp * lumaShare;
      const chroma = amp * (1 - lumaShare);
      const i = (y * size + x) * 3;
      state = xorshift32(state);
      out[i] = p[i]! * g0 * gain + offset + triangular(state) * chroma;
      state = xorshift32(state);
      out[i + 1] = p[i + 1]! * g1 * gain + offset + triangular(state) * chroma;
      state = xorshift32(state);
      out[i + 2] = p[i + 2]! * g2 * gain + offset + triangular(state) * chroma;
    }
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Draws one demo image as `size`×`size`×3 uint8 RGB (HWC); the same
 * (label, size, seed) always gives the same pixels.
 */
export function renderDemoImage(label: DemoClass, size: number, seed: number): Buffer {
  const r = new Rng(seed);
  const scene: Scene = { canvas: new Canvas(size), r, size, shadow: null };
  drawBackground(scene);
  if (r.chance(0.65)) {
    const a = r.angle();
    const d = r.range(0.015, 0.05) * size;
    scene.shadow = { dx: d * Math.cos(a), dy: d * Math.sin(a), opacity: r.range(0.2, 0.45), softness: r.range(0.03, 0.08) * size };
  }
  if (label === 'hotdog') {
    const extra = r.chance(0.25) ? r.weighted(GENERIC_OBJECTS) : null;
    const extraFirst = r.chance(0.5);
    if (extra && extraFirst) drawObject(scene, extra, [0.15, 0.4]);
    drawHotdog(scene);
    if (extra && !extraFirst) drawObject(scene, extra, [0.12, 0.3]);
  } else {
    const count = r.chance(0.35) ? 2 : 1;
    for (let k = 0; k < count; k++) drawObject(scene, r.weighted(NEGATIVE_OBJECTS), count === 1 ? [0.3, 0.85] : [0.2, 0.55]);
  }
  return finish(scene);
}
