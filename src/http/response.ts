/**
 * The response writer (the seed's `HttpResponse`).
 *
 * Bodies written before the head is sent are held back, so a response finished with `destroy()` goes out with
 * an exact `Content-Length` in one write. Once more than {@linkcode BODY_HOLD_BYTES} are held, or `send()` is
 * called, the head goes out and the rest is streamed: chunked for HTTP/1.1, close-delimited for HTTP/1.0.
 *
 * @module
 */

import { COPY_THRESHOLD_BYTES, type OutputBuffer } from "../_output_buffer.ts";
import { type CookieOptions, serializeSetCookie } from "./cookies.ts";
import { httpDateLine } from "./date.ts";
import { type HttpRequest, requestOwner } from "./request.ts";
import { statusText } from "./status.ts";
import type { StaticResponse } from "./static.ts";

/** Body bytes held back before the head is sent; 64 KiB keeps typical pages in one write. */
export const BODY_HOLD_BYTES = 64 * 1024;

/** What a response needs from its connection; implemented by the HTTP connection. */
export interface ResponseChannel {
  /** The connection's batched output. */
  readonly out: OutputBuffer;
  /** Schedules a flush of {@linkcode ResponseChannel.out}. */
  queueFlush(): void;
  /** `true` once the transport is closed. */
  readonly closed: boolean;
  /** `true` once the server is stopping, so this response is the connection's last. */
  readonly stopping: boolean;
  /** Resolves once buffered output is below the high-water mark (at once when it is). */
  drained(): Promise<void>;
  /** Called once when `response` is complete; `keepAlive: false` closes the connection after the flush. */
  responseDone(response: HttpResponse, keepAlive: boolean): void;
  /** Serves one file with conditionals and ranges (the public folder's logic); `null` when missing. */
  serveFile(path: string, request: HttpRequest): Promise<StaticResponse | null>;
}

type ResponseState = "open" | "streaming" | "finished";

const textEncoder = new TextEncoder();

// RFC 9110 §5.1: field-name = token.
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHARS[c.charCodeAt(0)] = 1;
}

/** `true` when `name` is a valid header field name (an RFC 9110 token). */
export function isToken(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

/** `true` when `value` may be sent as a field value: Latin-1 without control characters other than HTAB. */
export function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** Writes a Latin-1 string into `out` (HTTP heads are Latin-1; values were checked on the way in). */
export function writeLatin1(out: OutputBuffer, text: string): void {
  const n = text.length;
  const buffer = out.reserve(n);
  let offset = out.offset;
  for (let i = 0; i < n; i++) buffer[offset++] = text.charCodeAt(i);
  out.commit(n);
}

/** Writes the decimal digits of `value` (a non-negative safe integer) into `out`, without a string. */
function writeDecimal(out: OutputBuffer, value: number): void {
  let digits = 1;
  // Small lengths, the usual case, count their digits without a division.
  if (value >= 10) {
    digits = value < 100 ? 2 : value < 1000 ? 3 : value < 10000 ? 4 : decimalDigits(value);
  }
  const buffer = out.reserve(digits);
  let offset = out.offset + digits;
  let rest = value;
  do {
    const next = Math.floor(rest / 10);
    buffer[--offset] = 0x30 + (rest - next * 10);
    rest = next;
  } while (rest > 0);
  out.commit(digits);
}

function decimalDigits(value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** The UTF-8 length of `text` (a lone surrogate counts as U+FFFD, 3 bytes, as `TextEncoder` writes it). */
export function utf8Length(text: string): number {
  const n = text.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // a pair: 2 UTF-16 units, 4 bytes
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * Writes `text` as UTF-8 straight into `out`'s slab, `byteLength` bytes (from {@linkcode utf8Length}): no
 * intermediate array for the short bodies most responses have.
 */
function writeUtf8(out: OutputBuffer, text: string, byteLength: number): void {
  if (byteLength > COPY_THRESHOLD_BYTES) {
    out.append(textEncoder.encode(text));
    return;
  }
  const buffer = out.reserve(byteLength);
  const start = out.offset;
  if (byteLength === text.length) {
    // ASCII: one byte per unit.
    for (let i = 0, offset = start; i < byteLength; i++) buffer[offset++] = text.charCodeAt(i);
  } else {
    textEncoder.encodeInto(text, buffer.subarray(start, start + byteLength));
  }
  out.commit(byteLength);
}

/** Body data held or queued: bytes, or text (sent as UTF-8). */
type BodyPart = Uint8Array | string;

/** `text` (Latin-1) as bytes, for the fixed pieces of heads that are copied into every response. */
export function latin1Bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
/** `"\r\n"` as bytes, shared by every head: never modify it. */
export const CRLF = latin1Bytes("\r\n");
const CONTENT_LENGTH = latin1Bytes("Content-Length: ");
const CHUNKED = latin1Bytes("Transfer-Encoding: chunked\r\n");
const CONNECTION_CLOSE = latin1Bytes("Connection: close\r\n");
const CONNECTION_KEEP_ALIVE = latin1Bytes("Connection: keep-alive\r\n");

/** `"HTTP/1.1 <status> <reason>\r\n"` as bytes, for the statuses sent so far. */
const statusLines = new Map<number, Uint8Array>();

function statusLine(status: number): Uint8Array {
  let line = statusLines.get(status);
  if (line === undefined) {
    const reason = statusText(status);
    line = latin1Bytes(`HTTP/1.1 ${status} ${reason}\r\n`);
    // Registered statuses only: an app sending arbitrary codes cannot grow the map.
    if (reason !== "Unknown") statusLines.set(status, line);
  }
  return line;
}

/** A status line joined with the `Date` line it was built with. */
interface StatusAndDate {
  dateLine: Uint8Array;
  bytes: Uint8Array;
}

/** Per registered status, its status line followed by the current `Date` line, rebuilt once a second. */
const statusAndDateLines = new Map<number, StatusAndDate>();

/**
 * `"HTTP/1.1 <status> <reason>\r\nDate: <now>\r\n"` as bytes: the start of nearly every head, copied as one
 * piece rather than two.
 */
function statusAndDateLine(status: number): Uint8Array {
  const dateLine = httpDateLine();
  const cached = statusAndDateLines.get(status);
  if (cached !== undefined && cached.dateLine === dateLine) return cached.bytes;
  const line = statusLine(status);
  const bytes = new Uint8Array(line.length + dateLine.length);
  bytes.set(line);
  bytes.set(dateLine, line.length);
  if (cached !== undefined) {
    cached.dateLine = dateLine;
    cached.bytes = bytes;
  } else if (statusLines.get(status) === line) statusAndDateLines.set(status, { dateLine, bytes });
  return bytes;
}

/** Headers the server computes itself from the response's state. */
const MANAGED_HEADERS = new Set(["content-length", "transfer-encoding", "connection"]);

/**
 * A response to one request. Create it with {@linkcode HttpResponse.create}, write headers and body, and finish
 * it with {@linkcode HttpResponse.destroy}. Methods return `0` on success and `-1` when the response can no
 * longer do what was asked (headers already sent, response finished, or connection closed), as the seed does;
 * invalid arguments throw `TypeError` or `RangeError`.
 */
export class HttpResponse {
  /** The status code; default 200. Valid: 100–599 (checked when the head is sent: `RangeError`). */
  status = 200;
  /**
   * The body length for the `Content-Length` header. `undefined` (the default): computed from what was
   * written before the head was sent, else chunked. `-1`: no `Content-Length` and the connection closes after
   * the body (the seed's "-1 means omit the header").
   */
  contentLength: number | undefined = undefined;
  readonly request: HttpRequest;
  #channel: ResponseChannel;
  #state: ResponseState = "open";
  #headerLines = "";
  #hasDate = false;
  #keepAlive: boolean;
  /**
   * Body parts written before the head, with their sizes in bytes (a text's UTF-8 length is counted once, in
   * `writeBody`). The first sits in fields: most responses hold exactly one, and an array for it would be
   * the largest allocation of a small response. Later ones follow in `#moreHeld`, each followed by its size.
   */
  #firstHeld: BodyPart | null = null;
  #firstHeldSize = 0;
  #moreHeld: (BodyPart | number)[] | null = null;
  #heldBytes = 0;
  #chunked = false;
  #bodyBytesSent = 0;
  #expectedBytes = -1;
  #headOnly: boolean;

  /** @internal Use {@linkcode HttpResponse.create}. */
  constructor(request: HttpRequest, channel: ResponseChannel) {
    this.request = request;
    this.#channel = channel;
    this.#keepAlive = request.keepAlive;
    this.#headOnly = request.method === "HEAD";
  }

  /**
   * The response bound to `request`'s connection (the seed's `HttpResponse.create`).
   *
   * @throws {TypeError} when the request already has a response or was upgraded.
   */
  static create(request: HttpRequest): HttpResponse {
    return requestOwner(request).createResponse(request);
  }

  /** `true` once the status line and headers were sent. */
  get headersSent(): boolean {
    return this.#state !== "open";
  }

  /** `true` once the response is complete (or the connection closed). */
  get finished(): boolean {
    return this.#state === "finished" || this.#channel.closed;
  }

  /** The status line's reason phrase for {@linkcode HttpResponse.status} (the seed's `status_str`). */
  get statusText(): string {
    return statusText(this.status);
  }

  /**
   * Adds a header (the seed's `write_header`). `Content-Length`, `Transfer-Encoding` and `Connection` are
   * managed by the server: `Content-Length` sets {@linkcode HttpResponse.contentLength}, `Connection: close`
   * closes the connection after the response, and `Transfer-Encoding` is refused.
   *
   * @returns 0, or -1 when the headers were already sent.
   * @throws {TypeError} for a name that is not a token or a value with CR, LF, NUL or other control characters
   * (header injection), or for `Transfer-Encoding`.
   */
  writeHeader(name: string, value: string | number): 0 | -1 {
    const text = String(value);
    if (!isToken(name)) throw new TypeError(`Invalid header name: ${JSON.stringify(name)}`);
    if (!isFieldValue(text)) throw new TypeError(`Invalid value for header ${name}`);
    if (this.#state !== "open" || this.#channel.closed) return -1;
    const lower = name.toLowerCase();
    if (MANAGED_HEADERS.has(lower)) {
      if (lower === "content-length") {
        const length = Number(text);
        if (!Number.isSafeInteger(length) || length < 0) {
          throw new TypeError(`Invalid Content-Length: ${text}`);
        }
        this.contentLength = length;
      } else if (lower === "connection") {
        if (text.toLowerCase() === "close") this.#keepAlive = false;
      } else {
        throw new TypeError("Transfer-Encoding is managed by the server");
      }
      return 0;
    }
    if (lower === "date") this.#hasDate = true;
    this.#headerLines += `${name}: ${text}\r\n`;
    return 0;
  }

  /**
   * Adds a `Set-Cookie` header (the seed's `set_cookie`). A missing `value` deletes the cookie.
   *
   * @returns 0, or -1 when the headers were already sent.
   * @throws {TypeError} for illegal characters in the name, value, domain or path (RFC 6265 §4.1).
   */
  setCookie(cookie: CookieOptions): 0 | -1 {
    return this.writeHeader("Set-Cookie", serializeSetCookie(cookie));
  }

  /**
   * Sends the status line and headers now (the seed's `send`). Without a known length the body that follows
   * is chunked (HTTP/1.1) or close-delimited (HTTP/1.0).
   *
   * @returns 0, or -1 when already sent or the connection is closed.
   */
  send(): 0 | -1 {
    if (this.#state !== "open" || this.#channel.closed) return -1;
    this.#sendHead(false);
    return 0;
  }

  /**
   * Writes body bytes (the seed's `write_body`); strings are sent as UTF-8. The bytes are copied or queued
   * by reference: do not modify a `Uint8Array` after passing it. May be called many times.
   *
   * @returns 0, or -1 when the response is finished or the connection closed.
   * @throws {RangeError} when writing past an explicitly set {@linkcode HttpResponse.contentLength}.
   */
  writeBody(data: string | Uint8Array): 0 | -1 {
    if (this.#state === "finished" || this.#channel.closed) return -1;
    const size = typeof data === "string" ? utf8Length(data) : data.length;
    if (size === 0) return 0;
    if (this.#state === "open") {
      if (this.contentLength !== undefined && this.contentLength >= 0) {
        this.#checkRoom(this.#heldBytes, size);
      }
      if (this.#firstHeld === null) {
        this.#firstHeld = data;
        this.#firstHeldSize = size;
      } else {
        (this.#moreHeld ??= []).push(data, size);
      }
      this.#heldBytes += size;
      if (this.#heldBytes > BODY_HOLD_BYTES) this.#sendHead(false);
      return 0;
    }
    this.#writeBodyBytes(data, size);
    this.#channel.queueFlush();
    return 0;
  }

  /**
   * Sends the file at `path` as the whole response (the seed's `sendfile2`), with `Content-Type`,
   * `Last-Modified`, `ETag`, conditional requests (304) and `Range` (206 / 416), streamed from disk. Headers
   * written before are kept; the status is set from the outcome.
   *
   * @returns 0 once the file was sent; -1 when the file does not exist, the response already started, or the
   * connection closed (then nothing was sent, so the app can still answer, e.g. with a 404).
   */
  async sendFile(path: string): Promise<0 | -1> {
    if (this.#state !== "open" || this.#channel.closed) return -1;
    const file = await this.#channel.serveFile(path, this.request);
    if (file === null || this.#state !== "open" || this.#channel.closed) return -1;
    await this.sendStatic(file);
    return 0;
  }

  /** @internal Sends a prepared static response (public folder or sendFile) and finishes. */
  async sendStatic(file: StaticResponse): Promise<void> {
    this.status = file.status;
    for (const [name, value] of file.headers) {
      if (name.toLowerCase() === "content-length") this.contentLength = Number(value);
      else this.writeHeader(name, value);
    }
    if (file.body === null || this.#headOnly) {
      await file.body?.cancel();
      this.destroy();
      return;
    }
    this.#sendHead(false);
    const reader = file.body.getReader();
    try {
      while (!this.#channel.closed) {
        const { done, value } = await reader.read();
        if (done) break;
        this.#writeBodyBytes(value, value.length);
        this.#channel.queueFlush();
        await this.#channel.drained();
      }
    } finally {
      if (this.#channel.closed) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
    this.destroy();
  }

  /**
   * Finishes the response and closes the connection after it is sent (the seed's `close`).
   *
   * @returns 0, or -1 when the connection was already closed.
   */
  close(): 0 | -1 {
    if (this.#channel.closed) return -1;
    this.#keepAlive = false;
    this.destroy();
    return 0;
  }

  /**
   * Finishes the response (the seed's `destroy`): sends the head if not yet sent, with the exact length of
   * the body written so far, and ends the body. Further calls do nothing.
   */
  destroy(): void {
    if (this.#state === "finished") return;
    if (this.#channel.closed) {
      this.#state = "finished";
      return;
    }
    if (this.#state === "open") this.#sendHead(true);
    if (this.#chunked && !this.#headOnly) writeLatin1(this.#channel.out, "0\r\n\r\n");
    // A body shorter than the declared length leaves the client waiting for bytes that never come.
    if (this.#expectedBytes >= 0 && this.#bodyBytesSent < this.#expectedBytes && !this.#headOnly) {
      this.#keepAlive = false;
    }
    this.#state = "finished";
    this.#channel.queueFlush();
    this.#channel.responseDone(this, this.#keepAlive);
  }

  /** @internal The server answered instead (an error): later calls on this response do nothing. */
  abandon(): void {
    this.#state = "finished";
  }

  /** @internal For the Websocket upgrade: the headers the app added, then marks the response as used. */
  takeHeaderLinesForUpgrade(): string {
    if (this.#state !== "open") throw new TypeError("The response's headers were already sent");
    this.#state = "finished";
    return this.#headerLines;
  }

  #checkRoom(already: number, adding: number): void {
    const limit = this.contentLength!;
    if (already + adding > limit) {
      throw new RangeError(
        `Body exceeds the Content-Length of ${limit} bytes (${already + adding} written)`,
      );
    }
  }

  /** Sends `size` bytes of body (`data`'s length, or its UTF-8 length when text). */
  #writeBodyBytes(data: BodyPart, size: number): void {
    if (this.#headOnly) return;
    const out = this.#channel.out;
    if (this.#expectedBytes >= 0) this.#checkRoom(this.#bodyBytesSent, size);
    this.#bodyBytesSent += size;
    if (this.#chunked) writeLatin1(out, size.toString(16) + "\r\n");
    if (typeof data === "string") writeUtf8(out, data, size);
    else out.append(data);
    if (this.#chunked) writeLatin1(out, "\r\n");
  }

  #sendHead(finishing: boolean): void {
    const status = this.status;
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new RangeError(`Invalid status code: ${status}`);
    }
    if (this.#channel.stopping) this.#keepAlive = false;
    const noBody = status < 200 || status === 204 || status === 304;
    /** The `Content-Length` to send, -1 for none. */
    let sentLength = -1;
    let length = this.contentLength;
    if (noBody) {
      this.#dropHeld();
      length = undefined;
      if (status === 304 && this.contentLength !== undefined && this.contentLength >= 0) {
        sentLength = this.contentLength;
      }
    } else if (length === undefined && finishing) {
      length = this.#heldBytes;
    }
    if (!noBody) {
      if (length !== undefined && length >= 0) {
        sentLength = length;
        this.#expectedBytes = length;
      } else if (length === -1 || this.request.version === "HTTP/1.0") {
        this.#keepAlive = false;
      } else {
        this.#chunked = true;
      }
    }
    const out = this.#channel.out;
    // Piece by piece into the slab, the fixed pieces from cached bytes: no string for the whole head.
    out.copy(this.#hasDate ? statusLine(status) : statusAndDateLine(status));
    if (this.#headerLines !== "") writeLatin1(out, this.#headerLines);
    if (sentLength >= 0) {
      out.copy(CONTENT_LENGTH);
      writeDecimal(out, sentLength);
      out.copy(CRLF);
    } else if (this.#chunked) out.copy(CHUNKED);
    if (!this.#keepAlive) out.copy(CONNECTION_CLOSE);
    else if (this.request.version === "HTTP/1.0") out.copy(CONNECTION_KEEP_ALIVE);
    out.copy(CRLF);
    this.#state = "streaming";
    const first = this.#firstHeld;
    if (first !== null) {
      const firstSize = this.#firstHeldSize;
      const more = this.#moreHeld;
      this.#dropHeld();
      this.#writeBodyBytes(first, firstSize);
      if (more !== null) {
        for (let i = 0; i < more.length; i += 2) {
          this.#writeBodyBytes(more[i] as BodyPart, more[i + 1] as number);
        }
      }
    }
    this.#channel.queueFlush();
  }

  #dropHeld(): void {
    this.#firstHeld = null;
    this.#firstHeldSize = 0;
    this.#moreHeld = null;
    this.#heldBytes = 0;
  }
}
