// A run directory is one consistent state whatever moment the process dies
// at (issue 12). A death is staged without a kill: a listener that throws
// stops train() at that event, and a state.json that cannot be replaced
// stops it between the checkpoint's weights and its state. Resuming must
// then end byte for byte where the uninterrupted run ends, with each epoch
// once in metrics.jsonl; files that are not the run's are refused by name.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { generateDemoData } from '../src/data/index.ts';
import { createModel, readSafetensors, saveCheckpoint, writeSafetensors } from '../src/model/index.ts';
import { parseOverrides, resolveConfig, resumeConfig, train, type TrainConfig, type TrainEvent, type TrainSummary } from '../src/train/index.ts';
import { tempDir } from './helpers/checkpoint.ts';

let dataRoot: string | undefined;
async function config(outDir: string, name: string, ...overrides: string[]): Promise<TrainConfig> {
  dataRoot ??= (await generateDemoData(join(await tempDir('torchdog-consistency-data-'), 'demo'), { perClass: 10, size: 32 })).root;
  return resolveConfig(parseOverrides([
    `data.root=${dataRoot}`, 'data.image_size=16', 'train.batch_size=4', 'train.epochs=3', 'train.threads=1', 'train.device=cpu',
    `output.dir=${outDir}`, `output.name=${name}`, ...overrides,
  ]));
}

class Stop extends Error {}

/** Runs until `when(event)` says stop there; the run dies at that event, as if killed. */
async function trainUntil(cfg: TrainConfig, when: (e: TrainEvent) => boolean, resume?: string): Promise<void> {
  await assert.rejects(train(cfg, { resume, onEvent: (e) => {
    if (when(e)) throw new Stop('killed here');
  } }), Stop);
}

async function epochsInMetrics(runDir: string): Promise<number[]> {
  const text = await readFile(join(runDir, 'metrics.jsonl'), 'utf8');
  return text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).epoch);
}

/** The files every finished run has, and nothing else: no temporary or uncommitted file, no optimizer state (a finished run drops it). */
async function assertTidy(runDir: string): Promise<void> {
  assert.deepEqual((await readdir(runDir)).sort(), [
    'config.yaml', 'last.safetensors', 'metrics.jsonl', 'model.safetensors', 'reference.jsonl', 'report.html', 'state.json',
  ]);
}

let straight: TrainSummary | undefined;
/** The uninterrupted run every resumed one must equal. */
async function uninterrupted(): Promise<TrainSummary> {
  straight ??= await train(await config(await tempDir(), 'straight'));
  return straight;
}

async function assertSameAsUninterrupted(runDir: string): Promise<void> {
  const reference = (await uninterrupted()).run_dir;
  assert.deepEqual(await epochsInMetrics(runDir), [1, 2, 3], 'each epoch once in metrics.jsonl');
  // The optimizer's trajectory shows in the last weights (a finished run keeps no optimizer state).
  for (const file of ['last.safetensors', 'model.safetensors']) {
    assert.ok((await readFile(join(runDir, file))).equals(await readFile(join(reference, file))), `${file} equals the uninterrupted run's, byte for byte`);
  }
  await assertTidy(runDir);
}

test('dying after an epoch ended but before its state was written: resume repeats that epoch once, exactly', async () => {
  const out = await tempDir();
  const cfg = await config(out, 'run');
  // The old order had appended epoch 2's metrics line and written model.safetensors by then.
  await trainUntil(cfg, (e) => e.type === 'epoch-end' && e.metrics.epoch === 2);
  const runDir = join(out, 'run');
  // However metrics.jsonl got ahead of state.json, resume cuts it back to the committed history.
  await appendFile(join(runDir, 'metrics.jsonl'), (await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).split('\n')[0]!.replace('"epoch":1', '"epoch":2') + '\n');
  const done = await train(await resumeConfig(runDir, {}), { resume: runDir });
  assert.equal(done.epochs, 3);
  await assertSameAsUninterrupted(runDir);
});

test('dying between the weights and state.json: resume uses the committed weights and ends exactly as the uninterrupted run', async () => {
  const out = await tempDir();
  const runDir = join(out, 'run');
  let saved = '';
  await assert.rejects(train(await config(out, 'run'), { onEvent: (e) => {
    if (e.type === 'epoch-end' && e.metrics.epoch === 2) {
      // state.json can no longer be replaced (a folder is in its way): the run dies after writing the weights.
      // Events arrive synchronously, so the listener's file operations are too.
      saved = readFileSync(join(runDir, 'state.json'), 'utf8');
      rmSync(join(runDir, 'state.json'));
      mkdirSync(join(runDir, 'state.json', 'in-the-way'), { recursive: true });
    }
  } }));
  await rm(join(runDir, 'state.json'), { recursive: true });
  await writeFile(join(runDir, 'state.json'), saved);
  assert.equal(JSON.parse(saved).epoch, 1, 'the committed state is the end of epoch 1');
  const done = await train(await resumeConfig(runDir, {}), { resume: runDir });
  assert.equal(done.epochs, 3);
  await assertSameAsUninterrupted(runDir);
});

test('dying in the first epoch leaves a resumable run; `latest` keeps naming a run with a model; the same output.name says --resume', async () => {
  const out = await tempDir();
  const first = await train(await config(out, 'first', 'train.epochs=1'));
  assert.equal(await readlink(join(out, 'latest')), 'first');
  await trainUntil(await config(out, 'second'), (e) => e.type === 'step' && e.epoch === 1 && e.step === 1);
  assert.equal(await readlink(join(out, 'latest')), 'first', 'latest names a run that has a model');
  const runDir = join(out, 'second');
  await assert.rejects(train(await config(out, 'second')), new RegExp(`output: ${runDir}.* already exists: continue it with 'torchdog train --resume ${runDir}'`));
  const done = await train(await resumeConfig(runDir, {}), { resume: runDir });
  assert.equal(done.run_dir, runDir);
  await assertSameAsUninterrupted(runDir);
  assert.equal(await readlink(join(out, 'latest')), 'second');
  assert.notEqual(first.run_dir, done.run_dir);
});

test('--resume OUTPUT/latest resumes the run it names and leaves latest naming it (not itself)', async () => {
  const out = await tempDir();
  await train(await config(out, 'run', 'train.epochs=1'));
  const latest = join(out, 'latest');
  const done = await train(await resumeConfig(latest, parseOverrides(['train.epochs=2'])), { resume: latest });
  assert.equal(done.run_dir, join(out, 'run'));
  assert.equal(done.epochs, 2);
  assert.equal(await readlink(latest), 'run');
  assert.deepEqual(await epochsInMetrics(latest), [1, 2]);
});

test('resume removes temporary files a killed writer left, and checkpoint files never committed', async () => {
  const out = await tempDir();
  const runDir = join(out, 'run');
  await trainUntil(await config(out, 'run'), (e) => e.type === 'step' && e.epoch === 2 && e.step === 2);
  await writeFile(join(runDir, '.last.safetensors.torchdog-0123abcd.tmp'), Buffer.alloc(1000));
  await writeFile(join(runDir, '.state.json.torchdog-89abcdef.tmp'), '{"epoch');
  await copyFile(join(runDir, 'last.safetensors'), join(runDir, 'last-7.safetensors'));
  const done = await train(await resumeConfig(runDir, {}), { resume: runDir });
  assert.equal(done.epochs, 3);
  await assertSameAsUninterrupted(runDir);
});

test('dying after state.json was written but before the files took their names: resume finishes the commit', async () => {
  const out = await tempDir();
  const runDir = join(out, 'run');
  await trainUntil(await config(out, 'run'), (e) => e.type === 'step' && e.epoch === 2 && e.step === 2);
  const { generation } = JSON.parse(await readFile(join(runDir, 'state.json'), 'utf8'));
  // As the commit leaves them just before its renames: the committed files under their generation's names.
  for (const file of ['last', 'optimizer', 'model']) await rename(join(runDir, `${file}.safetensors`), join(runDir, `${file}-${generation}.safetensors`));
  const done = await train(await resumeConfig(runDir, {}), { resume: runDir });
  assert.equal(done.epochs, 3);
  await assertSameAsUninterrupted(runDir);
});

/** A run interrupted in epoch 2, copied fresh for each case. */
async function stoppedRun(): Promise<{ runDir: string; out: string }> {
  const out = await tempDir();
  const controller = new AbortController();
  await train(await config(out, 'run'), { signal: controller.signal, onEvent: (e) => {
    if (e.type === 'step' && e.epoch === 2 && e.step === 2) controller.abort();
  } });
  return { runDir: join(out, 'run'), out };
}

async function refusesResume(runDir: string, message: RegExp, overrides: string[] = []): Promise<void> {
  await assert.rejects(async () => train(await resumeConfig(runDir, parseOverrides(overrides)), { resume: runDir }), (error: Error) => {
    assert.match(error.message, message);
    return true;
  });
}

test('resume refuses checkpoint files that are not the state\'s, naming the file and what is wrong', async () => {
  const { runDir, out } = await stoppedRun();
  const last = join(runDir, 'last.safetensors');
  const optimizer = join(runDir, 'optimizer.safetensors');
  const good = { last: await readFile(last), optimizer: await readFile(optimizer) };
  const restore = async () => {
    await writeFile(last, good.last);
    await writeFile(optimizer, good.optimizer);
  };
  const { tensors, metadata } = await readSafetensors(last);
  const esc = (path: string) => path.replace(/[.]/g, '\\.');

  // Only the head: the rest of the network would stay random.
  await writeSafetensors(last, [tensors.get('fc.weight')!, tensors.get('fc.bias')!], metadata);
  await refusesResume(runDir, new RegExp(`^${esc(last)}: missing 120 of resnet18's 122 tensors: bn1\\.bias, `));
  // A plain torchvision file: no torchdog metadata.
  await writeSafetensors(last, [...tensors.values()]);
  await refusesResume(runDir, new RegExp(`^${esc(last)}: metadata 'format' is null, expected "torchdog/1"`));
  // Another run's (or another generation's) weights.
  await writeSafetensors(last, [...tensors.values()], { ...metadata, generation: '1' });
  await refusesResume(runDir, new RegExp(`^${esc(last)}: is checkpoint generation 1, but state\\.json names generation 2`));
  await restore();

  const opt = await readSafetensors(optimizer);
  await writeFile(optimizer, '');
  await refusesResume(runDir, new RegExp(`^${esc(optimizer)}: not a valid safetensors file: 0 bytes is too short`));
  await writeSafetensors(optimizer, [], opt.metadata);
  await refusesResume(runDir, new RegExp(`^${esc(optimizer)}: missing 186 of the 186 optimizer tensors adam keeps after a step: bn1\\.bias\\.exp_avg, `));
  await writeSafetensors(optimizer, [...opt.tensors.values()].filter((t) => !t.name.startsWith('layer4.1.conv2.weight.')), opt.metadata);
  await refusesResume(runDir, /missing 3 of the 186 optimizer tensors adam keeps after a step: layer4\.1\.conv2\.weight\.exp_avg, layer4\.1\.conv2\.weight\.exp_avg_sq, layer4\.1\.conv2\.weight\.step$/);
  await restore();
  await refusesResume(runDir, new RegExp(`^${esc(optimizer)}: holds the state of optimizer "adam", but optim\\.name is 'sgd'`), ['optim.name=sgd']);

  // The run's classes and image size.
  await refusesResume(runDir, new RegExp(`^${esc(last)}: trained at image_size 16, but data\\.image_size is 32$`), ['data.image_size=32']);
  const other = join(out, 'other-classes');
  await mkdir(join(other, 'train'), { recursive: true });
  const demo = join(dataRoot!, 'train');
  for (const [from, to] of [['hotdog', 'cat'], ['nothotdog', 'dog']] as const) {
    await mkdir(join(other, 'train', to));
    for (const name of await readdir(join(demo, from))) await copyFile(join(demo, from, name), join(other, 'train', to, name));
  }
  await refusesResume(runDir, new RegExp(`^${esc(last)}: trained on classes \\["hotdog","nothotdog"\\], but the data has \\["cat","dog"\\]$`), [`data.root=${other}`]);

  // With everything put back, the run resumes.
  const done = await train(await resumeConfig(runDir, {}), { resume: runDir });
  assert.equal(done.epochs, 3);
});

test('a corrupt config.yaml or a model.safetensors that is not the best epoch\'s is refused naming the file', async () => {
  const { runDir } = await stoppedRun();
  const configFile = join(runDir, 'config.yaml');
  const text = await readFile(configFile, 'utf8');
  await writeFile(configFile, text.replace(/epochs: 3/, 'epochs: three'));
  await assert.rejects(resumeConfig(runDir, {}), { message: `${configFile}: config key 'train.epochs': expected an integer in [1, 100000] but got string "three"` });
  await writeFile(configFile, 'train: [unclosed');
  await assert.rejects(resumeConfig(runDir, {}), (e: Error) => e.message.startsWith(`config file ${configFile}: invalid YAML`));
  await writeFile(configFile, text);

  const model = await createModel({ numClasses: 2, device: 'cpu', seed: 5, threads: 1 });
  const best = join(runDir, 'model.safetensors');
  await saveCheckpoint(best, model, { arch: 'resnet18', classes: ['hotdog', 'nothotdog'], imageSize: 16, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], extra: { epoch: '7' } });
  await model.dispose();
  await refusesResume(runDir, new RegExp(`^${best.replace(/[.]/g, '\\.')}: holds epoch 7, but state\\.json says the best epoch is 1$`));
});
