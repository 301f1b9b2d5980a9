// POST /predict: a chain of one-job middleware (serving, admission, deadline,
// image body), then the handler decodes, joins a batch and answers.
import { Hono } from 'hono';
import { ACCEPTED_FORMAT_NAMES, ImageDecodeError } from '../image/index.js';
import { admission } from './admission.js';
import type { AppParts } from './parts.js';
import { imageBody } from './body.js';
import { deadline, explain } from './deadline.js';
import { ServeError } from './errors.js';
import type { AppEnv } from './observe.js';
import type { ServeClassifier } from './in-service.js';
import { serving } from './served-model.js';

/** The /predict group, to mount with app.route('/predict', ...). */
export function predictRoute(parts: AppParts) {
  const { model, gate, recorder, metrics, options: o, retry: retryAfterSeconds } = parts;
  return new Hono<AppEnv>()
    .post(
      '/',
      serving({ model, closing: () => gate.closed, retryAfterSeconds }),
      deadline({ timeoutMs: o.requestTimeoutMs, retryAfterSeconds }),
      // The slot is taken once the image is in hand: slow uploads hold their
      // bytes of the upload budget and their pace, not the model's slots.
      imageBody({ maxBytes: o.maxBodyBytes, pace: parts.pace, budget: parts.uploads, retryAfterSeconds }),
      // A prediction that never reaches the queue must not keep a batch waiting for it.
      admission({ gate, retryAfterSeconds, onLeftEarly: () => model.current?.batcher.poke() }),
      async (c) => {
        const { served: { classifier, batcher, description }, image, signal, ticket } = c.var;
        const fields = c.get('fields');
        fields.image = { type: image.format, bytes: image.bytes.byteLength };
        try {
          const started = performance.now();
          const pixels = await decode(classifier, image.bytes);
          fields.decode_ms = round(performance.now() - started);
          signal.throwIfAborted();
          ticket.arrive();
          const result = await batcher.submit(pixels, signal);
          const { prediction } = result.output;
          metrics.queueWait.observe(result.queueSeconds);
          metrics.predictions.inc({ category: prediction.category });
          Object.assign(fields, {
            queue_ms: round(result.queueSeconds * 1000),
            forward_ms: round(result.forwardSeconds * 1000),
            batch_size: result.batchSize,
            category: prediction.category,
            probability: prediction.probability,
          });
          recorder.record(prediction, description, pixels, image.bytes);
          return c.json({ ...prediction, model: description });
        } catch (error) {
          throw explain(error, signal);
        }
      },
    )
    .all('/', (c) => {
      throw new ServeError(405, 'ERR_METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on /predict; use POST with an image`, { Allow: 'POST' });
    });
}

/**
 * The classifier's decode, its failures as answers. Not raced against the
 * deadline: the decode runs to its end in libvips anyway, and the admission
 * slot should cover it.
 */
async function decode(classifier: ServeClassifier, bytes: Uint8Array): Promise<Uint8Array> {
  try {
    return await classifier.decode(bytes);
  } catch (error) {
    throw error instanceof ImageDecodeError ? decodeFailure(error) : error;
  }
}

function decodeFailure(error: ImageDecodeError): ServeError {
  // libpng refuses widths over its own limit (10^6) before sharp's pixel check.
  const code = /exceeds user limit/i.test(error.message) ? 'ERR_IMAGE_TOO_LARGE' : error.code;
  switch (code) {
    case 'ERR_IMAGE_TOO_LARGE':
      return new ServeError(413, 'ERR_IMAGE_TOO_LARGE', 'image dimensions exceed the pixel limit');
    case 'ERR_IMAGE_UNSUPPORTED':
      return new ServeError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', `not an image format this service takes (${ACCEPTED_FORMAT_NAMES})`);
    default:
      return new ServeError(400, 'ERR_IMAGE_UNREADABLE', error.message.replace(/^image of \d+ bytes: /, ''));
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
