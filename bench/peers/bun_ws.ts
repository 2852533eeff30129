/**
 * Peer for the WebSocket benchmarks on Bun: `Bun.serve` with a `websocket` handler echoing every
 * message, as `examples/echo.ts` does.
 *
 * ```sh
 * PORT=3000 bun bench/peers/bun_ws.ts
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1),
 * `WS_MAX_MSG_SIZE` (bytes, `maxPayloadLength`, default 16 MiB). Prints
 * `Listening on http://<host>:<port>` once listening.
 *
 * @module
 */

import process from "node:process";

/** The part of Bun's server websocket this peer uses (typed here so no Bun type package is needed). */
interface BunSocket {
  send(data: string | Uint8Array): number;
}

declare const Bun: {
  serve(options: {
    port: number;
    hostname: string;
    fetch(request: Request, server: { upgrade(request: Request): boolean }): Response | undefined;
    websocket: {
      maxPayloadLength: number;
      perMessageDeflate: boolean;
      message(ws: BunSocket, message: string | Uint8Array): void;
    };
  }): { hostname: string; port: number };
};

const maxPayloadLength = Number(process.env.WS_MAX_MSG_SIZE ?? 16 * 1024 * 1024);

const server = Bun.serve({
  port: Number(process.env.PORT ?? 3000),
  hostname: process.env.HOST ?? "127.0.0.1",
  fetch(request, server) {
    if (server.upgrade(request)) return undefined;
    return new Response("Hello World!");
  },
  websocket: {
    maxPayloadLength,
    // Bun's default (16 MiB) is also Wharf's backpressure limit; compression stays off as in Wharf.
    perMessageDeflate: false,
    message(ws, message) {
      ws.send(message);
    },
  },
});

console.log(`Listening on http://${server.hostname}:${server.port}`);
