export type DvcErrorCode =
  /** No .dvc directory in the folder or any parent. */
  | 'ERR_DVC_NOT_A_REPO'
  /** A .dvc file that is missing or not DVC's format. */
  | 'ERR_DVC_FILE'
  /** .dvc/config that cannot be read. */
  | 'ERR_DVC_CONFIG'
  /** A remote name that .dvc/config does not define, or no default remote. */
  | 'ERR_DVC_UNKNOWN_REMOTE'
  /** A remote URL scheme torchdog does not speak (s3://, ssh://, ...). */
  | 'ERR_DVC_UNSUPPORTED_REMOTE'
  /** An object the .dvc file names is not on the remote. */
  | 'ERR_DVC_MISSING_OBJECT'
  /** Bytes whose md5 is not the one they are stored under. */
  | 'ERR_DVC_MD5_MISMATCH'
  /** The remote refused us: no credentials, no permission, no bucket. */
  | 'ERR_DVC_REMOTE_ACCESS'
  /** A transfer failed for another reason (network, disk). */
  | 'ERR_DVC_TRANSFER'
  /** Pull would overwrite workspace files whose content is nowhere else. */
  | 'ERR_DVC_WORKSPACE_MODIFIED'
  /** A workspace path DVC would refuse (outside the repository, unsafe names). */
  | 'ERR_DVC_PATH'
  /** The workspace or the cache cannot be written: read-only, no permission, disk full. Not retried. */
  | 'ERR_DVC_WRITE'
  /** Stopped by the caller's AbortSignal (Ctrl-C); rerunning continues. */
  | 'ERR_DVC_INTERRUPTED';

/** Every failure of the data commands: a message that says what to do, and a code to branch on. */
export class DvcError extends Error {
  constructor(
    readonly code: DvcErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DvcError';
  }
}

/** Errors after which no further transfer can succeed, so the run stops at once. */
export function isFatal(error: DvcError): boolean {
  return error.code === 'ERR_DVC_REMOTE_ACCESS' || error.code === 'ERR_DVC_INTERRUPTED' || error.code === 'ERR_DVC_UNSUPPORTED_REMOTE';
}

// Reasons a local write fails that a user can act on, in words.
const WRITE_REASONS: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/**
 * ERR_DVC_WRITE for a failed local write (`action`: 'write' a file, 'create
 * the folder'), naming `path` as the user knows it (the destination, not the
 * temporary file beside it) and the reason. Anything but a file system error
 * is returned as it is.
 */
export function writeError(error: unknown, path: string, action: 'write' | 'create the folder' = 'write'): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (error instanceof DvcError || typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return error;
  const reason = WRITE_REASONS[code] ?? (error as Error).message;
  return new DvcError('ERR_DVC_WRITE', `cannot ${action} ${path}: ${reason} (${code})`, { cause: error });
}
