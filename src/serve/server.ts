// Listening: @hono/node-server around a TorchdogApp, the graceful stop that
// Cloud Run's SIGTERM expects (refuse new predictions, answer what was admitted,
// flush the prediction log, then let the process end), and SIGHUP's reload.
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { serve } from '@hono/node-server';
import { expectInteger, expectString, invalid } from '../util/index.js';
import type { ShutdownResult, TorchdogApp } from './app.js';
import { SERVE_DEFAULTS } from './defaults.js';
import { jsonLineLogger, type Logger } from './log.js';

export interface ServerOptions {
  /** 0 picks a free port. Default in {@link SERVE_DEFAULTS}. */
  port?: number;
  /** Default in {@link SERVE_DEFAULTS} (what a container needs); 127.0.0.1 for local only. */
  host?: string;
  /** Longest a stop waits for admitted predictions. Default in {@link SERVE_DEFAULTS} (why: see there). */
  shutdownTimeoutMs?: number;
  /** Stop gracefully on SIGTERM and SIGINT; reload the model on SIGHUP. Default false (the CLI turns it on). */
  handleSignals?: boolean;
  logger?: Logger;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** Stops gracefully; the same promise on every call. */
  close(): Promise<ShutdownResult>;
  /** Settles when the server has stopped, however it was asked to. */
  readonly closed: Promise<ShutdownResult>;
}

export async function startServer(app: TorchdogApp, options: ServerOptions = {}): Promise<RunningServer> {
  const port = expectInteger(options.port ?? SERVE_DEFAULTS.port, 'options.port', 0, 65535);
  const host = expectString(options.host ?? SERVE_DEFAULTS.host, 'options.host');
  const timeoutMs = expectInteger(options.shutdownTimeoutMs ?? SERVE_DEFAULTS.shutdownTimeoutMs, 'options.shutdownTimeoutMs', 0);
  const log = options.logger ?? jsonLineLogger();
  if (typeof log !== 'function') throw invalid('options.logger', 'a function', log);

  const server = await new Promise<Server>((resolve, reject) => {
    // The app settles unread bodies itself (settleBodies: a lingering close
    // within its bounds); the adapter's own cleanup would cut them at 64 MiB
    // or 500 ms, resetting clients that write the whole body before reading.
    const s = serve({ fetch: app.fetch, port, hostname: host, autoCleanupIncoming: false }) as Server;
    s.once('listening', () => resolve(s));
    s.once('error', reject);
  });
  server.on('request', closeOnlyAfterTheLast);
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shown}:${address.port}`;

  let finish!: (result: ShutdownResult) => void;
  const closed = new Promise<ShutdownResult>((resolve) => (finish = resolve));
  let closing: Promise<ShutdownResult> | undefined;

  const onSignal = (signal: NodeJS.Signals) => {
    log({ severity: 'INFO', message: `${signal}: stopping (again to force)` });
    process.once(signal, () => {
      log({ severity: 'WARNING', message: `${signal} again: exiting without draining` });
      process.exit(130);
    });
    void close();
  };
  const signals: NodeJS.Signals[] = options.handleSignals ? ['SIGTERM', 'SIGINT'] : [];
  for (const s of signals) process.once(s, onSignal);
  // The app logs how a reload went, and counts it; a reload refused before it began is said here.
  const onHangUp = () =>
    void app.reload('SIGHUP').catch((error: { code?: string; message: string }) => {
      if (error.code !== 'ERR_RELOAD_FAILED') log({ severity: 'WARNING', message: `SIGHUP: no reload: ${error.message}` });
    });
  if (options.handleSignals) process.on('SIGHUP', onHangUp);

  function close(): Promise<ShutdownResult> {
    closing ??= (async () => {
      // Still listening while the admitted predictions drain: what arrives
      // meanwhile (a request already sent on a keep-alive connection, a
      // connection not yet accepted) is answered 503 ERR_SHUTTING_DOWN with
      // Connection: close. Closing the listener and the idle connections
      // first would reset those: Node counts a connection whose request
      // is not yet parsed as idle.
      const result = await app.shutdown({ timeoutMs });
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // Answers of drained requests may still be streaming out; give them a
      // moment on their (now Connection: close) sockets, then cut the rest.
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise((resolve) => (grace = setTimeout(resolve, 1000)))]);
      clearTimeout(grace);
      server.closeAllConnections();
      await stopped;
      for (const s of signals) process.removeListener(s, onSignal);
      process.removeListener('SIGHUP', onHangUp);
      log({ severity: 'INFO', message: 'stopped', drained: result.drained });
      finish(result);
      return result;
    })();
    return closing;
  }

  log({ severity: 'INFO', message: `listening on ${url}`, url, port: address.port, host });
  return { url, port: address.port, host, close, closed };
}

const kReceived = Symbol('requests received on this socket');

/**
 * An answer says Connection: close (as every answer does while the service
 * stops) only when it is the answer to the last request received on its
 * connection: Node ends the socket after an answer that closes, so a
 * pipelined request already sent behind it would never be answered (the
 * client sees its connection reset). Its own answer closes the connection.
 */
function closeOnlyAfterTheLast(request: IncomingMessage, response: ServerResponse): void {
  const socket = request.socket as Socket & { [kReceived]?: number };
  const index = (socket[kReceived] = (socket[kReceived] ?? 0) + 1);
  const writeHead = response.writeHead;
  response.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
    if (socket[kReceived] !== index) {
      const headers = args.find((a) => typeof a === 'object' && a !== null && !Array.isArray(a)) as OutgoingHttpHeaders | undefined;
      for (const key of Object.keys(headers ?? {})) if (key.toLowerCase() === 'connection') delete headers![key];
      this.removeHeader('connection');
    }
    return writeHead.apply(this, args);
  } as ServerResponse['writeHead'];
}
