/**
 * Where a benchmark's time goes: one server under one load with the runtime's sampling CPU profiler, summed
 * up as self time per function and per owner (Wharf's code, the runtime's JavaScript, native code and system
 * calls, the garbage collector, the idle event loop), in microseconds per operation.
 *
 * ```sh
 * npm run build                                           # Node runs the compiled npm/examples/echo.js
 * deno run -A bench/profile.ts node handshake             # Wharf on Node, 32 clients looping handshakes
 * deno run -A bench/profile.ts node handshake --server=floor
 * deno run -A bench/profile.ts deno http --server=peer --top=15
 * ```
 *
 * Runtimes: `node` (`node --cpu-prof`), `deno` (`deno run --cpu-prof`) and `bun` (`bun --cpu-prof`). Loads:
 * `handshake` (loadgen, 32 clients open → upgrade → close), `small` (loadgen, 32 B text echo, 100
 * connections × 16 in flight), `medium` (the same with 4 KiB binary messages), `large` (loadgen, 1 MiB
 * binary echo, 4 connections × 2 in flight) and `http` (`wrk -t1 -c100`). Servers (`--server=`): `wharf`
 * (default: `examples/echo.ts`), `peer` (the benchmarks' peer: ws, `Deno.upgradeWebSocket`, `Bun.serve`,
 * `node:http`, `Deno.serve`) and `floor` (`bench/floors/`, Node and Deno only; it echoes nothing, so only
 * with `handshake` and `http`). Options:
 * `--seconds=S` (load time, default 5), `--top=N` (functions listed, default 25), `--keep=DIR` (keep the
 * `.cpuprofile`, to open in Chrome DevTools).
 *
 * As in the benchmarks the server runs on CPU 0 and the load on CPU 1 (`taskset`), and the script holds
 * `/tmp/wharf-bench.lock`. The profiler itself costs time (more where more JavaScript runs), so the figures
 * say where time goes, not how fast a server is: `bench/ws.ts` and `bench/http.ts` measure that.
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { acquireLock, releaseLock } from "./_lock.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DENO = `${ROOT}node_modules/.bin/deno`;
const BUN = `${ROOT}node_modules/.bin/bun`;
const LOADGEN = `${ROOT}bench/bin/loadgen`;
const START_LIMIT_MS = 30_000;
/** A server gets this long to exit (and write its profile) after SIGTERM. */
const STOP_LIMIT_MS = 15_000;

type RuntimeName = "node" | "deno" | "bun";
type LoadName = "handshake" | "small" | "medium" | "large" | "http";
type ServerName = "wharf" | "peer" | "floor";
const LOADS: readonly LoadName[] = ["handshake", "small", "medium", "large", "http"];

/**
 * The server's command line after the profiler's own arguments, per runtime, load kind and server. Bun has
 * no floor.
 */
const SERVERS: Record<
  RuntimeName,
  Record<"ws" | "http", Record<Exclude<ServerName, "floor">, string[]> & { floor?: string[] }>
> = {
  node: {
    ws: {
      wharf: ["npm/examples/echo.js"],
      peer: ["bench/peers/ws_node.mjs"],
      floor: ["bench/floors/node_net_ws.mjs"],
    },
    http: {
      wharf: ["npm/examples/echo.js"],
      peer: ["bench/peers/node_http.mjs"],
      floor: ["bench/floors/node_net_http.mjs"],
    },
  },
  deno: {
    ws: {
      wharf: ["examples/echo.ts"],
      peer: ["bench/peers/deno_ws.ts"],
      floor: ["bench/floors/deno_conn_ws.ts"],
    },
    http: {
      wharf: ["examples/echo.ts"],
      peer: ["bench/peers/deno_serve.ts"],
      floor: ["bench/floors/deno_conn_http.ts"],
    },
  },
  bun: {
    ws: { wharf: ["examples/echo.ts"], peer: ["bench/peers/bun_ws.ts"] },
    http: { wharf: ["examples/echo.ts"], peer: ["bench/peers/bun_serve.ts"] },
  },
};

/** The profiler's arguments before the script, per runtime. */
function profilerCommand(runtime: RuntimeName, profileDir: string): string[] {
  if (runtime === "node") return ["node", "--cpu-prof", `--cpu-prof-dir=${profileDir}`];
  if (runtime === "deno") return [DENO, "run", "-A", "--cpu-prof", `--cpu-prof-dir=${profileDir}`];
  return [BUN, "--cpu-prof", `--cpu-prof-dir=${profileDir}`];
}

const LOADGEN_ARGS: Record<Exclude<LoadName, "http">, string[]> = {
  handshake: ["handshake", "--connections", "32"],
  small: ["echo", "--size", "32", "--text", "--connections", "100", "--inflight", "16"],
  medium: ["echo", "--size", "4096", "--binary", "--connections", "100", "--inflight", "16"],
  large: ["echo", "--size", "1048576", "--binary", "--connections", "4", "--inflight", "2"],
};

interface Options {
  runtime: RuntimeName;
  load: LoadName;
  server: ServerName;
  seconds: number;
  top: number;
  keep?: string;
}

function parseOptions(args: string[]): Options {
  const positional = args.filter((arg) => !arg.startsWith("--"));
  const [runtime, load] = positional;
  if (positional.length !== 2 || !(runtime in SERVERS) || !LOADS.includes(load as LoadName)) {
    throw new RangeError(
      "usage: deno run -A bench/profile.ts node|deno|bun handshake|small|medium|large|http " +
        "[--server=wharf|peer|floor] [--seconds=S] [--top=N] [--keep=DIR]",
    );
  }
  const options: Options = {
    runtime: runtime as RuntimeName,
    load: load as LoadName,
    server: "wharf",
    seconds: 5,
    top: 25,
  };
  for (const arg of args.filter((arg) => arg.startsWith("--"))) {
    const [name, value = ""] = arg.split("=", 2);
    const number = Number(value);
    if (name === "--server" && ["wharf", "peer", "floor"].includes(value)) {
      options.server = value as ServerName;
    } else if (name === "--seconds" && number > 0) options.seconds = number;
    else if (name === "--top" && Number.isInteger(number) && number > 0) options.top = number;
    else if (name === "--keep" && value) options.keep = value;
    else throw new RangeError(`Unknown or invalid option: ${arg}`);
  }
  if (options.server === "floor" && options.load !== "handshake" && options.load !== "http") {
    throw new RangeError(
      `The floors echo nothing: profile ${options.load} with --server=wharf or peer`,
    );
  }
  if (options.server === "floor" && options.runtime === "bun") {
    throw new RangeError("Bun has no floor server: profile with --server=wharf or peer");
  }
  return options;
}

/** Starts the server under the profiler on CPU 0; resolves with its port once it listens. */
function startServer(
  options: Options,
  profileDir: string,
): Promise<{ child: ChildProcess; port: number }> {
  const script = SERVERS[options.runtime][options.load === "http" ? "http" : "ws"][options.server]!;
  const command = [...profilerCommand(options.runtime, profileDir), ...script];
  if (
    options.runtime === "node" && options.server === "wharf" && !existsSync(`${ROOT}${script[0]}`)
  ) {
    throw new Error(`${script[0]} is missing: run npm run build first`);
  }
  const child = spawn("taskset", ["-c", "0", ...command], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      WS_MAX_MSG_SIZE: String(16 * 1024 * 1024),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command.join(" ")} did not print its port in time`));
    }, START_LIMIT_MS);
    let output = "";
    child.stdout!.setEncoding("utf8").on("data", (text: string) => {
      output += text;
      const match = output.match(/Listening on http:\/\/[^\s]+:(\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${command.join(" ")} exited (${code}) before listening`));
    });
  });
}

/** Runs the load on CPU 1; returns how many operations completed and their name. */
function runLoad(options: Options, port: number): { operations: number; unit: string } {
  if (options.load === "http") {
    const result = spawnSync("taskset", [
      "-c",
      "1",
      "wrk",
      "-t1",
      "-c100",
      `-d${options.seconds}s`,
      `http://127.0.0.1:${port}/`,
    ], { encoding: "utf8" });
    const match = result.stdout?.match(/(\d+) requests in/);
    if (result.status !== 0 || !match) {
      throw new Error(`wrk failed: ${result.stderr}${result.stdout}`);
    }
    return { operations: Number(match[1]), unit: "request" };
  }
  const result = spawnSync("taskset", [
    "-c",
    "1",
    LOADGEN,
    ...LOADGEN_ARGS[options.load],
    "--port",
    String(port),
    "--duration",
    String(options.seconds),
    "--warmup",
    "0",
  ], { encoding: "utf8" });
  const last = result.stdout?.trim().split("\n").at(-1);
  if (result.status !== 0 || !last) throw new Error(`loadgen failed: ${result.stderr}`);
  const report = JSON.parse(last);
  return options.load === "handshake"
    ? { operations: report.handshakes, unit: "handshake" }
    : { operations: report.messages, unit: "message" };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Who a function belongs to, from its script's URL. */
function owner(name: string, url: string): string {
  if (name === "(garbage collector)") return "garbage collector";
  if (name === "(idle)") return "idle (waiting for events)";
  if (name === "(program)" || name === "(root)") return "runtime, outside JavaScript";
  if (url === "") return "native functions (system calls included)";
  const path = url.replace(/^file:\/\//, "");
  if (path.startsWith(ROOT)) {
    const inRepo = path.slice(ROOT.length).replace(/^npm\//, "");
    if (inRepo.startsWith("src/") || inRepo.startsWith("adapters/")) return "Wharf";
    return "server script (examples/, bench/)";
  }
  if (path.includes("/node_modules/")) return "npm packages";
  return "runtime JavaScript";
}

function label(frame: ProfileNode["callFrame"]): string {
  const file = frame.url.replace(/^file:\/\//, "").replace(ROOT, "");
  const where = file === "" ? "" : ` ${file}:${frame.lineNumber + 1}`;
  return `${frame.functionName || "(anonymous)"}${where}`;
}

function summarize(profile: CpuProfile, operations: number, top: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byOwner = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = byId.get(profile.samples[i])!.callFrame;
    const time = profile.timeDeltas[i] ?? 0;
    total += time;
    const name = label(frame);
    byFunction.set(name, (byFunction.get(name) ?? 0) + time);
    const who = owner(frame.functionName, frame.url);
    byOwner.set(who, (byOwner.get(who) ?? 0) + time);
  }
  const row = (time: number, name: string) =>
    `${(time / operations).toFixed(2).padStart(9)}  ${
      (100 * time / total).toFixed(1).padStart(5)
    }%  ${name}`;
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);
  return [
    "   µs/op   share  owner",
    ...sorted(byOwner).map(([name, time]) => row(time, name)),
    "",
    "   µs/op   share  function (self time)",
    ...sorted(byFunction).slice(0, top).map(([name, time]) => row(time, name)),
  ].join("\n");
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const profileDir = mkdtempSync(`${tmpdir()}/wharf-profile-`);
  acquireLock();
  try {
    const { child, port } = await startServer(options, profileDir);
    const exitedPromise = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    let load;
    try {
      load = runLoad(options, port);
    } finally {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_LIMIT_MS);
      await exitedPromise;
      clearTimeout(timer);
    }
    const file = readdirSync(profileDir).find((name) => name.endsWith(".cpuprofile"));
    if (file === undefined) throw new Error(`The server wrote no profile to ${profileDir}`);
    const profile: CpuProfile = JSON.parse(readFileSync(`${profileDir}/${file}`, "utf8"));
    console.log(
      `${options.runtime} ${options.load}, server ${options.server}: ${load.operations} ` +
        `${load.unit}s in ${options.seconds} s under the profiler (µs/op: self time per ${load.unit})\n`,
    );
    console.log(summarize(profile, load.operations, options.top));
    if (options.keep) {
      mkdirSync(options.keep, { recursive: true });
      copyFileSync(`${profileDir}/${file}`, `${options.keep}/${file}`);
      console.log(`\nProfile: ${options.keep}/${file}`);
    }
  } finally {
    rmSync(profileDir, { recursive: true, force: true });
    releaseLock();
  }
}

try {
  await main();
} catch (error) {
  // A usage mistake gets its message, not a stack trace.
  if (!(error instanceof RangeError)) throw error;
  console.error(error.message);
  process.exit(2);
}
