/**
 * Binds Wharf to `Deno.listen` / `Deno.listenTls` with a read loop on `conn.read` and a write queue on
 * `conn.write`. Not `conn.readable`: it closes the whole resource at the peer's EOF, which would lose the
 * response to a client that half-closes after its request.
 *
 * @module
 */

import { DrainTracker } from "../src/_drain_tracker.ts";
import { type Lingering, LingerList, LingerLists } from "../src/_linger.ts";
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

/**
 * Read buffer of a quiet connection: small, because every idle connection holds one in its pending read (a
 * Websocket message or a plain request fits; a larger head takes a second read, into the busy buffer).
 */
const IDLE_READ_BYTES = 1024;
/** Read buffer once a read filled the small one: large reads amortise the per-read cost of busy connections. */
const BUSY_READ_BYTES = 64 * 1024;
/** Chunks queued behind a write are joined into one while their total is at most this. */
const JOIN_LIMIT_BYTES = 64 * 1024;
/** After `end()`, how long a peer may keep its side open before the connection is closed, in milliseconds. */
const LINGER_MS = 2000;
/**
 * Lets the process exit while `timer` is pending: the server's ticker and the lists' timers. Timers are
 * numbers on older Deno and objects (with their own `unref`) on newer ones, as on Node.
 */
function unrefDenoTimer(timer: unknown): void {
  if (typeof timer === "number") Deno.unrefTimer(timer);
  else (timer as { unref(): void }).unref();
}
const lingering = new LingerList(LINGER_MS, unrefDenoTimer);
/** Transports ended while a write is in flight, each waiting for its peer to take some (`writeStallMs`). */
const stalling = new LingerLists(unrefDenoTimer);

/**
 * Read buffers no read is using, for the next connection or burst: a fresh buffer is an allocation,
 * zero-filling and an external-memory charge on the garbage collector. A buffer enters only when no read can
 * still write into it (its loop ended, or the connection went back to its idle buffer); no view of it
 * outlives `onData` (the transport contract; `write` copies views of read buffers).
 */
const spareIdleBuffers: Uint8Array[] = [];
const spareBusyBuffers: Uint8Array[] = [];
/** At most this many spare buffers of each size are kept (256 KiB and 1 MiB). */
const SPARE_IDLE_BUFFERS = 256;
const SPARE_BUSY_BUFFERS = 16;

/**
 * The read buffer whose bytes `onData` is delivering, `null` between deliveries. Process-wide, because the
 * app may hand a view of it to any connection's `write` (see there).
 */
let deliveringBuffer: ArrayBufferLike | null = null;

class DenoTransport implements Transport, Lingering {
  readonly #conn: Deno.Conn;
  handler!: TransportHandler;
  readonly #drain = new DrainTracker();
  /** Chunks waiting while a write is in flight; `null` when none wait (most of the time). */
  #queue: Uint8Array[] | null = null;
  #writing = false;
  /** The chunk `conn.write` is writing, while `#writing`. */
  #inFlight: Uint8Array | null = null;
  /** The write's reactions, made at the first write and reused by every later one. */
  #onWritten: ((written: number) => void) | undefined;
  #onWriteFailed: ((error: unknown) => void) | undefined;
  #ending = false;
  #writeClosed = false;
  /** The peer sent FIN, or said it sends nothing more (`end(true)`). */
  #peerEnded = false;
  #closed = false;
  #resume: (() => void) | undefined;
  #paused = false;
  lingerSlot = -1;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Written bytes go to the kernel (copied) once `bufferedAmount` is 0. */
  get releasesWrittenChunks(): boolean {
    return true;
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
    // Writes may complete asynchronously, after later reads refill the read buffers: a view of the buffer
    // being delivered (an app echoing, or relaying to this connection, the message it was handed) must be
    // copied now, whichever connection read it.
    if (chunk.buffer === deliveringBuffer) chunk = chunk.slice();
    const belowMark = this.#drain.queued(chunk.length);
    if (this.#writing) (this.#queue ??= []).push(chunk);
    else this.#writeAll(chunk);
    return belowMark;
  }

  end(peerFinished = false): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    // As when the peer has sent its FIN: once the bytes are written the connection closes, unlingered.
    if (peerFinished) this.#peerEnded = true;
    if (!this.#writing) this.#closeWrite();
    else stalling.add(this, this.handler.writeStallMs);
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
    const small = spareIdleBuffers.pop() ?? new Uint8Array(IDLE_READ_BYTES);
    let buffer = small;
    // The view handed to `onData`, kept while reads return the same length into the same buffer (a
    // keep-alive client repeating one request): a new view per read is an allocation that can be skipped.
    let view = buffer.subarray(0, 0);
    let viewOf = buffer;
    try {
      while (!this.#closed) {
        if (this.#paused) await new Promise<void>((resolve) => this.#resume = resolve);
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        if (this.#closed) return;
        if (this.#ending) continue; // lingering: drop what the peer still sends
        deliveringBuffer = buffer.buffer;
        try {
          if (view.length !== n || viewOf !== buffer) {
            view = buffer.subarray(0, n);
            viewOf = buffer;
          }
          this.handler.onData(view);
        } finally {
          deliveringBuffer = null;
        }
        if (n === buffer.length && buffer === small) {
          buffer = spareBusyBuffers.pop() ?? new Uint8Array(BUSY_READ_BYTES);
        } else if (n < IDLE_READ_BYTES && buffer !== small) {
          if (spareBusyBuffers.length < SPARE_BUSY_BUFFERS) spareBusyBuffers.push(buffer);
          buffer = small;
        }
        // The peer sends nothing more (`end(true)`): a read left pending would have to be cancelled by the
        // close, which costs Deno an error object and holds the socket open until the cancellation settles.
        if (this.#peerEnded) break;
      }
      this.#peerEnded = true;
      if (this.#closed) return;
      if (this.#writeClosed) this.#close();
      else if (!this.#ending) this.handler.onEnd();
    } catch (error) {
      this.#close(this.#ending ? undefined : error);
    } finally {
      if (spareIdleBuffers.length < SPARE_IDLE_BUFFERS) spareIdleBuffers.push(small);
      if (buffer !== small && spareBusyBuffers.length < SPARE_BUSY_BUFFERS) {
        spareBusyBuffers.push(buffer);
      }
    }
  }

  /**
   * Writes `first`, then whatever was queued meanwhile, until nothing waits. A callback chain, not an async
   * function: an async call per response costs measurably more than a reaction on the write's promise.
   */
  #writeAll(first: Uint8Array): void {
    this.#writing = true;
    this.#writeChunk(first);
  }

  #writeChunk(chunk: Uint8Array): void {
    this.#inFlight = chunk;
    this.#conn.write(chunk).then(
      this.#onWritten ??= (written) => this.#written(written),
      this.#onWriteFailed ??= (error) => {
        this.#writing = false;
        this.#inFlight = null;
        this.#close(error);
      },
    );
  }

  #written(written: number): void {
    const chunk = this.#inFlight!;
    this.#inFlight = null;
    if (!this.#closed) {
      this.#drain.written(written);
      const next = written < chunk.length ? chunk.subarray(written) : this.#nextQueued();
      if (next !== undefined) {
        // The peer took some: an ended transport waits for it afresh.
        if (this.#ending && written > 0) stalling.add(this, this.handler.writeStallMs);
        this.#writeChunk(next);
        return;
      }
    }
    this.#writing = false;
    if (this.#closed) return;
    if (this.#ending) {
      stalling.delete(this, this.handler.writeStallMs);
      this.#closeWrite();
      return;
    }
    if (this.#drain.drainDue()) this.handler.onDrain();
  }

  /**
   * The next chunk to write: what waits, joined into one buffer when small (one write operation instead of
   * one per chunk), else the oldest.
   */
  #nextQueued(): Uint8Array | undefined {
    const queue = this.#queue;
    if (queue === null) return undefined;
    if (queue.length === 1) {
      this.#queue = null;
      return queue[0];
    }
    let total = 0;
    for (const chunk of queue) total += chunk.length;
    if (total > JOIN_LIMIT_BYTES) return queue.shift();
    this.#queue = null;
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const chunk of queue) {
      joined.set(chunk, offset);
      offset += chunk.length;
    }
    return joined;
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
    stalling.delete(this, this.handler.writeStallMs);
    this.#queue = null;
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
  unrefTimer: unrefDenoTimer,
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
