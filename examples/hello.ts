/**
 * The seed's HTTP "Hello World", with a public folder: files under `examples/public/` are served as they are
 * (`/` is `public/index.html`), every other request gets "Hello World!".
 *
 * ```sh
 * deno run -A examples/hello.ts
 * bun examples/hello.ts
 * npm run build && node npm/examples/hello.js
 * PORT=8080 HOST=0.0.0.0 deno run -A examples/hello.ts
 * ```
 *
 * `PORT` (default 3000; 0 picks a free port) and `HOST` (default 127.0.0.1) come from the environment. The
 * URL is printed as `Listening on http://<host>:<port>` once the server listens; Ctrl-C (or SIGTERM) stops it
 * gracefully.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { HttpResponse, startHttpServer } from "../mod.ts";

/** An environment variable on Deno, Bun and Node alike. */
function env(name: string): string | undefined {
  return globalThis.Deno?.env.get(name) ?? globalThis.process?.env[name];
}

// Beside this file in the source tree; the npm build copies `examples/public/` next to the compiled
// `npm/examples/hello.js`, so the same relative URL works on Node.
const publicFolder = fileURLToPath(new URL("./public/", import.meta.url));

const server = await startHttpServer((request) => {
  const response = HttpResponse.create(request);
  response.writeBody("Hello World!");
  response.destroy();
}, {
  port: env("PORT") ?? "3000",
  address: env("HOST") ?? "127.0.0.1",
  publicFolder,
});

const host = server.address.includes(":") ? `[${server.address}]` : server.address;
console.log(`Listening on http://${host}:${server.port}`);
await server.finished;
console.log("Stopped");
