// `torchdog data pull|status|push`: DVC-compatible data versioning. Progress
// and summaries go to stderr; stdout gets one JSON line (pull, push) or the
// status report.
import { parseArgs } from 'node:util';
import { DvcError, pull, push, status, type OutStatus, type ProgressEvent, type PulledOut, type PushedOut } from '../dvc/index.js';
import { UsageError } from './errors.js';
import { parseIntegerFlag } from './flags.js';
import { clock, ProgressBar, type ProgressStream } from './progress.js';
import { DATA_USAGE } from './usage.js';

type Writable = ProgressStream;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

const PHASE_WORDS: Record<ProgressEvent['phase'], [string, string]> = {
  hashing: ['hashing', 'files'],
  checking: ['checking remote', 'objects'],
  downloading: ['pulling', 'files'],
  uploading: ['pushing', 'objects'],
};

/**
 * Off a terminal (CI logs, pipes), a phase prints a line once this long has
 * passed since its start or its last line, and one when it finishes: a
 * transfer of a second prints one line per phase, a long one a line every
 * few seconds with its rate and ETA.
 */
export const kPlainLineIntervalMs = 5000;

/** A redrawn bar on a terminal; on a pipe, a line every kPlainLineIntervalMs and one at the end of each phase. */
export class TransferProgress {
  private readonly bar: ProgressBar;
  private phaseKey = '';
  private started = 0;
  private lastLine = 0;
  private finishedShown = false;

  constructor(
    stream: Writable = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.bar = new ProgressBar(stream, now);
  }

  update(e: ProgressEvent): void {
    const key = `${e.phase}:${e.target}`;
    const t = this.now();
    if (key !== this.phaseKey) {
      this.phaseKey = key;
      this.started = t;
      this.lastLine = t;
      this.finishedShown = false;
    }
    if (e.total === 0) return;
    const finished = e.done >= e.total;
    if (finished && this.finishedShown) return;
    const [verb, noun] = PHASE_WORDS[e.phase];
    const elapsed = (t - this.started) / 1000;
    const rate = elapsed > 0 ? e.bytes / elapsed : 0;
    const eta = e.done > 0 && !finished ? (elapsed / e.done) * (e.total - e.done) : finished ? 0 : NaN;
    const text =
      `${verb} ${e.target}: ${e.done}/${e.total} ${noun}` +
      (e.bytes > 0 ? `, ${formatBytes(e.bytes)}${elapsed > 0.5 ? ` at ${formatBytes(rate)}/s` : ''}` : '') +
      (finished ? '' : `, ETA ${clock(eta)}`);
    if (this.bar.tty) {
      this.bar.draw(e.done, e.total, text);
      if (finished) {
        this.finishedShown = true;
        this.bar.end();
      }
      return;
    }
    if (!finished && t - this.lastLine < kPlainLineIntervalMs) return;
    this.lastLine = t;
    this.finishedShown = finished;
    this.bar.line(text);
  }

  /** A line that stays. */
  line(text: string): void {
    this.bar.line(text);
  }

  end(): void {
    this.bar.end();
  }
}

function pulledLine(o: PulledOut, seconds: number): string {
  const parts = [`${o.downloaded} downloaded (${formatBytes(o.downloadedBytes)})${o.remote ? ` from '${o.remote}'` : ''}`, `${o.fromCache} from the cache`, `${o.unchanged} already in place`];
  return `${o.dvcFile} → ${o.path}: ${o.files} files; ${parts.join(', ')} (${seconds.toFixed(1)} s)`;
}

function pushedLine(o: PushedOut, seconds: number): string {
  const what = o.nfiles === null ? formatBytes(o.size) : `${o.nfiles} files, ${formatBytes(o.size)}`;
  const remote = o.remote ? `; ${o.uploaded} objects uploaded (${formatBytes(o.uploadedBytes)}) to '${o.remote}', ${o.present} already there` : '; not pushed (push: false)';
  return `${o.path} → ${o.dvcFile} ${o.changed ? 'updated' : 'unchanged'}: ${o.md5} (${what})${remote} (${seconds.toFixed(1)} s)`;
}

const LIST_LIMIT = 20;

export function formatStatus(outs: readonly OutStatus[]): string {
  const lines: string[] = [];
  for (const o of outs) {
    lines.push(`${o.dvcFile}  ${o.path}`);
    const e = o.expected;
    const version = e.md5 ? `${e.md5}${e.nfiles !== null ? `  ${e.nfiles} files` : ''}${e.size !== null ? `  ${formatBytes(e.size)}` : ''}` : 'none yet';
    lines.push(`  version    ${version}`);
    const c = o.changes;
    const counts = c ? `${c.added.length} added, ${c.modified.length} modified, ${c.deleted.length} deleted` : 'details need the listing: --cloud fetches it';
    const workspace = {
      unchanged: 'up to date',
      missing: `missing: 'torchdog data pull' fetches it`,
      new: `not versioned yet: 'torchdog data push' versions it`,
      modified: `modified (${counts}): 'torchdog data push' versions the workspace, 'torchdog data pull --force' restores ${o.dvcFile}'s version`,
    }[o.workspace];
    lines.push(`  workspace  ${workspace}`);
    if (c && o.workspace === 'modified') {
      for (const [label, list] of [['added', c.added], ['modified', c.modified], ['deleted', c.deleted]] as const) {
        for (const path of list.slice(0, LIST_LIMIT)) lines.push(`    ${label.padEnd(9)}${path}`);
        if (list.length > LIST_LIMIT) lines.push(`    ${label.padEnd(9)}… and ${list.length - LIST_LIMIT} more (--json lists all)`);
      }
    }
    lines.push(`  cache      ${o.cache ? `${o.cache.present} of ${o.cache.total} files` : o.expected.md5 ? 'listing not cached' : '-'}`);
    lines.push(`  remote     ${o.remote ? `${o.remote.present} of ${o.remote.total} files in '${o.remote.name}' (${o.remote.url})` : 'not checked (--cloud checks it)'}`);
  }
  return `${lines.join('\n')}\n`;
}

function snakeStatus(o: OutStatus): Record<string, unknown> {
  return { dvc_file: o.dvcFile, path: o.path, expected: o.expected, workspace: o.workspace, current: o.current, changes: o.changes, cache: o.cache, remote: o.remote };
}

export async function dataCommand(argv: string[], out: Writable = process.stdout, err: Writable = process.stderr): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      remote: { type: 'string', short: 'r' },
      jobs: { type: 'string', short: 'j', default: '16' },
      force: { type: 'boolean', short: 'f' },
      cloud: { type: 'boolean', short: 'c' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [sub, ...targets] = positionals;
  if (values.help || sub === 'help') {
    out.write(DATA_USAGE);
    return 0;
  }
  if (sub === undefined) throw new UsageError(`give a subcommand: pull, status or push\n\n${DATA_USAGE}`);
  if (!['pull', 'status', 'push'].includes(sub)) throw new UsageError(`unknown subcommand '${sub}' (expected pull, status or push)\n\n${DATA_USAGE}`);
  const jobs = parseIntegerFlag(values.jobs, '--jobs', 1, 256);
  if (values.force && sub !== 'pull') throw new UsageError('--force applies to pull only');
  if ((values.cloud || values.json) && sub !== 'status') throw new UsageError(`${values.cloud ? '--cloud' : '--json'} applies to status only`);

  const progress = new TransferProgress(err);
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    progress.line('stopping: finishing the transfers in flight (Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const common = {
    ...(targets.length ? { targets } : {}),
    ...(values.remote !== undefined ? { remote: values.remote } : {}),
    jobs,
    signal: controller.signal,
    onProgress: (e: ProgressEvent) => progress.update(e),
  };
  try {
    if (sub === 'pull') {
      const result = await pull({ ...common, force: values.force ?? false });
      for (const o of result.outs) {
        progress.line(pulledLine(o, result.seconds));
        if (o.extra.length > 0) progress.line(`${o.path}: ${o.extra.length} file(s) not in ${o.dvcFile} left alone ('torchdog data status' lists them)`);
      }
      const outs = result.outs.map((o) => ({
        dvc_file: o.dvcFile,
        path: o.path,
        md5: o.md5,
        remote: o.remote,
        files: o.files,
        unchanged: o.unchanged,
        from_cache: o.fromCache,
        downloaded: o.downloaded,
        downloaded_bytes: o.downloadedBytes,
        extra: o.extra.length,
      }));
      out.write(`${JSON.stringify({ command: 'pull', outs, seconds: Number(result.seconds.toFixed(3)) })}\n`);
      return 0;
    }
    if (sub === 'push') {
      const result = await push(common);
      for (const o of result.outs) progress.line(pushedLine(o, result.seconds));
      const outs = result.outs.map((o) => ({
        dvc_file: o.dvcFile,
        path: o.path,
        md5: o.md5,
        size: o.size,
        nfiles: o.nfiles,
        remote: o.remote,
        uploaded: o.uploaded,
        uploaded_bytes: o.uploadedBytes,
        present: o.present,
        changed: o.changed,
      }));
      out.write(`${JSON.stringify({ command: 'push', outs, seconds: Number(result.seconds.toFixed(3)) })}\n`);
      return 0;
    }
    const result = await status({ ...common, cloud: values.cloud ?? false });
    progress.end();
    out.write(values.json ? `${JSON.stringify({ command: 'status', clean: result.clean, outs: result.outs.map(snakeStatus) })}\n` : formatStatus(result.outs));
    return 0;
  } catch (error) {
    progress.end();
    if (error instanceof DvcError && error.code === 'ERR_DVC_INTERRUPTED') throw new UsageError(`${sub}: ${error.message}`, 130);
    if (error instanceof DvcError) throw new UsageError(`${sub}: ${error.message}`, 1);
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
