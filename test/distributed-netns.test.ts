// Two "machines": two network namespaces joined by a veth pair, one rank in
// each (`--nnodes 2`), each started by its own launcher. The job trains to
// the end; then a rank killed mid-epoch makes the other machine's rank fail
// naming it, and --resume on both completes the run. Needs root and
// iproute2 (`ip`); skipped with the reason otherwise. The namespaces are
// removed whatever happens.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { generateDemoData } from '../src/data/index.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { torchdog, type CliResult } from './helpers/dvc.ts';

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

function whyNot(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to make network namespaces';
  try {
    ip('-V');
  } catch {
    return "needs iproute2's `ip`";
  }
  return false;
}
const skip = whyNot();

const TINY = ['data.image_size=32', 'train.threads=1', 'train.device=cpu', 'data.workers=1', 'train.log_every=1', 'train.batch_size=2'];
const NS = [`tdA${process.pid}`, `tdB${process.pid}`];
const ADDR = ['10.213.0.1', '10.213.0.2'];

function makeMachines(): void {
  for (const ns of NS) ip('netns', 'add', ns);
  ip('link', 'add', `veA${process.pid}`, 'netns', NS[0]!, 'type', 'veth', 'peer', 'name', `veB${process.pid}`, 'netns', NS[1]!);
  ['A', 'B'].forEach((side, i) => {
    const exec = ['netns', 'exec', NS[i]!, 'ip'];
    ip(...exec, 'addr', 'add', `${ADDR[i]}/24`, 'dev', `ve${side}${process.pid}`);
    ip(...exec, 'link', 'set', `ve${side}${process.pid}`, 'up');
    ip(...exec, 'link', 'set', 'lo', 'up');
  });
}

function removeMachines(): void {
  for (const ns of NS) {
    try {
      // Whatever still runs in a namespace goes with it.
      const pids = ip('netns', 'pids', ns).trim().split('\n').filter(Boolean);
      for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      ip('netns', 'del', ns);
    } catch {
      // not made, or already gone
    }
  }
}

/** Both machines' launchers for one job: node 0 in namespace A (the master), node 1 in B. */
function job(args: string[], cwd: string, port: number, onStderr?: (node: number, text: string) => void): Promise<CliResult[]> {
  return Promise.all([0, 1].map((node) =>
    torchdog(['train', '--nproc', '1', '--nnodes', '2', '--node-rank', String(node), '--master', `${ADDR[0]}:${port}`, '--timeout', '60', ...args], cwd, {}, {
      prefix: ['ip', 'netns', 'exec', NS[node]!],
      onStderr: onStderr ? (text) => onStderr(node, text) : undefined,
    })));
}

test('one rank on each of two machines: trains to the end; a rank killed mid-epoch fails the other naming it; --resume completes', { skip, timeout: 180_000 }, async (t) => {
  t.after(removeMachines);
  removeMachines();
  makeMachines();
  const work = await tempDir('torchdog-dist-netns-');
  t.after(() => rm(work, { recursive: true, force: true }));
  const data = (await generateDemoData(join(work, 'demo'), { perClass: 12, size: 32 })).root;
  const common = [`data.root=${data}`, `output.dir=${join(work, 'runs')}`, ...TINY];

  const whole = await job([...common, 'output.name=whole', 'train.epochs=1'], work, 29531);
  whole.forEach((r, node) => assert.equal(r.code, 0, `node ${node}: ${r.stderr}`));
  const summary = JSON.parse(whole[0]!.stdout.trim().split('\n').at(-1)!);
  assert.equal(summary.epochs, 1);
  assert.equal(whole[1]!.stdout.trim(), '', 'node 1 (rank 1) prints no summary');
  const steps = Math.ceil(summary.n_train / 4);
  assert.match(whole[0]!.stderr, new RegExp(`epoch 1/1 step ${steps}/${steps} `), `${summary.n_train} images as 2 machines × 2 per step`);

  // Kill rank 1's worker (namespace B) during epoch 2.
  let killed = false;
  const broken = await job([...common, 'output.name=broken', 'train.epochs=2'], work, 29532, (node, text) => {
    if (node !== 0 || killed || !/epoch 2\/2 step 2\//.test(text)) return;
    killed = true;
    const workers = ip('netns', 'pids', NS[1]!).trim().split('\n').map(Number)
      .filter((pid) => /(^|\0)RANK=1(\0|$)/.test(readEnviron(pid)));
    for (const pid of workers) process.kill(pid, 'SIGKILL');
  });
  assert.ok(killed, broken[0]!.stderr);
  assert.notEqual(broken[0]!.code, 0);
  assert.match(broken[0]!.stderr, /rank 0 of 2: .*failed: rank 1 has stopped/);
  assert.match(broken[1]!.stderr, /rank 1 \(pid \d+\) was killed by SIGKILL/);
  const state = JSON.parse(await readFile(join(work, 'runs', 'broken', 'state.json'), 'utf8'));
  assert.equal(state.epoch, 1, 'the last checkpoint: the end of epoch 1');

  const resumed = await job(['--resume', join(work, 'runs', 'broken'), ...TINY], work, 29533);
  resumed.forEach((r, node) => assert.equal(r.code, 0, `node ${node}: ${r.stderr}`));
  assert.match(resumed[0]!.stderr, /resume: .* at epoch 2, step 0/);
  assert.equal(JSON.parse(resumed[0]!.stdout.trim().split('\n').at(-1)!).epochs, 2);
});

function readEnviron(pid: number): string {
  try {
    return execFileSync('cat', [`/proc/${pid}/environ`], { encoding: 'utf8' });
  } catch {
    return '';
  }
}
