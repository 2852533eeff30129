/**
 * The seed's Quick Example: HTTP "Hello World!" and a Websocket echo on any path. The server behind the
 * conformance suite and the benchmarks, so it stays minimal.
 *
 * ```sh
 * deno run -A examples/echo.ts
 * bun examples/echo.ts
 * npm run build && node npm/examples/echo.js
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1),
 * `WS_MAX_MSG_SIZE` (bytes, sets `Websocket.maxMsgSize`, default 262144) and `WS_TIMEOUT` (seconds, sets
 * `Websocket.timeout`, default 40). Prints `Listening on http://<host>:<port>` once the server listens;
 * Ctrl-C (or SIGTERM) stops it gracefully.
 *
 * @module
 */

import {
  HttpResponse,
  startHttpServer,
  Websocket,
  type WebsocketConnection,
  websocketUpgrade,
} from "../mod.ts";

/** An environment variable on Deno, Bun and Node alike. */
function env(name: string): string | undefined {
  return globalThis.Deno?.env.get(name) ?? globalThis.process?.env[name];
}

// The setters throw a RangeError for values out of range, which is the right answer to a bad environment.
const maxMsgSize = env("WS_MAX_MSG_SIZE");
if (maxMsgSize !== undefined) Websocket.maxMsgSize = Number(maxMsgSize);
const timeout = env("WS_TIMEOUT");
if (timeout !== undefined) Websocket.timeout = Number(timeout);

// One function for every connection, not a closure per upgrade: each connection keeps its handlers.
const echo = (ws: WebsocketConnection, data: Uint8Array, isText: boolean) => {
  Websocket.write(ws, data, isText);
};

const server = await startHttpServer((request) => {
  if (request.upgrade) {
    websocketUpgrade({ request, onMessage: echo });
    return;
  }
  const response = HttpResponse.create(request);
  response.writeBody("Hello World!");
  response.destroy();
}, {
  port: env("PORT") ?? "3000",
  address: env("HOST") ?? "127.0.0.1",
});

const host = server.address.includes(":") ? `[${server.address}]` : server.address;
console.log(`Listening on http://${host}:${server.port}`);
await server.finished;
console.log("Stopped");
