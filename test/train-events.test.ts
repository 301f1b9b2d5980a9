// train() reports as events and prints nothing; the CLI renders them (a bar on
// a terminal, plain lines otherwise) and decides about the demo data.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cp, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { DEMO_MARKER, generateDemoData } from '../src/data/index.ts';
import { parseOverrides, resolveConfig, train, type TrainConfig, type TrainEvent } from '../src/train/index.ts';
import { describe as describeEvent, TrainProgress } from '../src/cli/train.ts';
import { clock, ProgressBar } from '../src/cli/progress.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { torchdog } from './helpers/dvc.ts';

let dataRoot: string | undefined;
async function smallData(): Promise<string> {
  dataRoot ??= (await generateDemoData(join(await tempDir('torchdog-events-data-'), 'demo'), { perClass: 10, size: 32 })).root;
  return dataRoot;
}

async function config(outDir: string, ...overrides: string[]): Promise<TrainConfig> {
  return resolveConfig(parseOverrides([
    `data.root=${await smallData()}`, 'data.image_size=16', 'train.batch_size=3', 'train.epochs=2', 'train.threads=1', 'train.device=cpu', `output.dir=${outDir}`, ...overrides,
  ]));
}

/** Everything written to process.stdout and process.stderr while `fn` runs. */
async function captureOutput<T>(fn: () => Promise<T>): Promise<{ result: T; written: string[] }> {
  const written: string[] = [];
  const originals = [process.stdout.write, process.stderr.write] as const;
  const spy = (chunk: unknown, ...rest: unknown[]) => {
    written.push(String(chunk));
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  };
  process.stdout.write = spy as typeof process.stdout.write;
  process.stderr.write = spy as typeof process.stderr.write;
  try {
    return { result: await fn(), written };
  } finally {
    [process.stdout.write, process.stderr.write] = originals;
  }
}

test('train() writes nothing to stdout or stderr, and reports a run as events in order', async () => {
  const out = await tempDir();
  const data = await smallData();
  // An unreadable image is a warning event, not a line on stderr.
  const withBroken = join(await tempDir('torchdog-events-broken-'), 'data');
  await cp(data, withBroken, { recursive: true });
  await writeFile(join(withBroken, 'train', 'hotdog', 'hotdog-9999.jpg'), 'not a jpeg');

  const quiet = await captureOutput(async () => train(await config(out, `data.root=${withBroken}`, 'output.name=quiet')));
  assert.equal(quiet.result.skipped_images, 1);
  assert.deepEqual(quiet.written, [], 'no output without onEvent');

  const events: TrainEvent[] = [];
  const summary = await train(await config(out, `data.root=${withBroken}`, 'output.name=events'), { onEvent: (e) => events.push(e) });
  const types = events.map((e) => e.type);
  // An epoch is committed after it ends: the best model (when it is one), then the resumable state.
  const epochTypes = ['step', 'step', 'step', 'step', 'epoch-end', 'checkpoint', 'checkpoint'];
  assert.deepEqual(types.filter((t) => t !== 'checkpoint' && t !== 'step' && t !== 'epoch-end'), ['data', 'warning', 'run-started']);
  assert.equal(types.indexOf('run-started'), 2);
  // Epoch 2 may or may not be the best: its 'best' checkpoint is there exactly when epoch-end says so.
  const epochEnds = events.filter((e) => e.type === 'epoch-end');
  assert.equal(epochEnds.length, 2);
  const rest = types.slice(3);
  const expected = epochEnds.flatMap((e) => epochTypes.filter((t, i) => e.best || i !== 5));
  assert.deepEqual(rest, expected);

  const [dataEvent, warning, started] = events;
  assert.deepEqual(dataEvent, { type: 'data', root: withBroken, classes: ['hotdog', 'nothotdog'], train: 13, val: 4, valSource: 'split', valFraction: 0.2, test: 4 });
  assert.equal(warning!.type === 'warning' && warning.code, 'image-skipped');
  assert.equal(warning!.type === 'warning' && warning.path, join(withBroken, 'train', 'hotdog', 'hotdog-9999.jpg'));
  assert.deepEqual(started, {
    type: 'run-started', runDir: summary.run_dir, resumed: null, epochs: 2, stepsPerEpoch: 4,
    model: { arch: 'resnet18', parameterCount: 11177538, device: 'cpu', threads: 1, amp: false },
  });
  const steps = events.filter((e) => e.type === 'step');
  assert.deepEqual(steps.map((s) => [s.epoch, s.step, s.steps, s.epochs]), [[1, 1, 4, 2], [1, 2, 4, 2], [1, 3, 4, 2], [1, 4, 4, 2], [2, 1, 4, 2], [2, 2, 4, 2], [2, 3, 4, 2], [2, 4, 4, 2]]);
  assert.ok(steps.every((s) => Number.isFinite(s.loss) && s.imgPerS > 0 && s.eta >= 0));
  const lines = (await readFile(join(summary.run_dir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(epochEnds.map((e) => e.metrics), lines, 'epoch-end carries the metrics.jsonl line');
  assert.equal(epochEnds[0]!.best, true, 'the first epoch is the best so far');
  for (const e of events) {
    if (e.type === 'checkpoint') await stat(e.path);
  }
  assert.deepEqual(events.filter((e) => e.type === 'checkpoint' && e.kind === 'resumable').map((e) => e.type === 'checkpoint' && [e.epoch, e.step]), [[2, 0], [3, 0]]);
});

test('an interrupted run reports its checkpoint and where --resume continues', async () => {
  const out = await tempDir();
  const controller = new AbortController();
  const events: TrainEvent[] = [];
  const summary = await train(await config(out, 'output.name=stop'), {
    signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'step' && e.epoch === 1 && e.step === 2) controller.abort();
    },
  });
  assert.equal(summary.interrupted, true);
  assert.deepEqual(events.slice(-2), [
    { type: 'checkpoint', kind: 'resumable', path: join(summary.run_dir, 'state.json'), epoch: 1, step: 2 },
    { type: 'interrupted', runDir: summary.run_dir, epoch: 1, step: 2 },
  ]);
  const resumed: TrainEvent[] = [];
  await train(await config(out, 'output.name=stop'), { resume: summary.run_dir, onEvent: (e) => resumed.push(e) });
  const started = resumed.find((e) => e.type === 'run-started');
  assert.deepEqual(started?.type === 'run-started' && started.resumed, { epoch: 1, step: 2 });
  assert.deepEqual(resumed.filter((e) => e.type === 'step').map((e) => e.type === 'step' && `${e.epoch}.${e.step}`), ['1.3', '1.4', '2.1', '2.2', '2.3', '2.4']);
});

test('the CLI renders each event as the line it always printed', () => {
  const metrics = { epoch: 2, train_loss: 0.51234, train_acc: 0.75, val_loss: 0.4, val_acc: 0.875, lr: 0.001, img_per_s: 123.45, seconds: 3.21 };
  const lines: [TrainEvent, string | null][] = [
    [{ type: 'data', root: '/d', classes: ['a', 'b'], train: 40, val: 10, valSource: 'split', valFraction: 0.2, test: 0 }, 'data: /d: 2 classes (a, b), 40 train / 10 val images (0.2 of train/ held out)'],
    [
      { type: 'data', root: '/d', classes: ['a', 'b'], train: 40, val: 10, valSource: 'split', valFraction: 0.2, test: 12 },
      'data: /d: 2 classes (a, b), 40 train / 10 val images (0.2 of train/ held out) / 12 test images (test/, evaluated at the end)',
    ],
    [{ type: 'data', root: '/d', classes: ['a', 'b'], train: 40, val: 0, valSource: 'none', valFraction: 0, test: 0 }, 'data: /d: 2 classes (a, b), 40 train / 0 val images (no validation)'],
    [{ type: 'pretrained', path: '/p.safetensors', loaded: 120, fresh: ['fc.bias', 'fc.weight'] }, 'pretrained: loaded 120 tensors from /p.safetensors; kept fresh: fc.bias, fc.weight'],
    [
      { type: 'run-started', runDir: '/r', resumed: null, epochs: 3, stepsPerEpoch: 5, model: { arch: 'resnet18', parameterCount: 11177538, device: 'cpu', threads: 2, amp: true } },
      'model: resnet18, 11,177,538 parameters, device cpu, 2 thread(s), bf16 autocast',
    ],
    [
      { type: 'run-started', runDir: '/r', resumed: { epoch: 2, step: 3 }, epochs: 3, stepsPerEpoch: 5, model: { arch: 'resnet18', parameterCount: 11177538, device: 'cpu', threads: 1, amp: false } },
      'resume: /r at epoch 2, step 3\nmodel: resnet18, 11,177,538 parameters, device cpu, 1 thread(s)',
    ],
    [{ type: 'epoch-end', epochs: 3, metrics, best: true }, 'epoch 2/3: train loss 0.5123 acc 0.7500, val loss 0.4000 acc 0.8750, 123.5 img/s, 3.2 s (best)'],
    [{ type: 'epoch-end', epochs: 3, metrics: { ...metrics, val_loss: null, val_acc: null }, best: false }, 'epoch 2/3: train loss 0.5123 acc 0.7500, 123.5 img/s, 3.2 s'],
    [{ type: 'early-stop', patience: 2, epoch: 5 }, 'early stopping: no val_acc improvement for 2 epoch(s)'],
    [{ type: 'interrupted', runDir: '/r', epoch: 2, step: 3 }, 'interrupted: checkpoint written at epoch 2, step 3; continue with --resume /r'],
    [{ type: 'uploaded', uri: 'gs://b/p/r', files: 8 }, 'uploaded 8 files to gs://b/p/r'],
    [{ type: 'warning', code: 'image-skipped', path: '/x.jpg', message: 'skipping unreadable image /x.jpg: bad' }, 'warning: skipping unreadable image /x.jpg: bad'],
    [{ type: 'checkpoint', kind: 'best', path: '/r/model.safetensors', epoch: 1, step: 0 }, null],
  ];
  for (const [event, line] of lines) assert.equal(describeEvent(event as Exclude<TrainEvent, { type: 'step' }>), line);
});

const step = (s: number, steps = 4): TrainEvent => ({ type: 'step', epoch: 1, epochs: 2, step: s, steps, loss: 0.5, imgPerS: 10, eta: 75 });

test('off a terminal, a step line every log_every steps and at the end of the epoch', () => {
  const written: string[] = [];
  const progress = new TrainProgress({ write: (s: string) => written.push(s), isTTY: false }, 2);
  for (let s = 1; s <= 5; s++) progress.render(step(s, 5));
  progress.render({ type: 'early-stop', patience: 1, epoch: 1 });
  assert.deepEqual(written, [
    'epoch 1/2 step 2/5 loss 0.5000 10.0 img/s ETA 01:15\n',
    'epoch 1/2 step 4/5 loss 0.5000 10.0 img/s ETA 01:15\n',
    'epoch 1/2 step 5/5 loss 0.5000 10.0 img/s ETA 01:15\n',
    'early stopping: no val_acc improvement for 1 epoch(s)\n',
  ]);
});

test('on a terminal, one bar redrawn in place; a line wipes it and stays', () => {
  const written: string[] = [];
  let now = 0;
  const bar = new ProgressBar({ write: (s: string) => written.push(s), isTTY: true }, () => now);
  bar.draw(1, 4, 'one');
  now += 50;
  bar.draw(2, 4, 'two (too soon: skipped)');
  now += 100;
  bar.draw(3, 4, 'three');
  bar.line('a line');
  bar.draw(4, 4, 'done (a finished bar is always drawn)');
  bar.end();
  bar.end();
  assert.deepEqual(written, [
    '\r\x1b[K[######..................] one',
    '\r\x1b[K[##################......] three',
    '\r\x1b[K',
    'a line\n',
    '\r\x1b[K[########################] done (a finished bar is always drawn)',
    '\n',
  ]);
  const quiet: string[] = [];
  new ProgressBar({ write: (s: string) => quiet.push(s), isTTY: false }).draw(1, 2, 'x');
  assert.deepEqual(quiet, [], 'no bar off a terminal');
  assert.deepEqual([clock(75), clock(3725), clock(NaN), clock(-1)], ['01:15', '1:02:05', '--:--', '--:--']);

  const tty: string[] = [];
  const progress = new TrainProgress({ write: (s: string) => tty.push(s), isTTY: true }, 10);
  progress.render(step(2));
  progress.render({ type: 'warning', code: 'upload-failed', path: 'gs://x', message: 'upload to gs://x failed' });
  assert.deepEqual(tty, ['\r\x1b[K[############............] epoch 1/2 step 2/4 loss 0.5000 10.0 img/s ETA 01:15', '\r\x1b[K', 'warning: upload to gs://x failed\n']);
});

test('CLI: plain lines on stderr and the summary on stdout; the demo set is generated only for the default root when absent', { timeout: 300_000 }, async () => {
  const demoCwd = await tempDir('torchdog-events-cwd-');
  const args = ['train', 'train.epochs=1', 'data.image_size=16', 'train.batch_size=64', 'train.threads=1', 'train.device=cpu', 'output.name=r'];
  const generated = await torchdog(args, demoCwd);
  assert.equal(generated.code, 0, generated.stderr);
  const stderr = generated.stderr.split('\n');
  assert.match(stderr[0]!, /^config: \/.*\/configs\/default\.yaml$/, 'the package\'s default recipe, named');
  assert.equal(stderr[1], 'data: generating the demo set in data/demo (first use)');
  assert.match(stderr[2]!, /^data: .*data\/demo: 2 classes \(hotdog, nothotdog\), 384 train \/ 96 val images \(0\.2 of train\/ held out\) \/ 120 test images \(test\/, evaluated at the end\)$/);
  assert.equal(stderr[3], 'model: resnet18, 11,177,538 parameters, device cpu, 1 thread(s)');
  assert.ok(stderr.some((l) => /^epoch 1\/1 step 6\/6 loss \d+\.\d{4} [\d.]+ img\/s ETA 00:00$/.test(l)), generated.stderr);
  assert.ok(stderr.some((l) => /^epoch 1\/1: train loss \d+\.\d{4} acc \d\.\d{4}, val loss \d+\.\d{4} acc \d\.\d{4}, [\d.]+ img\/s, [\d.]+ s \(best\)$/.test(l)), generated.stderr);
  assert.doesNotMatch(generated.stderr, /\r|\x1b/, 'no bar off a terminal');
  const summary = JSON.parse(generated.stdout.trim().split('\n').at(-1)!);
  assert.equal(summary.run_dir, join(demoCwd, 'runs', 'r'));
  await stat(join(demoCwd, 'data', 'demo', DEMO_MARKER));

  // A folder of the user's own at the default root is trained on, never replaced.
  const ownCwd = await tempDir('torchdog-events-own-');
  const own = join(ownCwd, 'data', 'demo');
  for (const cls of ['cat', 'dog']) {
    await mkdir(join(own, 'train', cls), { recursive: true });
    await cp(join(await smallData(), 'train', 'hotdog'), join(own, 'train', cls), { recursive: true });
  }
  const trained = await torchdog(args, ownCwd);
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stderr.split('\n')[1]!, /^data: .*data\/demo: 2 classes \(cat, dog\)/);
  await assert.rejects(stat(join(own, DEMO_MARKER)), /ENOENT/);

  // The library never generates it: that is the CLI's decision.
  const libCwd = await tempDir('torchdog-events-lib-');
  const cwd = process.cwd();
  process.chdir(libCwd);
  try {
    await assert.rejects(train(resolveConfig(parseOverrides(['train.epochs=1', 'train.device=cpu']))), /data\.root .*data\/demo: no such directory/);
  } finally {
    process.chdir(cwd);
  }
});
