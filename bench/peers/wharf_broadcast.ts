/**
 * Wharf's server for the `broadcast` WebSocket benchmark: every message from any client is relayed to
 * every open connection, the sender included (what `loadgen broadcast` checks), through
 * `Websocket.each`. `each` frames the message once and queues the same bytes to every target.
 *
 * ```sh
 * PORT=3000 deno run -A bench/peers/wharf_broadcast.ts
 * PORT=3000 bun bench/peers/wharf_broadcast.ts
 * ```
 *
 * On Node, `bench/ws.ts` transpiles this file to `npm/bench/peers/wharf_broadcast.js`, next to the
 * compiled package it then imports (`npm run build` first).
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1),
 * `WS_MAX_MSG_SIZE` (bytes, sets `Websocket.maxMsgSize`, default 262144). Prints
 * `Listening on http://<host>:<port>` once listening; SIGTERM or Ctrl-C stops it.
 *
 * @module
 */

import { HttpResponse, startHttpServer, Websocket, websocketUpgrade } from "../../mod.ts";

/** An environment variable on Deno, Bun and Node alike. */
function env(name: string): string | undefined {
  return globalThis.Deno?.env.get(name) ?? globalThis.process?.env[name];
}

const maxMsgSize = env("WS_MAX_MSG_SIZE");
if (maxMsgSize !== undefined) Websocket.maxMsgSize = Number(maxMsgSize);

const server = await startHttpServer((request) => {
  if (request.upgrade) {
    websocketUpgrade({
      request,
      onMessage: (_ws, data, isText) => {
        // `data` is recycled once this callback returns, and `each` runs later, in batches: keep a copy.
        // `null` as the originator: the sender gets the message too, as loadgen expects.
        Websocket.each(
          null,
          (target, message) => Websocket.write(target, message, isText),
          data.slice(),
        );
      },
    });
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
