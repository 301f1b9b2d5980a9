// `torchdog train --nproc N`: the launcher on this machine. Two ranks train
// to the end with one run directory and take the steps of 1 rank × 2B; a
// killed rank stops the job naming it, and the run resumes under another
// --nproc; Ctrl-C leaves a checkpoint that resumes; a master nobody answers
// fails after --timeout with no process left behind.
import { after, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { generateDemoData } from '../src/data/index.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { torchdog, type CliResult } from './helpers/dvc.ts';
import { parseLaunchFlags, workerArgs, type LaunchFlags } from '../src/cli/launch.ts';
import { UsageError } from '../src/cli/errors.ts';

const TINY = ['data.image_size=32', 'train.threads=1', 'train.device=cpu', 'data.workers=1', 'train.log_every=1'];
const SAME_BATCHES = ['train.augment.hflip=false', 'train.augment.crop_scale=null'];

const work = await tempDir('torchdog-dist-cli-');
after(() => rm(work, { recursive: true, force: true })); // a few hundred MB of checkpoints
const data = (await generateDemoData(join(work, 'demo'), { perClass: 12, size: 32 })).root; // 20 train / 4 val images

const summaryOf = (r: CliResult) => JSON.parse(r.stdout.trim().split('\n').at(-1)!);
const metricsOf = async (runDir: string) => (await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));

/** The pids of `parent`'s children, with their RANK. */
function children(parent: number): Array<{ pid: number; rank: number }> {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-P', String(parent)], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out.trim().split('\n').filter(Boolean).map(Number).map((pid) => {
    const env = readFileSyncSafe(`/proc/${pid}/environ`).split('\0');
    return { pid, rank: Number(env.find((e) => e.startsWith('RANK='))?.slice(5) ?? -1) };
  });
}

function readFileSyncSafe(path: string): string {
  try {
    return execFileSync('cat', [path], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

/** Processes still running anything with `marker` on their command line (a job's own output dir). */
function leftOver(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', marker], { encoding: 'utf8' }).trim().split('\n').filter((l) => l && !l.includes('pgrep'));
  } catch {
    return [];
  }
}

/**
 * A copy of `root` where every image is the same picture: BatchNorm's batch
 * statistics are then the same over any subset of a batch, so N ranks × B
 * must compute exactly what 1 rank × N·B does (labels still differ).
 */
async function oneImageSet(root: string): Promise<string> {
  const copy = join(work, 'one-image');
  await generateDemoData(copy, { perClass: 12, size: 32 });
  const files = (await readdir(copy, { recursive: true })).filter((f) => /\.(png|jpe?g)$/.test(f)).sort();
  const [first] = (await readdir(root, { recursive: true })).filter((f) => /\.(png|jpe?g)$/.test(f)).sort();
  for (const f of files) await copyFile(join(root, first!), join(copy, f));
  return copy;
}

test('2 ranks × batch 8 take the steps of 1 rank × batch 16 (BatchNorm statistics made batch-independent; per rank otherwise)', async () => {
  const out = join(work, 'equivalence');
  const common = [`data.root=${await oneImageSet(data)}`, `output.dir=${out}`, 'train.epochs=3', ...TINY, ...SAME_BATCHES];
  const [one, two] = [
    await torchdog(['train', 'train.batch_size=16', 'output.name=one', ...common], work),
    await torchdog(['train', '--nproc', '2', 'train.batch_size=8', 'output.name=two', ...common], work),
  ];
  assert.equal(one.code, 0, one.stderr);
  assert.equal(two.code, 0, two.stderr);
  // The job as a whole: rank 0's summary alone, one run directory, the job's images.
  assert.equal(two.stdout.trim().split('\n').length, 1, "one summary: rank 0's");
  assert.equal(summaryOf(two).epochs, 3);
  assert.deepEqual((await readdir(out)).sort(), ['latest', 'one', 'two']);
  const state = JSON.parse(await readFile(join(out, 'two', 'state.json'), 'utf8'));
  assert.equal(state.epoch, 3);
  assert.equal((await metricsOf(join(out, 'two')))[0].train_acc * 20 % 1, 0, 'accuracy counts the 20 images of the job');
  const steps = (r: CliResult) => [...r.stderr.matchAll(/^epoch (\d+)\/3 step (\d+)\/(\d+) loss (\S+)/gm)].map((m) => ({ at: `${m[1]}:${m[2]}/${m[3]}`, loss: Number(m[4]) }));
  const [a, b] = [steps(one), steps(two)];
  assert.deepEqual(b.map((s) => s.at), a.map((s) => s.at), 'the same steps: 20 images in 2 of 16 per epoch');
  // Equal up to float summation order (measured: 6e-4 at most over the 6
  // steps). This checks the job end to end; with one picture the losses stay
  // near ln 2, so it is not what catches a wrong shard or a missing average:
  // distributed.test.ts checks those exactly.
  const worst = Math.max(...a.map((s, i) => Math.abs(s.loss - b[i]!.loss)));
  process.stderr.write(`# step losses 1×16 ${a.map((s) => s.loss)} vs 2×8 ${b.map((s) => s.loss)}\n`);
  assert.ok(worst <= 2e-3, `step losses differ by up to ${worst}`);
  const [ma, mb] = [await metricsOf(join(out, 'one')), await metricsOf(join(out, 'two'))];
  assert.deepEqual(mb.map((m) => m.lr), ma.map((m) => m.lr), 'the same schedule');
  // Validation runs on rank 0's BatchNorm running statistics, gathered over 8 images, not 16 (the unbiased variance's n).
  for (let i = 0; i < ma.length; i++) assert.ok(Math.abs(ma[i].val_loss - mb[i].val_loss) < 1e-2, `epoch ${i + 1} val loss ${ma[i].val_loss} vs ${mb[i].val_loss}`);
});

async function trainUntil(args: string[], pattern: RegExp, act: (launcher: number) => void): Promise<CliResult & { seconds: number }> {
  let acted = 0;
  const started = performance.now();
  const r = await torchdog(args, work, {}, {
    onStderr: (text, child) => {
      if (!acted && pattern.test(text)) {
        acted = performance.now();
        act(child.pid!);
      }
    },
  });
  assert.ok(acted, `never saw ${pattern}: ${r.stderr}`);
  return { ...r, seconds: (performance.now() - acted) / 1000 };
}

test('a killed rank stops the job within seconds, naming it; --resume completes the run under another --nproc', async () => {
  const out = join(work, 'killed');
  const args = ['train', '--nproc', '2', `data.root=${data}`, `output.dir=${out}`, 'output.name=run', 'train.batch_size=2', 'train.epochs=2', ...TINY];
  let victim = 0;
  const r = await trainUntil(args, /epoch 2\/2 step 2\//, (launcher) => {
    victim = children(launcher).find((c) => c.rank === 1)!.pid;
    process.kill(victim, 'SIGKILL');
  });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`rank 1 \\(pid ${victim}\\) was killed by SIGKILL; stopping the job`));
  assert.match(r.stderr, /rank 0 of 2: .*failed: rank 1 has stopped/, 'rank 0 names the rank it lost');
  assert.ok(r.seconds < 30, `stopped ${r.seconds} s after the kill`);
  assert.deepEqual(leftOver(out), []);

  const resumed = await torchdog(['train', '--nproc', '1', '--resume', join(out, 'run'), ...TINY], work);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resume: .* at epoch 2, step 0/);
  assert.equal(summaryOf(resumed).epochs, 2);
  assert.equal((await metricsOf(join(out, 'run'))).length, 2);
});

test('Ctrl-C on the launcher stops every rank at one step with a checkpoint, which --resume continues', async () => {
  const out = join(work, 'interrupted');
  const args = ['train', '--nproc', '2', `data.root=${data}`, `output.dir=${out}`, 'output.name=run', 'train.batch_size=2', 'train.epochs=2', ...TINY];
  const r = await trainUntil(args, /epoch 1\/2 step 2\//, (launcher) => process.kill(launcher, 'SIGINT'));
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /interrupted: checkpoint written at epoch 1, step \d+/);
  const state = JSON.parse(await readFile(join(out, 'run', 'state.json'), 'utf8'));
  assert.equal(state.epoch, 0);
  assert.ok(state.step > 0 && state.step < 5, `stopped mid-epoch (step ${state.step})`);
  assert.equal(state.partial.count, state.step * 4, 'the job\'s images, counted once');
  assert.deepEqual(leftOver(out), []);

  const resumed = await torchdog(['train', '--nproc', '2', '--resume', join(out, 'run'), ...TINY], work);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resume: .* at epoch 1, step ${state.step}`));
  assert.equal((await metricsOf(join(out, 'run'))).length, 2);
});

test('a --master nobody answers fails after --timeout with a clear error and leaves no process', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
  const out = join(work, 'unreachable');
  const started = performance.now();
  const r = await torchdog(['train', '--nproc', '1', '--nnodes', '2', '--node-rank', '1', '--master', `127.0.0.1:${port}`, '--timeout', '3', `data.root=${data}`, `output.dir=${out}`, ...TINY], work);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`rank 1 of 2: the job's rendezvous at 127\\.0\\.0\\.1:${port} did not complete within 3 s`));
  assert.match(r.stderr, /rank 1 \(pid \d+\) exited with status 1; stopping the job/);
  assert.ok(seconds < 40, `${seconds} s`);
  assert.deepEqual(leftOver(out), []);
});

test('launcher flags are checked before any worker starts', () => {
  const bad = (flags: LaunchFlags, message: RegExp) => assert.throws(() => parseLaunchFlags(flags), (e: Error) => e instanceof UsageError && message.test(e.message));
  bad({ nproc: '0' }, /--nproc: expected an integer between 1 and 1024 but received "0"/);
  bad({ nproc: '2', nnodes: '2' }, /--nnodes > 1 needs --master HOST:PORT/);
  bad({ nproc: '1', nnodes: '2', 'node-rank': '2', master: 'h:1' }, /--node-rank: expected an integer between 0 and 1/);
  bad({ nproc: '1', master: 'nowhere' }, /--master: expected HOST:PORT but received "nowhere"/);
  bad({ nproc: '1', timeout: '0' }, /--timeout: expected seconds/);
  assert.deepEqual(parseLaunchFlags({ nproc: '4', nnodes: '2', 'node-rank': '1', master: '[::1]:29500' }), { nproc: 4, nnodes: 2, nodeRank: 1, masterAddr: '::1', masterPort: 29500, host: null, timeout: 300 });
  assert.deepEqual(workerArgs(['--nproc', '2', 'a=1', '--master=h:1', '--resume', 'r', '--timeout', '5']), ['a=1', '--resume', 'r']);
});
