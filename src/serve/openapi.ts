// GET /openapi.json: the service described as OpenAPI 3.1 — torchdog's own
// routes and their errors, and the Open Inference Protocol's under /v2, with
// the served model's name (and, once loaded, its input size and classes) as
// the examples.
import { packageVersion } from '../util/index.js';
import type { ModelDescription } from './in-service.js';

type Schema = Record<string, unknown>;

const json = (schema: Schema) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const answer = (description: string, schema?: Schema, headers?: Schema) => ({
  description,
  ...(headers ? { headers } : {}),
  ...(schema ? { content: json(schema) } : {}),
});

const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } } };

/** torchdog's error answers, by status. */
const ERRORS = {
  '400': answer('The request is malformed (undecodable image, missing field); the message says what to change', ref('Error')),
  '405': answer('Another method is expected (see Allow)', ref('Error')),
  '408': answer('The request body did not arrive within the time budget', ref('Error')),
  '413': answer('The body is over the size limit, or the image over the pixel limit', ref('Error')),
  '415': answer('Not an image format the service takes (JPEG, PNG, WebP, GIF, TIFF, AVIF), judged from the bytes', ref('Error')),
  '503': answer('Not ready, shutting down, too many predictions in progress, or over the time budget', ref('Error'), RETRY_AFTER),
};

/** The protocol's error answers, by status. */
const OIP_ERRORS = {
  '400': answer('A malformed request or tensor (datatype, shape, data length, too many elements); the message says which', ref('OipError')),
  '404': answer('No such model or version', ref('OipError')),
  '405': answer('Another method is expected (see Allow)', ref('OipError')),
  '408': answer('The request body did not arrive within the time budget', ref('OipError')),
  '413': answer('The body is over the size limit', ref('OipError')),
  '503': answer('Not ready, shutting down, too many requests in progress, or over the time budget', ref('OipError'), RETRY_AFTER),
};

const MODEL_NAME = { name: 'model_name', in: 'path', required: true, schema: { type: 'string' } };
const MODEL_VERSION = { name: 'model_version', in: 'path', required: true, schema: { type: 'string' }, description: "The first 12 hex digits of the checkpoint's sha256" };

function schemas(size: number, classes: string[]): Record<string, Schema> {
  const tensor = (datatype: string, shape: number[]) => ({
    type: 'object',
    required: ['name', 'shape', 'datatype', 'data'],
    properties: {
      name: { type: 'string' },
      shape: { type: 'array', items: { type: 'integer' }, example: shape },
      datatype: { type: 'string', example: datatype },
      parameters: { type: 'object' },
      data: { type: 'array', description: 'Row-major elements, flat or nested as the shape says' },
    },
  });
  return {
    Error: {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string', example: 'ERR_UNSUPPORTED_MEDIA_TYPE' }, message: { type: 'string' }, request_id: { type: 'string' } },
        },
      },
    },
    OipError: {
      type: 'object',
      required: ['error'],
      properties: { error: { type: 'string' }, code: { type: 'string', example: 'ERR_BAD_TENSOR' }, request_id: { type: 'string' } },
    },
    Model: {
      type: 'object',
      description: 'The model in service',
      properties: {
        name: { type: 'string' },
        version: { type: 'string' },
        run: { type: 'string', description: 'The training run the checkpoint came from' },
        sha256: { type: 'string' },
        arch: { type: 'string' },
        classes: { type: 'array', items: { type: 'string' }, example: classes },
        image_size: { type: 'integer', example: size },
        device: { type: 'string' },
        precision: { type: 'string', enum: ['fp32', 'bf16', 'int8'], description: 'What the forward passes compute in' },
        source: { type: 'string' },
        metadata: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    Prediction: {
      type: 'object',
      required: ['category', 'probability', 'probabilities', 'model'],
      properties: {
        category: { type: 'string', example: classes[0] },
        probability: { type: 'number' },
        probabilities: { type: 'object', additionalProperties: { type: 'number' } },
        model: ref('Model'),
      },
    },
    InferRequest: {
      type: 'object',
      required: ['inputs'],
      properties: {
        id: { type: 'string' },
        parameters: { type: 'object' },
        inputs: { type: 'array', minItems: 1, maxItems: 1, items: tensor('UINT8', [1, size, size, 3]), description: `One input, image: UINT8 [-1, ${size}, ${size}, 3], NHWC RGB` },
        outputs: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { enum: ['probabilities', 'logits'] } } } },
      },
    },
    InferResponse: {
      type: 'object',
      required: ['model_name', 'outputs'],
      properties: {
        model_name: { type: 'string' },
        model_version: { type: 'string' },
        id: { type: 'string', description: "The request's id, else its X-Request-Id" },
        outputs: { type: 'array', items: tensor('FP32', [1, classes.length]), description: 'probabilities and logits, FP32 [-1, classes]; parameters.classes is the classes as a JSON string' },
      },
    },
    ModelMetadata: {
      type: 'object',
      required: ['name', 'platform', 'inputs', 'outputs'],
      properties: {
        name: { type: 'string' },
        versions: { type: 'array', items: { type: 'string' } },
        platform: { type: 'string' },
        inputs: { type: 'array', items: { type: 'object' } },
        outputs: { type: 'array', items: { type: 'object' } },
        parameters: { type: 'object', description: 'classes (a JSON string), run, sha256' },
      },
    },
  };
}

/** The OpenAPI document for a service serving `name` (described by `model` once loaded). */
export function openApiDocument(name: string, model: ModelDescription | undefined) {
  const size = model?.image_size ?? 128;
  const classes = model?.classes ?? ['hotdog', 'nothotdog'];
  const oip = (summary: string, ok: Schema, extra: Schema = {}) => ({ summary, tags: ['Open Inference Protocol'], ...extra, responses: { '200': answer('OK', ok), ...OIP_ERRORS } });
  const metadata = oip('Model metadata', ref('ModelMetadata'));
  const ready = oip('Model ready', { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } });
  const infer = oip('Inference with JSON tensors, batched with /predict', ref('InferResponse'), { requestBody: { required: true, content: json(ref('InferRequest')) } });
  const versioned = (operation: Schema) => ({ ...operation, parameters: [MODEL_NAME, MODEL_VERSION] });
  const named = (operation: Schema) => ({ ...operation, parameters: [{ ...MODEL_NAME, example: name }] });
  return {
    openapi: '3.1.0',
    info: {
      title: 'torchdog',
      version: packageVersion(),
      description: `An image classifier (ResNet18 on LibTorch) serving model '${name}'. Every answer carries X-Request-Id (the request's own when it is 1-255 letters, digits, '_', '-' or '=', else a new one); error bodies and log lines carry it too.`,
    },
    paths: {
      '/': { get: { summary: 'A page to try images', responses: { '200': { description: 'HTML', content: { 'text/html': {} } } } } },
      '/health': { get: { summary: 'Liveness: 200 while the process runs', responses: { '200': answer('Alive', { type: 'object', properties: { status: { const: 'ok' } } }) } } },
      '/ready': {
        get: {
          summary: 'Readiness: 200 while a model is in service (reloads included)',
          responses: { '200': answer('Ready', { type: 'object', properties: { status: { const: 'ready' }, model: ref('Model') } }), '503': ERRORS['503'] },
        },
      },
      '/predict': {
        post: {
          summary: "Classify one image: multipart field 'data' (or 'file'), or the raw image as the body",
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': { schema: { type: 'object', properties: { data: { type: 'string', format: 'binary' }, file: { type: 'string', format: 'binary' } } } },
              'image/*': { schema: { type: 'string', format: 'binary' } },
              'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
            },
          },
          responses: { '200': answer('The class, its probability, every class\'s, and the model', ref('Prediction')), ...ERRORS },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': {} } } } } },
      '/drift': {
        get: {
          summary: "Drift of recent predictions against the training run's reference.jsonl",
          responses: { '200': answer('The verdict', { type: 'object' }), '404': answer('No reference given', ref('Error')), '503': ERRORS['503'] },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': answer('OpenAPI 3.1', { type: 'object' }) } } },
      '/v2/health/live': { get: oip('Server live', { type: 'object', properties: { live: { type: 'boolean' } } }) },
      '/v2/health/ready': { get: oip('Server ready (503 while not)', { type: 'object', properties: { ready: { type: 'boolean' } } }) },
      '/v2': { get: oip('Server metadata', { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } } }) },
      '/v2/models/{model_name}': { get: named(metadata) },
      '/v2/models/{model_name}/versions/{model_version}': { get: versioned(metadata) },
      '/v2/models/{model_name}/ready': { get: named(ready) },
      '/v2/models/{model_name}/versions/{model_version}/ready': { get: versioned(ready) },
      '/v2/models/{model_name}/infer': { post: named(infer) },
      '/v2/models/{model_name}/versions/{model_version}/infer': { post: versioned(infer) },
      '/v2/repository/index': { post: oip('The model repository: the one model and its state', { type: 'array', items: { type: 'object' } }) },
      '/v2/repository/models/{model_name}/load': {
        post: named(oip('Reload the model from --model without downtime (400 with the reason if it fails; the old one keeps serving)', { type: 'object' })),
      },
      '/v2/repository/models/{model_name}/unload': {
        post: named(oip('Refused (400): this server serves exactly one model', { type: 'object' })),
      },
    },
    components: { schemas: schemas(size, classes) },
  };
}
