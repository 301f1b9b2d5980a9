// A service in its own process, for tests that measure what a client cannot
// see from inside (its memory) or that need a real socket per client:
//
//   node --import tsx test/helpers/serve-child.ts '{"maxBodyBytes": 1048576, ...}'
//
// The argument is createApp's options as JSON (a 64x64 random model is
// loaded); the first stdout line is {"url": ...}; SIGTERM stops it gracefully.
import { createApp, startServer } from '../../src/serve/index.ts';
import { testClassifier } from './serve.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const classifier = await testClassifier();
const app = createApp({ classifier, logger: null, ...options });
const server = await startServer(app, { port: 0, host: '127.0.0.1', handleSignals: true, logger: () => {} });
process.stdout.write(`${JSON.stringify({ url: server.url, pid: process.pid })}\n`);
await server.closed;
await classifier.dispose();
