/**
 * The seed's Websocket extension: the global {@linkcode Websocket} settings and functions, the upgrade, and
 * the connection object handed to the callbacks.
 *
 * Timing rule (the seed's `timeout`): a connection that has sent and received nothing for `timeout` seconds
 * is sent a ping; if nothing at all is received within a further `timeout` seconds, it is closed (the
 * transport is cut, as a half-open connection cannot complete a close handshake) and gets `onClose`. A ping
 * that cannot be written closes it at once. `timeout` 0 disables both. Timers are the server's one coarse
 * wheel, so they fire up to about a second late, as the seed allows.
 *
 * @module
 */

import { markDirty } from "./_flush.ts";
import { COPY_THRESHOLD_BYTES } from "./_output_buffer.ts";
import { HttpConnection, type UpgradedProtocol } from "./http/connection.ts";
import { HttpError } from "./http/errors.ts";
import { acceptKey, checkUpgrade } from "./http/handshake.ts";
import { type HttpRequest, requestOwner } from "./http/request.ts";
import { type HttpResponse, isToken, latin1Bytes } from "./http/response.ts";
import { CloseCode } from "./protocol/close.ts";
import { encodeFrame, Opcode } from "./protocol/frame.ts";
import type { Borrower } from "./protocol/message_pool.ts";
import { type WebSocketHandler, WebSocketProtocol } from "./protocol/websocket.ts";

/** Callbacks and options of one upgrade (the seed's `struct WebsocketSettings`). */
export interface WebsocketSettings {
  /** The request to upgrade; required. */
  request: HttpRequest;
  /**
   * A response whose headers and cookies go out with the `101 Switching Protocols`. It stays the caller's:
   * do not send or destroy it.
   */
  response?: HttpResponse;
  /** Called for each message. `data` is valid only until the callback returns (the seed's recycled buffer): copy to keep it. `isText` is true only for text messages, which are valid UTF-8. */
  onMessage?: (ws: WebsocketConnection, data: Uint8Array, isText: boolean) => void;
  /** Called once the connection is established. */
  onOpen?: (ws: WebsocketConnection) => void;
  /** Called for a connection still open when the server shuts down, before `onClose`. */
  onShutdown?: (ws: WebsocketConnection) => void;
  /** Called exactly once when the connection ends, and also when the upgrade fails (bad handshake). */
  onClose?: (ws: WebsocketConnection) => void;
  /** Called when the transport has written what was buffered after `write` filled it. */
  onDrain?: (ws: WebsocketConnection) => void;
  /** Opaque user data, read with `Websocket.getUdata`. */
  udata?: unknown;
  /**
   * Picks the subprotocol from the client's offer (`Sec-WebSocket-Protocol`), or returns `undefined` for none.
   * Without it none is selected: the client's first choice is never echoed by default.
   */
  selectProtocol?: (offered: readonly string[], request: HttpRequest) => string | undefined;
  /**
   * Checks the `Origin` header (absent for non-browser clients); returning `false` answers 403. Browsers
   * send cookies with cross-site Websocket handshakes, so apps that rely on cookies should check it.
   */
  checkOrigin?: (origin: string | undefined, request: HttpRequest) => boolean;
}

/** Default ping interval in seconds: under the usual 55–60 s idle limits of proxies and routers (Heroku: 55 s). */
const DEFAULT_TIMEOUT_S = 40;
/** The seed's default message limit: 256 KiB. */
const DEFAULT_MAX_MSG_SIZE = 262144;
/** Seconds a peer has to answer our close frame before the transport is cut. */
const DEFAULT_CLOSE_TIMEOUT_S = 5;
/** Unsent bytes a connection may hold before `write` returns -1: 16 MiB, as Bun's default backpressure limit. */
const DEFAULT_BACKPRESSURE_LIMIT = 16 * 1024 * 1024;
/** Connections `each` visits before yielding to the event loop. */
const EACH_BATCH = 1024;

/**
 * Websocket connections of this process from their opening until they close (`readyState` `"open"` or
 * `"closing"`), for `count`; `each` finds them in `HttpConnection.allOpen`.
 */
let openCount = 0;

let maxMsgSize = DEFAULT_MAX_MSG_SIZE;
let timeout = DEFAULT_TIMEOUT_S;
let closeTimeout = DEFAULT_CLOSE_TIMEOUT_S;
let backpressureLimit = DEFAULT_BACKPRESSURE_LIMIT;
let closeOnBackpressureLimit = false;

/**
 * Inside `each`, the frame last written, so a broadcast frames its message once and queues the same bytes to
 * every target (by reference: they are never modified).
 */
let eachDepth = 0;
let broadcastData: Uint8Array | string | undefined;
let broadcastIsText = false;
let broadcastFrame: Uint8Array | undefined;
const textEncoder = new TextEncoder();

/** The frame for `data`, made at most once per distinct data (and type) during one `each` batch. */
function broadcastFrameFor(data: Uint8Array | string, isText: boolean): Uint8Array {
  if (data !== broadcastData || isText !== broadcastIsText || broadcastFrame === undefined) {
    const payload = typeof data === "string" ? textEncoder.encode(data) : data;
    broadcastFrame = encodeFrame(isText ? Opcode.Text : Opcode.Binary, payload);
    broadcastData = data;
    broadcastIsText = isText;
  }
  return broadcastFrame;
}

type ReadyState = "connecting" | "open" | "closing" | "closed";

let sessionOf: (ws: WebsocketConnection) => Session;
let setReadyState: (ws: WebsocketConnection, state: ReadyState) => void;
let setSubprotocol: (ws: WebsocketConnection, subprotocol: string) => void;
let setClose: (ws: WebsocketConnection, code: number, reason: string) => void;

/** A connection's callbacks (see {@linkcode WebsocketSettings}). */
interface Handlers {
  readonly onOpen: WebsocketSettings["onOpen"];
  readonly onMessage: WebsocketSettings["onMessage"];
  readonly onShutdown: WebsocketSettings["onShutdown"];
  readonly onClose: WebsocketSettings["onClose"];
  readonly onDrain: WebsocketSettings["onDrain"];
}

/**
 * The callbacks of the last upgrade, shared by the connections that follow it with the same functions: an
 * app usually upgrades every connection with the same module-level handlers, and five fields fewer in
 * every session move it down a size class on JavaScriptCore (160 to 112 bytes).
 */
let lastHandlers: Handlers = {
  onOpen: undefined,
  onMessage: undefined,
  onShutdown: undefined,
  onClose: undefined,
  onDrain: undefined,
};

/** The callbacks of `settings` (not the settings object, which keeps the request, headers and body alive). */
function handlersFor(settings: WebsocketSettings): Handlers {
  const last = lastHandlers;
  if (
    settings.onMessage === last.onMessage && settings.onOpen === last.onOpen &&
    settings.onClose === last.onClose && settings.onShutdown === last.onShutdown &&
    settings.onDrain === last.onDrain
  ) {
    return last;
  }
  return lastHandlers = {
    onOpen: settings.onOpen,
    onMessage: settings.onMessage,
    onShutdown: settings.onShutdown,
    onClose: settings.onClose,
    onDrain: settings.onDrain,
  };
}

/** {@linkcode Session} flag: a `write` returned -1 for backpressure, so `onDrain` is owed. */
const WANTS_DRAIN = 1;
/** {@linkcode Session} flag: `onClose` ran (it runs at most once). */
const CLOSE_REPORTED = 2;

/**
 * One Websocket connection (the seed's `ws_s*`). Handed to every callback; the methods mirror the
 * `Websocket.*` functions.
 */
export class WebsocketConnection {
  #session: Session;
  /** Opaque user data (the seed's udata). */
  udata: unknown;
  // The state the getters below show lives here rather than in the session: JavaScriptCore gives this object
  // room for six fields anyway, and a session of twelve fields or fewer takes a smaller size class.
  #readyState: ReadyState = "connecting";
  #subprotocol = "";
  #closeCode = 0;
  #closeReason = "";

  static {
    sessionOf = (ws) => ws.#session;
    setReadyState = (ws, state) => {
      ws.#readyState = state;
    };
    setSubprotocol = (ws, subprotocol) => {
      ws.#subprotocol = subprotocol;
    };
    setClose = (ws, code, reason) => {
      ws.#closeCode = code;
      ws.#closeReason = reason;
    };
  }

  /** @internal Made by the upgrade. */
  constructor(session: Session, udata: unknown) {
    this.#session = session;
    this.udata = udata;
  }

  /** The connection's id: the same as the HTTP connection's it was upgraded from. */
  get uuid(): number {
    return this.#session.connection.uuid;
  }

  /** The server handle returned by `startHttpServer`. */
  get server(): unknown {
    return this.#session.connection.server;
  }

  /** `"connecting"` until open, then `"open"`, `"closing"` after a close frame was sent, `"closed"` at the end. */
  get readyState(): ReadyState {
    return this.#readyState;
  }

  /** The subprotocol selected in the handshake, `""` for none. */
  get protocol(): string {
    return this.#subprotocol;
  }

  /** The close code: the peer's (1005 when it sent none), ours when we failed it, 1006 when cut; 0 while open. */
  get closeCode(): number {
    return this.#closeCode;
  }

  /** The close reason that went with {@linkcode WebsocketConnection.closeCode}. */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** Bytes queued but not yet taken by the operating system. */
  get bufferedAmount(): number {
    return this.#session.bufferedAmount;
  }

  /** See {@linkcode Websocket.write}. */
  write(data: Uint8Array | string, isText?: boolean): 0 | -1 {
    return this.#session.write(data, isText ?? typeof data === "string");
  }

  /** See {@linkcode Websocket.close}. */
  close(code?: number, reason?: string): void {
    this.#session.close(code, reason);
  }

  /** Sends a ping; 0 on success, -1 once closing or closed. */
  ping(payload?: Uint8Array): 0 | -1 {
    return this.#session.ping(payload);
  }
}

/**
 * The machinery behind one {@linkcode WebsocketConnection}; the transport's events arrive here. Its helpers
 * are TypeScript-private, not `#` methods, which would store a brand in every instance.
 */
class Session implements UpgradedProtocol, WebSocketHandler, Borrower {
  readonly connection: HttpConnection;
  readonly ws: WebsocketConnection;
  readonly #handlers: Handlers;
  readonly protocol: WebSocketProtocol;
  /** Ping interval copied from `Websocket.timeout` when the connection opened (the seed: new connections inherit it). */
  readonly timeoutMs: number;
  #lastReceived = 0;
  #lastActivity = 0;
  /**
   * When the unanswered ping went out, 0 for none: `coarseNow` counts from the server's start and a ping
   * leaves at least `timeoutMs` (> 0) after it, so no real sending time is 0.
   */
  #pingSentAt = 0;
  #closeDeadline = 0;
  /** `WANTS_DRAIN` and `CLOSE_REPORTED`. */
  #flags = 0;

  constructor(connection: HttpConnection, settings: WebsocketSettings) {
    this.connection = connection;
    this.#handlers = handlersFor(settings);
    this.timeoutMs = timeout * 1000;
    this.protocol = new WebSocketProtocol(connection.out, this);
    this.ws = new WebsocketConnection(this, settings.udata);
  }

  get readyState(): ReadyState {
    return this.ws.readyState;
  }

  set readyState(state: ReadyState) {
    setReadyState(this.ws, state);
  }

  get bufferedAmount(): number {
    return this.connection.out.length + this.connection.transport.bufferedAmount;
  }

  get transportOpen(): boolean {
    return !this.connection.closed;
  }

  // ---- app-facing ----

  write(data: Uint8Array | string, isText: boolean): 0 | -1 {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new TypeError("Websocket data must be a string or a Uint8Array");
    }
    if (this.protocol.state !== "open" || this.readyState !== "open") return -1;
    if (this.bufferedAmount > backpressureLimit) {
      this.#flags |= WANTS_DRAIN;
      if (closeOnBackpressureLimit) {
        this.close(CloseCode.PolicyViolation, "Backpressure limit exceeded");
      }
      return -1;
    }
    let sent: boolean;
    if (eachDepth > 0) {
      // Framed once, into a copy, for every target of the broadcast.
      sent = this.protocol.sendEncoded(broadcastFrameFor(data, isText));
    } else if (typeof data !== "string" && data.length > COPY_THRESHOLD_BYTES) {
      // A large payload goes out by reference: if it is the message being delivered, that buffer must not
      // be recycled for the next message before the transport has written it, and its header can go in
      // front of it (one write instead of two).
      const frame = WebSocketProtocol.frameInPlace(data, isText ? Opcode.Text : Opcode.Binary);
      WebSocketProtocol.releaseIfShared(data, this);
      sent = frame !== null ? this.protocol.sendEncoded(frame) : this.protocol.send(data, isText);
    } else {
      sent = this.protocol.send(data, isText);
    }
    if (!sent) return -1;
    this.#lastActivity = this.connection.coarseNow;
    markDirty(this.connection);
    return 0;
  }

  close(code?: number, reason?: string): void {
    const wasOpen = this.protocol.state === "open";
    // Validates code and reason in every state: misuse throws even when there is nothing to close.
    this.protocol.close(code, reason);
    if (!wasOpen) return;
    // close() moved the state on; read it afresh (TypeScript still has it narrowed to "open").
    if ((this.protocol.state as WebSocketProtocol["state"]) === "closing") {
      this.readyState = "closing";
      this.#closeDeadline = this.connection.coarseNow + closeTimeout * 1000;
      this.connection.scheduleTimer(this.#closeDeadline);
    }
    markDirty(this.connection);
  }

  ping(payload?: Uint8Array): 0 | -1 {
    if (!this.protocol.sendPing(payload)) return -1;
    markDirty(this.connection);
    return 0;
  }

  // ---- UpgradedProtocol ----

  onAttach(): void {
    this.readyState = "open";
    openCount++;
    const now = this.connection.coarseNow;
    this.#lastReceived = now;
    this.#lastActivity = now;
    if (this.timeoutMs > 0) this.connection.scheduleTimer(now + this.timeoutMs);
    this.call(this.#handlers.onOpen);
  }

  onData(chunk: Uint8Array): void {
    this.#lastReceived = this.#lastActivity = this.connection.coarseNow;
    this.protocol.receive(chunk);
    // Pongs and close frames the protocol queued itself; the app's writes mark the connection on their own.
    if (this.connection.out.length > 0) markDirty(this.connection);
  }

  onDrain(): void {
    if ((this.#flags & WANTS_DRAIN) === 0) return;
    if (this.bufferedAmount <= backpressureLimit) {
      this.#flags &= ~WANTS_DRAIN;
      this.call(this.#handlers.onDrain);
    } else {
      this.connection.transport.watchDrain();
    }
  }

  afterFlush(): void {
    // The transport may have taken everything at once and never report a drain: check for room now.
    this.onDrain();
  }

  onEnd(): void {
    // RFC 6455 §7.1.1: a peer that ends the stream is gone; there is nobody to finish a handshake with.
    this.protocol.transportClosed();
  }

  onClose(): void {
    this.protocol.transportClosed();
    this.reportTransportClosed();
  }

  onTimer(now: number): void {
    const state = this.protocol.state;
    if (state === "closed") return;
    if (state === "closing") {
      if (now >= this.#closeDeadline) this.connection.destroy();
      else this.connection.scheduleTimer(this.#closeDeadline);
      return;
    }
    const timeoutMs = this.timeoutMs;
    if (timeoutMs === 0) return;
    if (this.#pingSentAt !== 0) {
      if (this.#lastReceived >= this.#pingSentAt) {
        this.#pingSentAt = 0;
      } else if (now >= this.#pingSentAt + timeoutMs) {
        this.connection.destroy();
        return;
      } else {
        this.connection.scheduleTimer(this.#pingSentAt + timeoutMs);
        return;
      }
    }
    const due = this.#lastActivity + timeoutMs;
    if (now < due) {
      this.connection.scheduleTimer(due);
      return;
    }
    if (!this.protocol.sendPing()) {
      this.connection.destroy();
      return;
    }
    markDirty(this.connection);
    this.#pingSentAt = now;
    this.#lastActivity = now;
    this.connection.scheduleTimer(now + timeoutMs);
  }

  shutdown(): void {
    if (this.protocol.state !== "open") return;
    this.call(this.#handlers.onShutdown);
    this.close(CloseCode.GoingAway, "Server shutting down");
  }

  // ---- WebSocketHandler ----

  maxMessageBytes(): number {
    return maxMsgSize;
  }

  onMessage(data: Uint8Array, isText: boolean): void {
    const onMessage = this.#handlers.onMessage;
    if (onMessage === undefined) return;
    try {
      onMessage(this.ws, data, isText);
    } catch (error) {
      this.appError(error);
    }
  }

  onFinish(code: number, reason: string, wasClean: boolean): void {
    setClose(this.ws, code, reason);
    this.becomeClosed();
    // RFC 6455 §7.1.1: the server closes the TCP connection first, after the close frame is written. After
    // a close handshake the peer sends nothing more, so there is nothing to linger for; a failed connection
    // (§7.1.7) may still be sending, and lingers.
    this.connection.endAfterFlush(wasClean);
  }

  // ---- internals ----

  /** The transport is gone: report it once. */
  private reportTransportClosed(): void {
    this.becomeClosed();
    if (this.ws.closeCode === 0) setClose(this.ws, CloseCode.Abnormal, "");
    this.callOnClose();
  }

  private becomeClosed(): void {
    if (this.readyState === "open" || this.readyState === "closing") openCount--;
    this.readyState = "closed";
  }

  /** Calls `onClose` exactly once. */
  callOnClose(): void {
    if ((this.#flags & CLOSE_REPORTED) !== 0) return;
    this.#flags |= CLOSE_REPORTED;
    this.call(this.#handlers.onClose);
  }

  private call(callback: ((ws: WebsocketConnection) => void) | undefined): void {
    if (callback === undefined) return;
    try {
      callback(this.ws);
    } catch (error) {
      this.appError(error);
    }
  }

  private appError(error: unknown): void {
    console.error("Wharf: Websocket callback failed:", error);
    if (this.protocol.state === "open") this.close(CloseCode.InternalError, "");
  }
}

function checkSettings(settings: WebsocketSettings): HttpConnection {
  if (settings === null || typeof settings !== "object") {
    throw new TypeError("Websocket.upgrade needs a settings object");
  }
  // One named load each, not a loop over the names: a property read by a varying key is megamorphic, a
  // lookup in the runtime's global cache on every upgrade.
  checkCallback("onMessage", settings.onMessage);
  checkCallback("onOpen", settings.onOpen);
  checkCallback("onShutdown", settings.onShutdown);
  checkCallback("onClose", settings.onClose);
  checkCallback("onDrain", settings.onDrain);
  const request = settings.request;
  if (request === undefined || request === null) {
    throw new TypeError("Websocket.upgrade needs a request");
  }
  return requestOwner(request) as HttpConnection;
}

function checkCallback(name: string, callback: unknown): void {
  if (callback !== undefined && typeof callback !== "function") {
    throw new TypeError(`${name} must be a function`);
  }
}

function upgrade(settings: WebsocketSettings): void {
  const connection = checkSettings(settings);
  const request = settings.request;
  connection.beginUpgrade(request, settings.response);
  const session = new Session(connection, settings);
  let key: string;
  let offered: readonly string[];
  try {
    ({ key, protocols: offered } = checkUpgrade(request.head));
    // The Origin is looked up only for a check: every other upgrade would scan the headers for nothing.
    if (
      settings.checkOrigin !== undefined &&
      !settings.checkOrigin(request.headers.get("origin"), request)
    ) {
      throw new HttpError(403, "Origin not allowed");
    }
  } catch (error) {
    session.readyState = "closed";
    if (!(error instanceof HttpError)) {
      // The app's checkOrigin threw: the handler's failure path answers 500 and reports it.
      session.callOnClose();
      throw error;
    }
    connection.rejectUpgrade(
      error,
      error.status === 426 ? "Sec-WebSocket-Version: 13\r\n" : "",
    );
    session.callOnClose();
    return;
  }
  let subprotocol = "";
  if (settings.selectProtocol !== undefined && offered.length > 0) {
    let chosen: string | undefined;
    try {
      chosen = settings.selectProtocol(offered, request);
    } catch (error) {
      session.readyState = "closed";
      session.callOnClose();
      throw error;
    }
    // RFC 6455 §4.2.2: the server may only answer with one of the client's offers.
    if (chosen !== undefined && offered.includes(chosen) && isToken(chosen)) subprotocol = chosen;
  }
  setSubprotocol(session.ws, subprotocol);
  const extraLines = settings.response?.takeHeaderLinesForUpgrade() ?? "";
  const accept = acceptKey(key, connection.sha1Base64);
  if (typeof accept === "string") finishUpgrade(session, accept, extraLines);
  else finishUpgradeLater(session, accept, extraLines);
}

/**
 * Waits for an asynchronous SHA-1 (no runtime adapter needs it). Its closures live here: in `upgrade` they
 * would cost every upgrade the scope they capture.
 */
function finishUpgradeLater(session: Session, accept: Promise<string>, extraLines: string): void {
  accept.then(
    (value) => finishUpgrade(session, value, extraLines),
    (error) => session.connection.rejectUpgrade(new HttpError(500, String(error))),
  );
}

/** Sends the 101 with `Sec-WebSocket-Accept: accept` and hands the connection to `session`. */
function finishUpgrade(session: Session, accept: string, extraLines: string): void {
  const connection = session.connection;
  if (connection.closed) {
    session.callOnClose();
    return;
  }
  const subprotocol = session.ws.protocol;
  // Usually both are empty, and so is the string they make.
  const moreLines = subprotocol === ""
    ? extraLines
    : `Sec-WebSocket-Protocol: ${subprotocol}\r\n${extraLines}`;
  connection.switchProtocols(UPGRADE_LINES, ACCEPT_FIELD, accept, moreLines, session);
}

/** The fixed fields of every 101 (RFC 6455 §4.2.2), as bytes. */
const UPGRADE_LINES = latin1Bytes("Upgrade: websocket\r\nConnection: Upgrade\r\n");
/** The name of the one field of the 101 that differs per connection. */
const ACCEPT_FIELD = latin1Bytes("Sec-WebSocket-Accept: ");

function sessionFor(ws: WebsocketConnection): Session {
  if (!(ws instanceof WebsocketConnection)) throw new TypeError("Not a Websocket connection");
  return sessionOf(ws);
}

function each<T>(
  originator: WebsocketConnection | null,
  task: (target: WebsocketConnection, arg: T) => void,
  arg?: T,
  onFinish?: (originator: WebsocketConnection | null, arg: T) => void,
): void {
  if (typeof task !== "function") throw new TypeError("each needs a task function");
  if (onFinish !== undefined && typeof onFinish !== "function") {
    throw new TypeError("onFinish must be a function");
  }
  const targets: WebsocketConnection[] = [];
  for (const connection of HttpConnection.allOpen()) {
    const session = connection.upgradedProtocol;
    if (session instanceof Session && session.readyState === "open") targets.push(session.ws);
  }
  let index = 0;
  const runBatch = () => {
    const end = Math.min(index + EACH_BATCH, targets.length);
    eachDepth++;
    try {
      for (; index < end; index++) {
        const target = targets[index];
        if (target === originator || target.readyState !== "open") continue;
        try {
          task(target, arg as T);
        } catch (error) {
          console.error("Wharf: Websocket.each task failed:", error);
        }
      }
    } finally {
      if (--eachDepth === 0) {
        broadcastData = undefined;
        broadcastFrame = undefined;
      }
    }
    if (index < targets.length) setTimeout(runBatch, 0);
    else onFinish?.(originator, arg as T);
  };
  queueMicrotask(runBatch);
}

function checkedInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Websocket.${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/** The type of {@linkcode Websocket}: the seed's global settings and functions. */
export interface WebsocketGlobal {
  /**
   * Largest incoming message in bytes, across all its fragments; default 262144 (256 KiB). Global and
   * dynamic: checked against each frame header as it arrives, before its payload is buffered; a larger
   * message closes the connection with 1009.
   *
   * @throws {RangeError} when set to anything but an integer from 1 to 2^53-1.
   */
  maxMsgSize: number;
  /**
   * Ping interval in seconds (the seed's `unsigned char timeout`); default 40. Each new connection copies it
   * when it opens; later changes affect only newer connections. 0 disables pings and the liveness check.
   *
   * @throws {RangeError} when set to anything but an integer from 0 to 255.
   */
  timeout: number;
  /**
   * Seconds a peer has to answer our close frame before the transport is cut; default 5.
   *
   * @throws {RangeError} when set to anything but an integer from 1 to 3600.
   */
  closeTimeout: number;
  /**
   * Unsent bytes a connection may hold; beyond it `write` returns -1; default 16 MiB.
   *
   * @throws {RangeError} when set to anything but a positive integer.
   */
  backpressureLimit: number;
  /** Whether exceeding `backpressureLimit` also closes the connection with 1008; default `false`. */
  closeOnBackpressureLimit: boolean;
  /**
   * Upgrades `settings.request` to a Websocket (the seed's `Websocket.upgrade` / `websocket_upgrade`). A
   * request that is not a valid RFC 6455 handshake is answered with 400 (426 with `Sec-WebSocket-Version: 13`
   * for an unsupported version, 403 when `checkOrigin` refuses) and `onClose` is called.
   *
   * @throws {TypeError} for missing or invalid settings, or a request that already has a sent response or is
   * no longer being handled.
   */
  upgrade(settings: WebsocketSettings): void;
  /** The connection's user data (the seed's `get_udata`). @throws {TypeError} for a non-connection. */
  getUdata(ws: WebsocketConnection): unknown;
  /** Sets the user data and returns the old value (the seed's `set_udata`). @throws {TypeError} for a non-connection. */
  setUdata(ws: WebsocketConnection, udata: unknown): unknown;
  /** The server handle that owns the connection (the seed's `get_server`). @throws {TypeError} for a non-connection. */
  getServer(ws: WebsocketConnection): unknown;
  /** The connection's id, the same as its HTTP connection's (the seed's `get_uuid`). @throws {TypeError} for a non-connection. */
  getUuid(ws: WebsocketConnection): number;
  /**
   * Sends a message (the seed's `write`): text when `isText` (default: `true` for strings), else binary. A
   * `Uint8Array` is sent as is, so `isText` with bytes promises they are valid UTF-8.
   *
   * @returns 0 on success; -1 once the connection is closing or closed, or over `backpressureLimit`. Never
   * throws for those.
   * @throws {TypeError} when `data` is neither a string nor a Uint8Array, or `ws` is not a connection.
   */
  write(ws: WebsocketConnection, data: Uint8Array | string, isText?: boolean): 0 | -1;
  /**
   * Starts the close handshake (the seed's `close`) with `code` (default 1000) and `reason`; the transport is
   * closed when the peer answers or after `closeTimeout`. Does nothing once closing.
   *
   * @throws {RangeError} for a code that may not be sent (1000–1003, 1007–1011, 3000–4999 may) or a reason
   * over 123 UTF-8 bytes.
   */
  close(ws: WebsocketConnection, code?: number, reason?: string): void;
  /**
   * Runs `task(target, arg)` for every open connection of this process except `originator` (all when it is
   * `null`), oldest connection first, then `onFinish(originator, arg)` (the seed's `each`). The targets are
   * the connections open when `each` is called; one that closes before its turn is skipped. Runs
   * asynchronously, in batches of 1024 that yield to the event loop, so large counts do not block it. A
   * message written to many targets from the task is framed once and the same bytes are queued to each (so do not modify a `Uint8Array` during the run).
   *
   * @throws {TypeError} when `task` or `onFinish` is not a function.
   */
  each<T>(
    originator: WebsocketConnection | null,
    task: (target: WebsocketConnection, arg: T) => void,
    arg?: T,
    onFinish?: (originator: WebsocketConnection | null, arg: T) => void,
  ): void;
  /** Open Websocket connections in this process (the seed's `count`). */
  count(): number;
  /** Bytes queued on `ws` but not yet taken by the operating system. @throws {TypeError} for a non-connection. */
  bufferedAmount(ws: WebsocketConnection): number;
}

/**
 * The global Websocket settings and functions (the seed's `Websocket` object). Settings may change at any
 * time and take effect from then on.
 */
export const Websocket: WebsocketGlobal = {
  get maxMsgSize(): number {
    return maxMsgSize;
  },
  set maxMsgSize(value: number) {
    maxMsgSize = checkedInteger("maxMsgSize", value, 1, Number.MAX_SAFE_INTEGER);
  },
  get timeout(): number {
    return timeout;
  },
  set timeout(value: number) {
    timeout = checkedInteger("timeout", value, 0, 255);
  },
  get closeTimeout(): number {
    return closeTimeout;
  },
  set closeTimeout(value: number) {
    closeTimeout = checkedInteger("closeTimeout", value, 1, 3600);
  },
  get backpressureLimit(): number {
    return backpressureLimit;
  },
  set backpressureLimit(value: number) {
    backpressureLimit = checkedInteger("backpressureLimit", value, 1, Number.MAX_SAFE_INTEGER);
  },
  get closeOnBackpressureLimit(): boolean {
    return closeOnBackpressureLimit;
  },
  set closeOnBackpressureLimit(value: boolean) {
    closeOnBackpressureLimit = Boolean(value);
  },
  upgrade,
  getUdata(ws) {
    sessionFor(ws);
    return ws.udata;
  },
  setUdata(ws, udata) {
    sessionFor(ws);
    const old = ws.udata;
    ws.udata = udata;
    return old;
  },
  getServer(ws) {
    return sessionFor(ws).connection.server;
  },
  getUuid(ws) {
    return sessionFor(ws).connection.uuid;
  },
  write(ws, data, isText) {
    return sessionFor(ws).write(data, isText ?? typeof data === "string");
  },
  close(ws, code, reason) {
    sessionFor(ws).close(code, reason);
  },
  each,
  count() {
    return openCount;
  },
  bufferedAmount(ws) {
    return sessionFor(ws).bufferedAmount;
  },
};

/**
 * Upgrades a request to a Websocket: the seed's `websocket_upgrade(...)` macro, the same as
 * {@linkcode Websocket.upgrade}.
 */
export function websocketUpgrade(settings: WebsocketSettings): void {
  upgrade(settings);
}
