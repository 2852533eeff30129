/**
 * Ceiling for the HTTP benchmark on Node: a `node:net` server that writes one canned "Hello World!"
 * response (`Content-Type`, `Content-Length: 12` and a `Date` header, renewed once a second) for every
 * chunk it reads. `bench/http.ts --floors` measures it next to Wharf and `node:http`: no server built on
 * `node:net` answers faster than one socket write per read. Like Wharf, it reads into the process-wide
 * buffer of `adapters/_node_shared_read.ts` (imported from the npm build) where Node allows it.
 *
 * Not a usable server: it parses nothing, so it validates nothing, answers every request the same,
 * answers pipelined requests that arrive in one chunk once, and never closes a connection itself.
 *
 * ```sh
 * PORT=3000 node bench/floors/node_net_http.mjs
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1). Prints
 * `Listening on http://<host>:<port>` once listening; SIGTERM or SIGINT stops it.
 *
 * @module
 */

import { createServer } from "node:net";
import process from "node:process";

// From the npm build, which the benchmark drivers make before starting a floor; imported dynamically
// so that type checking a fresh clone (no build yet) does not fail on it.
const { readIntoSharedBuffer } = await import("../../npm/adapters/_node_shared_read.js");

const response = () =>
  Buffer.from(
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n" +
      `Date: ${new Date().toUTCString()}\r\n\r\nHello World!`,
    "latin1",
  );
let canned = response();
setInterval(() => canned = response(), 1000).unref();

function answer() {
  this.write(canned);
}

const server = createServer({ noDelay: true }, (socket) => {
  if (!readIntoSharedBuffer(socket, answer)) socket.on("data", answer);
  socket.on("error", () => socket.destroy());
});
server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(`Listening on http://${address}:${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
