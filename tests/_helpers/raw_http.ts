/**
 * A tiny raw HTTP client for tests: connect with `node:net`, write exact bytes, collect what the server
 * answers until it closes, and split the bytes into responses. No HTTP library sits in between, so tests
 * can send what real clients never would (hostile heads, pipelined requests in one write, a head without
 * its body) and see the answer byte for byte. Runs on Deno, Bun and Node.
 *
 * @module
 */

import * as net from "node:net";
import type { HttpServerOptions } from "../../mod.ts";

/** How long a test waits for bytes before it fails, in milliseconds: generous, but bounded. */
export const WAIT_MS = 5000;

/** Bytes as Latin-1 text, one character per byte (HTTP heads are Latin-1). */
export function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  }
  return text;
}

/** Latin-1 text as bytes; strings with characters above U+00FF are a test bug. */
export function bytesOf(data: string | Uint8Array): Uint8Array {
  if (typeof data !== "string") return data;
  const bytes = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`Not Latin-1 at ${i}: ${JSON.stringify(data)}`);
    bytes[i] = c;
  }
  return bytes;
}

/** `text` for an error message: the start and the end of long texts, with the length. */
export function preview(text: string, keep = 300): string {
  if (text.length <= 2 * keep) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, keep))} … ${
    JSON.stringify(text.slice(-keep))
  } (${text.length} bytes)`;
}

/**
 * Collects the bytes a peer sends and lets a test wait for a condition on them, with a deadline. Shared by
 * {@linkcode RawConnection} (a socket) and the in-memory connection of `duplex_pair.ts`.
 */
export class ByteSink {
  #chunks: Uint8Array[] = [];
  #length = 0;
  #joined: Uint8Array | undefined;
  #ended = false;
  #endError: unknown;
  #waiters: (() => void)[] = [];
  /** Resolves once the peer has finished sending (end of stream, close, or error). */
  readonly ended: Promise<void>;
  #resolveEnded!: () => void;

  constructor() {
    this.ended = new Promise((resolve) => this.#resolveEnded = resolve);
  }

  /** Everything received so far. */
  get bytes(): Uint8Array {
    if (this.#joined === undefined || this.#joined.length !== this.#length) {
      const joined = new Uint8Array(this.#length);
      let offset = 0;
      for (const chunk of this.#chunks) {
        joined.set(chunk, offset);
        offset += chunk.length;
      }
      this.#chunks = [joined];
      this.#joined = joined;
    }
    return this.#joined;
  }

  /** Everything received so far, as Latin-1 text. */
  get text(): string {
    return latin1(this.bytes);
  }

  /** `true` once the peer has finished sending. */
  get isEnded(): boolean {
    return this.#ended;
  }

  /** The error the stream ended with, if any (a reset, an aborted stream). */
  get endError(): unknown {
    return this.#endError;
  }

  /**
   * Resolves with the text received so far once `done(text)` holds; rejects when the peer ends first or
   * `timeoutMs` passes, with what was received in the message.
   */
  waitFor(done: (text: string) => boolean, what: string, timeoutMs = WAIT_MS): Promise<string> {
    return new Promise((resolve, reject) => {
      // Settles the promise when it can; `true` once settled.
      const check = (): boolean => {
        const text = this.text;
        if (done(text)) {
          resolve(text);
          return true;
        }
        if (this.#ended) {
          reject(new Error(`Peer ended before ${what}; received ${preview(text)}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const waiter = () => {
        if (check()) clearTimeout(timer);
        else this.#waiters.push(waiter);
      };
      const timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter);
        if (index !== -1) this.#waiters.splice(index, 1);
        reject(new Error(`Timed out waiting for ${what}; received ${preview(this.text)}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Resolves once `count` complete responses (see {@linkcode parseResponses}) have arrived. */
  async waitForResponses(
    count: number,
    methods: readonly string[] = [],
    timeoutMs = WAIT_MS,
  ): Promise<ParsedResponse[]> {
    await this.waitFor(
      () => {
        const responses = parseResponses(this.bytes, methods, this.#ended);
        return responses.filter((r) => r.complete && r.status >= 200).length >= count;
      },
      `${count} response(s)`,
      timeoutMs,
    );
    return parseResponses(this.bytes, methods, this.#ended).filter((r) => r.status >= 200);
  }

  /** Resolves with everything received once the peer has finished sending; rejects after `timeoutMs`. */
  waitForEnd(timeoutMs = WAIT_MS): Promise<Uint8Array> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Peer did not close; received ${preview(this.text)}`)),
        timeoutMs,
      );
    });
    return Promise.race([this.ended.then(() => this.bytes), deadline]).finally(() =>
      clearTimeout(timer)
    );
  }

  /** For subclasses: bytes arrived. The chunk is copied. */
  protected receive(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk.slice());
    this.#length += chunk.length;
    this.#wake();
  }

  /** For subclasses: the peer finished sending. */
  protected finish(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endError = error;
    this.#resolveEnded();
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** A client TCP connection that records what the server sends. */
export class RawConnection extends ByteSink {
  readonly socket: net.Socket;
  /** Resolves once the socket is fully closed. */
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    super();
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    let failure: unknown;
    socket.on("data", (chunk: Uint8Array) => this.receive(chunk));
    socket.on("end", () => this.finish());
    socket.on("error", (error) => {
      failure = error;
    });
    socket.on("close", () => this.finish(failure));
  }

  /**
   * Connects to `port` on `host`. The socket ends its side when the server ends, as a browser does; that
   * lets a server's lingering close finish at once.
   */
  static connect(port: number, host = "127.0.0.1", timeoutMs = WAIT_MS): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`Could not connect to ${host}:${port} in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new RawConnection(socket));
      });
    });
  }

  /** Writes bytes (strings as Latin-1); resolves once the socket took them. */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(bytesOf(data), (error) => error ? reject(error) : resolve());
    });
  }

  /** Ends the client's side (half close). */
  end(): void {
    this.socket.end();
  }

  /** Closes the socket at once. */
  destroy(): void {
    this.socket.destroy();
  }
}

/** What {@linkcode rawRequest} returns. */
export interface RawResult {
  /** Every byte the server sent. */
  bytes: Uint8Array;
  /** The same, as Latin-1 text. */
  text: string;
  /** `true` when the server closed the connection; `false` when the wait ran out first. */
  closedByServer: boolean;
}

/**
 * Connects, writes `data`, and collects the answer until the server closes the connection or `timeoutMs`
 * passes (then the socket is destroyed and `closedByServer` is `false`).
 */
export async function rawRequest(
  port: number,
  data: string | Uint8Array,
  timeoutMs = WAIT_MS,
): Promise<RawResult> {
  const connection = await RawConnection.connect(port);
  try {
    await connection.write(data);
    let closedByServer = true;
    try {
      await connection.waitForEnd(timeoutMs);
    } catch {
      closedByServer = false;
    }
    return { bytes: connection.bytes, text: connection.text, closedByServer };
  } finally {
    connection.destroy();
  }
}

/** One response split out of the bytes a server sent. */
export interface ParsedResponse {
  /** `"HTTP/1.1"`. */
  version: string;
  status: number;
  reason: string;
  /** Header fields in order, names as sent. */
  headers: [string, string][];
  /** The body with any chunked framing removed. */
  body: Uint8Array;
  /** How the body was delimited. */
  framing: "none" | "length" | "chunked" | "close";
  /** `false` when the bytes ended inside this response. */
  complete: boolean;
  /** The status line and header block as received, without the blank line. */
  head: string;
  /** The first field named `name` (any case), `undefined` when absent. */
  header(name: string): string | undefined;
  /** Every field named `name` (any case). */
  headerAll(name: string): string[];
  /** The body as UTF-8 text. */
  text(): string;
}

function indexOfCrlfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function indexOfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 1 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  }
  return -1;
}

/** Decodes a chunked body at `start`; the body and where it ended, or `null` when incomplete. */
function dechunk(bytes: Uint8Array, start: number): { body: Uint8Array; end: number } | null {
  const parts: Uint8Array[] = [];
  let pos = start;
  for (;;) {
    const lineEnd = indexOfCrlf(bytes, pos);
    if (lineEnd === -1) return null;
    const line = latin1(bytes.subarray(pos, lineEnd));
    const size = parseInt(line.split(";")[0].trim(), 16);
    if (!Number.isInteger(size) || size < 0) throw new Error(`Bad chunk size line ${line}`);
    pos = lineEnd + 2;
    if (size === 0) {
      // Trailers, then the empty line.
      for (;;) {
        const trailerEnd = indexOfCrlf(bytes, pos);
        if (trailerEnd === -1) return null;
        const empty = trailerEnd === pos;
        pos = trailerEnd + 2;
        if (empty) break;
      }
      let length = 0;
      for (const part of parts) length += part.length;
      const body = new Uint8Array(length);
      let offset = 0;
      for (const part of parts) {
        body.set(part, offset);
        offset += part.length;
      }
      return { body, end: pos };
    }
    if (pos + size + 2 > bytes.length) return null;
    parts.push(bytes.subarray(pos, pos + size));
    pos += size;
    if (bytes[pos] !== 13 || bytes[pos + 1] !== 10) {
      throw new Error("Chunk data not followed by CRLF");
    }
    pos += 2;
  }
}

/**
 * Splits `bytes` into the responses they hold (interim 1xx responses included). `methods` are the request
 * methods in order, for the responses that have no body whatever their headers say (HEAD, RFC 9112 §6.3);
 * 1xx, 204 and 304 never have one. A response without `Content-Length` or chunked framing runs to the end
 * of the bytes, and is `complete` only when `ended` says the server closed the connection.
 */
export function parseResponses(
  bytes: Uint8Array,
  methods: readonly string[] = [],
  ended = false,
): ParsedResponse[] {
  const responses: ParsedResponse[] = [];
  let pos = 0;
  let finalIndex = 0;
  while (pos < bytes.length) {
    const headEnd = indexOfCrlfCrlf(bytes, pos);
    if (headEnd === -1) {
      responses.push(makeResponse(latin1(bytes.subarray(pos)), new Uint8Array(0), "none", false));
      break;
    }
    const head = latin1(bytes.subarray(pos, headEnd));
    const bodyStart = headEnd + 4;
    const probe = makeResponse(head, new Uint8Array(0), "none", true);
    const status = probe.status;
    const method = status >= 200 ? methods[finalIndex++] : undefined;
    if (status < 200 || status === 204 || status === 304 || method === "HEAD") {
      responses.push(probe);
      pos = bodyStart;
      continue;
    }
    const te = probe.header("transfer-encoding");
    const cl = probe.header("content-length");
    if (te !== undefined && te.toLowerCase().includes("chunked")) {
      const decoded = dechunk(bytes, bodyStart);
      if (decoded === null) {
        responses.push(makeResponse(head, bytes.subarray(bodyStart), "chunked", false));
        break;
      }
      responses.push(makeResponse(head, decoded.body, "chunked", true));
      pos = decoded.end;
    } else if (cl !== undefined) {
      const length = Number(cl);
      const end = bodyStart + length;
      const complete = end <= bytes.length;
      responses.push(
        makeResponse(
          head,
          bytes.subarray(bodyStart, Math.min(end, bytes.length)),
          "length",
          complete,
        ),
      );
      if (!complete) break;
      pos = end;
    } else {
      responses.push(makeResponse(head, bytes.subarray(bodyStart), "close", ended));
      break;
    }
  }
  return responses;
}

function makeResponse(
  head: string,
  body: Uint8Array,
  framing: ParsedResponse["framing"],
  complete: boolean,
): ParsedResponse {
  const lines = head.split("\r\n");
  const statusLine = lines[0];
  const firstSpace = statusLine.indexOf(" ");
  const secondSpace = statusLine.indexOf(" ", firstSpace + 1);
  const version = statusLine.substring(0, firstSpace);
  const status = Number(
    statusLine.substring(firstSpace + 1, secondSpace === -1 ? undefined : secondSpace),
  );
  const reason = secondSpace === -1 ? "" : statusLine.substring(secondSpace + 1);
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon === -1) continue;
    headers.push([line.substring(0, colon), line.substring(colon + 1).trim()]);
  }
  const copy = body.slice();
  return {
    version,
    status,
    reason,
    headers,
    body: copy,
    framing,
    complete,
    head,
    header(name) {
      const lower = name.toLowerCase();
      return headers.find(([n]) => n.toLowerCase() === lower)?.[1];
    },
    headerAll(name) {
      const lower = name.toLowerCase();
      return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
    },
    text() {
      return new TextDecoder().decode(copy);
    },
  };
}

/**
 * Requests a server must refuse, each with the status it must answer (then it closes the connection), and
 * the server options the case needs. Shared by the in-memory and the TCP suites.
 */
export const HOSTILE_REQUESTS: {
  name: string;
  wire: string;
  status: number;
  options?: HttpServerOptions;
}[] = [
  { name: "malformed request line", wire: "GET /\r\nHost: a\r\n\r\n", status: 400 },
  { name: "garbage request line", wire: "\x16\x03\x01\x02\x00\x01\x00\r\n\r\n", status: 400 },
  { name: "obs-fold", wire: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", status: 400 },
  { name: "bare LF", wire: "GET / HTTP/1.1\nHost: a\n\n", status: 400 },
  { name: "missing Host in HTTP/1.1", wire: "GET / HTTP/1.1\r\n\r\n", status: 400 },
  { name: "invalid Host", wire: "GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", status: 400 },
  {
    name: "Content-Length with Transfer-Encoding",
    wire:
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    status: 400,
  },
  {
    name: "duplicate differing Content-Length",
    wire: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    status: 400,
  },
  {
    name: "head over 8 KiB",
    wire: `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(9000)}\r\n\r\n`,
    status: 431,
  },
  {
    name: "head over maxHeaderSize",
    wire: `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(1100)}\r\n\r\n`,
    status: 431,
    options: { maxHeaderSize: 1024 },
  },
  {
    name: "Content-Length over maxBodySize",
    wire: `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n${"b".repeat(11)}`,
    status: 413,
    options: { maxBodySize: 10 },
  },
  {
    name: "chunked body over maxBodySize",
    wire: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n" +
      "6\r\nghijkl\r\n0\r\n\r\n",
    status: 413,
    options: { maxBodySize: 10 },
  },
  {
    name: "unknown Transfer-Encoding",
    wire: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    status: 501,
  },
  { name: "HTTP/2.0", wire: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505 },
];
