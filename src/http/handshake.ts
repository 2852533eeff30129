/**
 * The server's side of the WebSocket opening handshake (RFC 6455 §4.2): checking the client's upgrade
 * request and computing `Sec-WebSocket-Accept`.
 *
 * @module
 */

import { HttpError } from "./errors.ts";

/** The parts of a parsed request the handshake check reads. */
export interface UpgradeRequestLike {
  /** The request method, e.g. `GET`. */
  method: string;
  /** The protocol version of the request line, e.g. `HTTP/1.1`. */
  version: string;
  /** Header lookup by case-insensitive name; repeated headers joined with `, `. */
  headers: { get(name: string): string | undefined };
}

/** What a valid upgrade request asks for. */
export interface UpgradeOffer {
  /** The `Sec-WebSocket-Key`, to be answered with {@linkcode acceptKey}. */
  key: string;
  /** The subprotocols the client offers in `Sec-WebSocket-Protocol`, in its order of preference. */
  protocols: readonly string[];
}

/** The offer of a client that names no subprotocol: shared, never modified. */
const NO_PROTOCOLS: readonly string[] = Object.freeze([]);

/** RFC 6455 §1.3: appended to the client's key before hashing. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * Checks a client's opening handshake (RFC 6455 §4.2.1): a `GET` over HTTP/1.1 with `Upgrade: websocket`,
 * `Connection: upgrade` (each as one token of a comma-separated list, any case), a `Sec-WebSocket-Key` of 16
 * base64-encoded bytes and `Sec-WebSocket-Version: 13`.
 *
 * @throws {HttpError} 400 with the reason for a malformed request; 426 for a missing or other version,
 * which the caller answers with `Sec-WebSocket-Version: 13` (§4.4).
 */
export function checkUpgrade(req: UpgradeRequestLike): UpgradeOffer {
  if (req.method !== "GET") throw new HttpError(400, "WebSocket upgrade requires the GET method");
  if (req.version !== "HTTP/1.1") {
    throw new HttpError(400, "WebSocket upgrade requires HTTP/1.1");
  }
  if (!hasToken(req.headers.get("upgrade"), "websocket")) {
    throw new HttpError(400, "Upgrade header does not contain websocket");
  }
  if (!hasToken(req.headers.get("connection"), "upgrade")) {
    throw new HttpError(400, "Connection header does not contain upgrade");
  }
  // §4.4: an unsupported version is answered with 426 and the versions we speak.
  const version = req.headers.get("sec-websocket-version");
  if (version === undefined || trim(version, 0, version.length) !== "13") {
    throw new HttpError(426, "Sec-WebSocket-Version must be 13");
  }
  const rawKey = req.headers.get("sec-websocket-key");
  const key = rawKey === undefined ? "" : trim(rawKey, 0, rawKey.length);
  if (!isBase64Of16Bytes(key)) {
    throw new HttpError(400, "Sec-WebSocket-Key must be 16 bytes in base64");
  }
  const offered = req.headers.get("sec-websocket-protocol");
  return { key, protocols: offered === undefined ? NO_PROTOCOLS : parseProtocols(offered) };
}

/** Length of a valid `Sec-WebSocket-Key`: 16 bytes in base64. */
const KEY_CHARS = 24;

const encoder = new TextEncoder();

/** A valid key's bytes followed by the GUID's, rewritten for each key: hashed with no string made. */
const KEY_AND_GUID = new Uint8Array(KEY_CHARS + WEBSOCKET_GUID.length);
KEY_AND_GUID.set(encoder.encode(WEBSOCKET_GUID), KEY_CHARS);

/** The bytes of `key + GUID`: in the shared array for a key of the usual length and ASCII. */
function keyAndGuidBytes(key: string): Uint8Array {
  if (key.length === KEY_CHARS) {
    let i = 0;
    for (; i < KEY_CHARS; i++) {
      const c = key.charCodeAt(i);
      if (c > 0x7f) break;
      KEY_AND_GUID[i] = c;
    }
    if (i === KEY_CHARS) return KEY_AND_GUID;
  }
  return encoder.encode(key + WEBSOCKET_GUID);
}

/**
 * The `Sec-WebSocket-Accept` value for `key` (RFC 6455 §4.2.2): base64(SHA-1(key + GUID)).
 *
 * @param sha1Base64 A synchronous SHA-1 of bytes returning base64, e.g. from `node:crypto`; it must not
 * keep the array it is given (it is reused). Without it the digest comes from `crypto.subtle` and the
 * result is a promise.
 */
export function acceptKey(
  key: string,
  sha1Base64?: (data: Uint8Array) => string,
): string | Promise<string> {
  const bytes = keyAndGuidBytes(key);
  if (sha1Base64 !== undefined) return sha1Base64(bytes);
  return crypto.subtle.digest("SHA-1", bytes.slice()).then((digest) =>
    base64(new Uint8Array(digest))
  );
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function isBase64Char(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2b || c === 0x2f;
}

/** 16 bytes are 22 base64 characters and `==` padding (§4.1 requires exactly such a nonce). */
function isBase64Of16Bytes(key: string): boolean {
  if (key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) return false;
  for (let i = 0; i < 22; i++) if (!isBase64Char(key.charCodeAt(i))) return false;
  return true;
}

function base64(bytes: Uint8Array): string {
  let text = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    text += BASE64_ALPHABET[n >>> 18] + BASE64_ALPHABET[(n >>> 12) & 63] +
      BASE64_ALPHABET[(n >>> 6) & 63] + BASE64_ALPHABET[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    text += BASE64_ALPHABET[n >>> 18] + BASE64_ALPHABET[(n >>> 12) & 63] + "==";
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    text += BASE64_ALPHABET[n >>> 18] + BASE64_ALPHABET[(n >>> 12) & 63] +
      BASE64_ALPHABET[(n >>> 6) & 63] + "=";
  }
  return text;
}

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** `text[start..end)` without surrounding spaces and tabs (RFC 9110 §5.6.3 OWS). */
function trim(text: string, start: number, end: number): string {
  while (start < end && isWhitespace(text.charCodeAt(start))) start++;
  while (end > start && isWhitespace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/** The non-empty elements of a comma-separated header value (RFC 9110 §5.6.1), trimmed. */
function listElements(value: string): string[] {
  const elements: string[] = [];
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(",", start);
    if (end < 0) end = value.length;
    const element = trim(value, start, end);
    if (element.length > 0) elements.push(element);
    start = end + 1;
  }
  return elements;
}

/**
 * Whether the comma-separated list `value` has an element equal to `token` (lowercase ASCII), in any case.
 * Compares in place: every handshake asks twice, and slicing and lower-casing each element would allocate.
 */
function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(",", start);
    if (end < 0) end = value.length;
    let from = start;
    let to = end;
    while (from < to && isWhitespace(value.charCodeAt(from))) from++;
    while (to > from && isWhitespace(value.charCodeAt(to - 1))) to--;
    if (to - from === token.length && equalsLowerAscii(value, from, token)) return true;
    start = end + 1;
  }
  return false;
}

/** Whether `text[from..from + lower.length)` equals `lower` ignoring ASCII case. */
function equalsLowerAscii(text: string, from: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let c = text.charCodeAt(from + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** RFC 9110 §5.6.2: a token is one or more of these. */
function isToken(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const alphanumeric = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x30 && c <= 0x39);
    if (!alphanumeric && !"!#$%&'*+-.^_`|~".includes(text[i])) return false;
  }
  return text.length > 0;
}

/** The subprotocol names of `Sec-WebSocket-Protocol` (RFC 6455 §4.1, §11.3.4), in order. */
function parseProtocols(value: string): string[] {
  const protocols = listElements(value);
  if (!protocols.every(isToken)) {
    throw new HttpError(400, "Sec-WebSocket-Protocol contains an invalid subprotocol name");
  }
  return protocols;
}
