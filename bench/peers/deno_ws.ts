/**
 * Peer for the WebSocket benchmarks on Deno: `Deno.serve` with `Deno.upgradeWebSocket`, echoing every
 * message, as `examples/echo.ts` does.
 *
 * ```sh
 * PORT=3000 deno run -A bench/peers/deno_ws.ts
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1),
 * `WS_MAX_MSG_SIZE` (bytes, default 16 MiB). Deno's own limit (64 MiB, not configurable) is above it, so
 * the variable is only checked. Prints `Listening on http://<host>:<port>` once listening.
 *
 * @module
 */

const port = Number(Deno.env.get("PORT") ?? 3000);
const hostname = Deno.env.get("HOST") ?? "127.0.0.1";
const maxMsgSize = Number(Deno.env.get("WS_MAX_MSG_SIZE") ?? 16 * 1024 * 1024);
if (maxMsgSize > 64 * 1024 * 1024) {
  throw new RangeError("Deno.upgradeWebSocket accepts messages of at most 64 MiB");
}

Deno.serve({
  port,
  hostname,
  onListen: ({ hostname, port }) => console.log(`Listening on http://${hostname}:${port}`),
}, (request) => {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("Hello World!");
  }
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (event) => socket.send(event.data);
  return response;
});

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
