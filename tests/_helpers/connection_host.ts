/**
 * An `HttpConnection` without a server or a socket: a host that records the parsers it lends and gets back,
 * and a transport that keeps what is written and closes synchronously.
 *
 * @module
 */

import { sha1Base64 } from "../../adapters/_crypto_node.ts";
import { type ConnectionHost, HttpConnection } from "../../src/http/connection.ts";
import { DEFAULT_MAX_HEADER_BYTES, RequestParser } from "../../src/http/parser.ts";
import type { HttpRequest } from "../../src/http/request.ts";
import type { Transport, TransportHandler } from "../../src/transport.ts";

const decoder = new TextDecoder();

/** A host that records what is taken and given back, and how the parser was when it came back. */
export class RecordingHost implements ConnectionHost {
  readonly handle = {};
  readonly maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES;
  readonly maxBodyBytes = 1024;
  readonly idleTimeoutMs = 0;
  readonly writeStallMs = 5000;
  readonly headerTimeoutMs = 0;
  readonly publicFolder = undefined;
  readonly sha1Base64 = sha1Base64;
  readonly coarseNow = 0;
  readonly stopping = false;
  readonly taken: RequestParser[] = [];
  readonly recycled: RequestParser[] = [];
  readonly errors: unknown[] = [];
  /** For each recycled parser: whether the request handler was still running when it came back. */
  readonly recycledInHandler: boolean[] = [];
  #inHandler = false;
  readonly #app: (request: HttpRequest) => unknown;

  constructor(app: (request: HttpRequest) => unknown) {
    this.#app = app;
  }

  readonly onRequest = (request: HttpRequest): unknown => {
    this.#inHandler = true;
    try {
      return this.#app(request);
    } finally {
      this.#inHandler = false;
    }
  };

  onError(error: unknown): void {
    this.errors.push(error);
  }

  serveFile(): Promise<null> {
    return Promise.resolve(null);
  }

  schedule(): void {}

  connectionClosed(): void {}

  takeParser(): RequestParser {
    const parser = new RequestParser(this);
    this.taken.push(parser);
    return parser;
  }

  recycleParser(parser: RequestParser): void {
    this.recycled.push(parser);
    this.recycledInHandler.push(this.#inHandler);
  }
}

/** A transport that keeps what is written and reports its close at once, from inside the call (as Bun may). */
export class SyncTransport implements Transport {
  handler!: TransportHandler;
  readonly remoteAddress = "";
  readonly remotePort = 0;
  /** What the test says the transport still has buffered. */
  bufferedAmount = 0;
  /** Set by a test to behave as a socket (see `Transport.releasesWrittenChunks`). */
  releasesWrittenChunks = false;
  /** How many times the core asked for a drain. */
  drainWatches = 0;
  output = "";
  #closed = false;
  write(chunk: Uint8Array): boolean {
    this.output += decoder.decode(chunk);
    return true;
  }
  /** The `peerFinished` of each `end` call, in order. */
  readonly ends: boolean[] = [];
  end(peerFinished = false): void {
    this.ends.push(peerFinished);
    this.#close();
  }
  destroy(): void {
    this.#close();
  }
  pause(): void {}
  resume(): void {}
  watchDrain(): void {
    this.drainWatches++;
  }
  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.handler.onClose();
  }
}

export function connect(
  host: RecordingHost,
): { connection: HttpConnection; transport: SyncTransport } {
  const transport = new SyncTransport();
  const connection = new HttpConnection(host, transport);
  transport.handler = connection;
  return { connection, transport };
}
