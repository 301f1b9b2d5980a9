// The Open Inference Protocol (KServe v2) over the same model, batcher,
// admission and limits as /predict: health, server and model metadata, model
// readiness, inference with JSON tensors, and the model repository's load
// (re-reads --model) and index. Mounted at /v2; errors are {"error": "..."}.
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { packageVersion } from '../util/index.js';
import { admission } from './admission.js';
import { jsonBody } from './body.js';
import { deadline, explain } from './deadline.js';
import { ServeError } from './errors.js';
import type { InService, ModelDescription } from './in-service.js';
import { inferResponse, modelMetadata, parseInferRequest } from './oip-tensors.js';
import type { AppEnv } from './observe.js';
import type { AppParts } from './parts.js';
import { notServing, serving, type ServedModel } from './served-model.js';

/** Each model path of the protocol, without and with a version. */
const MODEL_PATHS = ['/models/:model_name', '/models/:model_name/versions/:model_version'] as const;

/** The /v2 group, to mount with app.route('/v2', ...). */
export function oipRoute(parts: AppParts) {
  const { model, gate, recorder, metrics, options: o, retry } = parts;
  const takes = serving({ model, closing: () => gate.closed, retryAfterSeconds: retry });
  const named = knownName(model);
  // A UINT8 element is at least one digit and a comma.
  const maxElements = Math.floor(o.maxBodyBytes / 2);

  const v2 = new Hono<AppEnv>()
    .get('/health/live', (c) => c.json({ live: true }))
    .get('/health/ready', (c) => {
      const refusal = notServing(model, gate.closed, retry, true);
      return refusal ? c.json({ ready: false, error: refusal.message }, 503, refusal.headers) : c.json({ ready: true });
    })
    .get('/', (c) => c.json(serverMetadata()));

  for (const at of MODEL_PATHS) {
    v2.get(at, named, takes, knownVersion, (c) => c.json(modelMetadata(c.var.served.description)));
    v2.get(`${at}/ready`, named, (c) => {
      const refusal = notServing(model, gate.closed, retry, true);
      if (refusal) return c.json({ name: model.name, ready: false, error: refusal.message }, 503, refusal.headers);
      checkVersion(c.req.param('model_version'), model.current!.description);
      return c.json({ name: model.name, ready: true });
    });
    v2.post(
      `${at}/infer`,
      named,
      takes,
      knownVersion,
      jsonTensorsOnly,
      // A request that never reaches the queue must not keep a batch waiting for it.
      deadline({ timeoutMs: o.requestTimeoutMs, retryAfterSeconds: retry }),
      jsonBody({ maxBytes: o.maxBodyBytes, pace: parts.pace, budget: parts.uploads, retryAfterSeconds: retry }),
      // Admitted once the request is in hand (see /predict).
      admission({ gate, retryAfterSeconds: retry, onLeftEarly: () => model.current?.batcher.poke() }),
      async (c) => {
        const { served: { batcher, description }, json, signal, ticket } = c.var;
        const request = parseInferRequest(json, { imageSize: description.image_size, maxElements });
        const fields = c.get('fields');
        fields.images = request.images.length;
        try {
          ticket.arrive();
          const results = await Promise.all(request.images.map((image) => batcher.submit(image, signal)));
          results.forEach((result, i) => {
            const { prediction } = result.output;
            metrics.queueWait.observe(result.queueSeconds);
            metrics.predictions.inc({ category: prediction.category });
            recorder.record(prediction, description, request.images[i]!);
          });
          Object.assign(fields, {
            queue_ms: round(Math.max(...results.map((r) => r.queueSeconds)) * 1000),
            forward_ms: round(Math.max(...results.map((r) => r.forwardSeconds)) * 1000),
            batch_size: Math.max(...results.map((r) => r.batchSize)),
          });
          return c.json(inferResponse(description, request.id ?? c.get('requestId'), request.outputs, results.map((r) => r.output)));
        } catch (error) {
          throw explain(error, signal);
        }
      },
    );
  }

  v2.post('/repository/index', (c) => c.json([repositoryEntry(model, gate.closed)]));
  v2.post('/repository/models/:model_name/load', named, async (c) => {
    const reloaded = await model.reload(`POST ${c.req.path}`, c.get('requestId'));
    c.get('fields').model_version = reloaded.model.version;
    return c.json({
      name: model.name,
      version: reloaded.model.version,
      ready: true,
      ...(reloaded.previous ? { previous_version: reloaded.previous.version } : {}),
      load_ms: reloaded.load_ms,
      warmup_ms: reloaded.warmup_ms,
      model: reloaded.model,
    });
  });
  v2.post('/repository/models/:model_name/unload', named, () => {
    // One model per server: without it every request would fail, and /ready
    // would take the replica out of its Service. Replacing it is a load.
    throw new ServeError(
      400,
      'ERR_UNLOAD_REFUSED',
      `model '${model.name}' cannot be unloaded: this server serves exactly one model. To replace it, replace the file at --model and POST /v2/repository/models/${model.name}/load (or send SIGHUP); to stop serving, stop the process (SIGTERM drains)`,
    );
  });

  for (const route of allowed(v2)) {
    v2.all(route.path, (c) => {
      throw new ServeError(405, 'ERR_METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on ${c.req.path}; use ${route.methods.join(' or ')}`, {
        Allow: route.methods.join(', '),
      });
    });
  }
  return v2;
}

/** The server metadata (GET /v2, and GET /v2/ as the protocol's OpenAPI spells it). */
export function serverMetadata() {
  return { name: 'torchdog', version: packageVersion(), extensions: ['model_repository'] };
}

/** 404 unless the path names the model this server serves. */
function knownName(model: ServedModel) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const name = c.req.param('model_name');
    if (name !== model.name) {
      throw new ServeError(404, 'ERR_UNKNOWN_MODEL', `unknown model '${name}'; this server serves '${model.name}'`);
    }
    await next();
  });
}

/** 404 unless the path's version, if any, is the one the request runs on. */
const knownVersion = createMiddleware<{ Variables: { served: InService } }>(async (c, next) => {
  checkVersion(c.req.param('model_version'), c.var.served.description);
  await next();
});

function checkVersion(version: string | undefined, model: ModelDescription): void {
  if (version !== undefined && version !== model.version) {
    throw new ServeError(404, 'ERR_UNKNOWN_MODEL', `model '${model.name}' has no version '${version}' in service; it serves version '${model.version}'`);
  }
}

/** The binary tensor extension's requests (tritonclient's default for inputs) are refused before their body is read. */
const jsonTensorsOnly = createMiddleware(async (c, next) => {
  if (c.req.header('inference-header-content-length') !== undefined) {
    throw new ServeError(400, 'ERR_UNSUPPORTED_EXTENSION', "binary tensor data is not supported: send the tensors as JSON (tritonclient: binary_data=False)");
  }
  await next();
});

/** The model repository's index: the one model and its state. */
function repositoryEntry(model: ServedModel, closing: boolean) {
  const refusal = notServing(model, closing, 0, true);
  const version = model.current?.description.version;
  return {
    name: model.name,
    ...(version ? { version } : {}),
    state: refusal ? (model.current || model.loadError ? 'UNAVAILABLE' : 'LOADING') : 'READY',
    ...(refusal ? { reason: refusal.message } : {}),
  };
}

/** The paths of a group's routes with the methods registered on each. */
function allowed(app: Hono<AppEnv>): { path: string; methods: string[] }[] {
  const byPath = new Map<string, Set<string>>();
  for (const { path, method } of app.routes) {
    if (method === 'ALL') continue;
    if (!byPath.has(path)) byPath.set(path, new Set());
    byPath.get(path)!.add(method);
  }
  return [...byPath].map(([path, methods]) => ({ path, methods: [...methods] }));
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
