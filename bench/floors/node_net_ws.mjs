/**
 * Floor for the WebSocket `handshake` and `idle` scenarios on Node: the least a server built on
 * `node:net` can do for `bench/loadgen.c`. It takes the `Sec-WebSocket-Key` out of the request (assuming
 * the whole head arrives in one chunk), answers `101` with `crypto.hash` (Node 20.12+), then reads and
 * answers a close frame with a close frame (1000) and closes the socket outright once the kernel has taken
 * it (no half-close: the peer sends nothing after its close frame, as Wharf's adapter reasons); an idle
 * connection costs one `net.Socket`
 * with a read callback. Like Wharf, it reads into the process-wide buffer of `adapters/_node_shared_read.ts`
 * (imported from the npm build) where Node allows it. `bench/ws.ts --floors` measures it next to Wharf and
 * `ws`.
 *
 * With `--relay` (the `broadcast` floor), a text frame of at most 125 bytes, assumed whole in one chunk, is
 * also unmasked and written as one server frame, with `socket.write`, to every open connection, the sender
 * included, as `bench/loadgen.c broadcast` expects. Without it no connection is tracked, so the idle
 * floor holds nothing beyond the socket.
 *
 * Not a usable server: it parses nothing but the key, validates nothing (method, version, headers,
 * framing, masking), echoes no message and takes any frame whose opcode is 8 for a close frame.
 *
 * ```sh
 * PORT=3000 node bench/floors/node_net_ws.mjs [--relay]
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

// From the npm build, which the benchmark drivers make before starting a floor; imported dynamically
// so that type checking a fresh clone (no build yet) does not fail on it.
const { readIntoSharedBuffer } = await import("../../npm/adapters/_node_shared_read.js");

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const KEY_FIELD = "sec-websocket-key:";
const CLOSE = Buffer.from([0x88, 0x02, 0x03, 0xe8]);

/** Every upgraded connection, the relay's targets; `null` without `--relay`. */
const open = process.argv.includes("--relay") ? new Set() : null;

/** Unmasks the client's frame in `chunk` (2-byte header, mask, `length` bytes) and sends it to all. */
function relay(targets, chunk, length) {
  const frame = Buffer.allocUnsafe(2 + length);
  frame[0] = 0x81;
  frame[1] = length;
  for (let i = 0; i < length; i++) frame[2 + i] = chunk[6 + i] ^ chunk[2 + (i & 3)];
  for (const target of targets) target.write(frame);
}

/** Where a socket keeps its chunk handler, for the read callback shared by every socket. */
const ON_CHUNK = Symbol("onChunk");

// A Buffer view (no copy): the chunk handler reads the head with Buffer's toString.
function onSharedRead(length, buffer) {
  this[ON_CHUNK](Buffer.from(buffer.buffer, buffer.byteOffset, length));
}

const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  let upgraded = false;
  const onChunk = (chunk) => {
    if (upgraded) {
      if (open !== null && (chunk[0] & 0x0f) === 0x1 && (chunk[1] & 0x7f) <= 125) {
        relay(open, chunk, chunk[1] & 0x7f);
        return;
      }
      if ((chunk[0] & 0x0f) === 0x8) {
        socket.write(CLOSE);
        if (socket.writableLength === 0) socket.destroy();
        else socket.end();
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
    open?.add(socket);
  };
  socket[ON_CHUNK] = onChunk;
  if (!readIntoSharedBuffer(socket, onSharedRead)) socket.on("data", onChunk);
  // A client that leaves without a close frame: end our side too.
  socket.on("end", () => {
    if (!socket.writableEnded) socket.end();
  });
  socket.on("error", () => socket.destroy());
  if (open !== null) socket.on("close", () => open.delete(socket));
});
server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(`Listening on http://${address}:${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
