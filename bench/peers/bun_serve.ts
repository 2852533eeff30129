/**
 * Peer for the HTTP benchmark on Bun: `Bun.serve` answering "Hello World!", as `examples/echo.ts` does.
 *
 * ```sh
 * PORT=3000 bun bench/peers/bun_serve.ts
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1). Prints
 * `Listening on http://<host>:<port>` once listening; SIGTERM stops it.
 *
 * @module
 */

import process from "node:process";

// Typed here so no Bun type package is needed.
declare const Bun: {
  serve(options: { port: number; hostname: string; fetch(request: Request): Response }): {
    port: number;
    hostname: string;
    stop(): void;
  };
};

const server = Bun.serve({
  port: Number(process.env.PORT ?? 3000),
  hostname: process.env.HOST ?? "127.0.0.1",
  fetch: () => new Response("Hello World!"),
});
console.log(`Listening on http://${server.hostname}:${server.port}`);
process.on("SIGTERM", () => server.stop());
