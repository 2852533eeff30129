/**
 * Binds Wharf to `Deno.listen` / `Deno.listenTls` with a read loop on `conn.read` and a write queue on
 * `conn.write`. Not `conn.readable`: it closes the whole resource at the peer's EOF, which would lose the
 * response to a client that half-closes after its request.
 *
 * @module
 */

import { DrainTracker } from "../src/_drain_tracker.ts";
import { type Lingering, LingerList } from "../src/_linger.ts";
import type { Platform } from "../src/platform.ts";
import {
  type HttpServerOptions,
  type Listen,
  type RequestHandler,
  type Server,
  startServerWith,
} from "../src/server.ts";
import type { Transport, TransportHandler } from "../src/transport.ts";
import { sha1Base64 } from "./_crypto_node.ts";
import { denoFileSystem } from "./_fs_deno.ts";

/** Read buffer of a quiet connection: small, because every idle connection holds one in its pending read. */
const IDLE_READ_BYTES = 4 * 1024;
/** Read buffer once a read filled the small one: large reads amortise the per-read cost of busy connections. */
const BUSY_READ_BYTES = 64 * 1024;
/** After `end()`, how long a peer may keep its side open before the connection is closed, in milliseconds. */
const LINGER_MS = 2000;
const lingering = new LingerList(
  LINGER_MS,
  (timer) =>
    typeof timer === "number" ? Deno.unrefTimer(timer) : (timer as { unref(): void }).unref(),
);

/**
 * Idle read buffers of closed connections, for the next ones: a fresh buffer is an allocation, zero-filling
 * and an external-memory charge on the garbage collector per connection. A buffer enters only once its read
 * loop has ended, so no read can still write into it.
 */
const spareReadBuffers: Uint8Array[] = [];
/** At most this many spare buffers are kept (1 MiB). */
const SPARE_READ_BUFFERS = 256;

class DenoTransport implements Transport, Lingering {
  readonly #conn: Deno.Conn;
  handler!: TransportHandler;
  readonly #drain = new DrainTracker();
  #queue: Uint8Array[] = [];
  #writing = false;
  #ending = false;
  #writeClosed = false;
  #peerEnded = false;
  #closed = false;
  #resume: (() => void) | undefined;
  #paused = false;
  lingerUntil = 0;
  readonly #smallBuffer = spareReadBuffers.pop() ?? new Uint8Array(IDLE_READ_BYTES);
  #readBuffer = this.#smallBuffer;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  get remoteAddress(): string {
    return (this.#conn.remoteAddr as Deno.NetAddr).hostname ?? "";
  }

  get remotePort(): number {
    return (this.#conn.remoteAddr as Deno.NetAddr).port ?? 0;
  }

  get bufferedAmount(): number {
    return this.#drain.bufferedAmount;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#ending) return false;
    // Writes complete asynchronously, after later reads refill the read buffers: a view of them (an app
    // echoing the message it was handed) must be copied now.
    const source = chunk.buffer;
    if (source === this.#smallBuffer.buffer || source === this.#readBuffer.buffer) {
      chunk = chunk.slice();
    }
    this.#queue.push(chunk);
    const belowMark = this.#drain.queued(chunk.length);
    if (!this.#writing) this.#writeQueued();
    return belowMark;
  }

  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    if (!this.#writing) this.#closeWrite();
  }

  destroy(): void {
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

  watchDrain(): void {
    this.#drain.watch();
  }

  async readLoop(): Promise<void> {
    const small = this.#smallBuffer;
    try {
      while (!this.#closed) {
        if (this.#paused) await new Promise<void>((resolve) => this.#resume = resolve);
        const buffer = this.#readBuffer;
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        if (this.#closed) return;
        if (this.#ending) continue; // lingering: drop what the peer still sends
        this.handler.onData(buffer.subarray(0, n));
        if (n === buffer.length && buffer === small) {
          this.#readBuffer = new Uint8Array(BUSY_READ_BYTES);
        } else if (n < IDLE_READ_BYTES && buffer !== small) this.#readBuffer = small;
      }
      this.#peerEnded = true;
      if (this.#closed) return;
      if (this.#writeClosed) this.#close();
      else if (!this.#ending) this.handler.onEnd();
    } catch (error) {
      this.#close(this.#ending ? undefined : error);
    } finally {
      if (spareReadBuffers.length < SPARE_READ_BUFFERS) spareReadBuffers.push(small);
    }
  }

  async #writeQueued(): Promise<void> {
    this.#writing = true;
    const queue = this.#queue;
    try {
      while (queue.length > 0 && !this.#closed) {
        const chunk = queue[0];
        const written = await this.#conn.write(chunk);
        this.#drain.written(written);
        if (written < chunk.length) queue[0] = chunk.subarray(written);
        else queue.shift();
      }
    } catch (error) {
      this.#close(error);
      return;
    } finally {
      this.#writing = false;
    }
    if (this.#closed) return;
    if (this.#ending) {
      this.#closeWrite();
      return;
    }
    if (this.#drain.drainDue()) this.handler.onDrain();
  }

  /** Everything is written: send FIN, then linger until the peer closes too (or the linger ends). */
  #closeWrite(): void {
    if (this.#writeClosed || this.#closed) return;
    this.#writeClosed = true;
    if (this.#peerEnded) {
      this.#close();
      return;
    }
    this.#conn.closeWrite().catch(() => this.#close());
    lingering.add(this);
  }

  lingerExpired(): void {
    this.#close();
  }

  #close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    lingering.delete(this);
    this.#queue.length = 0;
    this.#drain.clear();
    this.#resume?.();
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime.
    }
    this.handler.onClose(error);
  }
}

/** Listens with `Deno.listen` (or `Deno.listenTls` when `tls` is given). */
export const listenDeno: Listen = (options, accept) => {
  const listener = options.tls === undefined
    ? Deno.listen({ hostname: options.hostname, port: options.port })
    : Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      cert: options.tls.cert,
      key: options.tls.key,
    });
  let closed = false;
  (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closed) return;
        // Too many open files and the like: keep accepting rather than dying.
        console.error("Wharf: accept failed:", error);
        continue;
      }
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      const transport = new DenoTransport(conn);
      transport.handler = accept(transport);
      transport.readLoop();
    }
  })();
  const address = listener.addr as Deno.NetAddr;
  return Promise.resolve({
    port: address.port,
    address: address.hostname,
    close() {
      closed = true;
      listener.close();
    },
  });
};

/** The runtime services of Deno. */
export const denoPlatform: Platform = {
  name: "deno",
  fs: denoFileSystem,
  homeDir: () => Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE"),
  // Deno implements node:crypto natively; it hashes synchronously where crypto.subtle needs a round trip.
  sha1Base64,
  unrefTimer: (timer) => Deno.unrefTimer(timer as number),
  onShutdownSignal(listener) {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    for (const signal of signals) Deno.addSignalListener(signal, listener);
    return () => {
      for (const signal of signals) Deno.removeSignalListener(signal, listener);
    };
  },
};

/**
 * Starts an HTTP (and Websocket) server on Deno (the seed's `start_http_server`). Resolves once listening.
 *
 * @throws {RangeError} for invalid options. Rejects when the port cannot be bound.
 */
export function startHttpServer(
  onRequest: RequestHandler,
  options?: HttpServerOptions,
): Promise<Server> {
  return startServerWith(listenDeno, denoPlatform, onRequest, options);
}
