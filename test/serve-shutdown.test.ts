// Stopping a saturated service over real sockets: keep-alive connections
// whose next request is already sent get an answer to each request (the
// last with Connection: close), never a reset.
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Classifier } from '../src/index.ts';
import { createApp, startServer } from '../src/serve/index.ts';
import { encodeImage } from './helpers/images.ts';
import { spy, testClassifier } from './helpers/serve.ts';

let classifier: Classifier;
let jpeg: Buffer;

before(async () => {
  classifier = await testClassifier();
  jpeg = await encodeImage('jpeg', 80, 60, 1);
});

after(async () => {
  await classifier.dispose();
});

/** What came back on one connection: the status lines and Connection headers of its answers, and whether it was reset. */
interface Connection {
  answers: { status: number; close: boolean; code?: string }[];
  reset: boolean;
}

function parseAnswers(text: string): Connection['answers'] {
  const answers: Connection['answers'] = [];
  let at = 0;
  for (;;) {
    const head = text.indexOf('\r\n\r\n', at);
    if (head < 0) return answers;
    const headers = text.slice(at, head);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1]);
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(headers)?.[1] ?? 0);
    const body = text.slice(head + 4, head + 4 + length);
    answers.push({ status, close: /\r\nconnection: close/i.test(headers), code: /"code":"([A-Z_]+)"/.exec(body)?.[1] });
    at = head + 4 + length;
  }
}

test('SIGTERM on a saturated server: pipelined requests already sent are answered (503 ERR_SHUTTING_DOWN, Connection: close), not reset', async () => {
  const s = spy(classifier);
  const app = createApp({ classifier: s.classifier, logger: null, maxQueue: 8, maxWaitMs: 0 });
  const server = await startServer(app, { port: 0, host: '127.0.0.1', logger: () => {} });
  s.close();
  const request = `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`;
  const connections = Array.from({ length: 40 }, () => {
    const socket = connect(server.port, '127.0.0.1');
    const seen: Connection = { answers: [], reset: false };
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => (seen.reset = true));
    const closed = new Promise<Connection>((resolve) => socket.once('close', () => resolve({ ...seen, answers: parseAnswers(text) })));
    // The first request, then the next one before any answer came.
    socket.write(Buffer.concat([Buffer.from(request), jpeg]));
    socket.write(Buffer.concat([Buffer.from(request), jpeg]));
    return closed;
  });
  await sleep(300);
  const stopping = server.close();
  await sleep(100);
  s.open();
  await stopping;
  const seen = await Promise.all(connections);
  const summary = JSON.stringify(seen.map((c) => [c.reset, ...c.answers.map((a) => `${a.status}${a.close ? 'c' : ''}`)]));
  for (const c of seen) {
    assert.equal(c.reset, false, summary);
    assert.equal(c.answers.length, 2, `both requests of each connection are answered: ${summary}`);
    for (const a of c.answers) assert.ok(a.status === 200 || a.status === 503, summary);
  }
  // The connections whose first request was admitted were answered during the stop.
  const drained = seen.filter((c) => c.answers[0]!.status === 200);
  assert.ok(drained.length >= 4, summary);
  for (const c of drained) {
    assert.equal(c.answers[0]!.close, false, `an answer with another request behind it keeps the connection: ${summary}`);
    assert.equal(c.answers[1]!.close, true, `the last answer while stopping closes it: ${summary}`);
  }
});
