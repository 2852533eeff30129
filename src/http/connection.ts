/**
 * One HTTP/1.1 connection: parses requests from the transport, runs the app's handler for one request at a
 * time (so pipelined responses leave in request order), writes responses, enforces the header and idle
 * timeouts, and hands the transport over to another protocol after an upgrade.
 *
 * @module
 */

import { enterCallback, type Flushable, leaveCallback, markDirty } from "../_flush.ts";
import { OutputBuffer } from "../_output_buffer.ts";
import type { WheelItem } from "../timer_wheel.ts";
import type { Transport, TransportHandler } from "../transport.ts";
import { HttpError } from "./errors.ts";
import type { RequestParser } from "./parser.ts";
import { HttpRequest, type RequestOwner } from "./request.ts";
import { CRLF, HttpResponse, latin1Bytes, type ResponseChannel, writeLatin1 } from "./response.ts";
import type { PublicFolder, StaticResponse } from "./static.ts";
import { statusText } from "./status.ts";
import { httpDate } from "./date.ts";

/** Buffered output above which a streaming body waits for the transport to drain. */
const HIGH_WATER_BYTES = 64 * 1024;
/** Unparsed input held while a request is being handled; beyond it, reading pauses (pipelining backpressure). */
const PENDING_INPUT_LIMIT_BYTES = 64 * 1024;

/** What a connection needs from its server. Implemented by the server core. */
export interface ConnectionHost {
  /** The public server handle (what `request.server` and `Websocket.getServer` return). */
  readonly handle: unknown;
  /** The app's request handler. */
  readonly onRequest: (request: HttpRequest) => unknown;
  /** Where handler errors go. */
  readonly onError: (error: unknown, request?: HttpRequest) => void;
  /** Largest request head, in bytes. */
  readonly maxHeaderBytes: number;
  /** Largest request body, in bytes. */
  readonly maxBodyBytes: number;
  /** Keep-alive idle timeout in milliseconds; 0 disables it. */
  readonly idleTimeoutMs: number;
  /**
   * Time allowed from a request's first byte to the end of its head, and the longest pause inside its body,
   * in milliseconds (slowloris); 0 disables both.
   */
  readonly headerTimeoutMs: number;
  /** The public folder, when configured. */
  readonly publicFolder: PublicFolder | undefined;
  /** Serves one file with the public folder's logic, for `sendFile`. */
  serveFile(path: string, method: string, request: HttpRequest): Promise<StaticResponse | null>;
  /** The runtime's synchronous SHA-1, when it has one. */
  readonly sha1Base64: ((data: Uint8Array) => string) | undefined;
  /** {@linkcode TransportHandler.writeStallMs} of every connection of this server. */
  readonly writeStallMs: number;
  /**
   * A clock good to about a second (refreshed by the server's tick): milliseconds since the server started,
   * so never 0 once a timeout has passed.
   */
  readonly coarseNow: number;
  /** `true` once the server is stopping: responses close their connections. */
  readonly stopping: boolean;
  /** Puts `item` on the server's timer wheel for `atMs`. */
  schedule(item: HttpConnection, atMs: number): void;
  /** A request parser for a new connection: a recycled one when there is one. */
  takeParser(): RequestParser;
  /** Takes back the parser of a connection that will parse no more (upgraded or closed), for another. */
  recycleParser(parser: RequestParser): void;
  /** The connection has closed. */
  connectionClosed(connection: HttpConnection): void;
}

/** The protocol a connection switched to (a Websocket), receiving the transport's events from then on. */
export interface UpgradedProtocol {
  /** Bytes from the peer (the same contract as {@linkcode TransportHandler.onData}). */
  onData(chunk: Uint8Array): void;
  /** The transport drained. */
  onDrain(): void;
  /** The peer ended the stream. */
  onEnd(): void;
  /** The transport closed. */
  onClose(error?: unknown): void;
  /** The connection's timer came due; `now` is the coarse clock. */
  onTimer(now: number): void;
  /** The 101 response is queued: the protocol may now send, before any buffered input is delivered. */
  onAttach(): void;
  /** The connection's batched output was just handed to the transport. */
  afterFlush(): void;
  /** The server is shutting down. */
  shutdown(): void;
}

let nextUuid = 1;

// A connection's state bits, in one number (`#flags`): a boolean field each would make every connection, idle
// Websockets included, one slot larger per flag.
/** A request is being handled: input that arrives meanwhile waits in `HttpState.pending`. */
const BUSY = 1;
/** The current request was claimed for an upgrade. */
const UPGRADING = 2;
/** `pump` is running. */
const PUMPING = 4;
/** The transport was paused because too much input waits. */
const PAUSED = 8;
/** The peer sent FIN. */
const PEER_ENDED = 16;
/** The transport ends after the next flush. */
const END_AFTER_FLUSH = 32;
/** `100 Continue` was sent for the current request. */
const CONTINUE_SENT = 64;
/** `parse` is running: the parser must not go back to the server's pool before it returns. */
const PARSING = 128;
/** Queued for a flush (`Flushable.flushQueued`). */
const FLUSH_QUEUED = 256;
/** With `END_AFTER_FLUSH`: the peer sends nothing more, so the transport closes without lingering. */
const PEER_FINISHED = 512;
// The connection's mode, two bits of `#flags` (from HTTP it goes to upgraded or closing, and then closed).
const MODE = 3 << 10;
/** Parsing requests and answering them. */
const HTTP = 0;
/** Switched to `#protocol`, which gets the transport's events. */
const UPGRADED = 1 << 10;
/** The last response is queued; the transport ends once it is written. */
const CLOSING = 2 << 10;
/** The transport closed. */
const CLOSED = 3 << 10;

/**
 * What a connection needs only while it speaks HTTP: an upgraded connection lets go of it, so that an idle
 * Websocket does not carry six fields it will never use again.
 */
class HttpState {
  /** Given back after an upgrade or the close: a Websocket never parses HTTP again. */
  parser: RequestParser | null;
  request: HttpRequest | undefined = undefined;
  response: HttpResponse | undefined = undefined;
  /** Input that arrived while a request was handled, not parsed yet. */
  pending: Uint8Array | null = null;
  /** The coarse clock at the last input or response, for the idle and body timeouts. */
  lastActivity: number;
  /** Streaming bodies waiting for room; `null` while none waits (most connections never have one). */
  drainWaiters: (() => void)[] | null = null;

  constructor(parser: RequestParser | null, now: number) {
    this.parser = parser;
    this.lastActivity = now;
  }
}

/** The ends of the list behind {@linkcode HttpConnection.allOpen}. */
let oldestOpen: HttpConnection | null = null;
let newestOpen: HttpConnection | null = null;

const SWITCHING_PROTOCOLS = latin1Bytes("HTTP/1.1 101 Switching Protocols\r\n");

/**
 * An HTTP connection; created by the server for each accepted transport.
 *
 * Its helpers are TypeScript-`private` rather than `#` methods: a class with `#` methods stores its brand in
 * every instance, one more field on every connection. For the same reason it is its own batched output
 * ({@linkcode HttpConnection.out}): an `OutputBuffer` of its own would cost every connection an object
 * header and the field pointing to it.
 */
export class HttpConnection extends OutputBuffer
  implements TransportHandler, ResponseChannel, RequestOwner, Flushable, WheelItem {
  /** Process-wide unique id (the seed's connection UUID). */
  readonly uuid: number = nextUuid++;
  wheelSecond = -1;
  wheelPrev: WheelItem | null = null;
  wheelNext: WheelItem | null = null;
  readonly #host: ConnectionHost;
  readonly #transport: Transport;
  /** The state bits above (`BUSY`, `UPGRADING`, ..., and the `MODE`). */
  #flags = HTTP;
  #protocol: UpgradedProtocol | undefined;
  /**
   * The HTTP side of the connection; `null` once upgraded, unless a streaming body of an earlier response
   * still waits for room (or starts to wait) then, when only its `drainWaiters` are used.
   */
  #http: HttpState | null;
  /** Neighbours in the process-wide list of open connections (see {@linkcode HttpConnection.allOpen}). */
  #older: HttpConnection | null = null;
  #newer: HttpConnection | null = null;

  /** @internal Made by the server for each accepted transport. */
  constructor(host: ConnectionHost, transport: Transport) {
    super();
    this.#host = host;
    this.#transport = transport;
    const now = host.coarseNow;
    this.#http = new HttpState(host.takeParser(), now);
    if (host.idleTimeoutMs > 0) host.schedule(this, now + host.idleTimeoutMs);
    this.#older = newestOpen;
    if (newestOpen === null) oldestOpen = this;
    else newestOpen.#newer = this;
    newestOpen = this;
  }

  /**
   * Every open connection of the process (of every server), oldest first: what a stopping server and
   * `Websocket.each` go through. A list through the connections themselves costs each two fields; a `Set`
   * entry costs more, and a `Set` reallocates its table as connections come and go.
   */
  static allOpen(): HttpConnection[] {
    const all: HttpConnection[] = [];
    for (let connection = oldestOpen; connection !== null; connection = connection.#newer) {
      all.push(connection);
    }
    return all;
  }

  private unlink(): void {
    const older = this.#older;
    const newer = this.#newer;
    if (older === null) oldestOpen = newer;
    else older.#newer = newer;
    if (newer === null) newestOpen = older;
    else newer.#older = older;
    this.#older = this.#newer = null;
  }

  /** Whether a streaming body waits for room. */
  private get waiting(): boolean {
    const http = this.#http;
    return http !== null && http.drainWaiters !== null;
  }

  /** One of `HTTP`, `UPGRADED`, `CLOSING`, `CLOSED`. */
  private get mode(): number {
    return this.#flags & MODE;
  }

  private setMode(mode: number): void {
    this.#flags = (this.#flags & ~MODE) | mode;
  }

  private is(flag: number): boolean {
    return (this.#flags & flag) !== 0;
  }

  /** `true` while queued for a flush (`_flush.ts` owns it); a bit of `#flags` rather than a field of its own. */
  get flushQueued(): boolean {
    return (this.#flags & FLUSH_QUEUED) !== 0;
  }

  set flushQueued(queued: boolean) {
    this.#flags = queued ? this.#flags | FLUSH_QUEUED : this.#flags & ~FLUSH_QUEUED;
  }

  /** The connection's batched output: the connection itself (see the class's comment). */
  get out(): OutputBuffer {
    return this;
  }

  /** Whether `host` (a server) made this connection. */
  servedBy(host: ConnectionHost): boolean {
    return this.#host === host;
  }

  /** The protocol this connection switched to, while it is switched; `undefined` before and once closed. */
  get upgradedProtocol(): UpgradedProtocol | undefined {
    return this.mode === UPGRADED ? this.#protocol : undefined;
  }

  /** The server handle. */
  get server(): unknown {
    return this.#host.handle;
  }

  /** The peer's address. */
  get remoteAddress(): string {
    return this.#transport.remoteAddress;
  }

  /** The transport, for the protocol a connection upgrades to. */
  get transport(): Transport {
    return this.#transport;
  }

  /** `true` once the transport is closed. */
  get closed(): boolean {
    return this.mode === CLOSED;
  }

  /** The server's coarse clock, in milliseconds (good to about a second). */
  get coarseNow(): number {
    return this.#host.coarseNow;
  }

  /** Puts this connection on the server's timer wheel for `atMs`; it gets `onTimer` then (or later). */
  scheduleTimer(atMs: number): void {
    this.#host.schedule(this, atMs);
  }

  /** The runtime's synchronous SHA-1, when it has one (for the Websocket handshake). */
  get sha1Base64(): ((data: Uint8Array) => string) | undefined {
    return this.#host.sha1Base64;
  }

  /** `true` once the server is stopping: the response in flight is the connection's last. */
  get stopping(): boolean {
    return this.#host.stopping;
  }

  // ---- TransportHandler ----

  onData(chunk: Uint8Array): void {
    enterCallback();
    try {
      const mode = this.mode;
      if (mode === UPGRADED) {
        this.#protocol!.onData(chunk);
        return;
      }
      if (mode !== HTTP) return;
      const http = this.#http!;
      http.lastActivity = this.#host.coarseNow;
      if (this.is(BUSY) || http.pending !== null) {
        this.appendPending(chunk);
        return;
      }
      const offset = this.parse(chunk, 0);
      if (offset < chunk.length) this.keepRest(chunk.subarray(offset), true);
    } catch (error) {
      this.internalError(error);
    } finally {
      leaveCallback();
    }
  }

  get writeStallMs(): number {
    return this.#host.writeStallMs;
  }

  onDrain(): void {
    this.out.releaseWritten(this.#transport);
    enterCallback();
    try {
      if (this.mode === UPGRADED) this.#protocol!.onDrain();
      if (this.waiting) this.checkDrainWaiters();
    } finally {
      leaveCallback();
    }
  }

  onEnd(): void {
    enterCallback();
    try {
      this.#flags |= PEER_ENDED;
      if (this.mode === UPGRADED) {
        this.#protocol!.onEnd();
        return;
      }
      if (this.mode !== HTTP) return;
      // A half-sent request will never complete; a busy connection still owes its response.
      if (!this.is(BUSY)) this.endAfterFlushNow();
    } finally {
      leaveCallback();
    }
  }

  onClose(error?: unknown): void {
    if (this.mode === CLOSED) return;
    const wasUpgraded = this.mode === UPGRADED;
    this.setMode(CLOSED);
    this.unlink();
    this.releaseParser();
    this.out.clear();
    const http = this.#http;
    if (http !== null) http.pending = null;
    this.wakeDrainWaiters();
    enterCallback();
    try {
      if (wasUpgraded) this.#protocol!.onClose(error);
    } finally {
      leaveCallback();
      this.#host.connectionClosed(this);
    }
  }

  // ---- Flushable ----

  flush(): void {
    if (this.mode === CLOSED) return;
    const out = this.out;
    if (out.length > 0) {
      const transport = this.#transport;
      out.drainTo(transport);
      // The transport still has bytes of the slab this connection holds: let go of it at the drain.
      if (
        out.holdsSlab && transport.bufferedAmount > 0 && transport.releasesWrittenChunks === true
      ) {
        transport.watchDrain();
      }
    }
    if (this.waiting) this.checkDrainWaiters();
    if (this.is(END_AFTER_FLUSH)) {
      const peerFinished = this.is(PEER_FINISHED);
      this.#flags &= ~(END_AFTER_FLUSH | PEER_FINISHED);
      this.#transport.end(peerFinished);
    } else if (this.mode === UPGRADED) {
      this.#protocol!.afterFlush();
    }
  }

  // ---- ResponseChannel ----

  queueFlush(): void {
    markDirty(this);
  }

  drained(): Promise<void> {
    if (this.mode === CLOSED) return Promise.resolve();
    if (this.#transport.bufferedAmount + this.out.length <= HIGH_WATER_BYTES) {
      return Promise.resolve();
    }
    // After an upgrade only a body of an earlier response can wait here: it gets a record of its own.
    const http = this.#http ??= new HttpState(null, 0);
    return new Promise((resolve) => (http.drainWaiters ??= []).push(resolve));
  }

  responseDone(response: HttpResponse, keepAlive: boolean): void {
    if (response === this.#http?.response) this.requestDone(keepAlive);
  }

  private requestDone(keepAlive: boolean): void {
    this.#flags &= ~BUSY;
    const http = this.#http!;
    http.request = undefined;
    http.response = undefined;
    if (this.mode !== HTTP) return;
    if (!keepAlive || this.#host.stopping || (this.is(PEER_ENDED) && http.pending === null)) {
      this.endAfterFlushNow();
      return;
    }
    http.lastActivity = this.#host.coarseNow;
    if (this.#host.idleTimeoutMs > 0) {
      this.#host.schedule(this, http.lastActivity + this.#host.idleTimeoutMs);
    }
    if (!this.is(PUMPING)) this.pump();
  }

  serveFile(path: string, request: HttpRequest): Promise<StaticResponse | null> {
    return this.#host.serveFile(path, request.method, request);
  }

  // ---- RequestOwner ----

  createResponse(request: HttpRequest): HttpResponse {
    const http = this.#http;
    if (http === null || request !== http.request) {
      throw new TypeError("This request's response is already finished");
    }
    if (this.is(UPGRADING) || this.mode === UPGRADED) {
      throw new TypeError("This request was upgraded; it has no HTTP response");
    }
    if (http.response !== undefined) {
      throw new TypeError("A response was already created for this request");
    }
    return http.response = new HttpResponse(request, this);
  }

  // ---- Upgrades ----

  /**
   * Claims `request` for an upgrade: no HTTP response will be made for it. Call before any asynchronous work
   * of the handshake, then {@linkcode HttpConnection.switchProtocols} or {@linkcode HttpConnection.rejectUpgrade}.
   *
   * @throws {TypeError} when the request is not this connection's current one or already has a response.
   */
  beginUpgrade(request: HttpRequest, response: HttpResponse | undefined): void {
    const http = this.#http;
    if (http === null || request !== http.request || this.mode !== HTTP) {
      throw new TypeError("The request is no longer current: upgrade it while handling it");
    }
    if (this.is(UPGRADING)) throw new TypeError("The request is already being upgraded");
    if (http.response !== undefined && http.response !== response) {
      throw new TypeError("The request already has a different response");
    }
    if (response?.headersSent) throw new TypeError("The response's headers were already sent");
    this.#flags |= UPGRADING;
  }

  /**
   * Sends `101 Switching Protocols` with the header lines `fixedLines` (bytes), the field `fieldName`
   * (bytes, up to and including ": ") with `fieldValue`, and `headerLines` (each line ending in CRLF, often
   * none), then routes the transport to `protocol`, including bytes that arrived after the request. The one
   * field whose value differs per connection comes apart so that no string of the whole head is built.
   */
  switchProtocols(
    fixedLines: Uint8Array,
    fieldName: Uint8Array,
    fieldValue: string,
    headerLines: string,
    protocol: UpgradedProtocol,
  ): void {
    if (this.mode !== HTTP) return;
    const out = this.out;
    out.copy(SWITCHING_PROTOCOLS);
    out.copy(fixedLines);
    out.copy(fieldName);
    writeLatin1(out, fieldValue);
    out.copy(CRLF);
    if (headerLines !== "") writeLatin1(out, headerLines);
    out.copy(CRLF);
    markDirty(this);
    this.setMode(UPGRADED);
    this.#protocol = protocol;
    this.releaseParser();
    this.#flags &= ~(UPGRADING | BUSY);
    const http = this.#http!;
    const rest = http.pending;
    http.request = undefined;
    http.response = undefined;
    http.pending = null;
    // The HTTP state goes, unless a body of an earlier response still waits for room.
    if (http.drainWaiters === null) this.#http = null;
    if (this.is(PAUSED)) {
      this.#flags &= ~PAUSED;
      this.#transport.resume();
    }
    protocol.onAttach();
    if (rest !== null) protocol.onData(rest);
    if (this.is(PEER_ENDED)) protocol.onEnd();
  }

  /** Answers a failed upgrade with `status` and closes the connection (RFC 6455 §4.2.2). */
  rejectUpgrade(error: HttpError, extraHeaderLines = ""): void {
    this.#flags &= ~UPGRADING;
    this.sendErrorAndClose(error.status, error.message, extraHeaderLines);
  }

  // ---- Timers and shutdown ----

  /** The timer wheel reached this connection. `now` is the coarse clock. */
  onTimer(now: number): void {
    const mode = this.mode;
    if (mode === UPGRADED) {
      this.#protocol!.onTimer(now);
      return;
    }
    if (mode !== HTTP || this.is(BUSY)) return;
    const host = this.#host;
    const http = this.#http!;
    const parser = http.parser!;
    const head = parser.inProgress && parser.head === undefined;
    const body = parser.head !== undefined && !parser.complete;
    let deadline = host.idleTimeoutMs > 0 ? http.lastActivity + host.idleTimeoutMs : Infinity;
    if (host.headerTimeoutMs > 0) {
      // A head must be whole within headerTimeout of its first byte, however it drips; a body must keep
      // arriving, with no gap longer than headerTimeout, even when the idle timeout is off (timeout: 0),
      // or a client could hold the connection forever by stopping halfway.
      if (head) deadline = parser.startedAt + host.headerTimeoutMs;
      else if (body) deadline = Math.min(deadline, http.lastActivity + host.headerTimeoutMs);
    }
    if (deadline === Infinity) return;
    if (now < deadline) {
      host.schedule(this, deadline);
      return;
    }
    enterCallback();
    try {
      if (head) this.sendErrorAndClose(408, "Request head not received in time");
      else if (body) this.sendErrorAndClose(408, "Request body not received in time");
      else this.endAfterFlushNow();
    } finally {
      leaveCallback();
    }
  }

  /** The server is stopping: idle connections close now, busy ones after their response. */
  shutdown(): void {
    enterCallback();
    try {
      if (this.mode === UPGRADED) this.#protocol!.shutdown();
      else if (this.mode === HTTP && !this.is(BUSY)) this.endAfterFlushNow();
    } finally {
      leaveCallback();
    }
  }

  /**
   * Closes the transport once everything queued so far is written; `peerFinished` as for
   * {@linkcode Transport.end}.
   */
  endAfterFlush(peerFinished = false): void {
    this.#flags |= peerFinished ? END_AFTER_FLUSH | PEER_FINISHED : END_AFTER_FLUSH;
    markDirty(this);
  }

  /** Closes the transport at once. */
  destroy(): void {
    this.#transport.destroy();
  }

  // ---- internals ----

  private parse(chunk: Uint8Array, offset: number): number {
    const http = this.#http!;
    const parser = http.parser!;
    const host = this.#host;
    // A handler that answers at once may parse the next request from inside this call: the outermost call
    // owns the bit.
    const outermost = !this.is(PARSING);
    this.#flags |= PARSING;
    try {
      return this.parseWith(parser, host, chunk, offset);
    } finally {
      if (outermost) {
        this.#flags &= ~PARSING;
        // Released meanwhile (the handler upgraded, or the transport closed): nothing uses it any more.
        if (http.parser === null) host.recycleParser(parser);
      }
    }
  }

  private parseWith(
    parser: RequestParser,
    host: ConnectionHost,
    chunk: Uint8Array,
    offset: number,
  ): number {
    while (offset < chunk.length && !this.is(BUSY) && this.mode === HTTP) {
      if (!parser.inProgress) {
        parser.startedAt = host.coarseNow;
        if (host.headerTimeoutMs > 0) {
          host.schedule(this, parser.startedAt + host.headerTimeoutMs);
        }
      }
      try {
        offset = parser.execute(chunk, offset);
      } catch (error) {
        if (error instanceof HttpError) {
          this.sendErrorAndClose(error.status, error.message);
          return chunk.length;
        }
        throw error;
      }
      if (parser.complete) {
        this.startRequest();
      } else if (
        parser.head !== undefined && parser.head.expectContinue && !this.is(CONTINUE_SENT)
      ) {
        // RFC 9110 §10.1.1: tell the client to go on sending the body it is holding back.
        this.#flags |= CONTINUE_SENT;
        writeLatin1(this.out, "HTTP/1.1 100 Continue\r\n\r\n");
        markDirty(this);
      }
    }
    return offset;
  }

  /**
   * Hands the parser back to the server once this connection will parse no more; while `parse` runs (an
   * upgrade from inside the handler), `parse` hands it back when it returns.
   */
  private releaseParser(): void {
    const http = this.#http;
    if (http === null || http.parser === null) return;
    const parser = http.parser;
    http.parser = null;
    if (!this.is(PARSING)) this.#host.recycleParser(parser);
  }

  private keepRest(rest: Uint8Array, copy: boolean): void {
    if (this.mode === UPGRADED) this.#protocol!.onData(rest);
    else if (this.mode === HTTP) {
      if (copy) this.appendPending(rest);
      else this.#http!.pending = rest;
    }
  }

  private appendPending(chunk: Uint8Array): void {
    const http = this.#http!;
    const pending = http.pending;
    let joined: Uint8Array;
    if (pending === null) {
      joined = chunk.slice();
    } else {
      joined = new Uint8Array(pending.length + chunk.length);
      joined.set(pending);
      joined.set(chunk, pending.length);
    }
    http.pending = joined;
    if (joined.length > PENDING_INPUT_LIMIT_BYTES && !this.is(PAUSED)) {
      this.#flags |= PAUSED;
      this.#transport.pause();
    }
  }

  private pump(): void {
    this.#flags |= PUMPING;
    try {
      // The mode first: an upgrade (from a handler run by `parse`) drops the HTTP state.
      while (this.mode === HTTP && !this.is(BUSY) && this.#http!.pending !== null) {
        const http = this.#http!;
        const data = http.pending!;
        http.pending = null;
        const offset = this.parse(data, 0);
        if (offset < data.length) this.keepRest(data.subarray(offset), false);
      }
      if (this.is(PAUSED) && this.mode === HTTP && this.#http!.pending === null) {
        this.#flags &= ~PAUSED;
        this.#transport.resume();
      }
      if (this.is(PEER_ENDED) && !this.is(BUSY) && this.mode === HTTP) {
        this.endAfterFlushNow();
      }
    } finally {
      this.#flags &= ~PUMPING;
    }
  }

  private startRequest(): void {
    const http = this.#http!;
    const parser = http.parser!;
    const request = new HttpRequest(parser.head!, parser.body, this);
    parser.reset();
    this.#flags = (this.#flags | BUSY) & ~CONTINUE_SENT;
    http.request = request;
    http.response = undefined;
    const folder = this.#host.publicFolder;
    if (
      folder !== undefined && request.upgrade === undefined &&
      (request.method === "GET" || request.method === "HEAD")
    ) {
      this.serveStatic(folder, request);
      return;
    }
    this.runHandler(request);
  }

  // The closures of the asynchronous paths live in methods of their own: a function that creates a closure
  // allocates the scope it captures on every call, taken or not, and these run for every request.

  private serveStatic(folder: PublicFolder, request: HttpRequest): void {
    folder.serve(request.method, request.path, request.headers).then(
      (file) => this.afterStatic(request, file),
      (error) => this.handlerFailed(request, error),
    );
  }

  private afterStatic(request: HttpRequest, file: StaticResponse | null): void {
    if (request !== this.#http?.request) return;
    if (file === null) {
      this.runHandler(request);
      return;
    }
    const response = this.createResponse(request);
    response.sendStatic(file).catch((error) => this.handlerFailed(request, error));
  }

  private runHandler(request: HttpRequest): void {
    let result: unknown;
    enterCallback();
    try {
      result = this.#host.onRequest(request);
    } catch (error) {
      this.handlerFailed(request, error);
      return;
    } finally {
      leaveCallback();
    }
    if (result instanceof Promise) this.afterAsyncHandler(result, request);
    else this.afterHandler(request);
  }

  private afterAsyncHandler(result: Promise<unknown>, request: HttpRequest): void {
    result.then(
      () => this.afterHandler(request),
      (error) => this.handlerFailed(request, error),
    );
  }

  private afterHandler(request: HttpRequest): void {
    if (request !== this.#http?.request || this.is(UPGRADING) || this.mode !== HTTP) return;
    const response = this.#http.response;
    enterCallback();
    try {
      if (response === undefined) {
        // The handler neither answered nor upgraded: nothing handles this path.
        const notFound = this.createResponse(request);
        notFound.status = 404;
        notFound.writeHeader("Content-Type", "text/plain; charset=utf-8");
        notFound.writeBody("Not Found");
        notFound.destroy();
      } else if (!response.finished && !response.headersSent) {
        response.destroy();
      }
    } finally {
      leaveCallback();
    }
  }

  /** Hands an error to the app's `onError`; an `onError` that throws must not take the connection down. */
  private report(error: unknown, request: HttpRequest | undefined): void {
    try {
      this.#host.onError(error, request);
    } catch (failure) {
      console.error("Wharf: onError failed:", failure, "while reporting:", error);
    }
  }

  private handlerFailed(request: HttpRequest, error: unknown): void {
    this.report(error, request);
    const http = this.#http;
    if (http === null || request !== http.request || this.mode !== HTTP) return;
    enterCallback();
    try {
      if (this.is(UPGRADING)) {
        this.#flags &= ~UPGRADING;
        this.sendErrorAndClose(500, "Internal Server Error");
        return;
      }
      const response = http.response;
      if (response !== undefined && response.headersSent) {
        // Half a response is on the wire: only closing tells the client it is incomplete.
        this.#transport.destroy();
        return;
      }
      response?.abandon();
      this.sendErrorAndClose(500, "Internal Server Error", "", true);
    } finally {
      leaveCallback();
    }
  }

  private internalError(error: unknown): void {
    const http = this.#http;
    this.report(error, http?.request);
    if (this.mode === HTTP && !http!.response?.headersSent) {
      http!.response?.abandon();
      this.sendErrorAndClose(500, "Internal Server Error");
    } else {
      this.#transport.destroy();
    }
  }

  /**
   * Answers with a small text error. `keepOpen` keeps a keep-alive connection for the next request when the
   * request allows it (a handler's 500); parse errors always close, as the stream's framing is lost.
   */
  private sendErrorAndClose(
    status: number,
    message: string,
    extraHeaderLines = "",
    keepOpen = false,
  ): void {
    if (this.mode !== HTTP) return;
    const http = this.#http!;
    const request = http.request;
    const close = !keepOpen || request === undefined || !request.keepAlive || this.#host.stopping;
    const body = `${message}\n`;
    writeLatin1(
      this.out,
      `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${body.length}\r\nDate: ${httpDate()}\r\n${extraHeaderLines}` +
        (close ? "Connection: close\r\n\r\n" : "\r\n"),
    );
    // RFC 9110 §9.3.2: a response to HEAD has no body, or the client reads it as the next response.
    if (request?.method !== "HEAD") writeLatin1(this.out, body);
    markDirty(this);
    http.response = undefined;
    if (close) {
      this.#flags &= ~BUSY;
      http.request = undefined;
      this.endAfterFlushNow();
    } else {
      this.requestDone(true);
    }
  }

  private endAfterFlushNow(): void {
    if (this.mode === HTTP) this.setMode(CLOSING);
    const http = this.#http;
    if (http !== null) http.pending = null;
    this.#flags |= END_AFTER_FLUSH;
    markDirty(this);
  }

  /** Wakes streaming bodies once the transport has room; otherwise asks it to say when it has. */
  private checkDrainWaiters(): void {
    if (this.#transport.bufferedAmount + this.out.length <= HIGH_WATER_BYTES) {
      this.wakeDrainWaiters();
    } else {
      this.#transport.watchDrain();
    }
  }

  private wakeDrainWaiters(): void {
    const http = this.#http;
    if (http === null || http.drainWaiters === null) return;
    const waiters = http.drainWaiters;
    http.drainWaiters = null;
    for (const wake of waiters) wake();
  }
}
