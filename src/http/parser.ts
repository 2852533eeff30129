/**
 * An incremental, sans-IO HTTP/1.1 request parser (RFC 9112): bytes in, a {@linkcode RequestHead} and a
 * body out, or an {@linkcode HttpError} carrying the status to answer with.
 *
 * Decisions worth knowing:
 *
 * - **CRLF only.** RFC 9112 §2.2 lets a recipient accept a bare LF as a line terminator; we do not. A bare
 *   LF or a bare CR anywhere in the head, the chunked framing or the trailers is a 400. Lenient line
 *   endings are what request smuggling between a proxy and a server feeds on, and every client we target
 *   sends CRLF.
 * - **Head size.** `maxHeaderBytes` counts the request line, the header lines and the blank line that ends
 *   the head, CRLFs included, as the bytes arrive: an endless head fails as soon as it passes the limit.
 *   Chunked trailers are counted against the same budget, after the head. Empty lines before the request
 *   line (RFC 9112 §2.2) are skipped, at most {@linkcode MAX_LEADING_EMPTY_LINES}, and do not count.
 * - **Request target.** ASCII visible characters only (RFC 9112 §3.2, RFC 3986), in one of the four forms:
 *   origin (`/p?q`), absolute (`http://h/p?q`), authority (`host:port`, only with `CONNECT`) or asterisk
 *   (`*`, only with `OPTIONS`). Nothing is percent-decoded.
 * - **Field values** are decoded as Latin-1, one character per byte, so obs-text survives byte for byte
 *   (RFC 9110 §5.5); names are tokens.
 * - **Framing.** `Transfer-Encoding` in an HTTP/1.0 request is a 400 (RFC 9112 §6.1); a request with neither
 *   `Content-Length` nor `Transfer-Encoding` has no body (RFC 9112 §6.3). In HTTP/1.0, `Expect:
 *   100-continue` (RFC 9110 §10.1.1) and `Upgrade` (RFC 9110 §7.8) are ignored: `expectContinue` is false
 *   and `upgrade` undefined, though the fields stay in `headers`.
 * - **Memory.** A head that arrives in one chunk is parsed in place; only a line split across chunks is
 *   copied. A `Content-Length` body is allocated once, after the limit check. A chunked body goes into one
 *   buffer grown by doubling up to `maxBodyBytes`, never a list of pieces: a peer sending one-byte chunks
 *   cannot make us hold thousands of tiny arrays.
 * - **Strings.** Common field names are recognised from their bytes, and methods, other names and the
 *   values of common non-private fields go through a small process-wide cache, so a typical request
 *   allocates few strings. Credentials, cookies, URLs and addresses never enter the cache.
 * - After an error the parser stays failed: `execute` throws the same error again until `reset()`.
 *
 * @module
 */

import { HttpError } from "./errors.ts";
import { HttpHeaders } from "./headers.ts";

/** What the parser learnt from a request's line and header fields. */
export interface RequestHead {
  /** The method as sent; methods are case-sensitive tokens (RFC 9110 §9.1). */
  readonly method: string;
  /** The request-target as sent. */
  readonly target: string;
  /**
   * The path of the target without the query, not percent-decoded: `"/p"` for both `/p?q` and
   * `http://h/p?q` (`"/"` when an absolute-form target has no path), `"*"` for the asterisk form, `""` for
   * the authority form of `CONNECT`.
   */
  readonly path: string;
  /** The raw text after the first `"?"` of the target, `""` when there is none. */
  readonly query: string;
  /** The protocol version; other versions are refused with 505. */
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  /** The header fields in arrival order. */
  readonly headers: HttpHeaders;
  /** The `Host` field value as sent, `undefined` when absent (only possible in HTTP/1.0). */
  readonly host: string | undefined;
  /** The declared `Content-Length`, `-1` when absent or when the body is chunked. */
  readonly contentLength: number;
  /** Whether the body uses the chunked transfer coding. */
  readonly chunked: boolean;
  /**
   * Whether the connection stays open after this request: in HTTP/1.1 unless `Connection` lists `close`,
   * in HTTP/1.0 only when it lists `keep-alive` (RFC 9112 §9.3).
   */
  readonly keepAlive: boolean;
  /** Whether the client sent `Expect: 100-continue` in an HTTP/1.1 request (RFC 9110 §10.1.1). */
  readonly expectContinue: boolean;
  /**
   * The `Upgrade` field value lower-cased (several fields joined with `", "`), `undefined` when absent
   * and in HTTP/1.0, where it must be ignored (RFC 9110 §7.8).
   */
  readonly upgrade: string | undefined;
  /** Whether `Connection` lists `upgrade` (RFC 9110 §7.8). */
  readonly connectionUpgrade: boolean;
}

/** Size limits of one request. The owner may change them between requests; they are read as needed. */
export interface ParserLimits {
  /** Request line plus header fields plus chunked trailers, CRLFs included; over it is a 431. */
  maxHeaderBytes: number;
  /** Body bytes after any chunked framing is removed; over it is a 413. */
  maxBodyBytes: number;
}

/** 8 KiB for the request line and header fields together, the seed's HTTP extension limit. */
export const DEFAULT_MAX_HEADER_BYTES = 8 * 1024;

/**
 * Empty lines skipped before a request line (RFC 9112 §2.2 asks for at least one). Old clients add one
 * CRLF after a POST body; a few more cost nothing, an endless stream of them must not keep a connection
 * busy.
 */
export const MAX_LEADING_EMPTY_LINES = 8;

/**
 * 4 KiB for one chunk-size line with its extensions and CRLF. We ignore extensions, so this only has to be
 * generous to clients that send some; it bounds what a peer can make us scan without producing body bytes.
 */
export const MAX_CHUNK_LINE_BYTES = 4 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const SEMICOLON = 0x3b;
const DEL = 0x7f;

/** 1 for tchar (RFC 9110 §5.6.2), 2 for an upper-case letter (also a tchar), 0 otherwise. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 2;

/** Value of a hexadecimal digit, or -1. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX["0123456789abcdef".charCodeAt(i)] = i;
  HEX["0123456789ABCDEF".charCodeAt(i)] = i;
}

const EMPTY = new Uint8Array(0);

const State = {
  /** Before the request line: skipping empty lines. */
  Leading: 0,
  /** Saw the CR of an empty line before the request line. */
  LeadingLf: 1,
  Head: 2,
  /** Reading a body of known length. */
  Body: 3,
  ChunkSize: 4,
  ChunkData: 5,
  ChunkDataCr: 6,
  ChunkDataLf: 7,
  Trailers: 8,
  Complete: 9,
} as const;
type State = typeof State[keyof typeof State];

/** Where we are within a chunk-size line. */
const ChunkLine = {
  FirstDigit: 0,
  Digits: 1,
  /** Whitespace after the size; only ";" may follow (RFC 9112 §7.1.1 BWS). */
  Space: 2,
  Extension: 3,
  Lf: 4,
} as const;
type ChunkLine = typeof ChunkLine[keyof typeof ChunkLine];

const asciiDecoder = new TextDecoder();

/**
 * Decodes bytes one character per byte (Latin-1), the way field values have always been read. `ascii`
 * says no byte is above 0x7f, when the native UTF-8 decoder gives the same text faster for all but short
 * strings (Latin-1 is not a WHATWG encoding: "latin1" there means windows-1252).
 */
function latin1(buf: Uint8Array, start: number, end: number, ascii: boolean): string {
  const length = end - start;
  if (length < 24) {
    let text = "";
    for (let i = start; i < end; i++) text += String.fromCharCode(buf[i]);
    return text;
  }
  if (ascii) return asciiDecoder.decode(buf.subarray(start, end));
  let text = "";
  // Bounded pieces keep the argument count far below every engine's limit.
  for (let i = start; i < end; i += 4096) {
    const piece = buf.subarray(i, Math.min(end, i + 4096));
    text += String.fromCharCode.apply(null, piece as unknown as number[]);
  }
  return text;
}

/** A field name common enough to be recognised from its bytes instead of decoded for every request. */
interface KnownName {
  readonly hash: number;
  readonly bytes: Uint8Array;
  readonly name: string;
  readonly lower: string;
  /** Whether values of this field go through the process-wide string cache (see `intern`). */
  readonly cacheValue: boolean;
}

/**
 * Open-addressing table of common names, each in its usual spelling and in lower case (HTTP/2-era clients
 * such as undici send lower case). Only the exact bytes match, so the original case is always kept.
 */
const KNOWN_NAMES: (KnownName | undefined)[] = new Array(512);
const KNOWN_MASK = KNOWN_NAMES.length - 1;

function nameHash(hash: number, byte: number): number {
  return (Math.imul(hash, 31) + byte) | 0;
}

/**
 * Fields whose values repeat across requests and clients and say nothing private, so caching them is
 * safe: a cache hit is slightly faster than a miss, and that timing must not reveal whether another
 * connection just sent some credential, cookie, URL or address.
 */
const CACHED_VALUE_NAMES = [
  "Host",
  "Connection",
  "Content-Length",
  "Content-Type",
  "Transfer-Encoding",
  "Upgrade",
  "Expect",
  "User-Agent",
  "Accept",
  "Accept-Encoding",
  "Accept-Language",
  "Cache-Control",
  "Pragma",
  "Origin",
  "Keep-Alive",
  "Priority",
  "DNT",
  "Upgrade-Insecure-Requests",
  "Sec-WebSocket-Version",
  "Sec-WebSocket-Extensions",
  "Sec-WebSocket-Protocol",
  "Sec-Fetch-Dest",
  "Sec-Fetch-Mode",
  "Sec-Fetch-Site",
  "Sec-Fetch-User",
  "X-Forwarded-Proto",
  "X-Requested-With",
];

/** Common fields whose values are private or unique per request: names recognised, values decoded. */
const UNCACHED_VALUE_NAMES = [
  "Cookie",
  "Authorization",
  "Proxy-Authorization",
  "Referer",
  "If-None-Match",
  "If-Modified-Since",
  "Range",
  "Sec-WebSocket-Key",
  "X-Forwarded-For",
];

for (
  const [names, cacheValue] of [[CACHED_VALUE_NAMES, true], [UNCACHED_VALUE_NAMES, false]] as const
) {
  for (const name of names) {
    const lower = name.toLowerCase();
    for (const spelling of new Set([name, lower])) {
      const bytes = new Uint8Array(spelling.length);
      let hash = 0;
      for (let i = 0; i < bytes.length; i++) {
        bytes[i] = spelling.charCodeAt(i);
        hash = nameHash(hash, bytes[i]);
      }
      let slot = hash & KNOWN_MASK;
      while (KNOWN_NAMES[slot] !== undefined) slot = (slot + 1) & KNOWN_MASK;
      KNOWN_NAMES[slot] = { hash, bytes, name: spelling, lower, cacheValue };
    }
  }
}

/** A short string decoded once and reused while the same bytes keep arriving. */
interface Interned {
  readonly hash: number;
  readonly text: string;
  /** `text` lower-cased, computed the first time a field name needs it. */
  lower: string | undefined;
  /** Whether `text` is a valid `Host` value, checked the first time a `Host` field carries it. */
  validHost: boolean | undefined;
}

/**
 * Process-wide cache of methods, uncommon field names and the values of {@linkcode CACHED_VALUE_NAMES},
 * one entry per slot, replaced on collision. Requests repeat the same values (host, accept, keep-alive,
 * user agent), so most fields cost a byte comparison instead of a string allocation. Entries are checked
 * byte for byte, so a collision only costs a miss; the cache holds at most 1024 strings of at most
 * {@linkcode MAX_INTERNED_BYTES} characters.
 */
const INTERNED: (Interned | undefined)[] = new Array(1024);
const INTERNED_MASK = INTERNED.length - 1;
/** 128 bytes covers typical user agents and accept lists; longer values are rarely repeated verbatim. */
const MAX_INTERNED_BYTES = 128;

/** `buf[start..end)` as a string, from the cache when the same ASCII bytes were decoded before. */
function intern(buf: Uint8Array, start: number, end: number, hash: number): Interned {
  const length = end - start;
  const slot = (hash ^ (hash >>> 15)) & INTERNED_MASK;
  const cached = INTERNED[slot];
  if (cached !== undefined && cached.hash === hash && cached.text.length === length) {
    const text = cached.text;
    let i = 0;
    while (i < length && text.charCodeAt(i) === buf[start + i]) i++;
    if (i === length) return cached;
  }
  const fresh: Interned = {
    hash,
    text: latin1(buf, start, end, true),
    lower: undefined,
    validHost: undefined,
  };
  INTERNED[slot] = fresh;
  return fresh;
}

function knownName(
  buf: Uint8Array,
  start: number,
  end: number,
  hash: number,
): KnownName | undefined {
  const length = end - start;
  for (let slot = hash & KNOWN_MASK;; slot = (slot + 1) & KNOWN_MASK) {
    const known = KNOWN_NAMES[slot];
    if (known === undefined) return undefined;
    if (known.hash !== hash || known.bytes.length !== length) continue;
    const bytes = known.bytes;
    let i = 0;
    while (i < length && bytes[i] === buf[start + i]) i++;
    if (i === length) return known;
  }
}

/** Up to this many bytes of a line are scanned in JavaScript before handing over to `indexOf`. */
const SHORT_SCAN_BYTES = 64;

/**
 * The index of the first LF in `buf[pos..end)`, or -1. Most head lines are short, and for them a loop is a
 * third of the cost of `indexOf` (a runtime call); longer lines go on with `indexOf`, which is faster per byte.
 */
function indexOfLf(buf: Uint8Array, pos: number, end: number): number {
  const shortEnd = Math.min(end, pos + SHORT_SCAN_BYTES);
  for (let i = pos; i < shortEnd; i++) if (buf[i] === LF) return i;
  if (shortEnd === end) return -1;
  const lf = buf.indexOf(LF, shortEnd);
  return lf < end ? lf : -1;
}

/** Whether `text[start..end)` equals `lower` ignoring ASCII case; `lower` is lower-case. */
function equalsIgnoreCase(text: string, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = text.charCodeAt(start + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

/** RFC 3986 §2.3, §2.2: unreserved and sub-delims, the characters of a reg-name besides `%XX`. */
const REG_NAME_CHARS = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=") {
  REG_NAME_CHARS[c.charCodeAt(0)] = 1;
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/**
 * Whether `value` is a `Host` field value (RFC 9110 §7.2): `uri-host [ ":" port ]`, where uri-host is a
 * reg-name (percent-encoding allowed), an IPv4 address (a reg-name by its characters) or a bracketed IP
 * literal, and port is digits. Empty is valid: a client sends an empty Host for a target without authority
 * (RFC 9112 §3.2).
 */
function isHost(value: string): boolean {
  let i = 0;
  const n = value.length;
  if (n > 0 && value.charCodeAt(0) === 0x5b) { // "[": IP-literal, checked for its characters only
    const close = value.indexOf("]");
    if (close < 2) return false;
    for (i = 1; i < close; i++) {
      const c = value.charCodeAt(i);
      if (c >= 128 || (REG_NAME_CHARS[c] === 0 && c !== 0x3a)) return false;
    }
    i = close + 1;
  } else {
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c === 0x3a) break;
      if (c === 0x25) { // "%" HEXDIG HEXDIG
        if (
          i + 2 >= n || !isHexDigit(value.charCodeAt(i + 1)) || !isHexDigit(value.charCodeAt(i + 2))
        ) {
          return false;
        }
        i += 2;
      } else if (c >= 128 || REG_NAME_CHARS[c] === 0) return false;
    }
  }
  if (i === n) return true;
  if (value.charCodeAt(i) !== 0x3a) return false;
  for (i++; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function badRequest(message: string): HttpError {
  return new HttpError(400, message);
}

/**
 * Parses the requests of one connection, one at a time: feed bytes with {@linkcode RequestParser.execute},
 * read {@linkcode RequestParser.head} once it is set and {@linkcode RequestParser.body} once
 * {@linkcode RequestParser.complete}, then {@linkcode RequestParser.reset} for the next request.
 *
 * ```ts
 * let offset = 0;
 * while (offset < chunk.length && !parser.complete) {
 *   offset = parser.execute(chunk, offset);
 *   // parser.head set: maybe send 100 Continue or switch protocols here.
 * }
 * ```
 */
export class RequestParser {
  /**
   * When the head being parsed began, on the connection's clock; the connection sets it and checks the
   * header timeout against it (kept here, as the parser is held only while a request is being read).
   */
  startedAt = 0;
  #limits: ParserLimits;
  #state: State = State.Leading;
  #error: HttpError | undefined;
  #emptyLines = 0;
  /** Head bytes so far, then head plus trailer bytes. */
  #headBytes = 0;
  /** The start of a head or trailer line that did not end in its chunk. */
  #line: Uint8Array = EMPTY;
  #lineLength = 0;

  #requestLineDone = false;
  #method = "";
  #target = "";
  #path = "";
  #query = "";
  #version: "HTTP/1.0" | "HTTP/1.1" = "HTTP/1.1";
  /** Made at the first field (or the end of the head): an idle or upgraded connection holds none. */
  #headers: HttpHeaders | null = null;
  #host: string | undefined;
  #contentLength = -1;
  #transferEncoding: string | undefined;
  #connectionClose = false;
  #connectionKeepAlive = false;
  #connectionUpgrade = false;
  #expectContinue = false;
  #upgrade: string | undefined;
  #head: RequestHead | undefined;

  /** The body being read: exactly `Content-Length` bytes, or the growing buffer of a chunked body. */
  #body: Uint8Array = EMPTY;
  #bodyLength = 0;
  /** Bytes left of the `Content-Length` body or of the current chunk. */
  #remaining = 0;
  #chunkLine: ChunkLine = ChunkLine.FirstDigit;
  #chunkLineBytes = 0;

  /**
   * @param limits Read whenever a limit is checked, so the owner may change them between requests.
   * @throws {RangeError} When a limit is not a non-negative safe integer.
   */
  constructor(limits: ParserLimits) {
    for (const key of ["maxHeaderBytes", "maxBodyBytes"] as const) {
      const value = limits[key];
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`${key} must be a non-negative integer, got ${value}`);
      }
    }
    this.#limits = limits;
  }

  /** The request's line and header fields, once the head is complete; `undefined` before. */
  get head(): RequestHead | undefined {
    return this.#head;
  }

  /** Whether the head and the whole body have been read. */
  get complete(): boolean {
    return this.#state === State.Complete;
  }

  /**
   * The whole body once {@linkcode RequestParser.complete}, an empty array before and when there is none.
   * It is the parser's own copy; it stays valid after {@linkcode RequestParser.reset}.
   */
  get body(): Uint8Array {
    return this.#state === State.Complete ? this.#body : EMPTY;
  }

  /**
   * Whether at least one byte of the current request has been consumed. Skipped empty lines before the
   * request line do not count, so a connection that only sent a stray CRLF after its last request is idle.
   */
  get inProgress(): boolean {
    return this.#state > State.LeadingLf;
  }

  /** Forgets the current request (complete or not) and any error, ready for the next one. */
  reset(): void {
    this.#state = State.Leading;
    this.#error = undefined;
    this.#emptyLines = 0;
    this.#headBytes = 0;
    // A large line buffer belonged to an unusual head; an idle connection should not keep it.
    if (this.#line.length > 1024) this.#line = EMPTY;
    this.#lineLength = 0;
    this.#requestLineDone = false;
    this.#method = "";
    this.#target = "";
    this.#path = "";
    this.#query = "";
    this.#version = "HTTP/1.1";
    this.#headers = null;
    this.#host = undefined;
    this.#contentLength = -1;
    this.#transferEncoding = undefined;
    this.#connectionClose = false;
    this.#connectionKeepAlive = false;
    this.#connectionUpgrade = false;
    this.#expectContinue = false;
    this.#upgrade = undefined;
    this.#head = undefined;
    this.#body = EMPTY;
    this.#bodyLength = 0;
    this.#remaining = 0;
    this.#chunkLine = ChunkLine.FirstDigit;
    this.#chunkLineBytes = 0;
  }

  /**
   * Consumes bytes of `chunk` from `offset` on. Stops right after the head completes (so the caller can
   * answer `Expect: 100-continue` or switch protocols before any byte after the head is consumed) and
   * right after the request completes (the rest belongs to the next request); otherwise consumes all.
   * Once complete, consumes nothing until {@linkcode RequestParser.reset}.
   *
   * @param chunk Bytes in arrival order, only read during the call: what is kept is copied.
   * @param offset Where to start in `chunk`; default 0.
   * @returns The offset after the last byte consumed.
   * @throws {HttpError} When the request is malformed (400), its head is too large (431), its body too
   * large (413), its transfer coding unsupported (501) or its version unsupported (505). The same error is
   * thrown again by later calls until {@linkcode RequestParser.reset}.
   * @throws {RangeError} When `offset` is not an integer within `chunk`.
   */
  execute(chunk: Uint8Array, offset = 0): number {
    if (this.#error !== undefined) throw this.#error;
    if (!Number.isInteger(offset) || offset < 0 || offset > chunk.length) {
      throw new RangeError(`offset must be an integer from 0 to ${chunk.length}, got ${offset}`);
    }
    try {
      return this.#run(chunk, offset);
    } catch (error) {
      if (error instanceof HttpError) this.#error = error;
      throw error;
    }
  }

  #run(chunk: Uint8Array, pos: number): number {
    const end = chunk.length;
    while (pos < end) {
      switch (this.#state) {
        case State.Leading: {
          const byte = chunk[pos];
          if (byte === CR) {
            this.#state = State.LeadingLf;
            pos++;
          } else if (byte === LF) {
            throw badRequest("Request head contains a bare LF");
          } else {
            this.#state = State.Head;
          }
          break;
        }
        case State.LeadingLf: {
          if (chunk[pos] !== LF) throw badRequest("Request head contains a bare CR");
          pos++;
          if (++this.#emptyLines > MAX_LEADING_EMPTY_LINES) {
            throw badRequest("Too many empty lines before the request line");
          }
          this.#state = State.Leading;
          break;
        }
        case State.Head:
          pos = this.#lines(chunk, pos, end);
          if (this.#head !== undefined) return pos;
          break;
        case State.Body: {
          const n = Math.min(end - pos, this.#remaining);
          this.#body.set(chunk.subarray(pos, pos + n), this.#bodyLength);
          this.#bodyLength += n;
          this.#remaining -= n;
          pos += n;
          if (this.#remaining === 0) {
            this.#state = State.Complete;
            return pos;
          }
          break;
        }
        case State.ChunkSize:
          pos = this.#chunkSizeLine(chunk, pos, end);
          break;
        case State.ChunkData: {
          const n = Math.min(end - pos, this.#remaining);
          // Capacity was reserved when the chunk size was read.
          this.#body.set(chunk.subarray(pos, pos + n), this.#bodyLength);
          this.#bodyLength += n;
          this.#remaining -= n;
          pos += n;
          if (this.#remaining === 0) this.#state = State.ChunkDataCr;
          break;
        }
        case State.ChunkDataCr:
          if (chunk[pos] !== CR) throw badRequest("Chunk data must be followed by CRLF");
          pos++;
          this.#state = State.ChunkDataLf;
          break;
        case State.ChunkDataLf:
          if (chunk[pos] !== LF) throw badRequest("Chunk data must be followed by CRLF");
          pos++;
          this.#state = State.ChunkSize;
          this.#chunkLine = ChunkLine.FirstDigit;
          this.#chunkLineBytes = 0;
          this.#remaining = 0;
          break;
        case State.Trailers:
          pos = this.#lines(chunk, pos, end);
          if (this.complete) {
            if (this.#bodyLength !== this.#body.length) {
              this.#body = this.#body.subarray(0, this.#bodyLength);
            }
            return pos;
          }
          break;
        case State.Complete:
          return pos;
      }
    }
    return pos;
  }

  /**
   * Reads head or trailer lines until the section ends or the chunk does. A line wholly inside `chunk` is
   * parsed in place; a line cut by the chunk's end is kept in `#line` until its LF arrives.
   */
  #lines(chunk: Uint8Array, pos: number, end: number): number {
    const max = this.#limits.maxHeaderBytes;
    const trailers = this.#state === State.Trailers;
    while (pos < end) {
      const lf = indexOfLf(chunk, pos, end);
      const stop = lf === -1 ? end : lf + 1;
      if (this.#headBytes + (stop - pos) > max) {
        throw new HttpError(
          431,
          trailers
            ? `Request head and trailers are larger than ${max} bytes`
            : `Request head is larger than ${max} bytes`,
        );
      }
      this.#headBytes += stop - pos;
      if (lf === -1) {
        this.#keepLine(chunk, pos, end);
        return end;
      }
      let buf = chunk;
      let start = pos;
      let lineEnd = lf;
      if (this.#lineLength !== 0) {
        this.#keepLine(chunk, pos, stop);
        buf = this.#line;
        start = 0;
        lineEnd = this.#lineLength - 1;
        this.#lineLength = 0;
      }
      pos = stop;
      if (lineEnd === start || buf[lineEnd - 1] !== CR) {
        throw badRequest(
          trailers ? "Trailer section contains a bare LF" : "Request head contains a bare LF",
        );
      }
      const contentEnd = lineEnd - 1;
      if (trailers) {
        if (contentEnd === start) {
          this.#state = State.Complete;
          return pos;
        }
        // RFC 9110 §6.5: trailers may be discarded; we only check their syntax.
        this.#field(buf, start, contentEnd, false);
      } else if (!this.#requestLineDone) {
        this.#requestLine(buf, start, contentEnd);
      } else if (contentEnd === start) {
        this.#finishHead();
        return pos;
      } else {
        this.#field(buf, start, contentEnd, true);
      }
    }
    return pos;
  }

  #keepLine(chunk: Uint8Array, from: number, to: number): void {
    const need = this.#lineLength + (to - from);
    if (need > this.#line.length) {
      const grown = new Uint8Array(Math.max(need, this.#line.length * 2, 256));
      grown.set(this.#line.subarray(0, this.#lineLength));
      this.#line = grown;
    }
    this.#line.set(chunk.subarray(from, to), this.#lineLength);
    this.#lineLength = need;
  }

  /** RFC 9112 §3: method SP request-target SP HTTP-version, single spaces. */
  #requestLine(buf: Uint8Array, start: number, end: number): void {
    let i = start;
    let methodHash = 0;
    for (; i < end && TCHAR[buf[i]] !== 0; i++) methodHash = nameHash(methodHash, buf[i]);
    if (i === end) {
      throw badRequest(
        i === start ? "Request line is empty" : "Request line has no request target",
      );
    }
    if (buf[i] !== SP) {
      const byte = buf[i];
      if (i === start && isOws(byte)) {
        throw badRequest("Request line must not start with whitespace");
      }
      throw badRequest(
        byte === CR
          ? "Request line contains a bare CR"
          : "Request method contains an invalid character",
      );
    }
    if (i === start) throw badRequest("Request line must not start with whitespace");
    const method = i - start <= MAX_INTERNED_BYTES
      ? intern(buf, start, i, methodHash).text
      : latin1(buf, start, i, true);
    const targetStart = ++i;
    for (; i < end; i++) {
      const byte = buf[i];
      if (byte === SP) break;
      if (byte < SP || byte >= DEL) {
        throw badRequest(
          byte === CR
            ? "Request line contains a bare CR"
            : "Request target contains an invalid character",
        );
      }
    }
    if (i === targetStart) {
      throw badRequest("Request line must separate method, target and version with single spaces");
    }
    if (i === end) throw badRequest("Request line has no HTTP version");
    const target = latin1(buf, targetStart, i, true);
    this.#version = parseVersion(buf, i + 1, end);
    this.#method = method;
    this.#target = target;
    this.#splitTarget(method, target);
    this.#requestLineDone = true;
  }

  /** Path and query of the target, after checking its form (RFC 9112 §3.2). */
  #splitTarget(method: string, target: string): void {
    const first = target.charCodeAt(0);
    if (first === 0x2f) { // "/": origin-form
      const question = target.indexOf("?");
      this.#path = question === -1 ? target : target.substring(0, question);
      this.#query = question === -1 ? "" : target.substring(question + 1);
      return;
    }
    if (target === "*") {
      if (method !== "OPTIONS") throw badRequest("Request target * is only allowed with OPTIONS");
      this.#path = "*";
      this.#query = "";
      return;
    }
    if (method === "CONNECT") { // authority-form: host:port, no path
      this.#path = "";
      this.#query = "";
      return;
    }
    // absolute-form: scheme ":" hier-part, scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
    const n = target.length;
    let i = 0;
    for (; i < n; i++) {
      const c = target.charCodeAt(i) | 0x20;
      const alpha = c >= 0x61 && c <= 0x7a;
      if (alpha) continue;
      const other = target.charCodeAt(i);
      if (
        i > 0 &&
        ((other >= 0x30 && other <= 0x39) || other === 0x2b || other === 0x2d || other === 0x2e)
      ) {
        continue;
      }
      break;
    }
    if (i === 0 || i === n || target.charCodeAt(i) !== COLON) {
      throw badRequest("Request target is not in origin, absolute, authority or asterisk form");
    }
    i++;
    let question = target.indexOf("?", i);
    if (question === -1) question = n;
    let pathStart = i;
    if (target.startsWith("//", i)) {
      const slash = target.indexOf("/", i + 2);
      pathStart = slash === -1 || slash > question ? question : slash;
    }
    this.#path = pathStart === question ? "/" : target.substring(pathStart, question);
    this.#query = question === n ? "" : target.substring(question + 1);
  }

  /** RFC 9112 §5.1: field-name ":" OWS field-value OWS. `keep` is false for trailers, checked then dropped. */
  #field(buf: Uint8Array, start: number, end: number, keep: boolean): void {
    if (isOws(buf[start])) throw badRequest("Obsolete line folding is not allowed");
    let i = start;
    let upper = false;
    let hash = 0;
    for (; i < end; i++) {
      const byte = buf[i];
      const kind = TCHAR[byte];
      if (kind === 0) break;
      if (kind === 2) upper = true;
      hash = nameHash(hash, byte);
    }
    if (i === end) throw badRequest("Header line has no colon");
    const stopper = buf[i];
    if (stopper !== COLON) {
      // RFC 9112 §5.1: no whitespace between name and colon.
      if (isOws(stopper)) throw badRequest("Header name must not be followed by whitespace");
      throw badRequest(
        stopper === CR
          ? "Header name contains a bare CR"
          : "Header name contains an invalid character",
      );
    }
    if (i === start) throw badRequest("Header name is empty");
    const nameEnd = i++;
    while (i < end && isOws(buf[i])) i++;
    const valueStart = i;
    let valueEnd = i;
    let ascii = true;
    let valueHash = 0;
    for (let running = 0; i < end; i++) {
      const byte = buf[i];
      running = nameHash(running, byte);
      if (byte > SP) {
        if (byte >= DEL) {
          if (byte === DEL) throw badRequest("Header value contains a control character");
          ascii = false;
        }
        valueEnd = i + 1;
        valueHash = running;
      } else if (byte !== SP && byte !== HTAB) {
        throw badRequest(
          byte === CR
            ? "Header value contains a bare CR"
            : "Header value contains a control character",
        );
      }
    }
    if (!keep) return;
    let name: string;
    let lower: string;
    const known = knownName(buf, start, nameEnd, hash);
    if (known !== undefined) {
      name = known.name;
      lower = known.lower;
    } else if (nameEnd - start <= MAX_INTERNED_BYTES) {
      const interned = intern(buf, start, nameEnd, hash);
      name = interned.text;
      lower = upper ? (interned.lower ??= name.toLowerCase()) : name;
    } else {
      name = latin1(buf, start, nameEnd, true);
      lower = upper ? name.toLowerCase() : name;
    }
    const internedValue = known !== undefined && known.cacheValue && ascii &&
        valueEnd - valueStart <= MAX_INTERNED_BYTES
      ? intern(buf, valueStart, valueEnd, valueHash)
      : undefined;
    const value = internedValue !== undefined
      ? internedValue.text
      : latin1(buf, valueStart, valueEnd, ascii);
    (this.#headers ??= new HttpHeaders()).append(name, value, lower);
    // Classify once here, so the head needs no lookups afterwards.
    switch (lower) {
      case "host":
        // RFC 9112 §3.2: exactly one Host, and a valid one.
        if (this.#host !== undefined) throw badRequest("Multiple Host headers are not allowed");
        // Clients repeat one Host value: its cache entry remembers the verdict.
        if (
          !(internedValue !== undefined ? internedValue.validHost ??= isHost(value) : isHost(value))
        ) {
          throw badRequest("Host header is not a valid host[:port]");
        }
        this.#host = value;
        break;
      case "content-length":
        this.#contentLengthField(value);
        break;
      case "transfer-encoding":
        this.#transferEncoding = this.#transferEncoding === undefined
          ? value
          : `${this.#transferEncoding}, ${value}`;
        break;
      case "connection":
        this.#connectionField(value);
        break;
      case "expect":
        if (equalsIgnoreCase(value, 0, value.length, "100-continue")) this.#expectContinue = true;
        break;
      case "upgrade": {
        const lowered = value.toLowerCase();
        this.#upgrade = this.#upgrade === undefined ? lowered : `${this.#upgrade}, ${lowered}`;
        break;
      }
    }
  }

  /**
   * RFC 9112 §6.3: a list of identical values ("5, 5", or two "5" fields) is one length; differing
   * values are a 400.
   */
  #contentLengthField(value: string): void {
    const n = value.length;
    let seen = false;
    let i = 0;
    while (i <= n) {
      while (i < n && isOws(value.charCodeAt(i))) i++;
      let length = 0;
      let digits = 0;
      for (; i < n; i++, digits++) {
        const c = value.charCodeAt(i) - 0x30;
        if (c < 0 || c > 9) break;
        // Beyond 2^53 precision is lost, but such a length is far over any body limit anyway.
        length = length * 10 + c;
      }
      while (i < n && isOws(value.charCodeAt(i))) i++;
      if (i < n && value.charCodeAt(i) !== 0x2c) {
        throw badRequest("Content-Length must be a decimal number");
      }
      // RFC 9110 §5.6.1: empty list elements are ignored.
      if (digits > 0) {
        if (this.#contentLength !== -1 && this.#contentLength !== length) {
          throw badRequest("Content-Length values differ");
        }
        this.#contentLength = length;
        seen = true;
      }
      i++;
    }
    if (!seen) throw badRequest("Content-Length must be a decimal number");
  }

  /** RFC 9110 §7.6.1: a comma-separated list of case-insensitive tokens. */
  #connectionField(value: string): void {
    const n = value.length;
    let i = 0;
    while (i < n) {
      let comma = value.indexOf(",", i);
      if (comma === -1) comma = n;
      let start = i;
      let stop = comma;
      while (start < stop && isOws(value.charCodeAt(start))) start++;
      while (stop > start && isOws(value.charCodeAt(stop - 1))) stop--;
      if (equalsIgnoreCase(value, start, stop, "close")) this.#connectionClose = true;
      else if (equalsIgnoreCase(value, start, stop, "keep-alive")) this.#connectionKeepAlive = true;
      else if (equalsIgnoreCase(value, start, stop, "upgrade")) this.#connectionUpgrade = true;
      i = comma + 1;
    }
  }

  #finishHead(): void {
    const version = this.#version;
    if (version === "HTTP/1.1" && this.#host === undefined) {
      throw badRequest("Host header is required in HTTP/1.1");
    }
    let chunked = false;
    const transferEncoding = this.#transferEncoding;
    if (transferEncoding !== undefined) {
      // RFC 9112 §6.1: both framings at once is how requests get smuggled.
      if (this.#contentLength !== -1) {
        throw badRequest("Content-Length and Transfer-Encoding must not both be present");
      }
      if (version === "HTTP/1.0") throw badRequest("Transfer-Encoding is not allowed in HTTP/1.0");
      let start = 0;
      let stop = transferEncoding.length;
      while (start < stop && isOws(transferEncoding.charCodeAt(start))) start++;
      while (stop > start && isOws(transferEncoding.charCodeAt(stop - 1))) stop--;
      if (!equalsIgnoreCase(transferEncoding, start, stop, "chunked")) {
        throw new HttpError(501, "Transfer-Encoding other than chunked is not supported");
      }
      chunked = true;
    }
    const length = this.#contentLength;
    const maxBody = this.#limits.maxBodyBytes;
    if (length > maxBody) throw new HttpError(413, `Request body is larger than ${maxBody} bytes`);
    this.#head = {
      method: this.#method,
      target: this.#target,
      path: this.#path,
      query: this.#query,
      version,
      headers: this.#headers ??= new HttpHeaders(),
      host: this.#host,
      contentLength: length,
      chunked,
      keepAlive: version === "HTTP/1.1"
        ? !this.#connectionClose
        : this.#connectionKeepAlive && !this.#connectionClose,
      expectContinue: version === "HTTP/1.1" && this.#expectContinue,
      upgrade: version === "HTTP/1.1" ? this.#upgrade : undefined,
      connectionUpgrade: this.#connectionUpgrade,
    };
    if (chunked) {
      this.#state = State.ChunkSize;
      this.#chunkLine = ChunkLine.FirstDigit;
      this.#chunkLineBytes = 0;
      this.#remaining = 0;
    } else if (length > 0) {
      this.#body = new Uint8Array(length);
      this.#remaining = length;
      this.#state = State.Body;
    } else {
      this.#state = State.Complete;
    }
  }

  /** RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF, read byte by byte; the size accumulates in #remaining. */
  #chunkSizeLine(chunk: Uint8Array, pos: number, end: number): number {
    while (pos < end) {
      const byte = chunk[pos++];
      if (++this.#chunkLineBytes > MAX_CHUNK_LINE_BYTES) {
        throw badRequest(`Chunk-size line is longer than ${MAX_CHUNK_LINE_BYTES} bytes`);
      }
      if (byte === LF && this.#chunkLine !== ChunkLine.Lf) {
        throw badRequest("Chunk-size line contains a bare LF");
      }
      switch (this.#chunkLine) {
        case ChunkLine.FirstDigit:
        case ChunkLine.Digits: {
          const digit = HEX[byte];
          if (digit !== -1) {
            const size = this.#remaining * 16 + digit;
            const max = this.#limits.maxBodyBytes;
            // Checked per digit, before any data of the chunk, so a huge size never overflows.
            if (this.#bodyLength + size > max) {
              throw new HttpError(413, `Request body is larger than ${max} bytes`);
            }
            this.#remaining = size;
            this.#chunkLine = ChunkLine.Digits;
          } else if (this.#chunkLine === ChunkLine.FirstDigit) {
            throw badRequest("Chunk size must be a hexadecimal number");
          } else if (byte === CR) {
            this.#chunkLine = ChunkLine.Lf;
          } else if (byte === SEMICOLON) {
            this.#chunkLine = ChunkLine.Extension;
          } else if (isOws(byte)) {
            this.#chunkLine = ChunkLine.Space;
          } else {
            throw badRequest("Chunk size must be a hexadecimal number");
          }
          break;
        }
        case ChunkLine.Space:
          if (byte === SEMICOLON) this.#chunkLine = ChunkLine.Extension;
          else if (!isOws(byte)) {
            throw badRequest("Chunk size must be followed by CRLF or an extension");
          }
          break;
        case ChunkLine.Extension:
          // Extensions are ignored (RFC 9112 §7.1.1); quoted strings cannot hold CR, so CR ends them.
          if (byte === CR) this.#chunkLine = ChunkLine.Lf;
          else if ((byte < SP && byte !== HTAB) || byte === DEL) {
            throw badRequest("Chunk extension contains a control character");
          }
          break;
        case ChunkLine.Lf:
          if (byte !== LF) throw badRequest("Chunk-size line contains a bare CR");
          this.#endChunkSizeLine();
          return pos;
      }
    }
    return pos;
  }

  #endChunkSizeLine(): void {
    const size = this.#remaining;
    if (size === 0) {
      this.#state = State.Trailers;
      this.#lineLength = 0;
      return;
    }
    // Reserve room for the whole chunk now, after the limit check; grow by doubling so many small
    // chunks cost amortised linear copying.
    const need = this.#bodyLength + size;
    if (need > this.#body.length) {
      const capacity = Math.max(need, Math.min(this.#body.length * 2, this.#limits.maxBodyBytes));
      const grown = new Uint8Array(capacity);
      grown.set(this.#body.subarray(0, this.#bodyLength));
      this.#body = grown;
    }
    this.#state = State.ChunkData;
  }
}

/** RFC 9112 §2.3: "HTTP/" DIGIT "." DIGIT; well-formed but unsupported versions are a 505. */
function parseVersion(buf: Uint8Array, start: number, end: number): "HTTP/1.0" | "HTTP/1.1" {
  const major = buf[start + 5] - 0x30;
  const minor = buf[start + 7] - 0x30;
  if (
    end - start !== 8 || buf[start] !== 0x48 || buf[start + 1] !== 0x54 ||
    buf[start + 2] !== 0x54 ||
    buf[start + 3] !== 0x50 || buf[start + 4] !== 0x2f || buf[start + 6] !== 0x2e ||
    !(major >= 0 && major <= 9) || !(minor >= 0 && minor <= 9)
  ) {
    throw badRequest("Request line has an invalid HTTP version");
  }
  if (major === 1 && minor === 1) return "HTTP/1.1";
  if (major === 1 && minor === 0) return "HTTP/1.0";
  throw new HttpError(505, `HTTP version ${major}.${minor} is not supported`);
}
