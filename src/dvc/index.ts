// Data versioning compatible with DVC 3: .dvc files, .dvc/config remotes
// (local folders, gs://), the md5 cache, .dvcignore. No Python needed.
export { pull, type PullOptions, type PullResult, type PulledOut } from './pull.js';
export { push, type PushOptions, type PushResult, type PushedOut } from './push.js';
export { status, type StatusOptions, type StatusResult, type OutStatus, type Changes } from './status.js';
export { DvcError, type DvcErrorCode } from './errors.js';
export type { ProgressEvent, ProgressListener, Phase } from './transfer.js';
export { openRepo, findDvcFiles, type DvcRepo } from './repo.js';
export { readDvcFile, parseDvcFile, serializeDvcFile, type DvcFile, type DvcOut } from './dvcfile.js';
export { readDvcConfig, parseDvcConfig, remoteConfig, remoteNames, defaultRemoteName, type DvcConfig, type RemoteConfig } from './config.js';
export { dirObjectBytes, dirOid, md5File, pythonJsonString, parseDirObject, type DirEntry } from './hash.js';
export { compileIgnorePattern, IgnoreFilter } from './ignore.js';
export { objectKey } from './objects.js';
export { openRemote, type Remote } from './remote.js';
