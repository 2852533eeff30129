/**
 * Floor for the WebSocket `handshake` and `idle` scenarios on Node: the least a server built on
 * `node:net` can do for `bench/loadgen.c`. It takes the `Sec-WebSocket-Key` out of the request (assuming
 * the whole head arrives in one chunk), answers `101` with `crypto.hash` (Node 20.12+), then reads and
 * answers a close frame with a close frame (1000) and its FIN; an idle connection costs one `net.Socket`
 * with a `data` listener. `bench/ws.ts --floors` measures it next to Wharf and `ws`.
 *
 * Not a usable server: it parses nothing but the key, validates nothing (method, version, headers,
 * framing, masking), echoes no message and takes any frame whose opcode is 8 for a close frame.
 *
 * ```sh
 * PORT=3000 node bench/floors/node_net_ws.mjs
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1). Prints
 * `Listening on http://<host>:<port>` once listening; SIGTERM or SIGINT stops it.
 *
 * @module
 */

import { hash } from "node:crypto";
import { createServer } from "node:net";
import process from "node:process";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const KEY_FIELD = "sec-websocket-key:";
const CLOSE = Buffer.from([0x88, 0x02, 0x03, 0xe8]);

const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  let upgraded = false;
  socket.on("data", (chunk) => {
    if (upgraded) {
      if ((chunk[0] & 0x0f) === 0x8) {
        socket.write(CLOSE);
        socket.end();
      }
      return;
    }
    const head = chunk.toString("latin1");
    const start = head.toLowerCase().indexOf(KEY_FIELD);
    const end = start < 0 ? -1 : head.indexOf("\r\n", start);
    if (end < 0) {
      socket.destroy();
      return;
    }
    const key = head.slice(start + KEY_FIELD.length, end).trim();
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${hash("sha1", key + GUID, "base64")}\r\n\r\n`,
      "latin1",
    );
    upgraded = true;
  });
  // A client that leaves without a close frame: end our side too.
  socket.on("end", () => {
    if (!socket.writableEnded) socket.end();
  });
  socket.on("error", () => socket.destroy());
});
server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(`Listening on http://${address}:${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
