/**
 * Floor for the WebSocket `handshake` and `idle` scenarios on Deno: the least a server built on
 * `Deno.listen` can do for `bench/loadgen.c`. It reads with `conn.read` into a 512-byte buffer (one
 * pending read per idle connection), takes the `Sec-WebSocket-Key` out of the request (assuming the whole
 * head arrives in one read), answers `101` with `node:crypto`'s synchronous `hash` (as Wharf's Deno
 * adapter does), then answers a close frame with a close frame (1000) and closes the connection outright
 * (no `closeWrite`: the peer sends nothing after its close frame, as Wharf's adapter reasons).
 * `bench/ws.ts --floors` measures it next to Wharf and `Deno.upgradeWebSocket`.
 *
 * With `--relay` (the `broadcast` floor), a text frame of at most 125 bytes, assumed whole in one read, is
 * also unmasked and written as one server frame, with `conn.write`, to every open connection, the sender
 * included, as `bench/loadgen.c broadcast` expects. Without it no connection is tracked, so the idle
 * floor holds nothing beyond the connection.
 *
 * Not a usable server: it parses nothing but the key, validates nothing (method, version, headers,
 * framing, masking), echoes no message and takes any frame whose opcode is 8 for a close frame.
 *
 * ```sh
 * PORT=3000 deno run -A bench/floors/deno_conn_ws.ts [--relay]
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

/** Every upgraded connection, the relay's targets; `null` without `--relay`. */
const open: Set<Deno.Conn> | null = Deno.args.includes("--relay") ? new Set() : null;

/** Unmasks the client's frame in `buffer` (2-byte header, mask, `length` bytes) and sends it to all. */
function relay(targets: Set<Deno.Conn>, buffer: Uint8Array, length: number): void {
  const frame = new Uint8Array(2 + length);
  frame[0] = 0x81;
  frame[1] = length;
  for (let i = 0; i < length; i++) frame[2 + i] = buffer[6 + i] ^ buffer[2 + (i & 3)];
  // Fire and forget: a connection that failed is closed by its own read loop.
  for (const target of targets) writeAll(target, frame).catch(() => {});
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
        if (open !== null && (buffer[0] & 0x0f) === 0x1 && (buffer[1] & 0x7f) <= 125) {
          relay(open, buffer, buffer[1] & 0x7f);
          continue;
        }
        if ((buffer[0] & 0x0f) === 0x8) {
          await writeAll(conn, CLOSE);
          break;
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
      open?.add(conn);
    }
  } catch {
    // Reset by the client.
  }
  open?.delete(conn);
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
