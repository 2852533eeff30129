/**
 * Peer for the HTTP benchmark on Deno: `Deno.serve` answering "Hello World!", as `examples/echo.ts` does.
 *
 * ```sh
 * PORT=3000 deno run -A bench/peers/deno_serve.ts
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1). Prints
 * `Listening on http://<host>:<port>` once listening; SIGTERM stops it.
 *
 * @module
 */

const server = Deno.serve({
  port: Number(Deno.env.get("PORT") ?? 3000),
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  onListen: ({ hostname, port }) => console.log(`Listening on http://${hostname}:${port}`),
}, () => new Response("Hello World!"));
Deno.addSignalListener("SIGTERM", () => server.shutdown());
