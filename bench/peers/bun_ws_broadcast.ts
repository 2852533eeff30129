/**
 * Peer for the `broadcast` WebSocket benchmark on Bun: `Bun.serve` with every socket subscribed to one
 * topic and `server.publish(topic, message)` for every message, Bun's own broadcast (uWebSockets'
 * pub/sub, in native code). `server.publish` reaches the sender too, as loadgen expects
 * (`ws.publish` would skip it).
 *
 * ```sh
 * PORT=3000 bun bench/peers/bun_ws_broadcast.ts
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
  subscribe(topic: string): void;
}

interface BunServer {
  hostname: string;
  port: number;
  upgrade(request: Request): boolean;
  publish(topic: string, data: string | Uint8Array): number;
}

declare const Bun: {
  serve(options: {
    port: number;
    hostname: string;
    fetch(request: Request, server: BunServer): Response | undefined;
    websocket: {
      maxPayloadLength: number;
      perMessageDeflate: boolean;
      open(ws: BunSocket): void;
      message(ws: BunSocket, message: string | Uint8Array): void;
    };
  }): BunServer;
};

/** The one topic every connection subscribes to. */
const TOPIC = "all";
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
    perMessageDeflate: false,
    open(ws) {
      ws.subscribe(TOPIC);
    },
    message(_ws, message) {
      server.publish(TOPIC, message);
    },
  },
});

console.log(`Listening on http://${server.hostname}:${server.port}`);
