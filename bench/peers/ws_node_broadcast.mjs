/**
 * Peer for the `broadcast` WebSocket benchmark on Node: the npm `ws` package's WebSocketServer relaying
 * every message to every open client, the sender included, the way the ws README broadcasts
 * (`wss.clients.forEach(client => client.send(data))`).
 *
 * ```sh
 * PORT=3000 node bench/peers/ws_node_broadcast.mjs
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1),
 * `WS_MAX_MSG_SIZE` (bytes, `maxPayload`, default 16 MiB as the benchmark sets for every server).
 * Prints `Listening on http://<host>:<port>` once listening.
 *
 * @module
 */

import { createServer } from "node:http";
import process from "node:process";
import { WebSocket, WebSocketServer } from "ws";

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? "127.0.0.1";
const maxPayload = Number(process.env.WS_MAX_MSG_SIZE ?? 16 * 1024 * 1024);

const server = createServer((_request, response) => {
  response.end("Hello World!");
});
// perMessageDeflate is off by default in ws 8; Wharf does not offer it either.
const wss = new WebSocketServer({ server, maxPayload });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    wss.clients.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
  });
});

server.listen(port, host, () => {
  console.log(`Listening on http://${host}:${server.address().port}`);
});

process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
