// Export (issue 14): the parity fixture's weights exported as ONNX and
// TorchScript, run by other runtimes (onnxruntime-node, the project's own
// LibTorch, PyTorch's torch.jit.load where Debian's python3-torch is
// installed) and compared with torchdog's forward; the file formats
// checked field by field; refusals that leave nothing behind.
import { test, before, after } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import {
  CheckpointError,
  ExportError,
  InvalidArgumentError,
  Model,
  ONNX_OPSETS,
  checkpointMetadata,
  exportModel,
  onnxModel,
  parseCheckpointMetadata,
  readCheckpoint,
  writeSafetensors,
  type CheckpointInfo,
  type ForwardResult,
  type ImageBatch,
  type Tensor,
} from '../src/index.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { GcsEmulator } from './helpers/gcs-emulator.ts';
import { kImageSize, parityImages, parityTensors } from './helpers/parity-weights.ts';
import { ProtoWriter } from '../src/export/protobuf.ts';
import { decodeOnnxModel, readFields } from './helpers/protobuf-read.ts';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'test', 'helpers', 'torchdog-cli.ts');
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

const fixture = JSON.parse(await readFile(join(ROOT, 'test', 'fixtures', 'parity.json'), 'utf8')) as {
  numClasses: number;
  normalization: { mean: [number, number, number]; std: [number, number, number] };
  logits: number[][];
};

const INFO: CheckpointInfo = {
  arch: 'resnet18',
  classes: ['hotdog', 'nothotdog', 'pizza'],
  imageSize: kImageSize,
  mean: fixture.normalization.mean,
  std: fixture.normalization.std,
};

const ONNX_TOLERANCE = 1e-4;
const TORCHSCRIPT_TOLERANCE = 1e-5;

let dir: string;
let checkpoint: string;
let model: Model;
let tensors: Tensor[];
let images: ImageBatch;
let expected: ForwardResult;

before(async () => {
  dir = await tempDir('torchdog-export-');
  checkpoint = join(dir, 'model.safetensors');
  model = await Model.create({ numClasses: fixture.numClasses, device: 'cpu', seed: 0, threads: 2 });
  tensors = parityTensors(await model.getTensors());
  await model.setTensors(tensors);
  await model.setTraining(false);
  await writeSafetensors(checkpoint, tensors, checkpointMetadata(INFO));
  images = parityImages();
  expected = await model.forward(images, INFO);
});

after(async () => {
  await model?.dispose();
});

/** Largest |a - b| over two equally long arrays; NaN counts as infinitely far. */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'output lengths');
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

async function ortRun(session: ort.InferenceSession, batch: ImageBatch): Promise<{ logits: Float32Array; probabilities: Float32Array; dims: readonly number[] }> {
  const feeds = { image: new ort.Tensor('uint8', batch.data, [batch.count, batch.height, batch.width, 3]) };
  const out = await session.run(feeds);
  return { logits: out.logits!.data as Float32Array, probabilities: out.probabilities!.data as Float32Array, dims: out.logits!.dims };
}

/** Nothing but `keep` in the folder: no partial export, no temporary file. */
async function assertOnly(folder: string, keep: string[]): Promise<void> {
  assert.deepEqual((await readdir(folder)).sort(), [...keep].sort());
}

// --- the protobuf writer -------------------------------------------------

test('protobuf: varints, negative int64, floats, strings and nested messages encode as the wire format says', () => {
  const bytes = new ProtoWriter().int(1, 0).int(1, 150).int(2, 2 ** 40).int(3, -1).float(4, 1.5).string(5, 'hé').toBytes();
  // 150 is protobuf's own example: 08 96 01.
  assert.deepEqual([...bytes.subarray(0, 5)], [0x08, 0x00, 0x08, 0x96, 0x01]);
  const fields = readFields(bytes);
  assert.deepEqual(fields.map((f) => f.field), [1, 1, 2, 3, 4, 5]);
  assert.equal(fields[2]!.value, 2n ** 40n);
  assert.equal(BigInt.asIntN(64, fields[3]!.value as bigint), -1n, 'negative int64: ten bytes, two\'s complement');
  assert.equal(new DataView((fields[4]!.value as Uint8Array).slice().buffer).getFloat32(0, true), 1.5);
  assert.equal(new TextDecoder().decode(fields[5]!.value as Uint8Array), 'hé');
  const big = new Uint8Array(10_000).fill(7);
  const outer = new ProtoWriter().message(1, new ProtoWriter().bytes(2, big).int(3, 5));
  const inner = readFields(readFields(outer.toBytes())[0]!.value as Uint8Array);
  assert.deepEqual((inner[0]!.value as Uint8Array).byteLength, 10_000);
  assert.equal(inner[1]!.value, 5n);
  assert.ok(outer.chunks().some((c) => c === big), 'a large field is referenced, not copied');
});

// --- ONNX ----------------------------------------------------------------

test('onnx: onnxruntime-node runs the export on the parity images and agrees with torchdog within 1e-4', async (t) => {
  const out = join(dir, 'parity.onnx');
  const summary = await exportModel(checkpoint, { format: 'onnx', out });
  assert.deepEqual(
    { ...summary, seconds: 0 },
    { format: 'onnx', out, bytes: (await stat(out)).size, seconds: 0, classes: INFO.classes, image_size: kImageSize, opset: 13 },
  );
  const started = performance.now();
  const session = await ort.InferenceSession.create(out, { intraOpNumThreads: 2 });
  const created = performance.now();
  const got = await ortRun(session, images);
  const ran = performance.now();
  assert.deepEqual(session.inputNames, ['image']);
  assert.deepEqual(session.outputNames, ['logits', 'probabilities']);
  assert.deepEqual(got.dims, [images.count, fixture.numClasses]);
  const logits = maxAbsDiff(got.logits, expected.logits);
  const probabilities = maxAbsDiff(got.probabilities, expected.probabilities);
  const torchvision = maxAbsDiff(got.logits, fixture.logits.flat());
  t.diagnostic(`${mb(summary.bytes)} written in ${summary.seconds} s; onnxruntime: session ${(created - started).toFixed(0)} ms, first run (4 images) ${(ran - created).toFixed(0)} ms`);
  t.diagnostic(`max |diff| vs torchdog: logits ${logits.toExponential(2)}, probabilities ${probabilities.toExponential(2)}; logits vs torchvision (fixture) ${torchvision.toExponential(2)}`);
  assert.ok(logits <= ONNX_TOLERANCE, `logits differ by ${logits}`);
  assert.ok(probabilities <= ONNX_TOLERANCE, `probabilities differ by ${probabilities}`);
  assert.ok(torchvision <= ONNX_TOLERANCE, `logits differ from torchvision's by ${torchvision}`);

  // The batch is dynamic: one image alone gives its row of the batch of four.
  const single = await ortRun(session, { ...images, count: 1, data: images.data.subarray(0, kImageSize * kImageSize * 3) });
  assert.deepEqual(single.dims, [1, fixture.numClasses]);
  assert.ok(maxAbsDiff(single.logits, expected.logits.subarray(0, fixture.numClasses)) <= ONNX_TOLERANCE);
  await session.release();
});

test('onnx: the model declares its interface, opset and metadata as ONNX says', async () => {
  const { info } = await readCheckpoint(checkpoint);
  const m = decodeOnnxModel(onnxModel(await readCheckpoint(checkpoint), { producerVersion: '9.9.9', metadata: { a: 'b' } }).toBytes());
  assert.equal(m.irVersion, 7);
  assert.deepEqual(m.opsets, [{ domain: '', version: 13 }]);
  assert.deepEqual([m.producerName, m.producerVersion], ['torchdog', '9.9.9']);
  assert.deepEqual(m.metadata, { a: 'b' });
  // uint8 = 2, float = 1 (TensorProto.DataType); N is a named (free) dimension.
  assert.deepEqual(m.inputs, [{ name: 'image', elemType: 2, dims: ['N', kImageSize, kImageSize, 3] }]);
  assert.deepEqual(m.outputs, [
    { name: 'logits', elemType: 1, dims: ['N', 3] },
    { name: 'probabilities', elemType: 1, dims: ['N', 3] },
  ]);
  const ops = m.nodes.map((n) => n.opType);
  assert.deepEqual(ops.slice(0, 7), ['Cast', 'Mul', 'Sub', 'Transpose', 'Conv', 'Relu', 'MaxPool']);
  assert.deepEqual(ops.slice(-4), ['GlobalAveragePool', 'Flatten', 'Gemm', 'Softmax']);
  assert.equal(ops.filter((o) => o === 'Conv').length, 20, 'ResNet18 has 20 convolutions (BatchNorm folded into them)');
  assert.equal(ops.filter((o) => o === 'Add').length, 8);
  assert.ok(!ops.includes('BatchNormalization'));
  assert.deepEqual(m.nodes.at(-1)!.attributes.axis, { type: 2, i: 1, ints: [] });
  const conv1 = m.initializers.find((i) => i.name === 'conv1.weight')!;
  assert.deepEqual(conv1, { name: 'conv1.weight', dataType: 1, dims: [64, 3, 7, 7], rawBytes: 64 * 3 * 7 * 7 * 4 });
  // Every weight once: each convolution's (BatchNorm folded in) and one bias per output channel, fc's, the 2x3 pixel constants.
  const numel = (x: Tensor) => x.shape.reduce((a, b) => a * b, 1);
  const convolutions = tensors.filter((x) => x.shape.length === 4).reduce((n, x) => n + numel(x), 0);
  const channels = tensors.filter((x) => x.name.endsWith('running_mean')).reduce((n, x) => n + numel(x), 0);
  const fc = tensors.filter((x) => x.name.startsWith('fc.')).reduce((n, x) => n + numel(x), 0);
  assert.equal(m.initializers.reduce((n, i) => n + i.rawBytes / 4, 0), convolutions + channels + fc + 6);

  // What exportModel writes: the checkpoint's metadata, readable as one.
  const written = decodeOnnxModel(new Uint8Array(await readFile(join(dir, 'parity.onnx'))));
  assert.deepEqual(parseCheckpointMetadata(written.metadata, 'parity.onnx'), { ...info, extra: { input: written.metadata.input!, outputs: written.metadata.outputs!, torchdog_version: written.metadata.torchdog_version! } });
  assert.match(written.metadata.torchdog_version!, /^\d+\.\d+\.\d+/);
  assert.equal(written.producerVersion, written.metadata.torchdog_version);
});

test('onnx: every supported opset loads in onnxruntime and computes the same', async () => {
  const c = await readCheckpoint(checkpoint);
  const one = { ...images, count: 1, data: images.data.subarray(0, kImageSize * kImageSize * 3) };
  for (const opset of [ONNX_OPSETS.min, 17, 21, ONNX_OPSETS.max]) {
    const bytes = onnxModel(c, { opset }).toBytes();
    assert.equal(decodeOnnxModel(bytes).opsets[0]!.version, opset);
    const session = await ort.InferenceSession.create(bytes);
    const got = await ortRun(session, one);
    assert.ok(maxAbsDiff(got.logits, expected.logits.subarray(0, 3)) <= ONNX_TOLERANCE, `opset ${opset}`);
    await session.release();
  }
});

// --- TorchScript -----------------------------------------------------------

test('torchscript: the export, loaded back by LibTorch, agrees with torchdog within 1e-5 and carries the metadata', async (t) => {
  const out = join(dir, 'parity.pt');
  const summary = await exportModel(checkpoint, { format: 'torchscript', out });
  assert.equal(summary.bytes, (await stat(out)).size);
  assert.equal(summary.opset, null);
  assert.ok(summary.check && summary.check.max_abs_diff_logits <= TORCHSCRIPT_TOLERANCE, JSON.stringify(summary.check));
  const run = await model.runTorchScript(out, images, ['torchdog.json', 'absent.txt']);
  const logits = maxAbsDiff(run.logits, expected.logits);
  const probabilities = maxAbsDiff(run.probabilities, expected.probabilities);
  t.diagnostic(`${mb(summary.bytes)} written in ${summary.seconds} s (including its own check); max |diff| vs torchdog: logits ${logits.toExponential(2)}, probabilities ${probabilities.toExponential(2)}`);
  assert.ok(logits <= TORCHSCRIPT_TOLERANCE, `logits differ by ${logits}`);
  assert.ok(probabilities <= TORCHSCRIPT_TOLERANCE, `probabilities differ by ${probabilities}`);
  assert.equal(run.extraFiles['absent.txt'], '');
  const meta = JSON.parse(run.extraFiles['torchdog.json']!) as Record<string, string>;
  const { info } = await readCheckpoint(checkpoint);
  assert.deepEqual(parseCheckpointMetadata(meta, 'torchdog.json'), { ...info, extra: { input: meta.input!, outputs: meta.outputs!, torchdog_version: meta.torchdog_version! } });
  await assertOnly(dir, ['model.safetensors', 'parity.onnx', 'parity.pt']);
});

test('torchscript: runTorchScript refuses a file that is not TorchScript, naming it', async () => {
  const bogus = join(dir, 'bogus.pt');
  await writeFile(bogus, 'not a zip archive');
  try {
    await assert.rejects(model.runTorchScript(bogus, images), (e: Error & { code?: string }) => e.code === 'ERR_TORCHDOG_NATIVE' && /zip|archive|file/i.test(e.message));
    await assert.rejects(model.runTorchScript(join(dir, 'missing.pt'), images), { code: 'ERR_TORCHDOG_NATIVE' });
    assert.throws(() => model.runTorchScript(bogus, images, ['../escape']), InvalidArgumentError);
  } finally {
    await rm(bogus);
  }
});

const PYTHON = '/usr/bin/python3';
const pythonTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

const PYTHON_CHECK = String.raw`
import json, sys, torch
path, pixels, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
extra = {"torchdog.json": ""}
m = torch.jit.load(path, _extra_files=extra)
m.eval()
x = torch.frombuffer(bytearray(open(pixels, "rb").read()), dtype=torch.uint8).reshape(n, size, size, 3)
with torch.inference_mode():
    logits, probabilities = m(x)
out = {"torch": torch.__version__, "logits": logits.flatten().tolist(), "probabilities": probabilities.flatten().tolist(),
       "extra": extra["torchdog.json"].decode() if isinstance(extra["torchdog.json"], bytes) else extra["torchdog.json"],
       "state_dict": list(m.state_dict().keys())}
try:
    import torchvision
    r = torchvision.models.resnet18(num_classes=logits.shape[1])
    r.load_state_dict(m.state_dict())
    out["torchvision"] = True
except ImportError:
    out["torchvision"] = False
print(json.dumps(out))
`;

test(
  'torchscript: PyTorch torch.jit.load opens the export and agrees within 1e-5',
  { skip: pythonTorch ? false : `${PYTHON} cannot import torch (Debian's python3-torch is not installed; TORCHDOG_WITH_PYTHON_BASELINES=1 bash scripts/setup.sh installs it)`, timeout: 180_000 },
  async (t) => {
    const out = join(dir, 'parity.pt');
    if (!existsSync(out)) await exportModel(checkpoint, { format: 'torchscript', out });
    const script = join(dir, 'check.py');
    const pixels = join(dir, 'pixels.bin');
    await writeFile(script, PYTHON_CHECK);
    await writeFile(pixels, images.data);
    const { stdout } = await exec(PYTHON, [script, out, pixels, String(images.count), String(kImageSize)], { maxBuffer: 1 << 24, env: { ...process.env, OMP_NUM_THREADS: '2' } });
    const got = JSON.parse(stdout.trim().split('\n').at(-1)!) as { torch: string; logits: number[]; probabilities: number[]; extra: string; state_dict: string[]; torchvision: boolean };
    const logits = maxAbsDiff(got.logits, expected.logits);
    t.diagnostic(`PyTorch ${got.torch}: max |logit diff| vs torchdog ${logits.toExponential(2)}; torchvision.models.resnet18 loads its state_dict: ${got.torchvision ? 'yes (strict)' : 'torchvision not installed'}`);
    assert.ok(logits <= TORCHSCRIPT_TOLERANCE, `logits differ by ${logits}`);
    assert.ok(maxAbsDiff(got.probabilities, expected.probabilities) <= TORCHSCRIPT_TOLERANCE);
    assert.deepEqual([...got.state_dict].sort(), tensors.map((x) => x.name).sort(), "state_dict() has torchvision's names");
    assert.equal(JSON.parse(got.extra).classes, JSON.stringify(INFO.classes));
  },
);

// --- refusals ----------------------------------------------------------------

test('a checkpoint that is not a torchdog ResNet18 is refused, naming the problem, and nothing is written', async () => {
  const bad = await tempDir('torchdog-export-bad-');
  // Plain torchvision weights: no torchdog metadata.
  const plain = join(bad, 'plain.safetensors');
  await writeSafetensors(plain, tensors);
  // A torchdog checkpoint whose second block lost a convolution.
  const broken = join(bad, 'broken.safetensors');
  await writeSafetensors(broken, tensors.filter((x) => x.name !== 'layer1.1.conv2.weight'), checkpointMetadata(INFO));
  // One with a tensor of another shape (a ResNet34-like stem).
  const reshaped = join(bad, 'reshaped.safetensors');
  const conv1 = tensors.find((x) => x.name === 'conv1.weight')!;
  await writeSafetensors(
    reshaped,
    tensors.map((x) => (x === conv1 ? { ...x, shape: [32, 3, 7, 14] } : x)),
    checkpointMetadata(INFO),
  );
  const notSafetensors = join(bad, 'notes.safetensors');
  await writeFile(notSafetensors, 'hello');
  for (const format of ['onnx', 'torchscript'] as const) {
    await assert.rejects(exportModel(plain, { format }), (e: Error) => e instanceof CheckpointError && /metadata 'format'/.test(e.message));
    await assert.rejects(exportModel(broken, { format }), (e: Error) => e instanceof ExportError && e.message.includes("tensor 'layer1.1.conv2.weight' is missing"));
    await assert.rejects(exportModel(reshaped, { format }), (e: Error) => e instanceof ExportError && e.message.includes("tensor 'conv1.weight' has shape [32,3,7,14], expected [64,3,7,7]"));
    await assert.rejects(exportModel(notSafetensors, { format }), /not a valid safetensors file/);
    await assert.rejects(exportModel(join(bad, 'absent.safetensors'), { format }), /no such checkpoint file/);
  }
  await assertOnly(bad, ['plain.safetensors', 'broken.safetensors', 'reshaped.safetensors', 'notes.safetensors']);
});

test('an output that cannot be written is refused before any work, naming it; the checkpoint is never overwritten', async () => {
  const where = await tempDir('torchdog-export-out-');
  await writeFile(join(where, 'file'), 'x');
  await mkdir(join(where, 'folder'));
  for (const format of ['onnx', 'torchscript'] as const) {
    await assert.rejects(exportModel(checkpoint, { format, out: join(where, 'missing', 'm.onnx') }), (e: Error) => e instanceof ExportError && e.message.includes(`the folder ${join(where, 'missing')} does not exist`));
    await assert.rejects(exportModel(checkpoint, { format, out: join(where, 'file', 'm.onnx') }), (e: Error) => e instanceof ExportError && e.message.includes('is not a folder'));
    await assert.rejects(exportModel(checkpoint, { format, out: join(where, 'folder') }), (e: Error) => e instanceof ExportError && e.message.includes('it is a folder'));
    await assert.rejects(exportModel(checkpoint, { format, out: checkpoint }), (e: Error) => e instanceof ExportError && e.message.includes('it is the checkpoint being exported'));
  }
  await assertOnly(where, ['file', 'folder']);
  await assertOnly(join(where, 'folder'), []);
  assert.deepEqual((await readCheckpoint(checkpoint)).info.classes, INFO.classes);
});

test('unknown formats and opsets are refused with the option named', async () => {
  await assert.rejects(exportModel(checkpoint, { format: 'tflite' as 'onnx' }), (e: Error) => e instanceof InvalidArgumentError && e.message === `Expected one of 'onnx', 'torchscript' for options.format but received string "tflite"`);
  await assert.rejects(exportModel(checkpoint, { format: 'onnx', opset: 9 }), (e: Error) => e instanceof InvalidArgumentError && e.message === `Expected an integer between ${ONNX_OPSETS.min} and ${ONNX_OPSETS.max} for options.opset but received number 9`);
  await assert.rejects(exportModel(checkpoint, { format: 'onnx', opset: 13.5 }), InvalidArgumentError);
  await assert.rejects(exportModel(checkpoint, { format: 'torchscript', opset: 13 }), /options\.opset.*applies to format 'onnx' only/);
  await assert.rejects(exportModel(checkpoint, { format: 'onnx', outFile: 'x' } as never), /Unknown option options\.outFile/);
});

// --- the command line -------------------------------------------------------

async function cli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; user?: { uid: number; gid: number } } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', TSX, CLI, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      maxBuffer: 1 << 24,
      ...options.user,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('torchdog export prints one JSON line and writes beside the checkpoint by default', { timeout: 180_000 }, async () => {
  const where = await tempDir('torchdog-export-cli-');
  const model = join(where, 'best.safetensors');
  await writeFile(model, await readFile(checkpoint));
  const onnx = await cli(['export', '--model', model, '--format', 'onnx']);
  assert.equal(onnx.code, 0, onnx.stderr);
  const summary = JSON.parse(onnx.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(summary), ['format', 'out', 'bytes', 'seconds', 'classes', 'image_size', 'opset']);
  assert.equal(summary.out, join(where, 'best.onnx'));
  assert.equal(summary.opset, 13);
  const ts = await cli(['export', '-m', model, '-f', 'torchscript', '--out', join(where, 'm.pt')]);
  assert.equal(ts.code, 0, ts.stderr);
  assert.equal(JSON.parse(ts.stdout).format, 'torchscript');
  await assertOnly(where, ['best.safetensors', 'best.onnx', 'm.pt']);
});

test('torchdog export refuses bad flags with exit status 2 and a one-line reason; a failed export exits 1 and leaves nothing', { timeout: 180_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [['export', '--format', 'onnx'], /--model is required/],
    [['export', '--model', checkpoint], /--format is required: onnx or torchscript/],
    [['export', '--model', checkpoint, '--format', 'tflite'], /--format: expected onnx or torchscript but received "tflite"/],
    [['export', '--model', checkpoint, '--format', 'onnx', '--opset', '9'], /--opset: expected an integer between 11 and 23 but received "9"/],
    [['export', '--model', checkpoint, '--format', 'torchscript', '--opset', '13'], /--opset applies to --format onnx only/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
  const where = await tempDir('torchdog-export-cli-');
  const r = await cli(['export', '--model', checkpoint, '--format', 'onnx', '--out', join(where, 'no', 'such', 'm.onnx')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /torchdog export: cannot write .*m\.onnx: the folder .* does not exist\n/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  await assertOnly(where, []);
  const help = await cli(['export', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: torchdog export --model M --format onnx\|torchscript/);
});

// Root writes through any mode bits: as root, the command runs as nobody.
const NOBODY = { uid: 65534, gid: 65534 };

test('torchdog export into a folder it may not write: refused before any work, naming the folder, nothing left', { timeout: 180_000 }, async () => {
  const where = await tempDir('torchdog-export-perm-');
  await chmod(where, 0o755);
  const model = join(where, 'model.safetensors');
  await copyFile(checkpoint, model);
  await chmod(model, 0o644);
  const locked = join(where, 'locked');
  await mkdir(locked, { mode: 0o555 });
  const user = process.getuid?.() === 0 ? NOBODY : undefined;
  for (const format of ['onnx', 'torchscript']) {
    const r = await cli(['export', '--model', model, '--format', format, '--out', join(locked, 'm.out')], { ...(user ? { user } : {}) });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `torchdog export: cannot write ${join(locked, 'm.out')}: the folder ${locked} is not writable: permission denied (EACCES)\n`);
  }
  await assertOnly(locked, []);
});

test('torchdog export reads a gs:// checkpoint and writes the export to the current folder', { timeout: 180_000 }, async () => {
  const gcs = await GcsEmulator.start({ buckets: ['torchdog-models'] });
  try {
    gcs.put('torchdog-models', 'runs/7/model.safetensors', await readFile(checkpoint));
    const where = await tempDir('torchdog-export-gcs-');
    const env = { STORAGE_EMULATOR_HOST: gcs.endpoint };
    const r = await cli(['export', '--model', 'gs://torchdog-models/runs/7/model.safetensors', '--format', 'onnx'], { cwd: where, env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).out, 'model.onnx');
    await assertOnly(where, ['model.onnx']);
    const missing = await cli(['export', '--model', 'gs://torchdog-models/nope.safetensors', '--format', 'onnx'], { cwd: where, env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /gs:\/\/torchdog-models\/nope\.safetensors: no such object/);
    await assertOnly(where, ['model.onnx']);
  } finally {
    await gcs.close();
  }
});
