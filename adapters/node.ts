/**
 * Binds Wharf to Node's `node:net` / `node:tls`. Socket events feed the core directly (no stream wrapper):
 * plain TCP sockets read into one process-wide buffer (`_node_shared_read.ts`), TLS sockets and any Node
 * without the internals for that hand over their `data` buffers as they are, and writes go to `socket.write`,
 * which queues by reference.
 *
 * @module
 */

import * as net from "node:net";
import { homedir } from "node:os";
import process from "node:process";
import * as tls from "node:tls";
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
import { isSharedReadBuffer, readIntoSharedBuffer } from "./_node_shared_read.ts";
import { nodeFileSystem } from "./_fs_node.ts";

/** After `end()`, how long a peer may keep its side open before the socket is destroyed, in milliseconds. */
const LINGER_MS = 2000;
const lingering = new LingerList(LINGER_MS);
/** Sockets ended with bytes still queued, each waiting for its peer to take some (`writeStallMs`). */
const stalling = new LingerLists();
const EMPTY = new Uint8Array(0);

// A socket's state bits, in one number (`[FLAGS]`).
/** An empty write is pending whose callback reports the drain (`watchDrain`). */
const WATCHING_DRAIN = 1;
/** The socket has the `drain` listener (added once the socket first refuses a write). */
const DRAIN_LISTENER = 2;

/**
 * Where each socket keeps its transport, its handler and the bits above, so one set of listener functions
 * serves every socket. The first property added to a Node socket gets an out-of-object array of three
 * slots: the other two are free, where fields of the transport would cost every connection, idle ones
 * included, for its whole life.
 */
const TRANSPORT = Symbol("wharf.transport");
const FLAGS = Symbol("wharf.flags");
const HANDLER = Symbol("wharf.handler");
/**
 * Where a socket that failed keeps its error until `close` reports it: the socket gets the property only
 * when it fails.
 */
const FAILURE = Symbol("wharf.failure");
/**
 * Where a socket ended with bytes still queued keeps how far its writing had got at the last look
 * (`writeProgress`); only such sockets get the property.
 */
const STALL_MARK = Symbol("wharf.stallMark");
/** Where a socket that lingers or stalls keeps its `lingerSlot`; only such sockets get the property. */
const LINGER_SLOT = Symbol("wharf.lingerSlot");
type BoundSocket = net.Socket & {
  [TRANSPORT]: NodeTransport;
  [FLAGS]: number;
  [HANDLER]: TransportHandler;
  [FAILURE]?: unknown;
  [STALL_MARK]?: string;
  [LINGER_SLOT]?: number;
};

/**
 * Where an ended socket's writing stands: its queue and the unwritten bytes of the chunks libuv is writing
 * (`writeQueueSize`, the counter Node's own streams read). Once ended, a socket gets no new bytes, so a
 * change in either means the peer took some; the queue alone would hide a single large chunk's progress.
 */
function writeProgress(socket: net.Socket): string {
  const handle = (socket as { _handle?: { writeQueueSize?: number } })._handle;
  return `${socket.writableLength}:${handle?.writeQueueSize ?? 0}`;
}

class NodeTransport implements Transport, Lingering {
  readonly #socket: BoundSocket;

  constructor(socket: net.Socket) {
    const bound = this.#socket = socket as BoundSocket;
    // Here, before the handler exists (`bind`), so that every socket gets its properties in one order: one
    // shape for all of them.
    bound[TRANSPORT] = this;
    bound[FLAGS] = 0;
  }

  /** Written bytes go to the kernel (copied) once `bufferedAmount` is 0. */
  get releasesWrittenChunks(): boolean {
    return true;
  }

  // On the socket, as a property only closing sockets get: a field would cost every connection.
  get lingerSlot(): number {
    return this.#socket[LINGER_SLOT] ?? -1;
  }

  set lingerSlot(slot: number) {
    this.#socket[LINGER_SLOT] = slot;
  }

  // Read on demand: the socket asks the kernel (getpeername) each time, which most connections never need.
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? "";
  }

  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }

  write(chunk: Uint8Array): boolean {
    const socket = this.#socket;
    // A view of the shared read buffer (an app echoing, or relaying to this socket, the message it was
    // handed) is copied: whatever part the kernel does not take at once stays queued by reference, and the
    // next read on any socket refills that buffer.
    if (isSharedReadBuffer(chunk.buffer)) chunk = chunk.slice();
    if (socket.write(chunk)) return true;
    // Most connections never fill the socket's buffer: listen for drain only once one has.
    if ((socket[FLAGS] & DRAIN_LISTENER) === 0) {
      socket[FLAGS] |= DRAIN_LISTENER;
      socket.on("drain", onDrain);
    }
    return false;
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  end(peerFinished = false): void {
    const socket = this.#socket;
    // Everything written is with the kernel, which sends it before the FIN of a full close: no shutdown
    // system call, no linger. Bytes still queued here go out through end() as usual.
    if (peerFinished && socket.writableLength === 0) {
      socket.destroy();
      return;
    }
    socket.end();
    if (socket.destroyed) return;
    if (socket.writableLength > 0) {
      // The linger starts at the FIN (`onFinish`); until then the peer must keep taking bytes.
      socket[STALL_MARK] = writeProgress(socket);
      stalling.add(this, socket[HANDLER].writeStallMs);
      socket.once("finish", onFinish);
      return;
    }
    // A peer that has already sent its FIN leaves nothing to linger for: the socket closes once ours is out.
    if (!socket.readableEnded) lingering.add(this);
  }

  lingerExpired(): void {
    const socket = this.#socket;
    if (socket.writableLength > 0 && !socket.destroyed) {
      const progress = writeProgress(socket);
      if (progress !== socket[STALL_MARK]) {
        socket[STALL_MARK] = progress;
        stalling.add(this, socket[HANDLER].writeStallMs);
        return;
      }
    }
    socket.destroy();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  pause(): void {
    this.#socket.pause();
  }

  watchDrain(): void {
    const socket = this.#socket;
    if (socket.writableLength === 0 || (socket[FLAGS] & WATCHING_DRAIN) !== 0) return;
    socket[FLAGS] |= WATCHING_DRAIN;
    // An empty write completes after every earlier one: its callback is the moment the buffer emptied.
    socket.write(EMPTY, () => {
      socket[FLAGS] &= ~WATCHING_DRAIN;
      if (!socket.destroyed) socket[HANDLER].onDrain();
    });
  }

  resume(): void {
    this.#socket.resume();
  }
}

function onData(this: BoundSocket, chunk: Uint8Array): void {
  this[HANDLER].onData(chunk);
}
/**
 * Views handed to `onData` from the shared read buffer, one per length modulo `READ_VIEW_SLOTS`: reads that
 * repeat a few lengths (an upgrade request then its close frame, a keep-alive client's requests, messages
 * of one size) get a view made before instead of a new one, an allocation per read.
 */
const READ_VIEW_SLOTS = 64;
const sharedReadViews: Uint8Array[] = new Array(READ_VIEW_SLOTS).fill(EMPTY);
function onSharedRead(this: net.Socket, length: number, buffer: Uint8Array): void {
  const slot = length & (READ_VIEW_SLOTS - 1);
  let view = sharedReadViews[slot];
  if (view.length !== length || view.buffer !== buffer.buffer) {
    sharedReadViews[slot] = view = buffer.subarray(0, length);
  }
  (this as BoundSocket)[HANDLER].onData(view);
}
function onDrain(this: BoundSocket): void {
  this[HANDLER].onDrain();
}
function onEnd(this: BoundSocket): void {
  this[HANDLER].onEnd();
}
// Reported through onClose; without an error listener Node would throw it.
function onError(this: BoundSocket, error: Error): void {
  this[FAILURE] = error;
}
/** An ended socket wrote its last bytes and sent its FIN: from waiting for the peer to read, to the linger. */
function onFinish(this: BoundSocket): void {
  const transport = this[TRANSPORT];
  stalling.delete(transport, this[HANDLER].writeStallMs);
  if (!this.readableEnded && !this.destroyed) lingering.add(transport);
}
function onClose(this: BoundSocket): void {
  lingering.delete(this[TRANSPORT]);
  if (this[STALL_MARK] !== undefined) stalling.delete(this[TRANSPORT], this[HANDLER].writeStallMs);
  this[HANDLER].onClose(this[FAILURE]);
}

/** Routes `socket`'s events to `handler` (its transport is already on it: see `NodeTransport`). */
function bind(socket: net.Socket, handler: TransportHandler, sharedRead: boolean): void {
  // No setNoDelay here: the server's noDelay option already set it on every accepted socket.
  (socket as BoundSocket)[HANDLER] = handler;
  if (!sharedRead || !readIntoSharedBuffer(socket, onSharedRead)) socket.on("data", onData);
  socket.on("end", onEnd);
  socket.on("error", onError);
  socket.on("close", onClose);
}

/** Listens with `node:net` (or `node:tls` when `tls` is given). */
export const listenNode: Listen = (options, accept) => {
  // TLS sockets decrypt into buffers of their own; only plain TCP reads go to the shared buffer.
  const sharedRead = options.tls === undefined;
  const onConnection = (socket: net.Socket) => {
    bind(socket, accept(new NodeTransport(socket)), sharedRead);
  };
  const server = options.tls === undefined
    ? net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection)
    : tls.createServer(
      { allowHalfOpen: true, noDelay: true, cert: options.tls.cert, key: options.tls.key },
      onConnection,
    );
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      const address = server.address() as net.AddressInfo;
      resolve({
        port: address.port,
        address: address.address,
        // server.close(callback) waits for every open connection to end; the core closes those itself
        // (gracefully, with a bound), so only stop accepting here.
        close: () => void server.close(),
      });
    });
  });
};

/** The runtime services of Node (also used by Bun, which implements the same modules). */
export const nodePlatform: Platform = {
  name: "node",
  fs: nodeFileSystem,
  homeDir: () => homedir(),
  sha1Base64,
  onShutdownSignal(listener) {
    process.on("SIGINT", listener);
    process.on("SIGTERM", listener);
    return () => {
      process.off("SIGINT", listener);
      process.off("SIGTERM", listener);
    };
  },
};

/**
 * Starts an HTTP (and Websocket) server on Node (the seed's `start_http_server`). Resolves once listening.
 *
 * @throws {RangeError} for invalid options. Rejects when the port cannot be bound.
 */
export function startHttpServer(
  onRequest: RequestHandler,
  options?: HttpServerOptions,
): Promise<Server> {
  return startServerWith(listenNode, nodePlatform, onRequest, options);
}
