// Shared by the service tests: a small model, a forward-pass spy with a gate,
// and request builders for app.request().
import { join } from 'node:path';
import { Classifier, type CheckpointInfo, type Prediction } from '../../src/index.ts';
import type { ServeClassifier } from '../../src/serve/index.ts';
import { TEST_INFO, tempDir, writeRandomCheckpoint } from './checkpoint.ts';

/** Loads a fresh 64x64 (or `info`) random checkpoint on the CPU, one thread. */
export async function testClassifier(info: CheckpointInfo = TEST_INFO, options: { maxPixels?: number } = {}): Promise<Classifier> {
  const dir = await tempDir('torchdog-serve-');
  const path = join(dir, 'model.safetensors');
  await writeRandomCheckpoint(path, info);
  return Classifier.load(path, { device: 'cpu', threads: 1, ...options });
}

export interface Spy {
  classifier: ServeClassifier;
  /** The size of every forward pass, in order. */
  batches: number[];
  /** Resolves when the next forward pass starts. */
  nextPass(): Promise<number>;
  /** While closed, forward passes wait; open() lets them (and later ones) through. */
  close(): void;
  open(): void;
}

/** Wraps a classifier to count forward passes and, when closed, hold them. */
export function spy(inner: Classifier): Spy {
  const batches: number[] = [];
  let gate: Promise<void> = Promise.resolve();
  let openGate = () => {};
  let passWaiters: ((size: number) => void)[] = [];
  const classifier: ServeClassifier = {
    info: inner.info,
    device: inner.device,
    decode: (bytes) => inner.decode(bytes),
    async predictPixels(images: readonly Uint8Array[]): Promise<Prediction[]> {
      batches.push(images.length);
      for (const wake of passWaiters) wake(images.length);
      passWaiters = [];
      await gate;
      return inner.predictPixels(images);
    },
  };
  return {
    classifier,
    batches,
    nextPass: () => new Promise((resolve) => passWaiters.push(resolve)),
    close() {
      gate = new Promise((resolve) => (openGate = resolve));
    },
    open() {
      openGate();
      gate = Promise.resolve();
    },
  };
}

/** A multipart/form-data body with one file field. */
export function form(field: string, bytes: Uint8Array, filename = 'image.jpg', type = 'image/jpeg'): FormData {
  const body = new FormData();
  body.append(field, new Blob([bytes as Uint8Array<ArrayBuffer>], { type }), filename);
  return body;
}

/** A POST with `body` (bytes, text, a form or a stream). */
export function post(body: BodyInit | Uint8Array | null, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', body: body as BodyInit | null, headers };
}

export async function json(response: Response): Promise<any> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`not JSON (status ${response.status}): ${text.slice(0, 200)}`);
  }
}
