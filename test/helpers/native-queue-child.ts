// A program for test/native-queue.test.ts: exercises one way a process (or a
// worker) can end while models exist, prints what it saw as JSON lines on
// stdout, and ends on its own. Its parent checks the exit code and that the
// exit came promptly.
//
//   node --import tsx test/helpers/native-queue-child.ts MODE
//
// MODE:
//   dispose          queue work, dispose, keep a second model undisposed and
//                    idle, then let the event loop run dry
//   gc               (needs --expose-gc) drop models, one idle and one with
//                    work pending, collect, report the live counts
//   exit-while-busy  process.exit(0) while a forward runs and more are queued
//   worker           a worker with busy models is terminated mid-forward
//                    (the worker runs the built package, dist/index.js:
//                    `npm run build` first; npm test's pretest does)
import { Worker } from 'node:worker_threads';
import { Model, engineCounts } from '../../src/index.ts';
import { randomPixels } from './images.ts';

const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const batch = (count: number, size: number) => ({ data: randomPixels(count, size, 7), count, height: size, width: size });
const options = { numClasses: 2, device: 'cpu', seed: 0, threads: 1 };
const newModel = () => Model.create(options);
const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'fulfilled',
    (e: Error & { code?: string }) => `${e.code}: ${e.message}`,
  );

const mode = process.argv[2];

if (mode === 'dispose') {
  const idle = await newModel();
  await idle.forward(batch(1, 64), norm);
  const model = await newModel();
  const images = batch(8, 64);
  const ops = [model.forward(images, norm), model.forward(images, norm), model.getTensors()].map(outcome);
  await model.dispose();
  say({ outcomes: await Promise.all(ops), live: engineCounts(), done: true });
  // `idle` is never disposed: it must not keep the process alive, and the
  // environment's teardown frees it.
} else if (mode === 'gc') {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('mode gc needs node --expose-gc');
  let pending: Promise<unknown> | undefined;
  await (async () => {
    await newModel(); // an idle model, dropped at once
    pending = (await newModel()).forward(batch(4, 64), norm); // the model is dropped at once
  })();
  gc(); // the model with work pending must survive this
  await pending;
  for (let i = 0; i < 20 && engineCounts().executors > 0; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 25)); // finalizers run after the collection
  }
  say({ live: engineCounts(), done: true });
} else if (mode === 'exit-while-busy') {
  const model = await newModel();
  const images = batch(16, 128);
  void model.forward(images, norm);
  void model.forward(images, norm);
  setTimeout(() => {
    say({ done: true });
    process.exit(0);
  }, 50);
} else if (mode === 'worker') {
  // The worker imports the built package: plain JavaScript, as a user's
  // worker would, whatever loader this thread runs under.
  const entry = new URL('../../dist/index.js', import.meta.url).href;
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.entry).then(async ({ Model }) => {
      const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
      const images = { data: new Uint8Array(16 * 128 * 128 * 3).fill(90), count: 16, height: 128, width: 128 };
      const model = await Model.create(workerData.options);
      model.forward(images, norm).catch(() => {});
      model.forward(images, norm).catch(() => {});
      Model.create(workerData.options).catch(() => {}); // still building its engine when the worker ends
      parentPort.postMessage('busy');
    });
    `,
    { eval: true, workerData: { entry, options } },
  );
  worker.once('error', (error) => {
    throw error;
  });
  worker.once('message', () => {
    setTimeout(() => {
      void worker.terminate().then(() => say({ live: engineCounts(), done: true }));
    }, 50);
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}
