// Uploading a finished run to Cloud Storage (`output.gcs`), as the seed
// project did: every file of the run directory under PREFIX/<run name>/.
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { childLocation, createStorage, formatGsUri, gcsUploadFile, parseGsUri, type GcsClientOptions } from '../cloud/index.js';
import { mapLimit } from '../util/index.js';

export interface RunUpload {
  /** gs:// URI of the uploaded run folder. */
  uri: string;
  files: string[];
}

export async function uploadRun(runDir: string, destination: string, options: GcsClientOptions = {}): Promise<RunUpload> {
  const target = childLocation(parseGsUri(destination, 'output.gcs'), basename(runDir));
  const storage = await createStorage(options);
  const entries = await readdir(runDir, { withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => e.name).sort();
  await mapLimit(files, 4, async (name) => {
    const path = join(runDir, name);
    await gcsUploadFile(storage, childLocation(target, name), path, (await stat(path)).size);
  });
  return { uri: formatGsUri(target), files };
}
