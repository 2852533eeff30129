/**
 * A raw WebSocket client for tests of the whole server without sockets: an in-memory `{ readable, writable }`
 * pair handed to `server.serveStreams`, and a client on the other end that writes the bytes a real client
 * would (the upgrade request, masked frames) and parses every byte the server writes back (the response head,
 * server frames, checked against RFC 6455's rules for senders).
 *
 * Nothing here sleeps: every wait resolves on the server's next write or end, and fails after a bound.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  HttpResponse,
  type HttpServerOptions,
  type Server,
  startHttpServer,
  type StreamPair,
  Websocket,
} from "../../mod.ts";
import { ascii, concat } from "./splits.ts";

/** RFC 6455 §1.3's sample nonce. */
export const SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
/** RFC 6455 §1.3: the `Sec-WebSocket-Accept` for {@linkcode SAMPLE_KEY}. */
export const SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** Frame opcodes (RFC 6455 §5.2). */
export const Op = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** How long any single wait may take before the test fails, in milliseconds. */
export const WAIT_MS = 5000;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** `bytes` decoded as UTF-8; throws on invalid UTF-8 (server text must be valid, RFC 6455 §8.1). */
export function text(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}

/** `length` bytes of a pattern that differs for each `seed`, so mixed-up buffers show. */
export function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return bytes;
}

/** Rejects with `what` when `promise` takes longer than `ms`; the timer never outlives the race. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Lets every queued promise job and stream operation run (one macrotask turn), so that the absence of a write
 * can be asserted. Not a sleep: it waits for no amount of time.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The parts of an upgrade request a test may change; every default makes a valid RFC 6455 §4.1 request. */
export interface UpgradeRequestOptions {
  /** Default `GET`. */
  method?: string;
  /** Default `/chat`. */
  path?: string;
  /** Default `HTTP/1.1`. */
  httpVersion?: string;
  /** `Sec-WebSocket-Key`; `null` leaves it out. Default {@linkcode SAMPLE_KEY}. */
  key?: string | null;
  /** `Sec-WebSocket-Version`; `null` leaves it out. Default `13`. */
  version?: string | null;
  /** `Sec-WebSocket-Protocol`, when given. */
  protocols?: string;
  /** `Origin`, when given. */
  origin?: string;
  /** `Upgrade`; `null` leaves it out. Default `websocket`. */
  upgrade?: string | null;
  /** `Connection`. Default `Upgrade`. */
  connection?: string;
  /** More header lines, sent last. */
  headers?: Record<string, string>;
}

/** An upgrade request as a client sends it. */
export function upgradeRequest(options: UpgradeRequestOptions = {}): Uint8Array {
  const {
    method = "GET",
    path = "/chat",
    httpVersion = "HTTP/1.1",
    key = SAMPLE_KEY,
    version = "13",
    upgrade = "websocket",
    connection = "Upgrade",
  } = options;
  let head = `${method} ${path} ${httpVersion}\r\nHost: server.example.com\r\n`;
  if (upgrade !== null) head += `Upgrade: ${upgrade}\r\n`;
  head += `Connection: ${connection}\r\n`;
  if (key !== null) head += `Sec-WebSocket-Key: ${key}\r\n`;
  if (version !== null) head += `Sec-WebSocket-Version: ${version}\r\n`;
  if (options.protocols !== undefined) head += `Sec-WebSocket-Protocol: ${options.protocols}\r\n`;
  if (options.origin !== undefined) head += `Origin: ${options.origin}\r\n`;
  if (method !== "GET") head += "Content-Length: 0\r\n";
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    head += `${name}: ${value}\r\n`;
  }
  return ascii(head + "\r\n");
}

/** How to build a client frame. */
export interface FrameOptions {
  /** Default true. */
  fin?: boolean;
  /** The masking key; `null` sends the frame unmasked (a protocol error). Default 37 fa 21 3d (§5.7). */
  mask?: readonly number[] | null;
}

/** A frame as a client must send it (RFC 6455 §5.2, §5.3): masked, with the minimal length encoding. */
export function maskedFrame(
  opcode: number,
  payload: Uint8Array | string = new Uint8Array(0),
  options: FrameOptions = {},
): Uint8Array {
  const data = typeof payload === "string" ? utf8(payload) : payload;
  const { fin = true, mask = [0x37, 0xfa, 0x21, 0x3d] } = options;
  const length = data.length;
  const maskBit = mask === null ? 0 : 0x80;
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  if (length < 126) head.push(maskBit | length);
  else if (length < 0x10000) head.push(maskBit | 126, length >>> 8, length & 0xff);
  else {
    const high = Math.floor(length / 0x1_0000_0000);
    head.push(maskBit | 127);
    for (const word of [high, length >>> 0]) {
      head.push(word >>> 24, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff);
    }
  }
  const masked = new Uint8Array(length);
  for (let i = 0; i < length; i++) masked[i] = data[i] ^ (mask === null ? 0 : mask[i & 3]);
  return concat([Uint8Array.from(head), Uint8Array.from(mask ?? []), masked]);
}

/** A close frame's payload: the code in network order, then the reason. */
export function closePayload(code: number, reason = ""): Uint8Array {
  return concat([Uint8Array.of(code >>> 8, code & 0xff), utf8(reason)]);
}

/** A frame the server sent. */
export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** The code of a close frame's payload (1005 for an empty one) and its reason. */
export function closeOf(frame: ServerFrame): { code: number; reason: string } {
  assert.equal(frame.opcode, Op.Close, `expected a close frame, got opcode ${frame.opcode}`);
  const p = frame.payload;
  assert.notEqual(p.length, 1, "close payload of 1 byte");
  if (p.length === 0) return { code: 1005, reason: "" };
  return { code: (p[0] << 8) | p[1], reason: text(p.subarray(2)) };
}

/**
 * Parses one server frame at `bytes[at]`, asserting RFC 6455's rules for a server: unmasked (§5.1), RSV 0
 * (no extension), minimal length encoding (§5.2), control frames final and at most 125 bytes (§5.5).
 *
 * @returns The frame and where the next one starts, or `null` when the bytes end inside it.
 */
export function parseServerFrame(
  bytes: Uint8Array,
  at: number,
): { frame: ServerFrame; next: number } | null {
  if (bytes.length - at < 2) return null;
  const first = bytes[at];
  const second = bytes[at + 1];
  assert.equal(first & 0x70, 0, "RSV bits set on a server frame");
  assert.equal(second & 0x80, 0, "server frame is masked");
  let length = second & 0x7f;
  let pos = at + 2;
  if (length === 126) {
    if (bytes.length - pos < 2) return null;
    length = (bytes[pos] << 8) | bytes[pos + 1];
    assert.ok(length >= 126, "16-bit length is not minimal");
    pos += 2;
  } else if (length === 127) {
    if (bytes.length - pos < 8) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset + pos, 8);
    length = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4);
    assert.ok(length >= 0x10000, "64-bit length is not minimal");
    pos += 8;
  }
  if (bytes.length - pos < length) return null;
  const opcode = first & 0x0f;
  const fin = (first & 0x80) !== 0;
  if (opcode >= 0x8) {
    assert.ok(fin, "fragmented control frame");
    assert.ok(length <= 125, "control frame over 125 bytes");
  }
  return { frame: { fin, opcode, payload: bytes.slice(pos, pos + length) }, next: pos + length };
}

/** A parsed HTTP response head (and its body, when it declared a `Content-Length`). */
export interface ResponseHead {
  status: number;
  /** The head as received, for messages. */
  raw: string;
  /** Header lines in order, names lower-cased. */
  lines: [string, string][];
  body: Uint8Array;
  /** The values of header `name` (case-insensitive), in order. */
  all(name: string): string[];
  /** The single value of header `name`, `undefined` when absent; asserts it is not repeated. */
  get(name: string): string | undefined;
}

function parseHead(raw: string): ResponseHead {
  const [statusLine, ...rest] = raw.split("\r\n");
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
  assert.ok(match !== null, `bad status line: ${JSON.stringify(statusLine)}`);
  const lines: [string, string][] = rest.map((line) => {
    const colon = line.indexOf(":");
    assert.ok(colon > 0, `bad header line: ${JSON.stringify(line)}`);
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const all = (name: string) =>
    lines.filter(([key]) => key === name.toLowerCase()).map(([, value]) => value);
  return {
    status: Number(match[1]),
    raw,
    lines,
    body: new Uint8Array(0),
    all,
    get(name) {
      const values = all(name);
      assert.ok(values.length <= 1, `header ${name} repeated in\n${raw}`);
      return values[0];
    },
  };
}

/** What became of the stream the server writes to. */
export type ServerSide = "open" | "closed" | "aborted";

/**
 * One in-memory connection to a server: the client end of a `{ readable, writable }` pair served with
 * `server.serveStreams`. Bytes the server writes are kept until read; `stall()` makes the writable stop
 * draining (its writes stay pending, holding the server's chunks by reference, as a socket whose peer does
 * not read would).
 */
export class MemoryClient {
  /** Resolves when the server's read loop ends. */
  readonly served: Promise<void>;
  /** The pair given to the server. */
  readonly pair: StreamPair;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #inputOpen = true;
  #readCancelled = false;
  #chunks: Uint8Array[] = [];
  #unread: Uint8Array = new Uint8Array(0);
  #serverSide: ServerSide = "open";
  #wake: (() => void)[] = [];
  #stalled = false;
  #held: { chunk: Uint8Array; release: () => void }[] = [];
  /** Every chunk the server wrote, in order (copies taken when the write completed). */
  readonly writes: Uint8Array[] = [];

  constructor(server: Server) {
    const readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#readCancelled = true;
      },
    });
    const writable = new WritableStream<Uint8Array>({
      write: (chunk) => {
        if (!this.#stalled) {
          this.#take(chunk);
          return;
        }
        // Keep the reference, as a socket's send queue does: the bytes are read when written, not now.
        return new Promise<void>((release) => this.#held.push({ chunk, release }));
      },
      close: () => this.#serverEnded("closed"),
      abort: () => this.#serverEnded("aborted"),
    });
    this.pair = { readable, writable };
    this.served = server.serveStreams(this.pair);
  }

  /** `open` while the server's writable is open; then whether it was closed (TCP FIN) or aborted (reset). */
  get serverSide(): ServerSide {
    return this.#serverSide;
  }

  /** Bytes written by the server and not read yet. */
  get unread(): Uint8Array {
    this.#join();
    return this.#unread;
  }

  /** Writes in flight while stalled. */
  get heldWrites(): number {
    return this.#held.length;
  }

  /** Sends bytes to the server (a copy: the server unmasks in place). */
  send(bytes: Uint8Array): void {
    assert.ok(this.#inputOpen, "the client already ended its side");
    this.#controller.enqueue(bytes.slice());
  }

  /** Sends a masked frame. */
  sendFrame(opcode: number, payload?: Uint8Array | string, options?: FrameOptions): void {
    this.send(maskedFrame(opcode, payload, options));
  }

  /** Sends a close frame with `code` (none when `undefined`) and `reason`. */
  sendClose(code?: number, reason = ""): void {
    this.sendFrame(Op.Close, code === undefined ? new Uint8Array(0) : closePayload(code, reason));
  }

  /** Ends the client's side (EOF, as a TCP FIN). Nothing to do when the server already cancelled reading. */
  end(): void {
    if (!this.#inputOpen) return;
    this.#inputOpen = false;
    if (!this.#readCancelled) this.#controller.close();
  }

  /** Cuts the connection: the server's reads fail (as a TCP reset). */
  cut(): void {
    if (!this.#inputOpen) return;
    this.#inputOpen = false;
    if (!this.#readCancelled) {
      this.#controller.error(new Error("connection cut by the test client"));
    }
  }

  /** From now on, the server's writes stay pending until {@linkcode MemoryClient.unstall}. */
  stall(): void {
    this.#stalled = true;
  }

  /** Completes the held writes in order (reading their bytes now) and stops stalling. */
  unstall(): void {
    this.#stalled = false;
    const held = this.#held;
    this.#held = [];
    for (const { chunk, release } of held) {
      this.#take(chunk);
      release();
    }
  }

  /** Sends an upgrade request and reads the response head; asserts a valid 101 (RFC 6455 §4.2.2). */
  async upgrade(options: UpgradeRequestOptions = {}): Promise<ResponseHead> {
    this.send(upgradeRequest(options));
    const head = await this.readHead();
    assert.equal(head.status, 101, head.raw);
    assertValid101(head);
    return head;
  }

  /** Reads a response head, and its body when it has a `Content-Length`. */
  async readHead(): Promise<ResponseHead> {
    let end = -1;
    await this.#until("a response head", () => {
      end = indexOfCrlfCrlf(this.unread);
      return end >= 0;
    });
    const raw = String.fromCharCode(...this.#unread.subarray(0, end));
    this.#consume(end + 4);
    const head = parseHead(raw);
    const length = Number(head.get("content-length") ?? "0");
    if (length > 0) {
      await this.#until(`a body of ${length} bytes`, () => this.unread.length >= length);
      head.body = this.#unread.slice(0, length);
      this.#consume(length);
    }
    return head;
  }

  /** Reads the next server frame. */
  async readFrame(): Promise<ServerFrame> {
    let parsed: ReturnType<typeof parseServerFrame> = null;
    await this.#until("a server frame", () => {
      parsed = parseServerFrame(this.unread, 0);
      return parsed !== null;
    });
    const { frame, next } = parsed!;
    this.#consume(next);
    return frame;
  }

  /** Reads frames until one has `opcode`; returns the frames before it and that frame. */
  async readUntil(opcode: number): Promise<{ before: ServerFrame[]; frame: ServerFrame }> {
    const before: ServerFrame[] = [];
    for (;;) {
      const frame = await this.readFrame();
      if (frame.opcode === opcode) return { before, frame };
      before.push(frame);
    }
  }

  /** Waits until the server has closed or aborted its side. */
  async serverEnd(): Promise<ServerSide> {
    await this.#until("the server to end the connection", () => this.#serverSide !== "open", true);
    return this.#serverSide;
  }

  /**
   * The client-initiated close handshake (RFC 6455 §7.1.2): sends close, reads up to the server's close
   * frame, waits for the server to end the TCP connection (§7.1.1: the server closes first), then ends.
   */
  async closeHandshake(
    code?: number,
    reason = "",
  ): Promise<{ before: ServerFrame[]; code: number; reason: string; side: ServerSide }> {
    this.sendClose(code, reason);
    const { before, frame } = await this.readUntil(Op.Close);
    const side = await this.serverEnd();
    this.end();
    return { before, ...closeOf(frame), side };
  }

  /** Ends the client's side and waits for the server's read loop to finish. */
  async finish(): Promise<void> {
    this.end();
    await within(this.served, WAIT_MS, "the server's read loop to finish");
  }

  #take(chunk: Uint8Array): void {
    const copy = chunk.slice();
    this.writes.push(copy);
    this.#chunks.push(copy);
    this.#notify();
  }

  #serverEnded(side: ServerSide): void {
    if (this.#serverSide === "open") this.#serverSide = side;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const resolve of wake) resolve();
  }

  #join(): void {
    if (this.#chunks.length === 0) return;
    this.#unread = concat([this.#unread, ...this.#chunks]);
    this.#chunks = [];
  }

  #consume(n: number): void {
    this.#unread = this.#unread.subarray(n);
  }

  /** Waits until `ready()`; fails when the server ended first (unless `orEnd`) or after {@linkcode WAIT_MS}. */
  async #until(what: string, ready: () => boolean, orEnd = false): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!ready()) {
      if (this.#serverSide !== "open" && !orEnd) {
        throw new Error(`The server ended the connection (${this.#serverSide}) before ${what}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}`);
      await within(new Promise<void>((resolve) => this.#wake.push(resolve)), left, what);
    }
  }
}

function indexOfCrlfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** Asserts the headers RFC 6455 §4.2.2 requires of a 101 for {@linkcode SAMPLE_KEY}. */
export function assertValid101(head: ResponseHead): void {
  assert.equal(head.get("upgrade")?.toLowerCase(), "websocket", head.raw);
  assert.ok(
    head.get("connection")?.toLowerCase().split(",").some((t) => t.trim() === "upgrade"),
    head.raw,
  );
  assert.equal(head.get("sec-websocket-accept"), SAMPLE_ACCEPT, head.raw);
  assert.equal(head.get("content-length"), undefined, "a 101 has no body");
}

/** Opens an in-memory connection to `server`. */
export function connect(server: Server): MemoryClient {
  return new MemoryClient(server);
}

// ---- An echo server for tests with real clients (TCP, Chromium) ----

/** The text that asks the server to close first. */
export const CLOSE_ME = "close-me";
/** What the server closes with when asked. */
export const SERVER_CLOSE = { code: 4000, reason: "server says bye" } as const;

/** How the server saw a connection end. */
export interface ServerClose {
  code: number;
  reason: string;
}

/** A running echo server and the close codes its connections ended with, in order. */
export interface EchoServer {
  server: Server;
  url: string;
  /** Resolves with the next connection end the server reports (`onClose`). */
  nextClose(): Promise<ServerClose>;
}

/** Starts the echo server on 127.0.0.1 and a free port. */
export async function startEchoServer(options: HttpServerOptions = {}): Promise<EchoServer> {
  const closes: ServerClose[] = [];
  let wake: (() => void) | undefined;
  const server = await startHttpServer((request) => {
    if (request.upgrade === "websocket") {
      Websocket.upgrade({
        request,
        onMessage: (ws, data, isText) => {
          if (isText && data.length === CLOSE_ME.length && text(data) === CLOSE_ME) {
            Websocket.close(ws, SERVER_CLOSE.code, SERVER_CLOSE.reason);
            return;
          }
          Websocket.write(ws, data, isText);
        },
        onClose: (ws) => {
          closes.push({ code: ws.closeCode, reason: ws.closeReason });
          wake?.();
        },
      });
      return;
    }
    const response = HttpResponse.create(request);
    response.status = 404;
    response.writeBody("Not Found");
    response.destroy();
  }, { ...options, port: 0, address: "127.0.0.1", handleSignals: false });
  return {
    server,
    url: `ws://127.0.0.1:${server.port}/echo`,
    async nextClose() {
      while (closes.length === 0) {
        await within(
          new Promise<void>((resolve) => wake = resolve),
          WAIT_MS,
          "the server's onClose",
        );
      }
      return closes.shift()!;
    },
  };
}

/**
 * The message set: multi-byte text, every byte value, empty text and binary, 70 kB (both kinds, so the
 * 16-bit and 64-bit length encodings and multi-read messages are used) and 1 MiB.
 */
export function messageSet(): (string | Uint8Array)[] {
  const bytes = new Uint8Array(256);
  for (let i = 0; i < 256; i++) bytes[i] = i;
  return [
    "héllo wörld ✓ 🚀",
    bytes,
    "",
    new Uint8Array(0),
    pattern(70_000, 1),
    "ünïcödé ✓ 🚀 ".repeat(3500),
    pattern(1024 * 1024, 2),
  ];
}

/** `Websocket.maxMsgSize` for the tests: room for the 1 MiB message. */
export const TEST_MAX_MSG_SIZE = 2 * 1024 * 1024;
