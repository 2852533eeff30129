/**
 * Floor for the WebSocket `broadcast` scenario on Deno: `bench/floors/deno_conn_ws.ts` (one pending
 * `conn.read` per connection, the 101 from the key alone) plus a relay. A text frame of at most 125 bytes
 * is unmasked and written as one server frame, with `conn.write`, to every open connection, the sender
 * included, as `bench/loadgen.c broadcast` expects. `bench/ws.ts --floors` measures it next to Wharf's
 * `Websocket.each` and a `Set` of `Deno.upgradeWebSocket` sockets.
 *
 * Not a usable server: it assumes each frame arrives whole in one read, validates nothing and relays only
 * short text frames; a close frame is answered with a close frame (1000) and `closeWrite`.
 *
 * ```sh
 * PORT=3000 deno run -A bench/floors/deno_conn_broadcast.ts
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1). Prints
 * `Listening on http://<host>:<port>` once listening; SIGTERM or SIGINT stops it.
 *
 * @module
 */

import { hash } from "node:crypto";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const KEY_FIELD = "sec-websocket-key:";
const CLOSE = new Uint8Array([0x88, 0x02, 0x03, 0xe8]);
const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Every upgraded connection, the relay's targets. */
const open = new Set<Deno.Conn>();

/** Unmasks the client's frame in `buffer` (2-byte header, mask, `length` bytes) and sends it to all. */
function relay(buffer: Uint8Array, length: number): void {
  const frame = new Uint8Array(2 + length);
  frame[0] = 0x81;
  frame[1] = length;
  for (let i = 0; i < length; i++) frame[2 + i] = buffer[6 + i] ^ buffer[2 + (i & 3)];
  // Fire and forget: a connection that failed is closed by its own read loop.
  for (const target of open) writeAll(target, frame).catch(() => {});
}

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buffer = new Uint8Array(512);
  let upgraded = false;
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      if (upgraded) {
        if ((buffer[0] & 0x0f) === 0x1 && (buffer[1] & 0x7f) <= 125) {
          relay(buffer, buffer[1] & 0x7f);
          continue;
        }
        if ((buffer[0] & 0x0f) === 0x8) {
          await writeAll(conn, CLOSE);
          await conn.closeWrite();
        }
        continue;
      }
      const head = decoder.decode(buffer.subarray(0, n));
      const start = head.toLowerCase().indexOf(KEY_FIELD);
      const end = start < 0 ? -1 : head.indexOf("\r\n", start);
      if (end < 0) break;
      const key = head.slice(start + KEY_FIELD.length, end).trim();
      await writeAll(
        conn,
        encoder.encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${hash("sha1", key + GUID, "base64")}\r\n\r\n`,
        ),
      );
      upgraded = true;
      open.add(conn);
    }
  } catch {
    // Reset by the client.
  }
  open.delete(conn);
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

const listener = Deno.listen({
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 3000),
});
const { hostname, port } = listener.addr;
console.log(`Listening on http://${hostname}:${port}`);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => Deno.exit(0));
}
for await (const conn of listener) serve(conn);
