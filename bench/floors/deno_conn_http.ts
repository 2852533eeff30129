/**
 * Ceiling for the HTTP benchmark on Deno: a `Deno.listen` server that reads with `conn.read` and writes
 * one canned "Hello World!" response (`Content-Type`, `Content-Length: 12` and a `Date` header, renewed
 * once a second) for every read. `bench/http.ts --floors` measures it next to Wharf and `Deno.serve`: no
 * server built on `Deno.Conn` answers faster than one `conn.write` per `conn.read`.
 *
 * Not a usable server: it parses nothing, so it validates nothing, answers every request the same,
 * answers pipelined requests that arrive in one read once, and never closes a connection itself.
 *
 * ```sh
 * PORT=3000 deno run -A bench/floors/deno_conn_http.ts
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1). Prints
 * `Listening on http://<host>:<port>` once listening; SIGTERM or SIGINT stops it.
 *
 * @module
 */

const encoder = new TextEncoder();
const response = () =>
  encoder.encode(
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n" +
      `Date: ${new Date().toUTCString()}\r\n\r\nHello World!`,
  );
let canned = response();
setInterval(() => canned = response(), 1000);

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buffer = new Uint8Array(4096);
  try {
    while (await conn.read(buffer) !== null) {
      const bytes = canned;
      let written = await conn.write(bytes);
      while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    }
  } catch {
    // Reset by the client.
  }
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
