/**
 * Peer for the `broadcast` WebSocket benchmark on Deno: `Deno.serve` with `Deno.upgradeWebSocket`,
 * keeping the sockets in a `Set` and relaying every message to each of them, the sender included.
 *
 * ```sh
 * PORT=3000 deno run -A bench/peers/deno_ws_broadcast.ts
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

/**
 * Every upgraded socket, from the upgrade on. Deno fires `open` only after it wrote the 101, so a client
 * may see its connection open (and the sender may already broadcast) before the server's `open` event:
 * a socket still connecting gets the message once it opens (`send` would throw before), so no delivery
 * is lost, which would stall loadgen's one-broadcast-at-a-time loop.
 */
const sockets = new Set<WebSocket>();

function relay(data: string | ArrayBuffer): void {
  for (const target of sockets) {
    if (target.readyState === WebSocket.OPEN) target.send(data);
    else if (target.readyState === WebSocket.CONNECTING) {
      target.addEventListener("open", () => target.send(data), { once: true });
    }
  }
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
  sockets.add(socket);
  socket.onclose = () => sockets.delete(socket);
  socket.onmessage = (event) => relay(event.data);
  return response;
});

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
