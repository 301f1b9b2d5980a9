import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import { mkdir, readFile, readlink, readdir, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import sharp from 'sharp';
import { generateDemoData, scanImageFolder } from '../src/data/index.ts';
import { resolveConfig, parseOverrides, resumeConfig, train, type TrainConfig, type TrainSummary } from '../src/train/index.ts';
import { TrainProgress } from '../src/cli/train.ts';
import { readSafetensors, readCheckpoint, createModel, saveCheckpoint } from '../src/index.ts';
import { tempDir } from './helpers/checkpoint.ts';

let dataRoot: string | undefined;
async function smallData(): Promise<string> {
  dataRoot ??= (await generateDemoData(join(await tempDir('torchdog-train-data-'), 'demo'), { perClass: 30, size: 48 })).root;
  return dataRoot;
}

async function config(outDir: string, ...overrides: string[]): Promise<TrainConfig> {
  return resolveConfig(
    parseOverrides([
      `data.root=${await smallData()}`, 'data.image_size=32', 'train.batch_size=8', 'train.epochs=2',
      'train.threads=1', 'train.device=cpu', `output.dir=${outDir}`, ...overrides,
    ]),
  );
}

async function metrics(runDir: string) {
  const lines = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
  return lines.map((l) => {
    const { img_per_s: _speed, seconds: _seconds, ...rest } = JSON.parse(l);
    return rest;
  });
}

test('a run writes every output, and the same seed and threads give the same metrics', async () => {
  const out = await tempDir();
  const a = await train(await config(out, 'output.name=a'));
  const b = await train(await config(out, 'output.name=b'));
  assert.deepEqual((await readdir(a.run_dir)).sort(), [
    'config.yaml', 'last.safetensors', 'metrics.jsonl', 'model.safetensors', 'reference.jsonl', 'report.html', 'state.json',
  ], 'a finished run keeps no optimizer state');
  assert.equal(JSON.parse(await readFile(join(a.run_dir, 'state.json'), 'utf8')).optimizer_kept, false);
  assert.equal(await readlink(join(out, 'latest')), 'b');
  assert.equal(a.epochs, 2);
  assert.deepEqual(a.classes, ['hotdog', 'nothotdog']);
  assert.ok(a.train_img_per_s > 0);
  assert.deepEqual(await metrics(a.run_dir), await metrics(b.run_dir));
  const c = await train(await config(out, 'output.name=c', 'train.seed=1'));
  assert.notDeepEqual(await metrics(a.run_dir), await metrics(c.run_dir), 'another seed trains differently');

  const reference = (await readFile(join(a.run_dir, 'reference.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(reference.length, a.n_train);
  assert.deepEqual(Object.keys(reference[0]).sort(), ['avg_brightness', 'contrast', 'label', 'sharpness']);
  const report = await readFile(join(a.run_dir, 'report.html'), 'utf8');
  assert.match(report, /<svg/);
  assert.match(report, /nothotdog/);
  const { info } = await readCheckpoint(join(a.run_dir, 'model.safetensors'));
  assert.equal(info.imageSize, 32);
  await assert.rejects(train(await config(out, 'output.name=a')), /already exists/);
});

/**
 * Two classes that differ in brightness alone (bright or dark noise), so a few
 * steps learn them: 40 per class in train/, 10 in test/. With `swapExcept`,
 * every train/ image whose file name is not in it shows the other class's
 * brightness (names unchanged, so the seeded validation split holds the same
 * files): training on it unlearns what the images it keeps (the validation
 * split) and test/ check.
 */
async function brightnessData(root: string, swapExcept?: ReadonlySet<string>): Promise<string> {
  const size = 32;
  let state = 0x9e3779b9;
  const noise = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const classes = [['hotdog', 190], ['nothotdog', 60]] as const;
  for (const [c, [cls, base]] of classes.entries()) {
    for (let i = 0; i < 50; i++) {
      const split = i < 40 ? 'train' : 'test';
      const name = `${cls}-${i}.png`;
      const brightness = split === 'train' && swapExcept && !swapExcept.has(name) ? classes[1 - c]![1] : base;
      const pixels = Buffer.alloc(size * size * 3);
      for (let p = 0; p < pixels.length; p++) pixels[p] = brightness - 50 + Math.floor(noise() * 100);
      await mkdir(join(root, split, cls), { recursive: true });
      await writeFile(join(root, split, cls, name), await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer());
    }
  }
  return root;
}

test('the best epoch is chosen on validation held out of train/, never on test/; test/ is evaluated once, apart', async () => {
  const out = await tempDir();
  const data = await tempDir('torchdog-train-brightness-');
  const learn = await brightnessData(join(data, 'learn'));
  const held = new Set((await scanImageFolder(learn, { valFraction: 0.2, seed: 0 })).val.map((s) => basename(s.path)));
  const unlearn = await brightnessData(join(data, 'unlearn'), held);
  // Epochs 1-2 learn the labels that validation checks; epochs 3-4 train on
  // the other images of train/ with their brightness swapped (validation's
  // images unchanged), so each step moves the model away from what
  // validation rewards. The best epoch is then one of the first two by
  // construction, not by one CPU's rounding.
  const first = await train(await config(out, `data.root=${learn}`, 'train.epochs=2', 'output.name=best'));
  const summary = await train(await resumeConfig(first.run_dir, parseOverrides([`data.root=${unlearn}`, 'train.epochs=4'])), { resume: first.run_dir });
  const history = await metrics(summary.run_dir);
  assert.equal(summary.epochs, 4);
  // Validation is 20% of train/ (8 of 40 per class) although test/ exists; test/ is counted apart.
  assert.deepEqual([summary.n_train, summary.n_val, summary.n_test], [64, 16, 20]);
  assert.ok(summary.best_epoch! <= 2, `precondition: best epoch ${summary.best_epoch} must be a learning one (val_acc ${history.map((h) => h.val_acc)})`);
  const best = await readSafetensors(join(summary.run_dir, 'model.safetensors'));
  const last = await readSafetensors(join(summary.run_dir, 'last.safetensors'));
  assert.equal(best.metadata.epoch, String(summary.best_epoch));
  assert.equal(Number(best.metadata.val_acc), summary.best_val_acc);
  assert.equal(summary.best_val_acc, history[summary.best_epoch! - 1].val_acc);
  assert.equal(last.metadata.epoch, '4');
  assert.notDeepEqual(Buffer.from(best.tensors.get('fc.weight')!.data), Buffer.from(last.tensors.get('fc.weight')!.data));
  // test/ was never looked at while choosing: `eval --split test` of the best checkpoint is the summary's test_acc.
  const evaluated = await runCli(['eval', '--model', join(summary.run_dir, 'model.safetensors'), '--data', learn, '--split', 'test', '--device', 'cpu', '--threads', '1']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const result = JSON.parse(evaluated.stdout);
  assert.equal(typeof summary.test_acc, 'number');
  assert.equal(result.accuracy, summary.test_acc);
  assert.equal(result.n, summary.n_test);
  assert.deepEqual(Object.keys(result.per_class), ['hotdog', 'nothotdog']);
  assert.match(await readFile(join(summary.run_dir, 'report.html'), 'utf8'), /<th>test_acc<\/th><td>/);
});

test('an interrupted run resumes mid-epoch to exactly the uninterrupted result', async () => {
  const out = await tempDir();
  const straight = await train(await config(out, 'output.name=straight', 'train.epochs=3', 'optim.schedule=cosine'));
  const controller = new AbortController();
  const first = await train(await config(out, 'output.name=split', 'train.epochs=3', 'optim.schedule=cosine'), {
    signal: controller.signal,
    // Epochs are 1-based in events: the second epoch's third step.
    onEvent: (e) => {
      if (e.type === 'step' && e.epoch === 2 && e.step === 3) controller.abort();
    },
  });
  assert.equal(first.interrupted, true);
  assert.equal(first.epochs, 1);
  const state = JSON.parse(await readFile(join(first.run_dir, 'state.json'), 'utf8'));
  assert.deepEqual([state.epoch, state.step], [1, 3]);
  const resumed: TrainSummary = await train(await config(out, 'output.name=split', 'train.epochs=3', 'optim.schedule=cosine'), {
    resume: first.run_dir,
  });
  assert.equal(resumed.interrupted, false);
  assert.deepEqual(await metrics(resumed.run_dir), await metrics(straight.run_dir));
  const a = await readSafetensors(join(straight.run_dir, 'last.safetensors'));
  const b = await readSafetensors(join(resumed.run_dir, 'last.safetensors'));
  assert.deepEqual(Buffer.from(b.tensors.get('layer4.1.conv2.weight')!.data), Buffer.from(a.tensors.get('layer4.1.conv2.weight')!.data));
});

test('pretrained weights load by name; a head of another size is re-initialised', async () => {
  const out = await tempDir();
  const pretrained = join(out, 'imagenet-like.safetensors');
  const source = await createModel({ numClasses: 5, device: 'cpu', seed: 42, threads: 1 });
  await saveCheckpoint(pretrained, source, { arch: 'resnet18', classes: ['a', 'b', 'c', 'd', 'e'], imageSize: 32, mean: [0, 0, 0], std: [1, 1, 1] });
  await source.dispose();
  const lines: string[] = [];
  const progress = new TrainProgress({ write: (s: string) => lines.push(s), isTTY: false }, 10);
  const summary = await train(await config(out, `model.pretrained=${pretrained}`, 'train.epochs=1', 'optim.lr=0'), { onEvent: (e) => progress.render(e) });
  assert.ok(lines.some((l) => /pretrained: loaded 120 tensors .*kept fresh: fc\.bias, fc\.weight/.test(l)), lines.join(''));
  const from = await readSafetensors(pretrained);
  const trained = await readSafetensors(join(summary.run_dir, 'last.safetensors'));
  // lr=0: convolutions stay exactly the pretrained ones; the 2-class head is new.
  assert.deepEqual(Buffer.from(trained.tensors.get('layer2.0.conv1.weight')!.data), Buffer.from(from.tensors.get('layer2.0.conv1.weight')!.data));
  assert.deepEqual(trained.tensors.get('fc.weight')!.shape, [2, 512]);
  await assert.rejects(train(await config(out, 'model.pretrained=/nonexistent.safetensors')), /nonexistent\.safetensors: no such checkpoint file/);
});

const CLI = join(import.meta.dirname, '..', 'bin', 'torchdog.js');

function runCli(args: string[], onStderr?: (chunk: string, child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(String(d), child);
    });
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

test('CLI: Ctrl-C writes a consistent checkpoint and exits 130; --resume finishes; bad config keys exit 2-free with the key named', async () => {
  const out = await tempDir();
  const base = [`data.root=${await smallData()}`, 'data.image_size=32', 'train.batch_size=4', 'train.epochs=2', 'train.threads=1', 'train.device=cpu', `output.dir=${out}`, 'train.log_every=1'];
  let sent = false;
  const interrupted = await runCli(['train', ...base], (chunk, child) => {
    if (!sent && /step 2\//.test(chunk)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  assert.equal(interrupted.code, 130, interrupted.stderr);
  const summary = JSON.parse(interrupted.stdout.trim().split('\n').at(-1)!);
  assert.equal(summary.interrupted, true);
  assert.match(interrupted.stderr, /continue with --resume/);
  await readCheckpoint(join(summary.run_dir, 'last.safetensors'));
  const resumed = await runCli(['train', '--resume', summary.run_dir]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const done = JSON.parse(resumed.stdout.trim().split('\n').at(-1)!);
  assert.equal(done.epochs, 2);
  assert.equal(done.run_dir, summary.run_dir);

  const bad = await runCli(['train', 'train.epochs=zero']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /config key 'train\.epochs': expected an integer in \[1, 100000\] but got string "zero"/);
  const unknown = await runCli(['train', 'optim.learning_rate=0.1']);
  assert.match(unknown.stderr, /unknown config key 'optim\.learning_rate'/);
});

test('output.gcs uploads the run; a failed upload is reported and the local run kept', async () => {
  const { GcsEmulator } = await import('./helpers/gcs-emulator.ts');
  await using gcs = await GcsEmulator.start({ buckets: ['runs-bucket'] });
  const out = await tempDir();
  const summary = await train(await config(out, 'train.epochs=1', 'output.name=up', 'output.gcs=gs://runs-bucket/team/exp'), {
    gcs: { apiEndpoint: gcs.endpoint },
  });
  assert.equal(summary.gcs, 'gs://runs-bucket/team/exp/up');
  const names = gcs.names('runs-bucket', 'team/exp/up/');
  assert.deepEqual(names.map((n) => n.split('/').at(-1)).sort(), (await readdir(summary.run_dir)).sort());
  assert.deepEqual(gcs.get('runs-bucket', 'team/exp/up/model.safetensors'), await readFile(join(summary.run_dir, 'model.safetensors')));

  const failed = await train(await config(out, 'train.epochs=1', 'output.name=nobucket', 'output.gcs=gs://missing-bucket/x'), {
    gcs: { apiEndpoint: gcs.endpoint },
  });
  assert.equal(failed.gcs, undefined);
  assert.match(failed.gcs_error ?? '', /missing-bucket/);
  await readCheckpoint(join(failed.run_dir, 'model.safetensors'));
});
