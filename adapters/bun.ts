/**
 * Binds Wharf to `Bun.listen`. Bun calls `data` with its own read buffer, which it reuses, so the core copies
 * what it keeps (its contract for every transport). `socket.write` writes what the kernel takes at once and
 * returns the count; the rest is queued here and written on `drain`.
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
import { nodePlatform } from "./node.ts";

/** The part of Bun's socket API this adapter uses (typed here so no Bun type package is needed). */
interface BunSocket {
  write(data: Uint8Array): number;
  end(): void;
  /** `false`: FIN only, reading goes on; `true`: both directions. */
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  pause?(): void;
  resume?(): void;
  setNoDelay?(noDelay: boolean): void;
  readonly remoteAddress: string;
  readonly remotePort?: number;
  data: BunTransport | undefined;
}

interface BunListener {
  readonly port: number;
  readonly hostname: string;
  stop(closeActiveConnections?: boolean): void;
}

interface BunListenOptions {
  hostname: string;
  port: number;
  tls?: { cert: string; key: string };
  allowHalfOpen?: boolean;
  socket: {
    open(socket: BunSocket): void;
    data(socket: BunSocket, data: Uint8Array): void;
    drain(socket: BunSocket): void;
    end(socket: BunSocket): void;
    close(socket: BunSocket, error?: Error): void;
    error(socket: BunSocket, error: Error): void;
  };
}

declare const Bun: { listen(options: BunListenOptions): BunListener };

/** After `end()`, how long a peer may keep its side open before the socket is closed, in milliseconds. */
const LINGER_MS = 2000;
const lingering = new LingerList(LINGER_MS);
/** Transports ended with bytes still queued, each waiting for its peer to take some (`writeStallMs`). */
const stalling = new LingerLists();
/**
 * The buffer of the chunk Bun is delivering while a data callback runs, `null` otherwise. Process-wide: Bun may
 * read every socket into one shared buffer, so a view handed to another connection's `write` counts too.
 */
let deliveringBuffer: ArrayBufferLike | null = null;

/** Where a transport is in its life; one number, not a boolean each, keeps every idle connection smaller. */
const OPEN = 0;
/** `end()` was called; queued bytes are still being written (a stall closes the socket). */
const ENDING = 1;
/** `end(true)` was called (the peer sends nothing more); queued bytes are still being written. */
const ENDING_PEER_FINISHED = 2;
/** Everything is written and the FIN sent; lingering until the peer closes too. */
const FINISHED = 3;
const CLOSED = 4;
type Phase =
  | typeof OPEN
  | typeof ENDING
  | typeof ENDING_PEER_FINISHED
  | typeof FINISHED
  | typeof CLOSED;

class BunTransport implements Transport, Lingering {
  readonly #socket: BunSocket;
  handler!: TransportHandler;
  /** Created when the kernel first leaves bytes behind: most connections never get that far. */
  #drain: DrainTracker | null = null;
  /** Bytes the kernel did not take yet; `null` while there are none, as on most connections most of the time. */
  #queue: Uint8Array[] | null = null;
  #phase: Phase = OPEN;
  lingerSlot = -1;

  constructor(socket: BunSocket) {
    this.#socket = socket;
  }

  // Read on demand: most connections never ask, and an idle connection should not hold the strings.
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? "";
  }

  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }

  /** Written bytes go to the kernel (copied) once `bufferedAmount` is 0. */
  get releasesWrittenChunks(): boolean {
    return true;
  }

  get bufferedAmount(): number {
    return this.#drain?.bufferedAmount ?? 0;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#phase === CLOSED) return false;
    let rest = chunk;
    if (this.#queue === null) {
      const written = this.#socket.write(chunk);
      if (written === chunk.length) return true;
      if (written > 0) rest = chunk.subarray(written);
    }
    // Bun refills its read buffer after the data callback: a view of it (an app echoing or relaying the
    // message it was handed) is copied. Anything else is the core's, never modified once written, and stays
    // by reference (a 1 MiB echo the kernel took only part of is not copied again).
    if (rest.buffer === deliveringBuffer) rest = rest.slice();
    (this.#queue ??= []).push(rest);
    return (this.#drain ??= new DrainTracker()).queued(rest.length);
  }

  end(peerFinished = false): void {
    if (this.#phase !== OPEN) return;
    this.#phase = peerFinished ? ENDING_PEER_FINISHED : ENDING;
    if (this.#queue === null) this.#finish();
    else stalling.add(this, this.handler.writeStallMs);
  }

  destroy(): void {
    if (this.#phase === CLOSED) return;
    this.#socket.terminate();
  }

  pause(): void {
    this.#socket.pause?.();
  }

  resume(): void {
    this.#socket.resume?.();
  }

  watchDrain(): void {
    // Nothing queued here: the buffer is already empty and, per the contract, nothing is owed.
    this.#drain?.watch();
  }

  /** Writes queued chunks; called on Bun's `drain`. */
  drain(): void {
    const queue = this.#queue;
    if (queue !== null) {
      const before = queue.length;
      while (queue.length > 0) {
        const chunk = queue[0];
        const written = this.#socket.write(chunk);
        if (written < 0) return;
        this.#drain!.written(written);
        if (written < chunk.length) {
          queue[0] = chunk.subarray(written);
          // The peer took some: an ended transport waits for it afresh.
          if ((written > 0 || queue.length < before) && this.#phase !== OPEN) {
            stalling.add(this, this.handler.writeStallMs);
          }
          return;
        }
        queue.shift();
      }
      this.#queue = null;
    }
    if (this.#phase !== OPEN) {
      if (this.#phase === ENDING || this.#phase === ENDING_PEER_FINISHED) {
        stalling.delete(this, this.handler.writeStallMs);
        this.#finish();
      }
      return;
    }
    if (this.#drain?.drainDue()) this.handler.onDrain();
  }

  closed(error?: Error): void {
    if (this.#phase === CLOSED) return;
    this.#phase = CLOSED;
    lingering.delete(this);
    stalling.delete(this, this.handler.writeStallMs);
    this.#queue = null;
    this.#drain?.clear();
    this.handler.onClose(error);
  }

  /** The peer sent FIN: after our own end, both directions are done. */
  peerEnded(): void {
    if (this.#phase === FINISHED) this.#socket.end();
    else this.handler.onEnd();
  }

  /**
   * Everything is written: half-close (FIN) and linger until the peer closes too, or the linger ends; or,
   * when the peer sends nothing more, close both directions now.
   */
  #finish(): void {
    const socket = this.#socket;
    const peerFinished = this.#phase === ENDING_PEER_FINISHED;
    this.#phase = FINISHED;
    if (peerFinished) {
      socket.end();
      return;
    }
    // socket.end() (and shutdown(true)) close both directions at once: bytes the peer is still sending
    // would then meet a closed socket, and the reset could destroy the response it has not read yet
    // (RFC 9112 §9.6). shutdown(false) sends FIN and keeps reading (measured on Bun 1.4).
    socket.shutdown(false);
    lingering.add(this);
  }

  lingerExpired(): void {
    this.#socket.terminate();
  }
}

/** Listens with `Bun.listen`. */
export const listenBun: Listen = (options, accept) => {
  const listener = Bun.listen({
    hostname: options.hostname,
    port: options.port,
    tls: options.tls,
    allowHalfOpen: true,
    socket: {
      open(socket) {
        socket.setNoDelay?.(true);
        const transport = new BunTransport(socket);
        socket.data = transport;
        transport.handler = accept(transport);
      },
      data(socket, data) {
        deliveringBuffer = data.buffer;
        try {
          socket.data!.handler.onData(data);
        } finally {
          deliveringBuffer = null;
        }
      },
      drain(socket) {
        socket.data!.drain();
      },
      end(socket) {
        socket.data!.peerEnded();
      },
      close(socket, error) {
        socket.data!.closed(error);
      },
      error(socket, error) {
        socket.data?.closed(error);
      },
    },
  });
  return Promise.resolve({
    port: listener.port,
    address: listener.hostname,
    close: () => listener.stop(false),
  });
};

/** The runtime services of Bun: it implements the Node modules the Node adapter uses. */
export const bunPlatform: Platform = { ...nodePlatform, name: "bun" };

/**
 * Starts an HTTP (and Websocket) server on Bun (the seed's `start_http_server`). Resolves once listening.
 *
 * @throws {RangeError} for invalid options. Rejects when the port cannot be bound.
 */
export function startHttpServer(
  onRequest: RequestHandler,
  options?: HttpServerOptions,
): Promise<Server> {
  return startServerWith(listenBun, bunPlatform, onRequest, options);
}
