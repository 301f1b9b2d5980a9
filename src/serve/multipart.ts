// multipart/form-data (RFC 7578) as /predict takes it: a body already in
// memory, split at its boundary with the native byte search, never copied.
// Bounded, because a body of a few MB can hold hundreds of thousands of empty
// parts (which a general form parser turns into as many objects, blocking
// the event loop): at most MAX_PARTS parts of at most MAX_HEADER_BYTES of
// headers each, else a 400 that says which limit.
import { ServeError } from './errors.js';

/** Most parts one body may have: an upload has one image and perhaps a few fields. */
export const MAX_PARTS = 64;
/** Most bytes of headers one part may have. */
export const MAX_HEADER_BYTES = 8 * 1024;

export interface MultipartPart {
  /** The form field's name (Content-Disposition's `name`). */
  name: string;
  filename?: string;
  /** A view into the body. */
  bytes: Uint8Array;
}

function bad(why: string): ServeError {
  return new ServeError(400, 'ERR_BAD_MULTIPART', `malformed multipart/form-data body (${why})`);
}

/** The boundary parameter of a multipart Content-Type, or a 400. */
function boundaryOf(contentType: string): string {
  const match = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw bad('no boundary in its Content-Type');
  return boundary;
}

/**
 * The parts of a multipart/form-data body, in order. Throws a 400
 * ERR_BAD_MULTIPART naming the fault: no boundary, no opening or closing
 * delimiter, a part without a name, more than MAX_PARTS parts, a part's
 * headers over MAX_HEADER_BYTES.
 */
export function parseMultipart(body: Uint8Array, contentType: string): MultipartPart[] {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const dash = Buffer.from(`--${boundaryOf(contentType)}`);
  const delimiter = Buffer.concat([Buffer.from('\r\n'), dash]);
  // The first delimiter opens the body, or follows a preamble and CRLF.
  let at: number;
  if (bytes.subarray(0, dash.length).equals(dash)) {
    at = dash.length;
  } else {
    const first = bytes.indexOf(delimiter);
    if (first < 0) throw bad('its boundary never occurs in it');
    at = first + delimiter.length;
  }
  const parts: MultipartPart[] = [];
  for (;;) {
    // After a delimiter: "--" closes the body; else optional whitespace and CRLF open a part.
    if (bytes[at] === 0x2d && bytes[at + 1] === 0x2d) return parts;
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0 || bytes.subarray(at, lineEnd).some((b) => b !== 0x20 && b !== 0x09)) throw bad('no closing boundary');
    if (parts.length === MAX_PARTS) throw bad(`more than ${MAX_PARTS} parts`);
    const headersStart = lineEnd + 2;
    // From the delimiter line's own CRLF: a part without headers ends them at once.
    const headersEnd = bytes.indexOf('\r\n\r\n', lineEnd);
    const searchedTo = headersEnd < 0 ? bytes.length : headersEnd;
    if (searchedTo - headersStart > MAX_HEADER_BYTES) throw bad(`a part's headers exceed ${MAX_HEADER_BYTES} bytes`);
    if (headersEnd < 0) throw bad("a part's headers never end");
    const contentStart = headersEnd + 4;
    const next = bytes.indexOf(delimiter, contentStart);
    if (next < 0) throw bad('no closing boundary');
    parts.push({ ...disposition(bytes.toString('latin1', headersStart, Math.max(headersStart, headersEnd))), bytes: body.subarray(contentStart, next) });
    at = next + delimiter.length;
  }
}

/** Name and filename from a part's headers (Content-Disposition: form-data; name="..."; filename="..."). */
function disposition(headers: string): { name: string; filename?: string } {
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const value = line.slice(colon + 1);
    const param = (key: string) => {
      const m = new RegExp(`;\\s*${key}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(value);
      return m ? Buffer.from((m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1'), 'latin1').toString('utf8') : undefined;
    };
    const name = param('name');
    if (name === undefined) break;
    const filename = param('filename');
    return filename === undefined ? { name } : { name, filename };
  }
  throw bad('a part without Content-Disposition: form-data; name="..."');
}
