/**
 * In-memory connections: two identity `TransformStream`s crossed, one end for the server
 * (`server.serveStreams`), one for a test acting as the client. No sockets, no ports, same bytes.
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
  /** What the server reads. */
  writable: WritableStream<Uint8Array>;
}

/** Two crossed byte pipes: what one end writes, the other reads. */
export function duplexPair(): { server: StreamPair; client: ClientEnd } {
  const toServer = new TransformStream<Uint8Array, Uint8Array>();
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

  /** Writes bytes (strings as Latin-1). Does not wait for the server to read them. */
  write(data: string | Uint8Array): void {
    if (this.#writerClosed) throw new Error("The client side is already closed");
    this.#writer.write(bytesOf(data)).catch(() => {});
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
