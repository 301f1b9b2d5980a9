import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, saveCheckpoint, type CheckpointInfo } from '../../src/index.ts';

export const TEST_INFO: CheckpointInfo = {
  arch: 'resnet18',
  classes: ['hotdog', 'nothotdog'],
  imageSize: 64,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
};

export async function tempDir(prefix = 'torchdog-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Writes a freshly initialised (seeded) model as a torchdog checkpoint. */
export async function writeRandomCheckpoint(path: string, info: CheckpointInfo = TEST_INFO, seed = 1): Promise<void> {
  const model = await createModel({ numClasses: info.classes.length, device: 'cpu', seed, threads: 1 });
  try {
    await saveCheckpoint(path, model, info);
  } finally {
    await model.dispose();
  }
}
