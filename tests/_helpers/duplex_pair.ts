/**
 * In-memory connections: two crossed byte pipes, one end for the server (`server.serveStreams`), one for a
 * test acting as the client. No sockets, no ports, the same bytes.
 *
 * The client-to-server pipe tells the writer when the server has consumed each chunk (its reader asked for
 * the next one), so a test can move an injected clock knowing the server has seen every byte so far.
 *
 * @module
 */

import type { Server } from "../../mod.ts";
import type { StreamPair } from "../../src/streams.ts";
import { ByteSink, bytesOf } from "./raw_http.ts";

/** The client's end of a {@linkcode duplexPair}. */
export interface ClientEnd {
  /** What the server writes. */
  readable: ReadableStream<Uint8Array>;
  /**
   * What the server reads. A write resolves once the server's reader has taken the chunk and asked for
   * the next one, i.e. once the server has handled it synchronously; it rejects if the server cancelled.
   */
  writable: WritableStream<Uint8Array>;
}

/** A pipe whose writes resolve only when the reader has consumed the chunk. */
function consumedPipe(): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
} {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let readerWaiting = false;
  let cancelled: unknown = undefined;
  let isCancelled = false;
  let waiting: { chunk: Uint8Array; resolve: () => void; reject: (e: unknown) => void } | undefined;
  let delivered: (() => void) | undefined;

  const deliver = () => {
    if (!readerWaiting || waiting === undefined) return;
    readerWaiting = false;
    controller.enqueue(waiting.chunk);
    delivered = waiting.resolve;
    waiting = undefined;
  };
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    pull() {
      // A read after a delivery means the reader is done with the delivered chunk.
      delivered?.();
      delivered = undefined;
      readerWaiting = true;
      deliver();
    },
    cancel(reason) {
      isCancelled = true;
      cancelled = reason ?? new Error("The server cancelled the stream");
      delivered?.();
      delivered = undefined;
      waiting?.reject(cancelled);
      waiting = undefined;
    },
  }, { highWaterMark: 0 });
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      if (isCancelled) return Promise.reject(cancelled);
      return new Promise((resolve, reject) => {
        waiting = { chunk, resolve, reject };
        deliver();
      });
    },
    close() {
      if (!isCancelled) controller.close();
    },
    abort(reason) {
      if (!isCancelled) controller.error(reason);
    },
  }, { highWaterMark: 1 });
  return { readable, writable };
}

/** Two crossed byte pipes: what one end writes, the other reads. */
export function duplexPair(): { server: StreamPair; client: ClientEnd } {
  const toServer = consumedPipe();
  const toClient = new TransformStream<Uint8Array, Uint8Array>();
  return {
    server: { readable: toServer.readable, writable: toClient.writable },
    client: { readable: toClient.readable, writable: toServer.writable },
  };
}

/**
 * A client connected to `server` through a {@linkcode duplexPair}. It reads everything the server sends and,
 * like a socket without half-open support, closes its own side once the server has closed its side.
 */
export class MemoryConnection extends ByteSink {
  /** The promise `server.serveStreams` returned: settles when the server stops reading. */
  readonly served: Promise<void>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #writerClosed = false;

  constructor(server: Server) {
    super();
    const pair = duplexPair();
    this.#writer = pair.client.writable.getWriter();
    this.served = server.serveStreams(pair.server);
    this.#read(pair.client.readable.getReader());
  }

  /**
   * Writes bytes (strings as Latin-1). Resolves once the server has consumed them (or refused them by
   * closing); awaiting it is optional.
   */
  write(data: string | Uint8Array): Promise<void> {
    if (this.#writerClosed) throw new Error("The client side is already closed");
    return this.#writer.write(bytesOf(data)).catch(() => {});
  }

  /** Closes the client's side (EOF for the server). */
  end(): void {
    if (this.#writerClosed) return;
    this.#writerClosed = true;
    this.#writer.close().catch(() => {});
  }

  /** Aborts the client's side (a reset, for the server). */
  abort(): void {
    if (this.#writerClosed) return;
    this.#writerClosed = true;
    this.#writer.abort(new Error("client reset")).catch(() => {});
  }

  async #read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.receive(value);
      }
      this.finish();
    } catch (error) {
      this.finish(error);
    }
    this.end();
  }
}
