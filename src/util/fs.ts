// Yes/no questions about paths; a path that cannot be stat'ed answers no.
import { stat } from 'node:fs/promises';

export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

export async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

export async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}
