/**
 * The portable entry: a connection given as a `{ readable, writable }` pair of Web Streams. Any transport that
 * can be expressed as streams works (Deno's `Deno.Conn`, in-memory pairs in tests, pipes).
 *
 * @module
 */

import { DrainTracker } from "./_drain_tracker.ts";
import { type Lingering, LingerList } from "./_linger.ts";
import type { Transport, TransportHandler } from "./transport.ts";

/** A connection as two byte streams. */
export interface StreamPair {
  /** Bytes from the peer. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer. */
  writable: WritableStream<Uint8Array>;
  /** The peer's address, if known. */
  remoteAddress?: string;
  /** The peer's port, if known. */
  remotePort?: number;
}

/** After `end()`, how long a peer may keep its side open before the transport is destroyed, in milliseconds. */
const LINGER_MS = 2000;
const lingering = new LingerList(LINGER_MS);

/** A {@linkcode Transport} over a stream pair. */
class StreamTransport implements Transport, Lingering {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #drain = new DrainTracker();
  handler: TransportHandler | undefined;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #paused = false;
  #resume: (() => void) | undefined;
  #closed = false;
  #ending = false;
  #peerEnded = false;
  lingerSlot = -1;
  readonly #written: () => void;
  readonly #failed: (error: unknown) => void;

  constructor(pair: StreamPair) {
    this.remoteAddress = pair.remoteAddress ?? "";
    this.remotePort = pair.remotePort ?? 0;
    this.#reader = pair.readable.getReader();
    this.#writer = pair.writable.getWriter();
    this.#written = () => this.#onWritten();
    this.#failed = (error) => this.#close(error);
  }

  get bufferedAmount(): number {
    return this.#drain.bufferedAmount;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#ending) return false;
    const size = chunk.length;
    this.#writer.write(chunk).then(() => {
      this.#drain.written(size);
      this.#written();
    }, this.#failed);
    return this.#drain.queued(size);
  }

  end(peerFinished = false): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    if (peerFinished) {
      // Nothing more is coming: stop reading once the bytes are written.
      this.#writer.close().then(() => {
        this.#reader.cancel().catch(() => {});
        this.#close();
      }, this.#failed);
      return;
    }
    // Lingering close: keep reading (and dropping) until the peer closes too, so bytes it already sent do
    // not meet a closed socket, whose reset could destroy the response it has not read yet.
    this.#writer.close().then(() => {
      // Both directions are finished: nothing is left to linger for.
      if (this.#peerEnded) this.#close();
    }, this.#failed);
    if (!this.#closed) lingering.add(this);
  }

  lingerExpired(): void {
    this.destroy();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#writer.abort().catch(() => {});
    this.#reader.cancel().catch(() => {});
    this.#close();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    const resume = this.#resume;
    this.#resume = undefined;
    resume?.();
  }

  async run(): Promise<void> {
    const handler = this.handler!;
    try {
      while (!this.#closed) {
        if (this.#paused) await new Promise<void>((resolve) => this.#resume = resolve);
        const { done, value } = await this.#reader.read();
        if (done) break;
        if (value.length > 0 && !this.#closed) handler.onData(value);
      }
      this.#peerEnded = true;
      if (!this.#closed) {
        if (this.#ending) this.#close();
        else handler.onEnd();
      }
    } catch (error) {
      this.#close(this.#ending ? undefined : error);
    }
  }

  watchDrain(): void {
    this.#drain.watch();
  }

  #onWritten(): void {
    if (!this.#closed && this.#drain.drainDue()) this.handler?.onDrain();
  }

  #close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    lingering.delete(this);
    this.#resume?.();
    this.handler?.onClose(error);
  }
}

/**
 * Serves one connection over `pair`, calling `accept` for its handler. Resolves when the peer's stream ends
 * or fails (the connection may still be finishing its writes).
 */
export function serveStreams(
  pair: StreamPair,
  accept: (transport: Transport) => TransportHandler,
): Promise<void> {
  const transport = new StreamTransport(pair);
  transport.handler = accept(transport);
  return transport.run();
}
