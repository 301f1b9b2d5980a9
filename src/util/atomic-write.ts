// Replacing a file so that a reader sees the old bytes or the new, never half
// of them, and a crash or an error leaves no stray file: the new content is
// made under a temporary name beside the target (the same folder, so the
// rename stays on one file system and is atomic), then renamed over it; on
// failure the temporary file is removed and the target is as it was.
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The names of our temporary files: a leftover of a killed process matches this. */
export const TEMP_FILE = /^\..+\.torchdog-[0-9a-f]{8}\.tmp$/;

/**
 * How long a temporary file must have gone unwritten before it counts as a
 * killed process's leftover (the name carries no process id; a live writer
 * keeps its file fresh). Housekeeping in train and in DVC sweeps by it.
 */
export const STALE_TEMP_MS = 10 * 60_000;

/** A fresh hidden name beside `path` that matches {@link TEMP_FILE}. */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.torchdog-${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Calls `create(temp)` to make the new file (or link) at a temporary path
 * beside `path`, then renames it onto `path`. If `create` or the rename fails,
 * the temporary path is removed and the error rethrown, leaving `path` as it
 * was. Resolves to what `create` resolved to.
 */
export async function replaceAtomically<T>(path: string, create: (temp: string) => Promise<T>): Promise<T> {
  const temp = tempPathBeside(path);
  try {
    const result = await create(temp);
    await rename(temp, path);
    return result;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** What {@link writeFileAtomic} writes: text (UTF-8), bytes, or chunks of bytes, possibly produced on the way. */
export type FileContent = string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface WriteFileAtomicOptions {
  /** Permissions of the new file (before the umask); default 0o644. */
  mode?: number;
}

/**
 * Writes `content` to `path` through a temporary file in the same folder,
 * flushed to disk (fdatasync) before it is renamed into place: readers never
 * see half a file, and after a crash the old file or the new one is there.
 * A content source that throws midway leaves the old file and no temporary one.
 */
export async function writeFileAtomic(path: string, content: FileContent, options: WriteFileAtomicOptions = {}): Promise<void> {
  await replaceAtomically(path, async (temp) => {
    // 'wx': never write through something already at the temporary name.
    const handle = await open(temp, 'wx', options.mode ?? 0o644);
    try {
      for await (const chunk of chunksOf(content)) await writeAll(handle, chunk);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  });
}

function chunksOf(content: FileContent): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  if (typeof content === 'string') return [Buffer.from(content, 'utf8')];
  if (content instanceof Uint8Array) return [content];
  return content;
}

/** One write(2) may take fewer bytes than asked (a chunk of gigabytes does): write the rest. */
async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}
