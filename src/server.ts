/**
 * The server core: options, the set of connections, the one coarse timer, graceful stop. Runtime-agnostic;
 * an adapter supplies the listener and the {@linkcode Platform}.
 *
 * @module
 */

import { enterCallback, leaveCallback } from "./_flush.ts";
import { type ConnectionHost, HttpConnection } from "./http/connection.ts";
import { DEFAULT_MAX_HEADER_BYTES, RequestParser } from "./http/parser.ts";
import type { HttpRequest } from "./http/request.ts";
import { fileResponse, PublicFolder, type StaticResponse } from "./http/static.ts";
import type { FileSystem, Platform } from "./platform.ts";
import { serveStreams, type StreamPair } from "./streams.ts";
import { TimerWheel } from "./timer_wheel.ts";
import type { Transport, TransportHandler } from "./transport.ts";

/** The app's request handler: answer with `HttpResponse`, upgrade with `websocketUpgrade`, or do neither (404). */
export type RequestHandler = (request: HttpRequest) => void | Promise<void>;

/** TLS material, PEM-encoded. */
export interface TlsOptions {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
}

/** Options of {@linkcode startHttpServer} (the seed's `start_http_server` settings). */
export interface HttpServerOptions {
  /** Port to listen on; default `"3000"` as in the seed; `0` picks a free port (see `server.port`). */
  port?: string | number;
  /** Address to bind; default `"0.0.0.0"`. */
  address?: string;
  /** Folder of static files served for GET/HEAD before `onRequest`; a leading `~` is the home folder. */
  publicFolder?: string;
  /**
   * Keep-alive idle timeout in seconds; default 5 (the seed's HTTP extension); 0 disables it. It also bounds
   * a closing connection whose peer stops reading: once the server has ended a connection, a peer that
   * takes none of the remaining bytes for this long (5 s when 0) is cut.
   */
  timeout?: number;
  /**
   * Seconds a client may take to send a request head, and the longest pause it may make inside a request
   * body (slowloris defences, answered with 408); default 10; 0 disables both.
   */
  headerTimeout?: number;
  /** Largest request body in bytes; default 16 MiB; larger bodies get 413. */
  maxBodySize?: number;
  /** Largest request line plus headers in bytes; default 8192 (the seed's 8 KiB); larger heads get 431. */
  maxHeaderSize?: number;
  /** Most connections at once; beyond it new ones get `503 Service Unavailable` "Server Busy."; default unlimited. */
  maxConnections?: number;
  /** Seconds `stop()` waits for in-flight work and Websocket close handshakes before cutting; default 5. */
  shutdownTimeout?: number;
  /** Serve HTTPS with this certificate and key. */
  tls?: TlsOptions;
  /** Stop gracefully on SIGINT/SIGTERM; default `true`. */
  handleSignals?: boolean;
  /** Called once the server listens. */
  onInit?: (server: Server) => void;
  /** Called once the server has stopped. */
  onFinish?: (server: Server) => void;
  /** Where errors thrown by handlers go; default `console.error`. */
  onError?: (error: unknown, request?: HttpRequest) => void;
  /** Opaque data for the app, available as `server.udata`. */
  udata?: unknown;
  /**
   * The clock, in milliseconds; default `Date.now`. Tests inject one and call `server.tick()` instead of waiting.
   */
  clock?: () => number;
}

/** A listening socket, as an adapter reports it. */
export interface Listener {
  /** The bound port. */
  readonly port: number;
  /** The bound address. */
  readonly address: string;
  /** Stops accepting connections. */
  close(): void | Promise<void>;
}

/** How an adapter listens: it calls `accept` for each connection and feeds the returned handler. */
export type Listen = (
  options: { hostname: string; port: number; tls?: TlsOptions },
  accept: (transport: Transport) => TransportHandler,
) => Promise<Listener>;

/** A running server (returned by {@linkcode startHttpServer}; the seed's `server_pt`). */
export interface Server {
  /** The bound port. */
  readonly port: number;
  /** The bound address. */
  readonly address: string;
  /** The `udata` option. */
  readonly udata: unknown;
  /** Open connections (HTTP and Websocket). */
  readonly connectionCount: number;
  /** Resolves once the server has stopped. */
  readonly finished: Promise<void>;
  /**
   * Stops gracefully: stops accepting, lets in-flight requests finish, closes idle keep-alive connections,
   * calls `onShutdown` and sends close 1001 to Websockets, waits up to `shutdownTimeout`, then cuts the rest.
   * Resolves when everything is closed. Calling it again returns the same promise.
   */
  stop(): Promise<void>;
  /** Advances the server's timers to the clock's time now; the server calls it each second. For tests. */
  tick(): void;
  /** Serves one connection given as a pair of byte streams (any transport: in-memory, a pipe). */
  serveStreams(pair: StreamPair): Promise<void>;
}

const DEFAULT_PORT = "3000";
const DEFAULT_IDLE_TIMEOUT_S = 5;
/** The write-stall limit when `timeout` is 0 (idle connections kept open): the default timeout's. */
const DEFAULT_WRITE_STALL_MS = DEFAULT_IDLE_TIMEOUT_S * 1000;
const DEFAULT_HEADER_TIMEOUT_S = 10;
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
const DEFAULT_SHUTDOWN_TIMEOUT_S = 5;
/**
 * Parsers kept for new connections. A Websocket gives its parser back at the upgrade, so a handshake storm
 * reuses a few dozen instead of leaving one behind per connection for the GC (and in the heap until it
 * runs: Bun's idle RSS showed them). Enough for the connections that open at once.
 */
const SPARE_PARSERS = 256;
/** The largest small integer (Smi) of V8 with compressed pointers: 2^30 - 1 ms is about 12.4 days. */
const SMALL_INTEGER_MAX = 0x3fff_ffff;
const BUSY_RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
    "Content-Length: 12\r\nConnection: close\r\n\r\nServer Busy.",
);

/** A handler for a connection refused as busy: ignores everything. */
const IGNORING_HANDLER: TransportHandler = {
  onData() {},
  onDrain() {},
  onEnd() {},
  onClose() {},
  writeStallMs: DEFAULT_WRITE_STALL_MS,
};

function seconds(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a non-negative number of seconds, got ${value}`);
  }
  return value;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function parsePort(port: string | number | undefined): number {
  const text = String(port ?? DEFAULT_PORT);
  const value = Number(text);
  if (text.trim() === "" || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  }
  return value;
}

/** @internal The server core behind a {@linkcode Server} handle. */
export class ServerCore implements ConnectionHost {
  readonly handle: Server;
  readonly onRequest: (request: HttpRequest) => unknown;
  readonly onError: (error: unknown, request?: HttpRequest) => void;
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  readonly idleTimeoutMs: number;
  readonly writeStallMs: number;
  readonly headerTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly maxConnections: number;
  readonly fs: FileSystem | undefined;
  readonly sha1Base64: ((data: Uint8Array) => string) | undefined;
  readonly platform: Platform;
  publicFolder: PublicFolder | undefined;
  /**
   * Milliseconds since the server started, refreshed by {@linkcode ServerCore.tick}. Relative, not since
   * the epoch: for its first 12 days a time fits V8's small integers, so each connection's time fields
   * hold it inline instead of a boxed number apiece.
   */
  coarseNow: number;
  stopping = false;
  /** Open connections (their list is `HttpConnection.allOpen`, process-wide). */
  connectionCount = 0;
  /** The adapter's listener, once listening. */
  listener: Listener | undefined;
  /** The once-a-second timer driving {@linkcode ServerCore.tick}. */
  ticker: ReturnType<typeof setInterval> | undefined;
  readonly #clock: () => number;
  /** The clock's reading when the server started, the zero of {@linkcode ServerCore.coarseNow}. */
  readonly #origin: number;
  readonly #wheel: TimerWheel<HttpConnection>;
  readonly #spareParsers: RequestParser[] = [];
  #onAllClosed: (() => void) | undefined;

  constructor(
    handle: Server,
    onRequest: RequestHandler,
    options: HttpServerOptions,
    platform: Platform,
  ) {
    this.handle = handle;
    this.onRequest = onRequest;
    this.onError = options.onError ??
      ((error) => console.error("Wharf: request handler failed:", error));
    this.maxHeaderBytes = positiveInteger(
      "maxHeaderSize",
      options.maxHeaderSize,
      DEFAULT_MAX_HEADER_BYTES,
    );
    this.maxBodyBytes = options.maxBodySize === 0
      ? 0
      : positiveInteger("maxBodySize", options.maxBodySize, DEFAULT_MAX_BODY_BYTES);
    this.idleTimeoutMs = seconds("timeout", options.timeout, DEFAULT_IDLE_TIMEOUT_S) * 1000;
    // `timeout: 0` keeps idle connections open, not ones whose peer stopped taking the last response.
    this.writeStallMs = this.idleTimeoutMs > 0 ? this.idleTimeoutMs : DEFAULT_WRITE_STALL_MS;
    this.headerTimeoutMs =
      seconds("headerTimeout", options.headerTimeout, DEFAULT_HEADER_TIMEOUT_S) * 1000;
    this.shutdownTimeoutMs = seconds(
      "shutdownTimeout",
      options.shutdownTimeout,
      DEFAULT_SHUTDOWN_TIMEOUT_S,
    ) * 1000;
    this.maxConnections = options.maxConnections === undefined
      ? Infinity
      : positiveInteger("maxConnections", options.maxConnections, 0);
    this.platform = platform;
    this.fs = platform.fs;
    this.sha1Base64 = platform.sha1Base64;
    this.#clock = options.clock ?? Date.now;
    this.#origin = this.#clock();
    this.coarseNow = 0;
    this.#wheel = new TimerWheel(0);
  }

  /** Opens the public folder, if configured. */
  async openPublicFolder(folder: string | undefined): Promise<void> {
    if (folder === undefined) return;
    if (this.fs === undefined) {
      throw new TypeError(`publicFolder needs a file system (${this.platform.name})`);
    }
    let root = folder;
    if (root === "~" || root.startsWith("~/")) {
      const home = this.platform.homeDir();
      if (home === undefined) {
        throw new TypeError("publicFolder starts with ~ but the home folder is unknown");
      }
      root = home + root.slice(1);
    }
    const publicFolder = new PublicFolder(root, this.fs);
    await publicFolder.open();
    this.publicFolder = publicFolder;
  }

  /** Makes the handler for a new transport, or refuses it as busy. */
  accept(transport: Transport): TransportHandler {
    if (this.stopping || this.connectionCount >= this.maxConnections) {
      // After the adapter has bound the handler returned here: ending with bytes queued asks it for
      // `writeStallMs`.
      queueMicrotask(() => {
        transport.write(BUSY_RESPONSE);
        transport.end();
      });
      return IGNORING_HANDLER;
    }
    this.connectionCount++;
    return new HttpConnection(this, transport);
  }

  serveFile(path: string, method: string, request: HttpRequest): Promise<StaticResponse | null> {
    if (this.fs === undefined) return Promise.resolve(null);
    return fileResponse(this.fs, path, method, request.headers);
  }

  takeParser(): RequestParser {
    return this.#spareParsers.pop() ?? new RequestParser(this);
  }

  recycleParser(parser: RequestParser): void {
    if (this.#spareParsers.length >= SPARE_PARSERS) return;
    parser.reset();
    this.#spareParsers.push(parser);
  }

  schedule(item: HttpConnection, atMs: number): void {
    this.#wheel.schedule(item, atMs);
  }

  connectionClosed(connection: HttpConnection): void {
    this.#wheel.remove(connection);
    if (--this.connectionCount === 0) this.#onAllClosed?.();
  }

  #openConnections(): HttpConnection[] {
    return HttpConnection.allOpen().filter((connection) => connection.servedBy(this));
  }

  /** Advances the timer wheel to the clock's time. */
  tick(): void {
    const elapsed = this.#clock() - this.#origin;
    // A difference of two large numbers is a boxed double even when whole; `| 0` makes it a small integer,
    // which is what lets connections store it inline (up to 2^30 - 1, V8's limit with compressed pointers).
    const now = elapsed >= 0 && elapsed <= SMALL_INTEGER_MAX ? elapsed | 0 : elapsed;
    this.coarseNow = now;
    enterCallback();
    try {
      this.#wheel.advance(now, (connection) => connection.onTimer(now));
    } finally {
      leaveCallback();
    }
  }

  /** Closes idle connections, asks the rest to finish, and resolves when all are closed or the grace ends. */
  async drain(): Promise<void> {
    this.stopping = true;
    if (this.connectionCount > 0) {
      const allClosed = new Promise<void>((resolve) => this.#onAllClosed = resolve);
      for (const connection of this.#openConnections()) connection.shutdown();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) =>
        timer = setTimeout(resolve, this.shutdownTimeoutMs)
      );
      await Promise.race([allClosed, grace]);
      clearTimeout(timer);
      for (const connection of this.#openConnections()) connection.destroy();
      if (this.connectionCount > 0) await allClosed;
    }
  }
}

/**
 * Starts a server with `listen` (from an adapter) and `platform`. Used by the adapters' `startHttpServer`.
 *
 * @throws {RangeError} for invalid options; errors of the listener (port in use) reject.
 */
export async function startServerWith(
  listen: Listen,
  platform: Platform,
  onRequest: RequestHandler,
  options: HttpServerOptions = {},
): Promise<Server> {
  if (typeof onRequest !== "function") throw new TypeError("onRequest must be a function");
  const port = parsePort(options.port);
  const hostname = options.address ?? "0.0.0.0";
  let stopPromise: Promise<void> | undefined;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);
  let removeSignalListener: (() => void) | undefined;

  const handle: Server = {
    get port() {
      return core.listener?.port ?? port;
    },
    get address() {
      return core.listener?.address ?? hostname;
    },
    udata: options.udata,
    get connectionCount() {
      return core.connectionCount;
    },
    finished,
    stop() {
      return stopPromise ??= (async () => {
        removeSignalListener?.();
        await core.listener?.close();
        await core.drain();
        clearInterval(core.ticker);
        options.onFinish?.(handle);
        resolveFinished();
      })();
    },
    tick() {
      core.tick();
    },
    serveStreams(pair) {
      return serveStreams(pair, (transport) => core.accept(transport));
    },
  };
  const core = new ServerCore(handle, onRequest, options, platform);
  await core.openPublicFolder(options.publicFolder);
  core.listener = await listen(
    { hostname, port, tls: options.tls },
    (transport) => core.accept(transport),
  );
  const ticker = setInterval(() => core.tick(), 1000);
  core.ticker = ticker;
  // The listener keeps the process alive; the ticker must not keep it alive on its own.
  (ticker as { unref?: () => void }).unref?.();
  platform.unrefTimer?.(ticker);
  if (options.handleSignals !== false && platform.onShutdownSignal !== undefined) {
    removeSignalListener = platform.onShutdownSignal(() => void handle.stop());
  }
  options.onInit?.(handle);
  return handle;
}

/**
 * A server with no listener: connections come only through `server.serveStreams(pair)`. For tests, and for
 * transports Wharf has no adapter for.
 */
export async function createStreamServer(
  onRequest: RequestHandler,
  options: HttpServerOptions = {},
  platform: Platform = { name: "streams", homeDir: () => undefined },
): Promise<Server> {
  const noListener: Listen = () => Promise.resolve({ port: 0, address: "", close() {} });
  return await startServerWith(noListener, platform, onRequest, {
    ...options,
    handleSignals: false,
  });
}
