// `torchdog train --nproc N [--nnodes M --node-rank R --master HOST:PORT]`:
// the launcher, shaped like torchrun. It starts N worker processes of this
// same command on this machine, each `torchdog train` as one rank of the job
// (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT in its
// environment), and watches them:
// - a worker that exits with an error or is killed stops the job: the
//   launcher names its rank, asks the others to stop (SIGTERM), and kills
//   them after a grace period; workers on other machines fail their next
//   collective, naming the rank that stopped (native/distributed.cc);
// - Ctrl-C (SIGINT/SIGTERM) is passed on to every worker once: they agree
//   on a step, rank 0 writes the checkpoint, and all exit;
// - workers hold an IPC channel to the launcher and stop at once when it
//   goes away, so killing the launcher leaves no orphans.
// Rank 0's stdout (the JSON summary) and stderr (progress) are the
// launcher's; the other ranks print only their errors, prefixed "[rank R]".
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import type { DistributedOptions } from '../train/index.js';
import { freePort } from '../util/index.js';
import { UsageError } from './errors.js';
import { parseIntegerFlag } from './flags.js';

/** The launcher's flags, as parseArgs gives them (strings). */
export interface LaunchFlags {
  nproc?: string;
  nnodes?: string;
  'node-rank'?: string;
  master?: string;
  host?: string;
  timeout?: string;
}

/** The flags the launcher consumes; every other argument goes to the workers as given. */
export const LAUNCH_OPTIONS = {
  nproc: { type: 'string' },
  nnodes: { type: 'string' },
  'node-rank': { type: 'string' },
  master: { type: 'string' },
  host: { type: 'string' },
  timeout: { type: 'string' },
} as const;

const DEFAULT_TIMEOUT_S = 300;
/** How long workers asked to stop get before they are killed, once one rank has failed. */
const GRACE_MS = 10_000;
const WORKER_ENV = 'TORCHDOG_WORKER';

interface Job {
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number | null;
  host: string | null;
  timeout: number;
}

export function parseLaunchFlags(flags: LaunchFlags): Job {
  const nproc = parseIntegerFlag(flags.nproc ?? '1', '--nproc', 1, 1024);
  const nnodes = parseIntegerFlag(flags.nnodes ?? '1', '--nnodes', 1, 65536);
  const nodeRank = parseIntegerFlag(flags['node-rank'] ?? '0', '--node-rank', 0, nnodes - 1);
  if (nnodes > 1 && !flags.master) throw new UsageError('--nnodes > 1 needs --master HOST:PORT (where node 0 listens, reachable from every node)');
  const timeout = Number(flags.timeout ?? DEFAULT_TIMEOUT_S);
  if (!(timeout >= 0.1 && timeout <= 7 * 24 * 3600)) throw new UsageError(`--timeout: expected seconds between 0.1 and 604800 but received ${JSON.stringify(flags.timeout)}`);
  let masterAddr = '127.0.0.1';
  let masterPort: number | null = null;
  if (flags.master) {
    const m = /^(.+):(\d+)$/.exec(flags.master);
    if (!m) throw new UsageError(`--master: expected HOST:PORT but received ${JSON.stringify(flags.master)}`);
    masterAddr = m[1]!.replace(/^\[(.*)\]$/, '$1');
    masterPort = parseIntegerFlag(m[2], '--master port', 1, 65535);
  }
  return { nproc, nnodes, nodeRank, masterAddr, masterPort, host: flags.host ?? null, timeout };
}

/** The launcher's flags taken out of `argv`, in both `--flag value` and `--flag=value` forms. */
export function workerArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = /^--([a-z-]+)(=.*)?$/.exec(arg);
    if (name && name[1]! in LAUNCH_OPTIONS) {
      if (name[2] === undefined) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** Rank options from the environment the launcher gave this worker; null in a process it did not start. */
export function workerOptions(env: NodeJS.ProcessEnv = process.env): DistributedOptions | null {
  if (env[WORKER_ENV] !== '1') return null;
  const timeout = Number(env.TORCHDOG_DIST_TIMEOUT ?? DEFAULT_TIMEOUT_S);
  return {
    rank: Number(env.RANK), worldSize: Number(env.WORLD_SIZE), masterAddr: env.MASTER_ADDR ?? '', masterPort: Number(env.MASTER_PORT),
    // Gloo binds this address, or else the interface PyTorch's GLOO_SOCKET_IFNAME names.
    host: env.TORCHDOG_GLOO_HOST || undefined, interface: env.GLOO_SOCKET_IFNAME || undefined, connectTimeout: timeout, opTimeout: timeout,
  };
}

/** A worker stops at once when its launcher goes away (killed, even with SIGKILL): no orphans. */
export function exitWithLauncher(): void {
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  process.channel?.unref(); // the channel alone must not keep a finished worker alive
}

/** Starts this node's workers and waits for them; resolves to the job's exit status. */
export async function launch(argv: readonly string[], flags: LaunchFlags): Promise<number> {
  const job = parseLaunchFlags(flags);
  const port = job.masterPort ?? (await freePort());
  const host = job.host ?? (await localAddressToward(job.masterAddr, port));
  const world = job.nproc * job.nnodes;
  const args = [...process.execArgv, process.argv[1]!, 'train', ...workerArgs(argv)];
  const workers: Worker[] = [];
  for (let local = 0; local < job.nproc; local++) {
    const rank = job.nodeRank * job.nproc + local;
    const env = {
      ...process.env, [WORKER_ENV]: '1', RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(local),
      MASTER_ADDR: job.masterAddr, MASTER_PORT: String(port), TORCHDOG_GLOO_HOST: host, TORCHDOG_DIST_TIMEOUT: String(job.timeout),
    };
    // Their own process group: a terminal's Ctrl-C reaches them once, from the launcher.
    const child = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', rank === 0 ? 'inherit' : 'ignore', rank === 0 ? 'inherit' : 'pipe', 'ipc'] });
    if (rank !== 0) createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`[rank ${rank}] ${line}\n`));
    workers.push({ rank, child, exit: exitOf(child) });
  }
  return watch(workers);
}

interface Worker {
  rank: number;
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function exitOf(child: ChildProcess): Worker['exit'] {
  return new Promise((resolve) => {
    child.once('error', () => resolve({ code: 1, signal: null }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function watch(workers: Worker[]): Promise<number> {
  let stopping = false;
  let failed: string | null = null;
  let killTimer: NodeJS.Timeout | undefined;
  const running = new Set(workers);
  const signalAll = (signal: NodeJS.Signals) => {
    for (const w of running) w.child.kill(signal);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // First Ctrl-C: every worker stops after an agreed step with a
    // checkpoint; a second one ends them at once.
    if (stopping) signalAll('SIGKILL');
    stopping = true;
    signalAll(signal);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  let status = 0;
  try {
    await Promise.all(workers.map(async (w) => {
      const { code, signal } = await w.exit;
      running.delete(w);
      const ok = code === 0 || (stopping && failed === null && code === 130);
      if (code !== null && code !== 0) status = Math.max(status, code);
      if (signal) status = Math.max(status, 1);
      if (ok || failed !== null) return;
      failed = signal ? `rank ${w.rank} (pid ${w.child.pid}) was killed by ${signal}` : `rank ${w.rank} (pid ${w.child.pid}) exited with status ${code}`;
      process.stderr.write(`torchdog train: ${failed}; stopping the job\n`);
      stopping = true;
      signalAll('SIGTERM');
      killTimer = setTimeout(() => signalAll('SIGKILL'), GRACE_MS);
    }));
  } finally {
    clearTimeout(killTimer);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  return failed !== null ? Math.max(status, 1) : status;
}

/**
 * The local address this machine reaches `host` from (what a UDP socket
 * connected there is bound to; nothing is sent): the address Gloo binds
 * and the other nodes connect to, unless --host says otherwise.
 */
async function localAddressToward(host: string, port: number): Promise<string> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.once('error', (error) => reject(new UsageError(`--master ${host}:${port}: no route from this machine (${error.message}); give --host ADDRESS`)));
      socket.connect(port, host, () => resolve(socket.address().address));
    });
  } finally {
    socket.close();
  }
}
