/**
 * Peer for the HTTP benchmark on Node: `node:http` answering "Hello World!", as `examples/echo.ts` does.
 *
 * ```sh
 * PORT=3000 node bench/peers/node_http.mjs
 * ```
 *
 * From the environment: `PORT` (default 3000; 0 picks a free port), `HOST` (default 127.0.0.1). Prints
 * `Listening on http://<host>:<port>` once listening; SIGTERM stops it.
 *
 * @module
 */

import { createServer } from "node:http";
import process from "node:process";

const server = createServer((_request, response) => {
  response.end("Hello World!");
});
server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(`Listening on http://${address}:${port}`);
});
process.on("SIGTERM", () => server.close());
