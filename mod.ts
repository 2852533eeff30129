/**
 * Wharf: an HTTP/1.1 and WebSocket (RFC 6455) server that runs unchanged on Deno, Bun and Node, carrying
 * the API of facil.io's lib-server HTTP and Websocket extensions into TypeScript.
 *
 * ```ts
 * import { HttpResponse, startHttpServer, Websocket } from "./mod.ts";
 *
 * await startHttpServer((request) => {
 *   if (request.upgrade) {
 *     Websocket.upgrade({ request, onMessage: (ws, data, isText) => Websocket.write(ws, data, isText) });
 *     return;
 *   }
 *   const response = HttpResponse.create(request);
 *   response.writeBody("Hello World!");
 *   response.destroy();
 * }, { port: "3000" });
 * ```
 *
 * @module
 */

import type { HttpServerOptions, RequestHandler, Server } from "./src/server.ts";

export { HttpError } from "./src/http/errors.ts";
export { HttpHeaders } from "./src/http/headers.ts";
export { HttpRequest } from "./src/http/request.ts";
export { HttpResponse } from "./src/http/response.ts";
export type { CookieOptions } from "./src/http/cookies.ts";
export { createStreamServer } from "./src/server.ts";
export { Websocket, WebsocketConnection, websocketUpgrade } from "./src/websocket.ts";
export type { WebsocketGlobal, WebsocketSettings } from "./src/websocket.ts";
export { CloseCode } from "./src/protocol/close.ts";
export type {
  HttpServerOptions,
  Listen,
  Listener,
  RequestHandler,
  Server,
  TlsOptions,
} from "./src/server.ts";
export type { StreamPair } from "./src/streams.ts";
export type { Transport, TransportHandler } from "./src/transport.ts";
export type { FileInfo, FileSystem, Platform } from "./src/platform.ts";

/** The runtime this module is running on. */
export const runtime: "deno" | "bun" | "node" = "Deno" in globalThis
  ? "deno"
  : "Bun" in globalThis
  ? "bun"
  : "node";

/**
 * Starts an HTTP server (with Websocket upgrades) on the runtime it runs on: Deno, Bun or Node (the seed's
 * `start_http_server(on_request, public_folder, ...)`; `publicFolder` is an option). Resolves with the
 * running {@linkcode Server} once it listens; `server.finished` resolves when it stops.
 *
 * @param onRequest Called for each request; answer with `HttpResponse`, upgrade with `Websocket.upgrade`, or
 * do neither for a 404. A handler that throws or rejects gets a 500.
 * @param options Port (default `"3000"`), address, public folder, timeouts and limits; see
 * {@linkcode HttpServerOptions}.
 * @throws {RangeError} for invalid options; rejects when the port cannot be bound.
 */
export async function startHttpServer(
  onRequest: RequestHandler,
  options?: HttpServerOptions,
): Promise<Server> {
  // Each adapter is loaded only on its own runtime, so Deno never loads the Node compatibility layer.
  const adapter = runtime === "deno"
    ? await import("./adapters/deno.ts")
    : runtime === "bun"
    ? await import("./adapters/bun.ts")
    : await import("./adapters/node.ts");
  return adapter.startHttpServer(onRequest, options);
}
