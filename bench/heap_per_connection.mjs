/**
 * What an idle WebSocket costs a Node server's JavaScript heap, object by object: the server module runs in
 * this process, `bench/bin/loadgen hold` opens and holds N connections to it, and the difference between a
 * heap snapshot before and one after (each after a full GC) is listed per constructor, in bytes per
 * connection. The `idle` scenario of `bench/ws.ts` reads RSS, which also moves with how far V8 grew its
 * heap; this shows which objects are live, so a change to one class can be measured on its own.
 *
 * ```sh
 * make -C bench && npm run build
 * node --expose-gc bench/heap_per_connection.mjs npm/examples/echo.js          # Wharf (the npm build)
 * node --expose-gc bench/heap_per_connection.mjs bench/floors/node_net_ws.mjs  # the floor, for comparison
 * node --expose-gc bench/heap_per_connection.mjs npm/examples/echo.js --connections=5000 --min-bytes=1
 * ```
 *
 * The server module must listen on the `PORT` and `HOST` it finds in the environment (both examples and
 * floors do). Options: `--connections=N` (default 2000), `--min-bytes=B` (rows whose size changed by less
 * than B bytes per connection are left out; default 4). Pin it with `taskset -c 0` for steadier figures.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { readFileSync, unlinkSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { writeHeapSnapshot } from "node:v8";

const LOADGEN = new URL("./bin/loadgen", import.meta.url).pathname;

const [modulePath, ...flags] = process.argv.slice(2);
const option = (name, fallback) => {
  const flag = flags.find((f) => f.startsWith(`--${name}=`));
  return flag === undefined ? fallback : Number(flag.slice(name.length + 3));
};
const connections = option("connections", 2000);
const minBytes = option("min-bytes", 4);
if (modulePath === undefined || typeof globalThis.gc !== "function") {
  console.error(
    "usage: node --expose-gc bench/heap_per_connection.mjs <server module> [--connections=N]",
  );
  process.exit(2);
}

/** A port nobody listens on right now, for the server module (it reads `PORT` when it starts). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on `port` (tries for 30 s). */
async function listening(port) {
  for (let tries = 0; tries < 300; tries++) {
    const open = await new Promise((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
      socket.setTimeout(1000, () => socket.destroy());
      socket.once("close", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** Runs loadgen with `args` and resolves with its child process once it printed its first line. */
function loadgen(args) {
  const child = spawn(LOADGEN, args, { stdio: ["pipe", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`loadgen ${args[0]} exited (${code}) early`)));
    child.stdout.once("data", () => resolve(child));
  });
}

/** Self size and count per `type:name` over the whole heap, after a full GC. */
function heapByConstructor() {
  globalThis.gc();
  globalThis.gc();
  const file = writeHeapSnapshot(`${tmpdir()}/heap_per_connection-${process.pid}.heapsnapshot`);
  const snapshot = JSON.parse(readFileSync(file, "utf8"));
  unlinkSync(file);
  const { node_fields: fields, node_types: [types] } = snapshot.snapshot.meta;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const { nodes, strings } = snapshot;
  const totals = new Map();
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]];
    // Strings and numbers are named by their contents: one row each instead.
    const name = type.endsWith("string") || type === "number" ? "" : strings[nodes[i + nameAt]];
    const key = `${type}:${name.slice(0, 60)}`;
    const entry = totals.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += nodes[i + sizeAt];
    totals.set(key, entry);
  }
  return totals;
}

const port = await freePort();
process.env.PORT = String(port);
process.env.HOST = "127.0.0.1";
// Not awaited: a server module may wait for its server to stop (the examples do).
import(pathToFileURL(modulePath).href).catch((error) => {
  console.error(error);
  process.exit(1);
});
await listening(port);
// The upgrade path compiled and its caches filled before the first snapshot, as in bench/ws.ts's idle.
const warmup = await loadgen([
  "handshake",
  "--port",
  String(port),
  "--connections",
  "16",
  "--duration",
  "0.5",
  "--warmup",
  "0",
]).catch((error) => {
  console.error(`Is the server listening on PORT? ${error.message}`);
  process.exit(1);
});
await new Promise((resolve) => warmup.once("exit", resolve));

const before = heapByConstructor();
const holder = await loadgen([
  "hold",
  "--port",
  String(port),
  "--connections",
  String(connections),
]);
const after = heapByConstructor();

const rows = [];
let total = 0;
for (const [key, { count, bytes }] of after) {
  const earlier = before.get(key) ?? { count: 0, bytes: 0 };
  const perConnection = (bytes - earlier.bytes) / connections;
  total += perConnection;
  if (Math.abs(perConnection) >= minBytes) {
    rows.push({ key, count: (count - earlier.count) / connections, bytes: perConnection });
  }
}
rows.sort((a, b) => b.bytes - a.bytes);
console.log(`${connections} idle connections to ${modulePath}: heap growth per connection`);
console.log("   bytes  objects  type:constructor");
for (const { key, count, bytes } of rows) {
  console.log(`${bytes.toFixed(1).padStart(8)}  ${count.toFixed(2).padStart(7)}  ${key}`);
}
console.log(`${total.toFixed(1).padStart(8)}           total`);
holder.removeAllListeners("exit");
holder.stdin.end();
await new Promise((resolve) => holder.once("exit", resolve));
process.exit(0);
