/**
 * WebSocket benchmarks: Wharf's echo server against each runtime's usual WebSocket server, in one run.
 *
 * ```sh
 * deno run -A bench/ws.ts                   # node, deno and bun; all scenarios, 3 rounds (~20 minutes)
 * deno run -A bench/ws.ts --quick           # 1 round of 2 s runs, to check that everything works (~5 min)
 * deno run -A bench/ws.ts deno bun --rounds=5 --scenarios=small,idle
 * ```
 *
 * Contenders per runtime: Wharf's `examples/echo.ts` (on Node the compiled `npm/examples/echo.js`, rebuilt
 * first unless `--no-build`) against `bench/peers/ws_node.mjs` (npm `ws`), `bench/peers/deno_ws.ts`
 * (`Deno.upgradeWebSocket`) and `bench/peers/bun_ws.ts` (`Bun.serve`). Every server gets the same message
 * limit (`WS_MAX_MSG_SIZE`, 16 MiB) and a file descriptor limit of 20,000 (`ulimit -n`).
 *
 * Load comes from `bench/loadgen.c` (built here with `cc -O2` when missing or stale): one epoll thread
 * doing real RFC 6455 handshakes, masking every frame with a fresh key and checking every echo byte for
 * byte. Each run starts a fresh server pinned to CPU 0 and the generator pinned to CPU 1 (`taskset`), so
 * the generator never competes with the server, and reports both processes' CPU time over the measured
 * window (the generator's share shows it is not the bottleneck). Runs alternate Wharf and peer (A B, then
 * B A in the next round) so drift in the machine hits both alike. The table shows medians, the spread of
 * the rounds (± half their range, relative to the median), the ratio Wharf / peer with its target, and the
 * ratio of the two medians. Wharf / peer, which decides the target, is the median of the rounds' own ratios
 * (each round's Wharf run over the peer run next to it): a machine that speeds up between rounds would
 * otherwise pair a slow round of one side with a fast round of the other.
 *
 * Scenarios (`--scenarios=` picks some, comma-separated):
 * - `small`: 32 B text messages, 100 connections with 16 messages in flight each (messages/s).
 * - `medium`: 4 KiB binary, 100 × 16 (messages/s).
 * - `large`: 1 MiB binary, 4 connections × 2 in flight (MB/s).
 * - `handshake`: 32 clients looping connect, upgrade, close handshake (handshakes/s).
 * - `idle`: RSS growth of the server (`/proc/<pid>/status` VmRSS) over 10,000 idle connections, per
 *   connection (lower is better; the ratio's target is a maximum).
 * - `broadcast`: 10,000 connections
 *   (`--receivers=N`); connection 0 sends a 32 B text message, the server relays it to every connection
 *   (sender included), and the next one goes once all have it (deliveries/s; broadcasts/s under the
 *   table). Other servers: `bench/peers/wharf_broadcast.ts` (`Websocket.each`; on Node transpiled to
 *   `npm/bench/peers/wharf_broadcast.js`), `ws_node_broadcast.mjs` (`wss.clients.forEach`),
 *   `deno_ws_broadcast.ts` (a `Set` of sockets), `bun_ws_broadcast.ts` (`server.publish`). loadgen opens
 *   the connections 64 handshakes at a time, sends the first broadcast once none is still opening, and
 *   only then starts its `--warmup`, so the measured window always follows the connection phase.
 *
 * `--floors` (opt-in) adds a third contender to `handshake`, `idle` and `broadcast` on Node and Deno, alternated with
 * the other two (A B C, then C B A): the minimal servers of `bench/floors/` (`node_net_ws.mjs`, a bare
 * `node:net` socket; `deno_conn_ws.ts`, a bare `Deno.Conn` with one pending 512-byte read), which take
 * the key out of the request, answer the 101 and a close frame, and do nothing else; for `broadcast`,
 * the same servers with `--relay`, which also relay each short text frame to every connection. Each gets a row
 * ("Node floor", "Deno floor") with its figure and the ratio floor / peer against Wharf's target, and a
 * sentence under the table: a target the floor's own ratio misses is beyond what a server that does
 * nothing else on that socket API reached.
 *
 * Options: `--rounds=N` (default 3), `--duration=S` (measured seconds per run, default 5), `--warmup=S`
 * (default 1), `--hold=N` (idle connections, default 10000), `--settle=S` (seconds the idle scenario waits
 * before each RSS reading, default 10), `--receivers=N` (broadcast connections,
 * default 10000), `--quick` (1 round, 2 s runs), `--no-build`, `--floors`,
 * `--json=FILE` (every sample). Positional arguments pick runtimes (`node`, `deno`, `bun`).
 *
 * Before each run the script waits (up to 2 minutes) until both cores are idle, and it takes the lock
 * directory `/tmp/wharf-bench.lock` for its whole run, so two benchmarks that honour it never overlap.
 * Needs Linux (`/proc`), `taskset` (util-linux) and `cc`; runs on Deno (and Bun: only `node:` modules).
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { acquireLock, releaseLock } from "./_lock.ts";
import { median, pairedRatio } from "./_stats.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LOADGEN_SOURCE = `${ROOT}bench/loadgen.c`;
const LOADGEN = `${ROOT}bench/bin/loadgen`;
/** The server gets one core and the load generator the other. */
const SERVER_CPU = "0";
const CLIENT_CPU = "1";
/** The message limit every server gets: above the 1 MiB messages of `large`, Bun's default size. */
const MAX_MSG_BYTES = 16 * 1024 * 1024;
/** How long a server may take to print its URL (Deno's first start may compile). */
const START_LIMIT_MS = 30_000;
/** How long a server may take to exit after SIGTERM before it is killed. */
const STOP_LIMIT_MS = 5_000;
/** A core busier than this (share of its time) means something else is running. */
const BUSY_SHARE = 0.15;
/**
 * CPU time of other processes during a measured window, in cores, above which the run is repeated (other
 * work on a 2-core machine steals from the server or the generator).
 */
const FOREIGN_LIMIT = 0.1;
/** How often a disturbed run is repeated before its result is kept with a note. */
const RETRIES = 2;
/** How long to wait for the machine to go quiet before a run, in milliseconds. */
const QUIET_LIMIT_MS = 120_000;
/**
 * Broadcast scenario: how long loadgen may take to open the connections (it gives up after 45 s) on top
 * of its warm-up and window, which start once every connection is open.
 */
const BROADCAST_CONNECT_LIMIT_S = 60;
/** Broadcast scenario: the message loadgen's connection 0 sends, in bytes (text). */
const BROADCAST_BYTES = 32;

type RuntimeName = "node" | "deno" | "bun";
type ScenarioName = "small" | "medium" | "large" | "handshake" | "idle" | "broadcast";

interface Options {
  runtimes: RuntimeName[];
  scenarios: ScenarioName[];
  rounds: number;
  duration: number;
  warmup: number;
  hold: number;
  /** Idle scenario: seconds the server is left alone before each RSS reading, for its heap to settle. */
  settle: number;
  receivers: number;
  build: boolean;
  json: string | undefined;
  /** `--floors`: also measure the minimal servers of `bench/floors/` where a runtime has one. */
  floors: boolean;
}

interface Contender {
  label: string;
  /** Command line; relative paths are from the repository root. */
  command: string[];
}

interface Runtime {
  name: RuntimeName;
  title: string;
  wharf: Contender;
  peer: Contender;
  /** The servers of the `broadcast` scenario. */
  broadcast: { wharf: Contender; peer: Contender };
  /**
   * The minimal server of `bench/floors/` on this runtime's public socket API (`--floors`, in the
   * `FLOOR_SCENARIOS` only): it answers the handshake and the close frame and nothing else, so what it
   * costs no server on that API can avoid.
   */
  floor?: Contender;
  /** The floor of the `broadcast` scenario: the same minimal server plus a relay to every connection. */
  broadcastFloor?: Contender;
}

interface Scenario {
  name: ScenarioName;
  title: string;
  unit: string;
  /**
   * loadgen arguments before `--port`; empty for `idle`, which runs its own sequence; `broadcast` gets
   * `--connections` from `--receivers`.
   */
  args: string[];
  /** Which field of loadgen's JSON is the result. */
  field: "messages_per_s" | "mb_per_s" | "handshakes_per_s" | "bytes_per_connection";
  /** `true` when less is better: the target is then a maximum of the ratio. */
  lowerIsBetter: boolean;
  targets: Record<RuntimeName, number>;
}

/** One run of one contender. */
interface Sample {
  value: number;
  serverCpu: number;
  clientCpu: number;
  errors: number;
  firstError: string;
  /** Connections not open at the end of the run: dropped by the server, or never upgraded. */
  lost: number;
  /** Of those, connections still handshaking at the end (the server was slow to accept them). */
  pending: number;
  /** CPU time of other processes during the window, in cores (NaN where not measured). */
  foreign: number;
  /** Seconds the script waited for the machine to go quiet; `quiet` false when it never did. */
  waitedS: number;
  quiet: boolean;
  /** What the load generator reported (for `--json`). */
  raw: unknown;
}

const DENO = `${ROOT}node_modules/.bin/deno`;
const BUN = `${ROOT}node_modules/.bin/bun`;

const RUNTIMES: Record<RuntimeName, Runtime> = {
  node: {
    name: "node",
    title: "Node",
    wharf: { label: "Wharf", command: ["node", "npm/examples/echo.js"] },
    peer: { label: "ws", command: ["node", "bench/peers/ws_node.mjs"] },
    broadcast: {
      wharf: { label: "Wharf", command: ["node", "npm/bench/peers/wharf_broadcast.js"] },
      peer: { label: "ws", command: ["node", "bench/peers/ws_node_broadcast.mjs"] },
    },
    floor: { label: "floor: bare node:net", command: ["node", "bench/floors/node_net_ws.mjs"] },
    broadcastFloor: {
      label: "floor: bare node:net",
      command: ["node", "bench/floors/node_net_ws.mjs", "--relay"],
    },
  },
  deno: {
    name: "deno",
    title: "Deno",
    wharf: { label: "Wharf", command: [DENO, "run", "-A", "examples/echo.ts"] },
    peer: {
      label: "Deno.upgradeWebSocket",
      command: [DENO, "run", "-A", "bench/peers/deno_ws.ts"],
    },
    broadcast: {
      wharf: { label: "Wharf", command: [DENO, "run", "-A", "bench/peers/wharf_broadcast.ts"] },
      peer: {
        label: "Deno.upgradeWebSocket",
        command: [DENO, "run", "-A", "bench/peers/deno_ws_broadcast.ts"],
      },
    },
    floor: {
      label: "floor: bare Deno.Conn",
      command: [DENO, "run", "-A", "bench/floors/deno_conn_ws.ts"],
    },
    broadcastFloor: {
      label: "floor: bare Deno.Conn",
      command: [DENO, "run", "-A", "bench/floors/deno_conn_ws.ts", "--relay"],
    },
  },
  bun: {
    name: "bun",
    title: "Bun",
    wharf: { label: "Wharf", command: [BUN, "examples/echo.ts"] },
    peer: { label: "Bun.serve", command: [BUN, "bench/peers/bun_ws.ts"] },
    broadcast: {
      wharf: { label: "Wharf", command: [BUN, "bench/peers/wharf_broadcast.ts"] },
      peer: { label: "Bun.serve publish", command: [BUN, "bench/peers/bun_ws_broadcast.ts"] },
    },
  },
};

const SCENARIOS: Record<ScenarioName, Scenario> = {
  small: {
    name: "small",
    title: "small echo: 32 B text, 100 conn × 16 in flight",
    unit: "msg/s",
    args: ["echo", "--size", "32", "--text", "--connections", "100", "--inflight", "16"],
    field: "messages_per_s",
    lowerIsBetter: false,
    targets: { node: 3.0, deno: 2.0, bun: 0.7 },
  },
  medium: {
    name: "medium",
    title: "medium echo: 4 KiB binary, 100 conn × 16 in flight",
    unit: "msg/s",
    args: ["echo", "--size", "4096", "--binary", "--connections", "100", "--inflight", "16"],
    field: "messages_per_s",
    lowerIsBetter: false,
    targets: { node: 2.0, deno: 1.5, bun: 0.7 },
  },
  large: {
    name: "large",
    title: "large echo: 1 MiB binary, 4 conn × 2 in flight",
    unit: "MB/s",
    args: [
      "echo",
      "--size",
      String(1024 * 1024),
      "--binary",
      "--connections",
      "4",
      "--inflight",
      "2",
    ],
    field: "mb_per_s",
    lowerIsBetter: false,
    targets: { node: 2.0, deno: 0.9, bun: 0.9 },
  },
  handshake: {
    name: "handshake",
    title: "handshakes: 32 clients open → upgrade → close",
    unit: "/s",
    args: ["handshake", "--connections", "32"],
    field: "handshakes_per_s",
    lowerIsBetter: false,
    targets: { node: 2.0, deno: 1.0, bun: 0.7 },
  },
  idle: {
    name: "idle",
    title: "idle connections: server RSS growth per connection",
    unit: "B/conn",
    args: [],
    field: "bytes_per_connection",
    lowerIsBetter: true,
    targets: { node: 0.5, deno: 0.25, bun: 1.5 },
  },
  broadcast: {
    name: "broadcast",
    // "N" becomes the number of connections (`--receivers`) in the report.
    title: `broadcast: ${BROADCAST_BYTES} B text from 1 to all N conn, 1 in flight`,
    unit: "deliveries/s",
    args: ["broadcast", "--size", String(BROADCAST_BYTES), "--text"],
    field: "messages_per_s",
    lowerIsBetter: false,
    // Provisional (issue 5 sets none): parity with ws and Deno; Bun publishes in native code.
    targets: { node: 1.0, deno: 1.0, bun: 0.5 },
  },
};

/** The scenarios a floor server can run: it answers handshakes and close frames, and echoes nothing. */
const FLOOR_SCENARIOS: readonly ScenarioName[] = ["handshake", "idle", "broadcast"];

/** The servers a scenario compares on a runtime; `floor` only with `--floors` where there is one. */
function contenders(
  runtime: Runtime,
  scenario: ScenarioName,
  options: Options,
): { wharf: Contender; peer: Contender; floor?: Contender } {
  const floors = options.floors && FLOOR_SCENARIOS.includes(scenario);
  if (scenario === "broadcast") {
    return { ...runtime.broadcast, floor: floors ? runtime.broadcastFloor : undefined };
  }
  return { wharf: runtime.wharf, peer: runtime.peer, floor: floors ? runtime.floor : undefined };
}

function scenarioTitle(scenario: Scenario, options: Options): string {
  return scenario.name === "broadcast"
    ? scenario.title.replace(" N ", ` ${options.receivers.toLocaleString("en-US")} `)
    : scenario.title;
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    runtimes: [],
    scenarios: [],
    rounds: 3,
    duration: 5,
    warmup: 1,
    hold: 10_000,
    // JavaScriptCore hands back a burst's garbage 5–6 s after it (bench/README.md, "How a measurement is made").
    settle: 10,
    receivers: 10_000,
    build: true,
    json: undefined,
    floors: false,
  };
  let quick = false;
  for (const arg of args) {
    const [name, value] = arg.split("=", 2);
    const number = Number(value);
    if (name === "--quick") quick = true;
    else if (name === "--no-build") options.build = false;
    else if (name === "--floors" && value === undefined) options.floors = true;
    else if (name === "--rounds" && Number.isInteger(number) && number > 0) options.rounds = number;
    else if (name === "--duration" && number > 0) options.duration = number;
    else if (name === "--warmup" && number >= 0) options.warmup = number;
    else if (name === "--hold" && Number.isInteger(number) && number > 0) options.hold = number;
    else if (name === "--settle" && number >= 0) options.settle = number;
    else if (name === "--receivers" && Number.isInteger(number) && number > 0) {
      options.receivers = number;
    } else if (name === "--json" && value) options.json = value;
    else if (name === "--scenarios" && value) {
      for (const scenario of value.split(",")) {
        if (!(scenario in SCENARIOS)) throw new RangeError(`Unknown scenario: ${scenario}`);
        options.scenarios.push(scenario as ScenarioName);
      }
    } else if (arg in RUNTIMES) options.runtimes.push(arg as RuntimeName);
    else {
      throw new RangeError(
        `Unknown argument: ${arg} (try: node deno bun --quick --rounds=N --duration=S --warmup=S ` +
          `--hold=N --settle=S --receivers=N --scenarios=small,medium,large,handshake,idle,broadcast --no-build ` +
          `--floors --json=FILE)`,
      );
    }
  }
  if (quick) {
    options.rounds = 1;
    options.duration = 2;
    options.warmup = Math.min(options.warmup, 1);
  }
  if (options.runtimes.length === 0) options.runtimes = ["node", "deno", "bun"];
  if (options.scenarios.length === 0) {
    options.scenarios = ["small", "medium", "large", "handshake", "idle", "broadcast"];
  }
  return options;
}

// ---- processes ----

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Calls `onLine` for each line `stream` prints. */
function onLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (text: string) => {
    pending += text;
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, end));
      pending = pending.slice(end + 1);
    }
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

interface RunningServer {
  child: ChildProcess;
  pid: number;
  port: number;
  output: () => string;
}

/** The hard limit on open files, which `ulimit -n` may raise the soft limit to. */
function fileLimit(): number {
  const result = spawnSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" });
  const limit = result.stdout.trim();
  return limit === "unlimited" ? 1_048_576 : Number(limit);
}

const FILE_LIMIT = Math.min(fileLimit(), 65_536);

/** Children to kill if the script is interrupted. */
const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** Starts a fresh server on CPU 0 and resolves once it printed its port. */
async function startServer(contender: Contender): Promise<RunningServer> {
  // `exec` keeps one process, so the pid is the server's own (for /proc and the CPU time).
  const script = `ulimit -n ${FILE_LIMIT} && exec taskset -c ${SERVER_CPU} "$@"`;
  const child = track(spawn("sh", ["-c", script, "sh", ...contender.command], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      WS_MAX_MSG_SIZE: String(MAX_MSG_BYTES),
    },
    stdio: ["ignore", "pipe", "pipe"],
  }));
  let log = "";
  const keep = (line: string) => {
    log = (log + line + "\n").slice(-4000);
  };
  onLines(child.stderr!, keep);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("did not print its port in time")),
      START_LIMIT_MS,
    );
    onLines(child.stdout!, (line) => {
      keep(line);
      const match = line.match(/Listening on http:\/\/[^\s]+:(\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before listening`));
    });
  }).catch((error) => {
    child.kill("SIGKILL");
    throw new Error(`${contender.command.join(" ")}: ${error.message}\n${log}`);
  });
  return { child, pid: child.pid!, port, output: () => log };
}

async function stopServer(server: RunningServer): Promise<void> {
  server.child.kill("SIGTERM");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), STOP_LIMIT_MS);
  await exited(server.child);
  clearTimeout(timer);
}

interface LoadgenResult {
  [field: string]: number | string | boolean;
}

/** Runs the load generator on CPU 1 and returns its JSON report. */
async function loadgen(args: string[], limitS: number): Promise<LoadgenResult> {
  const child = track(spawn("taskset", ["-c", CLIENT_CPU, LOADGEN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  }));
  const lines: string[] = [];
  let errors = "";
  onLines(child.stdout!, (line) => lines.push(line));
  onLines(child.stderr!, (line) => errors += line + "\n");
  const timer = setTimeout(() => child.kill("SIGKILL"), limitS * 1000);
  await exited(child);
  clearTimeout(timer);
  const last = lines.at(-1);
  if (child.exitCode !== 0 || last === undefined) {
    throw new Error(
      `loadgen ${args.join(" ")} failed (${child.exitCode ?? child.signalCode}): ${errors}`,
    );
  }
  return JSON.parse(last);
}

/** Resident memory of a process in bytes, from `/proc/<pid>/status`. */
function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const line = status.split("\n").find((line) => line.startsWith("VmRSS:"));
  if (line === undefined) throw new Error(`No VmRSS for process ${pid}`);
  return Number(line.split(/\s+/)[1]) * 1024;
}

// ---- a quiet machine ----

/** Busy share of each core over `ms` milliseconds, from `/proc/stat`. */
async function coreBusy(ms: number): Promise<number[]> {
  const read = () =>
    readFileSync("/proc/stat", "utf8").split("\n").filter((line) => /^cpu\d/.test(line)).map(
      (line) => {
        const fields = line.split(/\s+/).slice(1).map(Number);
        // idle + iowait are the idle time; steal is not ours either.
        const idle = fields[3] + fields[4];
        const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
        return { idle, total };
      },
    );
  const before = read();
  await sleep(ms);
  const after = read();
  return after.map((core, i) => {
    const total = core.total - before[i].total;
    return total <= 0 ? 0 : 1 - (core.idle - before[i].idle) / total;
  });
}

/** Waits until both cores are idle; returns how long it waited and whether they went quiet. */
async function waitForQuiet(): Promise<{ waitedS: number; quiet: boolean }> {
  const start = Date.now();
  let warned = false;
  while (true) {
    const busy = await coreBusy(300);
    if (Math.max(...busy) < BUSY_SHARE) {
      return { waitedS: (Date.now() - start) / 1000, quiet: true };
    }
    if (Date.now() - start > QUIET_LIMIT_MS) {
      console.error("  the machine stayed busy; running anyway (the run is marked)");
      return { waitedS: (Date.now() - start) / 1000, quiet: false };
    }
    if (!warned) {
      const shares = busy.map((share) => `${Math.round(share * 100)}%`).join(", ");
      console.error(`  waiting for the cores to go idle (busy: ${shares}) ...`);
      warned = true;
    }
    await sleep(1000);
  }
}

// ---- runs ----

async function runScenario(
  scenario: Scenario,
  contender: Contender,
  options: Options,
): Promise<Sample> {
  const { waitedS, quiet } = await waitForQuiet();
  const server = await startServer(contender);
  try {
    if (scenario.name === "idle") {
      return { ...(await runIdle(server, options)), foreign: NaN, waitedS, quiet };
    }
    const broadcast = scenario.name === "broadcast";
    const warmup = options.warmup;
    const result = await loadgen([
      ...scenario.args,
      ...(broadcast ? ["--connections", String(options.receivers)] : []),
      "--port",
      String(server.port),
      "--server-pid",
      String(server.pid),
      "--duration",
      String(options.duration),
      "--warmup",
      String(warmup),
    ], options.duration + warmup + (broadcast ? BROADCAST_CONNECT_LIMIT_S : 0) + 60);
    const connections = Number(result.connections);
    const serverCpu = Number(result.server_cpu_share);
    const clientCpu = Number(result.cpu_share);
    const echo = result.mode === "echo" || broadcast;
    let errors = Number(result.errors);
    let firstError = String(result.first_error);
    const notOpen = connections - Number(result.open_at_start);
    if (broadcast && notOpen > 0) {
      // loadgen broadcasts once no connection is still opening; these failed (or timed out) instead.
      errors++;
      firstError ||= `${notOpen} connections were not open when the measured window began`;
    } else if (broadcast && Number(result.messages) === 0) {
      // One delivery that never arrives stalls loadgen's loop: nothing is counted afterwards.
      errors++;
      firstError ||= "no message arrived in the measured window (a broadcast did not reach " +
        "every connection)";
    }
    return {
      value: Number(result[scenario.field]),
      serverCpu,
      clientCpu,
      errors,
      firstError,
      // Handshake clients reconnect all the time, so only echo and broadcast connections must all survive.
      lost: echo ? connections - Number(result.open_at_end) : 0,
      pending: echo ? Number(result.pending_at_end) : 0,
      foreign: Math.max(0, Number(result.machine_cpu_share) - serverCpu - clientCpu),
      waitedS,
      quiet,
      raw: result,
    };
  } finally {
    await stopServer(server);
  }
}

/**
 * RSS growth per idle connection: warm the server's upgrade path up, read its RSS, open `hold`
 * connections, let the heap settle, read it again.
 */
async function runIdle(
  server: RunningServer,
  options: Options,
): Promise<Omit<Sample, "waitedS" | "quiet" | "foreign">> {
  // The code that upgrades and serves a connection is compiled and its caches filled before the baseline.
  await loadgen([
    "handshake",
    "--connections",
    "16",
    "--duration",
    "0.5",
    "--warmup",
    "0",
    "--port",
    String(server.port),
  ], 60);
  await sleep(options.settle * 1000);
  const before = residentBytes(server.pid);
  const child = track(spawn("taskset", [
    "-c",
    CLIENT_CPU,
    LOADGEN,
    "hold",
    "--connections",
    String(options.hold),
    "--port",
    String(server.port),
  ], { stdio: ["pipe", "pipe", "pipe"] }));
  const lines: string[] = [];
  let onLine = () => {};
  onLines(child.stdout!, (line) => {
    lines.push(line);
    onLine();
  });
  let stderr = "";
  onLines(child.stderr!, (line) => stderr += line + "\n");
  const killer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  try {
    await new Promise<void>((resolve, reject) => {
      onLine = resolve;
      child.once("exit", () => reject(new Error(`loadgen hold exited early: ${stderr}`)));
    });
    const ready = JSON.parse(lines[0]);
    await sleep(options.settle * 1000);
    const after = residentBytes(server.pid);
    child.stdin!.end();
    await exited(child);
    const done = JSON.parse(lines.at(-1)!);
    const held = Number(done.held);
    return {
      value: held > 0 ? (after - before) / held : NaN,
      serverCpu: NaN,
      clientCpu: NaN,
      errors: Number(ready.errors) + Number(done.errors),
      firstError: String(ready.first_error || done.first_error),
      lost: options.hold - held,
      pending: 0,
      raw: { ready, done, rssBefore: before, rssAfter: after },
    };
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

// ---- report ----

function describeProblems(sample: Sample): string {
  const parts = [`${sample.errors} errors`];
  if (sample.lost > 0) {
    parts.push(
      `${sample.lost} connections not open at the end` +
        (sample.pending > 0 ? ` (${sample.pending} never upgraded)` : ""),
    );
  }
  return parts.join(", ") + (sample.firstError ? `: ${sample.firstError}` : "");
}

/** ± half the range of the rounds, relative to the median. */
function spread(values: number[]): string {
  if (values.length < 2) return "";
  const half = (Math.max(...values) - Math.min(...values)) / 2;
  return ` ±${Math.round((half / median(values)) * 100)}%`;
}

function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "n/a";
  if (unit === "B/conn") {
    return value >= 1024 ? `${(value / 1024).toFixed(1)} KiB` : `${Math.round(value)} B`;
  }
  if (unit === "MB/s") return `${value.toFixed(0)} MB/s`;
  const scaled = value >= 1e6
    ? `${(value / 1e6).toFixed(2)}M`
    : value >= 1e3
    ? `${(value / 1e3).toFixed(1)}k`
    : value.toFixed(0);
  return `${scaled} ${unit}`;
}

function percent(values: number[]): string {
  const value = median(values);
  return Number.isFinite(value) ? `${Math.round(value * 100)}%` : "–";
}

function firstLine(command: string[]): string {
  const result = spawnSync(command[0], command.slice(1), { encoding: "utf8" });
  return (result.stdout || result.stderr || "").split("\n")[0].trim();
}

function machineFacts(options: Options): string[] {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = cpuinfo.match(/model name\s*:\s*(.+)/)?.[1] ?? "unknown CPU";
  const cores = cpuinfo.split("\n").filter((line) => line.startsWith("processor")).length;
  const memory = Number(readFileSync("/proc/meminfo", "utf8").match(/MemTotal:\s+(\d+)/)?.[1] ?? 0);
  const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  const ws = JSON.parse(readFileSync(`${ROOT}node_modules/ws/package.json`, "utf8")).version;
  const versions = options.runtimes.map((name) =>
    name === "node"
      ? `Node ${firstLine(["node", "--version"])} (ws ${ws})`
      : name === "deno"
      ? firstLine([DENO, "--version"]).replace("deno", "Deno")
      : `Bun ${firstLine([BUN, "--version"])}`
  );
  return [
    `Date: ${new Date().toISOString()}`,
    `Machine: ${model}, ${cores} cores, ${(memory / 1024 / 1024).toFixed(1)} GiB, Linux ${kernel}`,
    `Runtimes: ${versions.join(", ")}; loadgen: ${firstLine(["cc", "--version"])} -O2`,
    `Pinning: server on CPU ${SERVER_CPU}, loadgen on CPU ${CLIENT_CPU} (taskset); ulimit -n ${FILE_LIMIT}`,
    `Runs: ${options.rounds} round(s), ${options.duration} s measured after ${options.warmup} s warm-up; ` +
    `idle holds ${options.hold} connections (RSS read ${options.settle} s after the warm-up and after the last open)` +
    (options.scenarios.includes("broadcast")
      ? `, broadcast ${options.receivers} (warm-up once all are open)`
      : "") +
    `; message limit ${MAX_MSG_BYTES} B everywhere`,
  ];
}

/**
 * The table row and the sentence under the table for a floor server (`--floors`): its figure, its
 * ratio to the peer, and whether that ratio meets the target Wharf / peer.
 */
function floorRow(
  scenario: Scenario,
  title: string,
  runtime: Runtime,
  floorLabel: string,
  peerLabel: string,
  wharf: Sample[],
  peer: Sample[],
  floor: Sample[],
): { row: string; sentence: string } {
  const floorValues = floor.map((sample) => sample.value);
  const floorValue = median(floorValues);
  const peerValue = median(peer.map((sample) => sample.value));
  const wharfValue = median(wharf.map((sample) => sample.value));
  const ratio = pairedRatio(floorValues, peer.map((sample) => sample.value));
  const target = scenario.targets[runtime.name];
  const comparison = `${scenario.lowerIsBetter ? "≤" : "≥"} ${target.toFixed(2)}`;
  const reachable = scenario.lowerIsBetter ? ratio <= target : ratio >= target;
  const flag = floor.some((sample) => sample.errors > 0 || sample.lost > 0) ? " (!)" : "";
  const row = `| ${title} (${scenario.unit}) | ${runtime.title} floor | ` +
    `${formatValue(floorValue, scenario.unit)}${spread(floorValues)}${flag} (${floorLabel}) | ` +
    `${formatValue(peerValue, scenario.unit)} (${peerLabel}) | ${ratio.toFixed(2)} floor / peer | ${
      (floorValue / peerValue).toFixed(2)
    } | ` +
    `${comparison} ${reachable ? "within reach" : "OUT OF REACH"} | ` +
    (scenario.name === "idle"
      ? "– | – |"
      : `${percent(floor.map((s) => s.serverCpu))} / ${percent(peer.map((s) => s.serverCpu))} | ` +
        `${percent(floor.map((s) => s.clientCpu))} / ${percent(peer.map((s) => s.clientCpu))} |`);
  const what = scenario.name === "idle"
    ? `grows by ${formatValue(floorValue, scenario.unit)} per idle connection`
    : scenario.name === "broadcast"
    ? `relays ${formatValue(floorValue, scenario.unit)}`
    : `completes ${formatValue(floorValue, scenario.unit).replace(" /s", " handshakes/s")}`;
  const generatorBound = scenario.name !== "idle" &&
      median(floor.map((s) => s.clientCpu)) >= 0.9
    ? " loadgen used most of its core against the floor, so the floor's figure may be the " +
      "generator's limit (the server could do more)."
    : "";
  const duty = scenario.name === "broadcast"
    ? "answer the handshake and relay each message"
    : "answer the handshake";
  const sentence = `- ${runtime.title} ${scenario.name}: even a server that does nothing but ` +
    `${duty} (${floorLabel}) ${what}, ${ratio.toFixed(2)} of ${peerLabel}'s ` +
    `${formatValue(peerValue, scenario.unit)}; the target for Wharf / ${peerLabel} is ` +
    `${comparison}, ${reachable ? "within the floor's reach" : "beyond even the floor"} (Wharf: ${
      formatValue(wharfValue, scenario.unit)
    }, ${
      pairedRatio(wharf.map((sample) => sample.value), floorValues).toFixed(2)
    } of the floor).${generatorBound}`;
  return { row, sentence };
}

// ---- main ----

function buildLoadgen(): void {
  const fresh = existsSync(LOADGEN) &&
    statSync(LOADGEN).mtimeMs >= statSync(LOADGEN_SOURCE).mtimeMs;
  if (fresh) return;
  mkdirSync(`${ROOT}bench/bin`, { recursive: true });
  const result = spawnSync("cc", ["-O2", "-Wall", "-o", LOADGEN, LOADGEN_SOURCE], {
    stdio: "inherit",
  });
  if (result.status !== 0) throw new Error("Cannot build bench/loadgen.c with cc");
}

/**
 * Transpiles `bench/peers/wharf_broadcast.ts` for Node 20, which cannot run TypeScript, to
 * `npm/bench/peers/wharf_broadcast.js`: there its `../../mod.ts` import, rewritten to `.js`, is the
 * compiled package of `npm run build`.
 */
async function buildNodeBroadcast(): Promise<void> {
  if (!existsSync(`${ROOT}npm/mod.js`)) {
    throw new Error("npm/mod.js is missing: run npm run build (or drop --no-build)");
  }
  const { default: ts } = await import("typescript");
  const source = readFileSync(`${ROOT}bench/peers/wharf_broadcast.ts`, "utf8");
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const output = outputText.replace('from "../../mod.ts"', 'from "../../mod.js"');
  if (output === outputText) throw new Error("wharf_broadcast.ts no longer imports ../../mod.ts");
  mkdirSync(`${ROOT}npm/bench/peers`, { recursive: true });
  writeFileSync(`${ROOT}npm/bench/peers/wharf_broadcast.js`, output);
}

function buildNpm(): void {
  console.error("Building npm/ for Node (npm run build; --no-build skips it) ...");
  const result = spawnSync(DENO, ["run", "-A", "scripts/build_npm.ts", "--skip-tests"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new Error(`npm build failed:\n${result.stdout}\n${result.stderr}`);
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const tool of ["taskset", "cc"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
      throw new Error(`${tool} is required (taskset: util-linux; cc: build-essential)`);
    }
  }
  buildLoadgen();
  if (options.runtimes.includes("node") && options.build) buildNpm();
  if (options.runtimes.includes("node") && options.scenarios.includes("broadcast")) {
    await buildNodeBroadcast();
  }
  acquireLock();
  process.on("SIGINT", () => {
    for (const child of children) child.kill("SIGKILL");
    releaseLock();
    process.exit(130);
  });
  const started = Date.now();
  try {
    const facts = machineFacts(options);
    for (const line of facts) console.error(line);
    const samples = new Map<string, Sample[]>();
    const key = (scenario: string, runtime: string, label: string) =>
      `${scenario}/${runtime}/${label}`;
    for (let round = 0; round < options.rounds; round++) {
      for (const scenarioName of options.scenarios) {
        const scenario = SCENARIOS[scenarioName];
        for (const runtimeName of options.runtimes) {
          const pair = contenders(RUNTIMES[runtimeName], scenarioName, options);
          const sides = pair.floor ? [pair.wharf, pair.peer, pair.floor] : [pair.wharf, pair.peer];
          // A B (C), then (C) B A in the next round.
          const order = round % 2 === 0 ? sides : [...sides].reverse();
          for (const contender of order) {
            let sample = await runScenario(scenario, contender, options);
            for (let retry = 0; retry < RETRIES && sample.foreign > FOREIGN_LIMIT; retry++) {
              console.error(
                `  other processes took ${Math.round(sample.foreign * 100)}% of a core: run again`,
              );
              sample = await runScenario(scenario, contender, options);
            }
            const id = key(
              scenarioName,
              runtimeName,
              contender === pair.wharf ? "wharf" : contender === pair.peer ? "peer" : "floor",
            );
            samples.set(id, [...(samples.get(id) ?? []), sample]);
            const problems = sample.errors > 0 || sample.lost > 0
              ? ` (${describeProblems(sample)})`
              : "";
            console.error(
              `round ${round + 1}/${options.rounds} ${scenarioName} ${runtimeName} ` +
                `${contender.label}: ${formatValue(sample.value, scenario.unit)}` +
                (Number.isFinite(sample.serverCpu)
                  ? `, server CPU ${Math.round(sample.serverCpu * 100)}%, loadgen CPU ` +
                    `${Math.round(sample.clientCpu * 100)}%`
                  : "") +
                problems,
            );
          }
        }
      }
    }

    const lines = [
      "## WebSocket benchmark (bench/ws.ts)",
      "",
      ...facts.map((line) => `${line}  `),
      `Command: deno run -A bench/ws.ts ${process.argv.slice(2).join(" ")}`.trimEnd(),
      "",
      "| scenario | runtime | Wharf | peer | Wharf / peer | ratio of medians | target | server CPU W / P | loadgen CPU W / P |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ];
    const notes: string[] = [];
    const floorLines: string[] = [];
    for (const scenarioName of options.scenarios) {
      const scenario = SCENARIOS[scenarioName];
      for (const runtimeName of options.runtimes) {
        const runtime = RUNTIMES[runtimeName];
        const pair = contenders(runtime, scenarioName, options);
        const peerLabel = pair.peer.label;
        const wharf = samples.get(key(scenarioName, runtimeName, "wharf")) ?? [];
        const peer = samples.get(key(scenarioName, runtimeName, "peer")) ?? [];
        const floor = samples.get(key(scenarioName, runtimeName, "floor")) ?? [];
        const wharfValues = wharf.map((sample) => sample.value);
        const peerValues = peer.map((sample) => sample.value);
        const ratio = pairedRatio(wharfValues, peerValues);
        const target = scenario.targets[runtimeName];
        const met = scenario.lowerIsBetter ? ratio <= target : ratio >= target;
        for (
          const [label, list] of [
            ["Wharf", wharf],
            [peerLabel, peer],
            [pair.floor?.label ?? "floor", floor],
          ] as const
        ) {
          for (const sample of list) {
            if (sample.errors > 0 || sample.lost > 0) {
              notes.push(`- ${scenarioName} ${runtimeName} ${label}: ${describeProblems(sample)}`);
            }
            if (!sample.quiet || sample.foreign > FOREIGN_LIMIT) {
              notes.push(
                `- ${scenarioName} ${runtimeName} ${label}: ran on a busy machine` +
                  (sample.foreign > FOREIGN_LIMIT
                    ? ` (other processes: ${Math.round(sample.foreign * 100)}% of a core)`
                    : ""),
              );
            }
          }
        }
        const flag = (list: Sample[]) =>
          list.some((sample) => sample.errors > 0 || sample.lost > 0) ? " (!)" : "";
        lines.push(
          `| ${scenarioTitle(scenario, options)} (${scenario.unit}) | ${runtime.title} | ` +
            `${formatValue(median(wharfValues), scenario.unit)}${spread(wharfValues)}${
              flag(wharf)
            } | ` +
            `${formatValue(median(peerValues), scenario.unit)}${spread(peerValues)}${flag(peer)} ` +
            `(${peerLabel}) | ${ratio.toFixed(2)} | ` +
            `${(median(wharfValues) / median(peerValues)).toFixed(2)} | ` +
            `${scenario.lowerIsBetter ? "≤" : "≥"} ${target.toFixed(2)} ${
              met ? "met" : "MISSED"
            } | ` +
            (scenario.name === "idle"
              ? "– | – |"
              : `${percent(wharf.map((s) => s.serverCpu))} / ${
                percent(peer.map((s) => s.serverCpu))
              } | ` +
                `${percent(wharf.map((s) => s.clientCpu))} / ${
                  percent(peer.map((s) => s.clientCpu))
                } |`),
        );
        if (pair.floor !== undefined && floor.length > 0) {
          const row = floorRow(
            scenario,
            scenarioTitle(scenario, options),
            runtime,
            pair.floor.label,
            peerLabel,
            wharf,
            peer,
            floor,
          );
          lines.push(row.row);
          floorLines.push(row.sentence);
        }
      }
    }
    lines.push(
      "",
      "Wharf / peer is the median of the rounds' ratios (each round's Wharf run over the peer run " +
        "beside it), so drift between rounds cancels; the target is judged on it. The ratio of the " +
        "two medians is shown beside it: when they differ much, the machine changed speed between rounds.",
      "",
      "CPU shares are of one core over the measured window (server: all its threads, from " +
        "/proc/<pid>/stat; loadgen: getrusage). A loadgen share well below 100% means the generator " +
        "was not the bottleneck. Loopback TCP work is charged to whichever side sends. Runs during " +
        `which other processes used more than ${FOREIGN_LIMIT * 100}% of a core were repeated ` +
        `(up to ${RETRIES} times).`,
    );
    if (floorLines.length > 0) {
      lines.push(
        "",
        "Floors (--floors): bench/floors/ servers built on the runtime's public socket API that " +
          "parse nothing but the Sec-WebSocket-Key, answer the 101 and a close frame, and do " +
          "nothing else (no validation, no echo; for broadcast, a relay of each short text frame " +
          "to every connection): what they cost, no server on that API avoids. " +
          "A floor row gives the floor's figure, floor / peer, and whether that ratio meets " +
          "Wharf's target: OUT OF REACH when it does not (not even the floor met the target).",
        "",
        ...floorLines,
      );
    }
    if (options.scenarios.includes("broadcast")) {
      // One broadcast reaches every connection, so broadcasts/s is deliveries/s over the connections.
      const perBroadcast = (values: number[]) =>
        values.length > 0
          ? `${(median(values) / options.receivers).toPrecision(3)} broadcasts/s`
          : "n/a";
      const rows = options.runtimes.map((runtimeName) => {
        const values = (label: string) =>
          (samples.get(key("broadcast", runtimeName, label)) ?? []).map((sample) => sample.value);
        const peerLabel = RUNTIMES[runtimeName].broadcast.peer.label;
        return `${RUNTIMES[runtimeName].title}: Wharf ${perBroadcast(values("wharf"))}, ` +
          `${peerLabel} ${perBroadcast(values("peer"))}`;
      });
      lines.push(
        "",
        `Broadcasts/s (deliveries/s ÷ ${options.receivers} connections; one message in flight, ` +
          `connection 0 sends the next once every connection has the last): ${rows.join("; ")}.`,
      );
    }
    if (notes.length > 0) lines.push("", "Notes:", ...notes);
    lines.push("", `Total time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    console.log(lines.join("\n"));
    if (options.json !== undefined) {
      writeFileSync(
        options.json,
        JSON.stringify({ facts, options, samples: Object.fromEntries(samples) }, null, 2),
      );
    }
  } finally {
    releaseLock();
  }
}

await main();
