// The service's error answers: every refusal is JSON {"error":{"code","message","request_id"}}
// (under /v2, the Open Inference Protocol's {"error": "message"}, with `code`
// and `request_id` beside it) with a status that says whose fault it is
// (4xx: the request; 503: load).
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export type ServeErrorCode =
  | 'ERR_EMPTY_BODY'
  | 'ERR_MISSING_FIELD'
  | 'ERR_BAD_MULTIPART'
  | 'ERR_IMAGE_UNREADABLE'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_IMAGE_TOO_LARGE'
  | 'ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_BODY_TIMEOUT'
  | 'ERR_CLIENT_CLOSED'
  | 'ERR_QUEUE_FULL'
  | 'ERR_TIMEOUT'
  | 'ERR_NOT_READY'
  | 'ERR_NO_REFERENCE'
  | 'ERR_SHUTTING_DOWN'
  | 'ERR_NOT_FOUND'
  | 'ERR_METHOD_NOT_ALLOWED'
  | 'ERR_BAD_JSON'
  | 'ERR_BAD_TENSOR'
  | 'ERR_UNSUPPORTED_EXTENSION'
  | 'ERR_UNKNOWN_MODEL'
  | 'ERR_RELOAD_FAILED'
  | 'ERR_RELOAD_UNAVAILABLE'
  | 'ERR_UNLOAD_REFUSED'
  | 'ERR_INTERNAL';

export interface ErrorBody {
  error: { code: string; message: string; request_id?: string };
}

/** The Open Inference Protocol's error answer, with torchdog's code and the request id beside. */
export interface OipErrorBody {
  error: string;
  code: string;
  request_id?: string;
}

/** A refusal with a JSON body; Hono's onError turns it into the response. */
export class ServeError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: ServeErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(status, { message });
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

/** A 503 that tells the client when to come back. */
export function unavailable(code: ServeErrorCode, message: string, retryAfterSeconds: number): ServeError {
  return new ServeError(503, code, message, { 'Retry-After': String(retryAfterSeconds) });
}
