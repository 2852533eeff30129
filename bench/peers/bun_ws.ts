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

declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: unknown): { hostname: string; port: number };
};

const maxPayloadLength = Number(Bun.env.WS_MAX_MSG_SIZE ?? 16 * 1024 * 1024);

interface BunSocket {
  send(data: string | Uint8Array): number;
}

const server = Bun.serve({
  port: Number(Bun.env.PORT ?? 3000),
  hostname: Bun.env.HOST ?? "127.0.0.1",
  fetch(request: Request, server: { upgrade(request: Request): boolean }) {
    if (server.upgrade(request)) return undefined;
    return new Response("Hello World!");
  },
  websocket: {
    maxPayloadLength,
    // Bun's default (16 MiB) is also Wharf's backpressure limit; compression stays off as in Wharf.
    perMessageDeflate: false,
    message(ws: BunSocket, message: string | Uint8Array) {
      ws.send(message);
    },
  },
});

console.log(`Listening on http://${server.hostname}:${server.port}`);
