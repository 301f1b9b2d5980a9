// The run directory's state.json: what the trainer writes reads back; a
// corrupt or inconsistent one is refused naming the file and the field, before
// anything of the run is touched.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { generateDemoData } from '../src/data/index.ts';
import { parseOverrides, resolveConfig, resumeConfig, train, TrainError, type TrainConfig } from '../src/train/index.ts';
import { freshState, parseRunState, serializeRunState, type RunState } from '../src/train/run-state.ts';
import { tempDir } from './helpers/checkpoint.ts';

const FILE = '/runs/x/state.json';

let dataRoot: string | undefined;
async function config(outDir: string, ...overrides: string[]): Promise<TrainConfig> {
  dataRoot ??= (await generateDemoData(join(await tempDir('torchdog-rundir-data-'), 'demo'), { perClass: 10, size: 32 })).root;
  return resolveConfig(parseOverrides([
    `data.root=${dataRoot}`, 'data.image_size=16', 'train.batch_size=4', 'train.epochs=2', 'train.threads=1', 'train.device=cpu', `output.dir=${outDir}`, ...overrides,
  ]));
}

/** A state after one epoch and two steps of the second, as the trainer writes it. */
function midRun(): RunState {
  const state = freshState();
  state.generation = 2;
  state.epoch = 1;
  state.step = 2;
  state.partial = { loss_sum: 5.5, correct: 5, count: 8, seconds: 0.4 };
  state.history = [{ epoch: 1, train_loss: 0.7, train_acc: 0.5, val_loss: 0.69, val_acc: 0.5, lr: 0.001, img_per_s: 40, seconds: 0.5 }];
  state.best_val_acc = 0.5;
  state.best_val_loss = 0.69;
  state.best_epoch = 1;
  state.best_confusion = [[1, 1], [1, 1]];
  return state;
}

function edited(edit: (s: Record<string, any>) => void): string {
  const s = JSON.parse(serializeRunState(midRun()));
  edit(s);
  return JSON.stringify(s);
}

test('what the trainer writes reads back unchanged', () => {
  assert.deepEqual(parseRunState(serializeRunState(freshState()), FILE), freshState());
  assert.deepEqual(parseRunState(serializeRunState(midRun()), FILE), midRun());
  // JSON has no Infinity: a timing too short to measure reads back as null.
  const s = parseRunState(edited((s) => (s.history[0].img_per_s = null)), FILE);
  assert.equal(s.history[0]!.img_per_s, null);
});

function rejects(text: string, message: RegExp): void {
  assert.throws(() => parseRunState(text, FILE), (error: unknown) => {
    assert.ok(error instanceof TrainError, String(error));
    assert.match(error.message, message);
    return true;
  });
}

test('a corrupt state.json names the file and the field', () => {
  rejects('{"epoch": 1, "st', /^\/runs\/x\/state\.json: not valid JSON \(/);
  rejects('[]', /^\/runs\/x\/state\.json: the content: expected an object but got a list$/);
  rejects(edited((s) => (s.partial.count = 'eight')), /^\/runs\/x\/state\.json: field 'partial\.count': expected an integer >= 0 but got string "eight"$/);
  rejects(edited((s) => delete s.best_epoch), /field 'best_epoch': expected an integer >= 1 or null but got nothing \(missing\)$/);
  rejects(edited((s) => (s.epoch = -1)), /field 'epoch': expected an integer >= 0 but got number -1$/);
  rejects(edited((s) => (s.step = 1.5)), /field 'step': expected an integer >= 0 but got number 1\.5$/);
  rejects(edited((s) => delete s.partial), /field 'partial': expected an object but got nothing \(missing\)$/);
  rejects(edited((s) => (s.history = {})), /field 'history': expected a list but got an object$/);
  rejects(edited((s) => (s.history[0].val_acc = 1.5)), /field 'history\[0\]\.val_acc': expected a number in \[0, 1\] or null but got number 1\.5$/);
  rejects(edited((s) => (s.best_confusion = [[1, 1]])), /field 'best_confusion': expected null or a square list of lists of counts but got a list$/);
  rejects(edited((s) => (s.finished = 'no')), /field 'finished': expected true or false but got string "no"$/);
});

test('an inconsistent state.json is refused, saying which relation fails', () => {
  rejects(edited((s) => (s.epoch = 2)), /^\/runs\/x\/state\.json: field 'history' holds 1 epoch\(s\) but 'epoch' says 2 are done$/);
  rejects(edited((s) => (s.history[0].epoch = 3)), /field 'history\[0\]\.epoch' is 3, expected 1$/);
  rejects(edited((s) => (s.best_epoch = null)), /field 'best_epoch' is null after 1 epoch\(s\)$/);
  rejects(edited((s) => (s.best_epoch = 2)), /field 'best_epoch' is 2, outside the 1 epoch\(s\) done$/);
  rejects(edited((s) => (s.since_improvement = 1)), /field 'since_improvement' is 1, but the best epoch 1 is 0 epoch\(s\) back$/);
  rejects(edited((s) => (s.partial.count = 0)), /field 'partial\.count' is 0 after 2 step\(s\) of the epoch$/);
  rejects(edited((s) => (s.partial.correct = 9)), /field 'partial\.correct' is 9, more than the 8 images seen$/);
});

test('--resume checks state.json before writing anything, and against the data it resumes on', async () => {
  const out = await tempDir();
  const controller = new AbortController();
  const first = await train(await config(out, 'output.name=run'), {
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === 'step' && e.step === 2) controller.abort();
    },
  });
  assert.equal(first.interrupted, true);
  const statePath = join(first.run_dir, 'state.json');
  const state = await readFile(statePath, 'utf8');
  const configBefore = await readFile(join(first.run_dir, 'config.yaml'), 'utf8');

  await writeFile(statePath, state.replace('"step": 2', '"step": "2"'));
  await assert.rejects(train(await resumeConfig(first.run_dir, parseOverrides(['train.epochs=3'])), { resume: first.run_dir }), (error: unknown) => {
    assert.ok(error instanceof TrainError);
    assert.equal(error.message, `${statePath}: field 'step': expected an integer >= 0 but got string "2"`);
    return true;
  });
  assert.equal(await readFile(join(first.run_dir, 'config.yaml'), 'utf8'), configBefore, 'config.yaml is not rewritten');

  // A position past the end of this data (more images done than the 16 there): the data changed.
  // (A mid-epoch position is the images done, so another batch size or --nproc goes on from it.)
  await writeFile(statePath, state.replace(/"count": \d+/, '"count": 40'));
  await assert.rejects(
    train(await resumeConfig(first.run_dir, {}), { resume: first.run_dir }),
    new RegExp(`${statePath.replace(/[.]/g, '\\.')}: field 'step' is 2, but an epoch of this data has 2 step\\(s\\) \\(did data\\.root or train\\.batch_size change\\?\\)$`),
  );
  await writeFile(statePath, state);

  const resumed = await train(await resumeConfig(first.run_dir, {}), { resume: first.run_dir });
  assert.equal(resumed.epochs, 2);
  assert.equal(resumed.interrupted, false);
  await assert.rejects(resumeConfig(out, {}), /not a torchdog run directory \(needs config\.yaml and state\.json\)/);
});
