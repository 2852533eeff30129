/**
 * A raw-socket WebSocket client for the conformance suite: it writes exactly the bytes a case asks for
 * (any opcode, reserved bits, unmasked frames, lying lengths, one byte per write) and checks everything the
 * server sends against RFC 6455 as a strict client would. Built on `node:net` and `node:crypto`, so it runs
 * on Deno, Bun and Node alike.
 *
 * A case talks to the server through {@linkcode WsClient}: `send` frames, then `expect*` what must come back.
 * Every expectation that does not hold throws a {@linkcode CaseFailure} (the case FAILs) or a
 * {@linkcode NonStrict} (the server failed the connection by closing TCP where a close frame was due).
 *
 * @module
 */

import { createHash, randomBytes } from "node:crypto";
import * as net from "node:net";
import { setImmediate } from "node:timers";

/** Where a server listens. */
export interface Target {
  host: string;
  port: number;
}

/** The opcodes of RFC 6455 §5.2; 3-7 and 11-15 are reserved. */
export const Op = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** RFC 6455 §1.3: appended to the key before hashing into `Sec-WebSocket-Accept`. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A case's expectation did not hold: the case FAILs with this message. */
export class CaseFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CaseFailure";
  }
}

/** The server failed the connection by a TCP close where a close frame was expected: NON-STRICT. */
export class NonStrict extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NonStrict";
  }
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of `text`, or `bytes` itself. */
export function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/** Bytes from hex digits, spaces ignored: `hex("ce ba")`. */
export function hex(digits: string): Uint8Array {
  const clean = digits.replaceAll(" ", "");
  if (clean.length % 2 !== 0) throw new RangeError(`Odd number of hex digits: ${digits}`);
  const bytes = new Uint8Array(clean.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    const byte = parseInt(clean.substring(2 * i, 2 * i + 2), 16);
    if (Number.isNaN(byte)) throw new RangeError(`Not hex: ${digits}`);
    bytes[i] = byte;
  }
  return bytes;
}

/** Bytes as hex pairs separated by spaces; long inputs are cut after `max` bytes. */
export function toHex(bytes: Uint8Array, max = 32): string {
  const shown = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, "0"));
  return shown.join(" ") + (bytes.length > max ? ` … (${bytes.length} bytes)` : "");
}

/** Joins byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/** Whether `bytes` is valid UTF-8 (RFC 3629: no surrogates, no overlongs, nothing above U+10FFFF). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    strictDecoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The `Sec-WebSocket-Accept` a server must answer `key` with (RFC 6455 §4.2.2). */
export function acceptFor(key: string): string {
  return createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
}

/** A fresh `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455 §4.1). */
export function newKey(): string {
  return randomBytes(16).toString("base64");
}

/** One frame to send. Everything a conforming client would never do can be asked for. */
export interface FrameSpec {
  opcode: number;
  /** Default empty; strings are sent as UTF-8. */
  payload?: string | Uint8Array;
  /** Default true. */
  fin?: boolean;
  /** RSV1-3 as a number 0-7 (RSV1 is 4). Default 0. */
  rsv?: number;
  /** Default true: clients must mask (RFC 6455 §5.1). */
  mask?: boolean;
  /** A fixed masking key; default random. */
  maskKey?: Uint8Array;
  /**
   * The payload length to declare instead of the payload's own (for headers that announce more than is
   * sent); a bigint may set the top bit of the 64-bit length.
   */
  declaredLength?: number | bigint;
}

/** Encodes a client frame: header, masking key and masked payload (RFC 6455 §5.2). */
export function encodeFrame(spec: FrameSpec): Uint8Array {
  const payload = bytesOf(spec.payload ?? new Uint8Array(0));
  const declared = spec.declaredLength ?? payload.length;
  const big = BigInt(declared);
  const mask = spec.mask ?? true;
  const lengthBytes = big < 126n ? 0 : big <= 0xffffn ? 2 : 8;
  const headerLength = 2 + lengthBytes + (mask ? 4 : 0);
  const frame = new Uint8Array(headerLength + payload.length);
  frame[0] = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) & 7) << 4 | (spec.opcode & 0x0f);
  frame[1] = (mask ? 0x80 : 0) | (lengthBytes === 0 ? Number(big) : lengthBytes === 2 ? 126 : 127);
  const view = new DataView(frame.buffer);
  if (lengthBytes === 2) view.setUint16(2, Number(big));
  if (lengthBytes === 8) view.setBigUint64(2, big);
  frame.set(payload, headerLength);
  if (mask) {
    const key = spec.maskKey ?? randomBytes(4);
    frame.set(key.subarray(0, 4), headerLength - 4);
    maskInPlace(frame, headerLength, key);
  }
  return frame;
}

/** XORs `bytes[from..]` with the 4-byte `key`, word by word where it can. */
function maskInPlace(bytes: Uint8Array, from: number, key: Uint8Array): void {
  const k0 = key[0], k1 = key[1], k2 = key[2], k3 = key[3];
  const end = bytes.length;
  let i = from;
  for (; i + 3 < end; i += 4) {
    bytes[i] ^= k0;
    bytes[i + 1] ^= k1;
    bytes[i + 2] ^= k2;
    bytes[i + 3] ^= k3;
  }
  for (let j = 0; i < end; i++, j++) bytes[i] ^= key[j];
}

/** Encodes several frames into one buffer (sent in one write unless chopped). */
export function encodeFrames(specs: readonly FrameSpec[]): Uint8Array {
  return concat(specs.map(encodeFrame));
}

/** Splits `payload` into fragment specs of at most `size` bytes: the first with `opcode`, the rest continuations. */
export function fragments(opcode: number, payload: Uint8Array, size: number): FrameSpec[] {
  if (size < 1) throw new RangeError("Fragment size must be at least 1");
  const specs: FrameSpec[] = [];
  for (let at = 0; at < payload.length || specs.length === 0; at += size) {
    const end = Math.min(payload.length, at + size);
    specs.push({
      opcode: specs.length === 0 ? opcode : Op.Continuation,
      payload: payload.subarray(at, end),
      fin: end >= payload.length,
    });
  }
  return specs;
}

/** Chopped writes yield to the event loop after this many pieces. */
const WRITES_PER_YIELD = 16;

/** What the server did, in order. Server pings are queued only when the case asked for them. */
export type WireEvent =
  | { kind: "message"; isText: boolean; data: Uint8Array; frames: number }
  | { kind: "ping"; payload: Uint8Array }
  | { kind: "pong"; payload: Uint8Array }
  | { kind: "close"; code: number | undefined; reason: string; payload: Uint8Array }
  | { kind: "tcp-closed"; how: string }
  | { kind: "violation"; detail: string };

/** A one-line description of an event for failure messages. */
export function describeEvent(event: WireEvent): string {
  switch (event.kind) {
    case "message": {
      const type = event.isText ? "text" : "binary";
      const frames = event.frames > 1 ? ` in ${event.frames} frames` : "";
      return `${type} message of ${event.data.length} bytes${frames} [${toHex(event.data, 16)}]`;
    }
    case "ping":
    case "pong":
      return `${event.kind} with ${event.payload.length} bytes [${toHex(event.payload, 16)}]`;
    case "close":
      return event.code === undefined
        ? "close frame without a status code"
        : `close frame ${event.code}${event.reason ? ` "${event.reason}"` : ""}`;
    case "tcp-closed":
      return `the TCP connection ended (${event.how}) without a close frame`;
    case "violation":
      return `server protocol violation: ${event.detail}`;
  }
}

/** A parsed HTTP response head. */
export interface HttpHead {
  status: number;
  reason: string;
  /** Header fields in order, names as sent. */
  headers: [string, string][];
  /** The status line and fields, without the blank line. */
  raw: string;
  /** The first field named `name` (any case). */
  header(name: string): string | undefined;
  /** Every field named `name` (any case). */
  headerAll(name: string): string[];
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  }
  return text;
}

/** Latin-1 text as bytes, so a case can send heads byte for byte. */
export function latin1Bytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0xff;
  return bytes;
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** Parses a response head (without the final blank line). */
export function parseHead(raw: string): HttpHead {
  const lines = raw.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (match === null) throw new CaseFailure(`Malformed status line: ${JSON.stringify(lines[0])}`);
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new CaseFailure(`Malformed header line: ${JSON.stringify(line)}`);
    headers.push([line.substring(0, colon), line.substring(colon + 1).trim()]);
  }
  return {
    status: Number(match[1]),
    reason: match[2] ?? "",
    headers,
    raw,
    header(name) {
      const lower = name.toLowerCase();
      return headers.find(([n]) => n.toLowerCase() === lower)?.[1];
    },
    headerAll(name) {
      const lower = name.toLowerCase();
      return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
    },
  };
}

/** Whether the comma-separated header `value` lists `token` (any case). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return value.split(",").some((part) => part.trim().toLowerCase() === token.toLowerCase());
}

/** Opens a TCP connection; rejects with a {@linkcode CaseFailure} after `timeoutMs`. */
function openSocket(target: Target, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new CaseFailure(`Could not connect to ${target.host}:${target.port} in ${timeoutMs} ms`),
      );
    }, timeoutMs);
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(
        new CaseFailure(`Could not connect to ${target.host}:${target.port}: ${error.message}`),
      );
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      // Each write leaves as its own segment, so chopped writes reach the server as separate reads as far
      // as TCP allows.
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** Waits for `promise` until `deadline` (ms since the epoch); then throws a timeout failure naming `what`. */
async function until<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CaseFailure(`Timed out waiting for ${what}`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The result of {@linkcode httpExchange}. */
export interface HttpExchange {
  head: HttpHead;
  /** Bytes after the head received before the connection closed or the wait ended. */
  body: Uint8Array;
  /** Whether the server closed the connection after its answer. */
  closedByServer: boolean;
}

/**
 * Sends raw request bytes on a new connection and reads the response head, then waits for the server to
 * close the connection until `closeWaitMs` (for answers that must end the connection).
 */
export async function httpExchange(
  target: Target,
  request: string | Uint8Array,
  deadline: number,
  closeWaitMs = 2000,
): Promise<HttpExchange> {
  const socket = await openSocket(target, Math.max(1, deadline - Date.now()));
  try {
    const chunks: Uint8Array[] = [];
    let ended = false;
    let wake: (() => void) | undefined;
    socket.on("data", (chunk: Uint8Array) => {
      chunks.push(new Uint8Array(chunk));
      wake?.();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      ended = true;
      wake?.();
    });
    socket.write(typeof request === "string" ? latin1Bytes(request) : request);
    const waitFor = async (done: () => boolean, what: string, limit: number) => {
      while (!done() && !ended) {
        await until(new Promise<void>((resolve) => wake = resolve), limit, what);
      }
    };
    let headEnd = -1;
    await waitFor(
      () => (headEnd = indexOfHeadEnd(concat(chunks))) >= 0,
      "the response head",
      deadline,
    );
    const all = concat(chunks);
    if (headEnd < 0) {
      throw new CaseFailure(
        `The server closed the connection without a complete response; received ${
          JSON.stringify(latin1(all))
        }`,
      );
    }
    const head = parseHead(latin1(all.subarray(0, headEnd)));
    if (head.status !== 101) {
      try {
        await waitFor(
          () => false,
          "the server to close",
          Math.min(deadline, Date.now() + closeWaitMs),
        );
      } catch {
        // Still open: reported through closedByServer.
      }
    }
    return { head, body: concat(chunks).subarray(headEnd + 4), closedByServer: ended };
  } finally {
    socket.destroy();
  }
}

/** Options of {@linkcode WsClient.connect}. */
export interface ConnectOptions {
  /** Default `/`. */
  path?: string;
  /** Extra header lines, each without CRLF. */
  headers?: string[];
  /** Bytes written right behind the request head, in the same write (frames pipelined with the handshake). */
  pipelined?: Uint8Array;
  /** Surface server pings as events (default: they are counted and skipped, as servers may ping any time). */
  surfacePings?: boolean;
}

/**
 * One WebSocket connection driven byte by byte. Created with {@linkcode WsClient.connect}, which completes
 * and verifies the opening handshake. Waits end at the case's deadline.
 */
export class WsClient {
  readonly socket: net.Socket;
  /** The server's 101 response. */
  readonly response: HttpHead;
  /** When the case gives up (ms since the epoch): every wait ends there. */
  deadline: number;
  /** Pings the server sent that were not surfaced as events. */
  skippedPings = 0;
  /** Data frames the server sent (to report how it fragments). */
  dataFramesReceived = 0;

  readonly #surfacePings: boolean;
  readonly #events: WireEvent[] = [];
  #waiter: (() => void) | undefined;
  #closed: WireEvent | undefined;
  #stopped = false;
  #writeChain: Promise<void> = Promise.resolve();

  // Incoming frame parser state.
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #messageOpcode = 0;
  #messageParts: Uint8Array[] = [];
  #messageFrames = 0;
  #closeReceived = false;

  private constructor(socket: net.Socket, response: HttpHead, deadline: number, surface: boolean) {
    this.socket = socket;
    this.response = response;
    this.deadline = deadline;
    this.#surfacePings = surface;
  }

  /**
   * Connects, sends the opening handshake and checks the answer: status 101, `Upgrade: websocket`,
   * `Connection: Upgrade` and the right `Sec-WebSocket-Accept` (RFC 6455 §4.1, §4.2.2).
   *
   * @throws {CaseFailure} for a failed or wrong handshake, or when `deadline` passes.
   */
  static async connect(
    target: Target,
    deadline: number,
    options: ConnectOptions = {},
  ): Promise<WsClient> {
    const socket = await openSocket(target, Math.max(1, deadline - Date.now()));
    const key = newKey();
    const head = `GET ${options.path ?? "/"} HTTP/1.1\r\n` +
      `Host: ${target.host}:${target.port}\r\n` +
      "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      (options.headers ?? []).map((line) => `${line}\r\n`).join("") + "\r\n";
    const chunks: Uint8Array[] = [];
    let ended = false;
    let wake: (() => void) | undefined;
    const onData = (chunk: Uint8Array) => {
      chunks.push(new Uint8Array(chunk));
      wake?.();
    };
    const onClose = () => {
      ended = true;
      wake?.();
    };
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("error", () => {});
    const request = latin1Bytes(head);
    socket.write(options.pipelined ? concat([request, options.pipelined]) : request);
    let headEnd = -1;
    try {
      while ((headEnd = indexOfHeadEnd(concat(chunks))) < 0 && !ended) {
        await until(new Promise<void>((resolve) => wake = resolve), deadline, "the 101 response");
      }
    } catch (error) {
      socket.destroy();
      throw error;
    }
    socket.off("data", onData);
    socket.off("close", onClose);
    const all = concat(chunks);
    if (headEnd < 0) {
      socket.destroy();
      throw new CaseFailure(
        `Handshake failed: connection closed; received ${JSON.stringify(latin1(all))}`,
      );
    }
    const response = parseHead(latin1(all.subarray(0, headEnd)));
    const problem = handshakeProblem(response, key);
    if (problem !== undefined) {
      socket.destroy();
      throw new CaseFailure(
        `Handshake failed: ${problem}; response: ${JSON.stringify(response.raw)}`,
      );
    }
    const client = new WsClient(socket, response, deadline, options.surfacePings ?? false);
    client.#attach();
    const rest = all.subarray(headEnd + 4);
    if (rest.length > 0) client.#receive(rest);
    if (ended) client.#tcpClosed("closed during the handshake");
    return client;
  }

  #attach(): void {
    const socket = this.socket;
    let error: Error | undefined;
    socket.on("data", (chunk: Uint8Array) => this.#receive(chunk));
    socket.on("error", (e) => error = e);
    socket.on("end", () => this.#tcpClosed("the server sent FIN"));
    socket.on("close", () => {
      const code = (error as { code?: string } | undefined)?.code;
      this.#tcpClosed(error === undefined ? "closed" : `socket error ${code ?? error.message}`);
    });
  }

  // ---- sending ----

  /**
   * Writes bytes after every earlier write. With `chop`, hands the socket pieces of `chop` bytes, each as
   * its own write (with Nagle off, its own TCP segment while the socket keeps up), waiting for `drain` when
   * the socket buffers and yielding to the event loop every 16 pieces, so other connections of the run
   * are served too. Never rejects: once the connection is gone, the rest is dropped (the server may fail
   * the connection in the middle).
   *
   * @param busy Wait for each piece to be written and never yield, so nothing is read until the last piece
   * is written: a client busy uploading.
   */
  write(bytes: Uint8Array, chop = 0, busy = false): Promise<void> {
    const run = async () => {
      if (chop <= 0 || chop >= bytes.length) {
        await this.#writeAndWait(bytes);
        return;
      }
      let pieces = 0;
      for (let at = 0; at < bytes.length && this.writable; at += chop) {
        const piece = bytes.subarray(at, Math.min(bytes.length, at + chop));
        if (busy) {
          await this.#writeAndWait(piece);
        } else {
          if (!this.socket.write(piece)) await this.#drained();
          if (++pieces === WRITES_PER_YIELD) {
            pieces = 0;
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      }
    };
    return this.#writeChain = this.#writeChain.then(run);
  }

  /** Whether bytes can still be written. */
  get writable(): boolean {
    return !this.#stopped && !this.socket.destroyed && this.socket.writable;
  }

  /** Writes `bytes` and resolves once the socket has written them (or failed). */
  #writeAndWait(bytes: Uint8Array): Promise<void> {
    if (!this.writable) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.write(bytes, () => resolve());
    });
  }

  /** Resolves on `drain`, or at once when the socket is gone. */
  #drained(): Promise<void> {
    if (!this.writable) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }

  /** Encodes `frames` and writes them in one write (or in pieces of `chop` bytes). */
  send(frames: FrameSpec | readonly FrameSpec[], chop = 0): Promise<void> {
    const list = Array.isArray(frames) ? frames : [frames as FrameSpec];
    return this.write(encodeFrames(list), chop);
  }

  /** Writes each frame with its own write ("frame-wise chops"). */
  async sendEach(frames: readonly FrameSpec[]): Promise<void> {
    for (const frame of frames) await this.write(encodeFrame(frame));
  }

  // ---- receiving ----

  /**
   * The next event, in the order the server caused them; the TCP close repeats once everything before it
   * was taken.
   *
   * @param what Named in the timeout failure.
   * @param waitMs Wait at most this long (never past the deadline).
   * @throws {CaseFailure} when nothing arrives in time.
   */
  async next(what: string, waitMs?: number): Promise<WireEvent> {
    const limit = waitMs === undefined
      ? this.deadline
      : Math.min(this.deadline, Date.now() + waitMs);
    while (this.#events.length === 0) {
      if (this.#closed !== undefined) return this.#closed;
      if (Date.now() >= limit) throw new CaseFailure(`Timed out waiting for ${what}`);
      await until(new Promise<void>((resolve) => this.#waiter = resolve), limit, what);
    }
    return this.#events.shift()!;
  }

  /** The next event if one comes within `waitMs`, else `undefined`. */
  async poll(waitMs: number): Promise<WireEvent | undefined> {
    try {
      return await this.next("an event", waitMs);
    } catch (error) {
      if (error instanceof CaseFailure && error.message.startsWith("Timed out")) return undefined;
      throw error;
    }
  }

  #push(event: WireEvent): void {
    this.#events.push(event);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  #tcpClosed(how: string): void {
    if (this.#closed !== undefined) return;
    // Not queued: next() returns it once everything received before it was taken, and ever after.
    this.#closed = { kind: "tcp-closed", how };
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  #violation(detail: string): void {
    this.#stopped = true;
    this.#push({ kind: "violation", detail });
    this.socket.destroy();
  }

  #receive(chunk: Uint8Array): void {
    if (this.#stopped) return;
    this.#append(chunk);
    while (!this.#stopped) {
      const available = this.#end - this.#start;
      if (available < 2) break;
      const b = this.#buffer;
      const at = this.#start;
      const first = b[at];
      const second = b[at + 1];
      const masked = (second & 0x80) !== 0;
      const length7 = second & 0x7f;
      const headerLength = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (masked ? 4 : 0);
      if (available < headerLength) break;
      let length = length7;
      if (length7 === 126) length = (b[at + 2] << 8) | b[at + 3];
      if (length7 === 127) {
        const high = ((b[at + 2] << 24) >>> 0) + (b[at + 3] << 16) + (b[at + 4] << 8) + b[at + 5];
        if (high >= 0x200000) {
          this.#violation(`frame length above 2^53 (high word 0x${high.toString(16)})`);
          return;
        }
        const low = ((b[at + 6] << 24) >>> 0) + (b[at + 7] << 16) + (b[at + 8] << 8) + b[at + 9];
        length = high * 0x100000000 + low;
      }
      if (available < headerLength + length) {
        this.#reserve(headerLength + length);
        break;
      }
      const payload = b.subarray(at + headerLength, at + headerLength + length);
      if (masked) maskInPlace(payload, 0, b.subarray(at + headerLength - 4, at + headerLength));
      this.#start = at + headerLength + length;
      this.#frame(first, masked, payload);
    }
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Makes room for `total` bytes from `#start`, so a large frame is copied into place once. */
  #reserve(total: number): void {
    if (this.#buffer.length - this.#start >= total) return;
    if (total <= this.#buffer.length) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
    } else {
      const grown = new Uint8Array(Math.max(total, this.#buffer.length * 2));
      grown.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = grown;
    }
    this.#end -= this.#start;
    this.#start = 0;
  }

  #append(chunk: Uint8Array): void {
    if (this.#buffer.length - this.#end < chunk.length) {
      const needed = this.#end - this.#start + chunk.length;
      if (needed <= this.#buffer.length) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
        grown.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = grown;
      }
      this.#end -= this.#start;
      this.#start = 0;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Checks one server frame (RFC 6455 §5) and turns it into events. `payload` is a view: copy to keep. */
  #frame(first: number, masked: boolean, payload: Uint8Array): void {
    const fin = (first & 0x80) !== 0;
    const rsv = (first >> 4) & 7;
    const opcode = first & 0x0f;
    if (this.#closeReceived) {
      return this.#violation(`frame (opcode ${opcode}) after the close frame`);
    }
    // §5.1: a server must not mask the frames it sends.
    if (masked) return this.#violation(`masked frame (opcode ${opcode})`);
    if (rsv !== 0) return this.#violation(`reserved bits ${rsv} set (no extension negotiated)`);
    if (opcode >= 8) {
      if (!fin) return this.#violation(`fragmented control frame (opcode ${opcode})`);
      if (payload.length > 125) {
        return this.#violation(`control frame of ${payload.length} bytes (opcode ${opcode})`);
      }
      if (opcode === Op.Ping) {
        if (this.#surfacePings) this.#push({ kind: "ping", payload: payload.slice() });
        else this.skippedPings++;
      } else if (opcode === Op.Pong) {
        this.#push({ kind: "pong", payload: payload.slice() });
      } else if (opcode === Op.Close) {
        this.#close(payload.slice());
      } else {
        this.#violation(`reserved control opcode ${opcode}`);
      }
      return;
    }
    if (opcode !== Op.Continuation && opcode !== Op.Text && opcode !== Op.Binary) {
      return this.#violation(`reserved data opcode ${opcode}`);
    }
    this.dataFramesReceived++;
    if (opcode === Op.Continuation) {
      if (this.#messageOpcode === 0) return this.#violation("continuation frame without a message");
    } else {
      if (this.#messageOpcode !== 0) {
        return this.#violation("new data frame inside a fragmented message");
      }
      this.#messageOpcode = opcode;
    }
    this.#messageParts.push(payload.slice());
    this.#messageFrames++;
    if (!fin) return;
    const data = this.#messageParts.length === 1
      ? this.#messageParts[0]
      : concat(this.#messageParts);
    const isText = this.#messageOpcode === Op.Text;
    const frames = this.#messageFrames;
    this.#messageOpcode = 0;
    this.#messageParts = [];
    this.#messageFrames = 0;
    if (isText && !isValidUtf8(data)) {
      return this.#violation(`text message of ${data.length} bytes is not valid UTF-8`);
    }
    this.#push({ kind: "message", isText, data, frames });
  }

  /** §5.5.1, §7.4: a server's close frame carries nothing, or a valid code and a UTF-8 reason. */
  #close(payload: Uint8Array): void {
    this.#closeReceived = true;
    if (payload.length === 1) return this.#violation("close frame with a 1-byte payload");
    let code: number | undefined;
    let reason = "";
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      const sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
        (code >= 3000 && code <= 4999);
      if (!sendable) {
        return this.#violation(`close frame with the code ${code}, which may not be sent`);
      }
      const reasonBytes = payload.subarray(2);
      if (!isValidUtf8(reasonBytes)) {
        return this.#violation(`close reason is not valid UTF-8: ${toHex(reasonBytes)}`);
      }
      reason = strictDecoder.decode(reasonBytes);
    }
    this.#push({ kind: "close", code, reason, payload });
  }

  // ---- expectations ----

  /** The next event must be a message equal to `expected` (text when it is a string, unless `isText` says). */
  async expectMessage(
    expected: string | Uint8Array,
    isText = typeof expected === "string",
  ): Promise<
    void
  > {
    const bytes = bytesOf(expected);
    const type = isText ? "text" : "binary";
    const event = await this.next(`the echo (${type}, ${bytes.length} bytes)`);
    if (event.kind !== "message") {
      this.#unexpected(event, `the echo (${type} message of ${bytes.length} bytes)`);
    }
    if (event.isText !== isText) {
      throw new CaseFailure(`Expected a ${type} message, got ${describeEvent(event)}`);
    }
    const difference = firstDifference(event.data, bytes);
    if (difference !== -1) {
      throw new CaseFailure(
        `Echo differs: expected ${bytes.length} bytes, got ${event.data.length}; first difference at ` +
          `byte ${difference} (expected ${toHex(bytes.subarray(difference, difference + 8))}, got ${
            toHex(event.data.subarray(difference, difference + 8))
          })`,
      );
    }
  }

  /** The next event must be a pong carrying `payload`. */
  async expectPong(payload: string | Uint8Array): Promise<void> {
    const bytes = bytesOf(payload);
    const event = await this.next(`a pong with ${bytes.length} bytes`);
    if (event.kind !== "pong") this.#unexpected(event, `a pong with ${bytes.length} bytes`);
    if (firstDifference(event.payload, bytes) !== -1) {
      throw new CaseFailure(
        `Pong payload differs: expected [${toHex(bytes)}], got [${toHex(event.payload)}]`,
      );
    }
  }

  /**
   * The server must fail the connection (RFC 6455 §7.1.7): a close frame with `code`, then it closes TCP.
   *
   * @param received The event to judge when the case already took it from {@linkcode WsClient.next}.
   * @throws {NonStrict} when TCP closes without a close frame.
   * @throws {CaseFailure} for anything else first, another code, or no TCP close.
   */
  async expectFailure(code: number, received?: WireEvent): Promise<void> {
    const event = received ?? await this.next(`a close frame with ${code}`);
    if (event.kind === "tcp-closed") {
      throw new NonStrict(`Expected a close frame with ${code}; ${describeEvent(event)}`);
    }
    if (event.kind !== "close") this.#unexpected(event, `a close frame with ${code}`);
    if (event.code !== code) {
      throw new CaseFailure(`Expected a close frame with ${code}, got ${describeEvent(event)}`);
    }
    // Answer the close as a client does; the server may already have closed TCP.
    await this.send({ opcode: Op.Close, payload: event.payload.subarray(0, 2) });
    await this.expectTcpClose();
  }

  /**
   * Completes a closing handshake we start (RFC 6455 §7.1.2, §5.5.1): sends a close frame with `code` and
   * `reason` (none when `code` is undefined), expects the echo (the same code, or one of `echoCodes`), then
   * expects the server to close TCP first (§7.1.1).
   */
  async closeHandshake(
    code: number | undefined = 1000,
    reason: string | Uint8Array = "",
    echoCodes: readonly (number | undefined)[] = [code],
  ): Promise<void> {
    const payload = code === undefined
      ? new Uint8Array(0)
      : concat([new Uint8Array([code >> 8, code & 0xff]), bytesOf(reason)]);
    await this.send({ opcode: Op.Close, payload });
    await this.expectCloseEcho(echoCodes);
  }

  /** After our close frame: the server's close frame with one of `codes`, then its TCP close. */
  async expectCloseEcho(codes: readonly (number | undefined)[]): Promise<void> {
    const what = `the close echo (${codes.map((c) => c ?? "no code").join(" or ")})`;
    const event = await this.next(what);
    if (event.kind === "tcp-closed") {
      throw new CaseFailure(`Expected ${what}; ${describeEvent(event)}`);
    }
    if (event.kind !== "close") this.#unexpected(event, what);
    if (!codes.includes(event.code)) {
      throw new CaseFailure(`Expected ${what}, got ${describeEvent(event)}`);
    }
    await this.expectTcpClose();
  }

  /** The server must close TCP next, with nothing before it. */
  async expectTcpClose(): Promise<void> {
    const event = await this.next("the server to close the TCP connection");
    if (event.kind !== "tcp-closed") {
      this.#unexpected(event, "the server to close the TCP connection");
    }
  }

  #unexpected(event: WireEvent, wanted: string): never {
    throw new CaseFailure(`Expected ${wanted}, got ${describeEvent(event)}`);
  }

  /** Closes the socket at once (cleanup). */
  destroy(): void {
    this.#stopped = true;
    this.socket.destroy();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}

/** What is wrong with a 101 answer to `key`, or `undefined` when it is right (RFC 6455 §4.2.2). */
export function handshakeProblem(response: HttpHead, key: string): string | undefined {
  if (response.status !== 101) return `status ${response.status}, expected 101`;
  if (!hasToken(response.header("upgrade"), "websocket")) {
    return `Upgrade is ${JSON.stringify(response.header("upgrade"))}`;
  }
  if (!hasToken(response.header("connection"), "upgrade")) {
    return `Connection is ${JSON.stringify(response.header("connection"))}`;
  }
  const accept = response.headerAll("sec-websocket-accept");
  if (accept.length !== 1 || accept[0] !== acceptFor(key)) {
    return `Sec-WebSocket-Accept is ${JSON.stringify(accept)}, expected ${acceptFor(key)}`;
  }
  return undefined;
}

/** The index of the first byte where `a` and `b` differ (a length difference counts), or -1. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** `n` bytes of valid UTF-8 text mixing 1- to 4-byte characters (ASCII at the end to fit exactly). */
export function textPayload(n: number): Uint8Array {
  const pattern = encoder.encode("Hello κόσμε € 𝄞 wharf! ");
  const bytes = new Uint8Array(n);
  let at = 0;
  for (; at + pattern.length <= n; at += pattern.length) bytes.set(pattern, at);
  bytes.fill(0x2a, at);
  return bytes;
}

/** `n` pseudo-random bytes (every value occurs), the same for the same `seed`. */
export function binaryPayload(n: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}
