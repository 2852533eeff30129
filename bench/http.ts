/**
 * HTTP "Hello World!" throughput: Wharf against each runtime's own HTTP server, measured with `wrk`.
 *
 * ```sh
 * npm run build && deno run -A bench/http.ts            # node, deno and bun; about 2 minutes
 * deno run -A bench/http.ts deno bun --duration=10      # some runtimes, longer runs
 * ```
 *
 * For each runtime, Wharf's `examples/echo.ts` (on Node the compiled `npm/examples/echo.js`) and the
 * runtime's native peer (`bench/peers/`: `node:http`, `Deno.serve`, `Bun.serve`) answer `GET /` with
 * "Hello World!". Each run starts a fresh server pinned to CPU 0 (`taskset`), checks its answer, warms it up,
 * then runs `wrk -t1 -c100 -d5s` pinned to CPU 1. Runs alternate Wharf and peer (A B, then B A in the next
 * round) so drift in the machine hits both alike; the table shows the median requests/s of each, their
 * ratio (the median of the rounds' own ratios, and beside it the ratio of the two medians), and the spread of
 * the rounds (± half their range, relative to the median), and the CPU both processes used over the
 * measured run, as a share of one core (median of the rounds): the server's (all its threads, from
 * `/proc/<pid>/stat`) and wrk's (its children's time as its shell reaps it). A wrk share near 100% means
 * wrk set the pace, not the server: that server's figure is then a lower bound of what it can answer.
 *
 * `--floors` (opt-in) adds a third contender on Node and Deno, run in the same rounds (A B C, then C B A): the
 * canned-response servers of `bench/floors/` (`node_net_http.mjs` on `node:net`, `deno_conn_http.ts` on
 * `Deno.Conn`), which parse nothing and write one fixed response per read: the ceiling of an HTTP server
 * on that runtime's socket API. The table then gains the floor's requests/s, floor/peer and its spread.
 *
 * Options: `--rounds=N` (default 3), `--duration=S` (seconds per run, default 5), `--connections=N`
 * (default 100), `--warmup=S` (seconds, default 1), `--floors`. Needs `wrk` (Debian: `apt-get install wrk`) and
 * `taskset` (util-linux); runs on Deno, Bun or Node 20+ (only `node:` modules and `fetch`).
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { acquireLock, releaseLock } from "./_lock.ts";
import { median, pairedRatio } from "./_stats.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The server gets one core and the load generator the other, so neither steals the other's CPU. */
const SERVER_CPU = "0";
const CLIENT_CPU = "1";
/** How long a server may take to print its URL (Deno's first start may compile). */
const START_LIMIT_MS = 30_000;
/** How long a server may take to exit after SIGTERM before it is killed. */
const STOP_LIMIT_MS = 5_000;
/** Held for the whole run, as `bench/ws.ts` does, so two benchmarks that honour it never overlap. */

interface Options {
  runtimes: string[];
  rounds: number;
  duration: number;
  connections: number;
  warmup: number;
  /** `--floors`: also measure the canned-response servers of `bench/floors/`. */
  floors: boolean;
}

interface Contender {
  /** Command line, relative paths from the repository root. */
  command: string[];
  label: string;
}

interface Runtime {
  name: string;
  version: string[];
  wharf: Contender;
  peer: Contender;
  /**
   * `bench/floors/`: one canned response written per read on the runtime's public socket API, no
   * parsing; no HTTP server on that API can answer faster (`--floors`).
   */
  floor?: Contender;
}

const deno = `${ROOT}node_modules/.bin/deno`;
const bun = `${ROOT}node_modules/.bin/bun`;

const RUNTIMES: Runtime[] = [
  {
    name: "node",
    version: ["node", "--version"],
    wharf: { command: ["node", "npm/examples/echo.js"], label: "Wharf" },
    peer: { command: ["node", "bench/peers/node_http.mjs"], label: "node:http" },
    floor: { command: ["node", "bench/floors/node_net_http.mjs"], label: "bare node:net" },
  },
  {
    name: "deno",
    version: [deno, "--version"],
    wharf: { command: [deno, "run", "-A", "examples/echo.ts"], label: "Wharf" },
    peer: { command: [deno, "run", "-A", "bench/peers/deno_serve.ts"], label: "Deno.serve" },
    floor: {
      command: [deno, "run", "-A", "bench/floors/deno_conn_http.ts"],
      label: "bare Deno.Conn",
    },
  },
  {
    name: "bun",
    version: [bun, "--version"],
    wharf: { command: [bun, "examples/echo.ts"], label: "Wharf" },
    peer: { command: [bun, "bench/peers/bun_serve.ts"], label: "Bun.serve" },
  },
];

class BenchError extends Error {}

function parseOptions(args: readonly string[]): Options {
  const options: Options = {
    runtimes: [],
    rounds: 3,
    duration: 5,
    connections: 100,
    warmup: 1,
    floors: false,
  };
  for (const arg of args) {
    const match = /^--(rounds|duration|connections|warmup)=(\d+)$/.exec(arg);
    if (arg === "--floors") {
      options.floors = true;
    } else if (match !== null) {
      options[match[1] as "rounds" | "duration" | "connections" | "warmup"] = Number(match[2]);
    } else if (RUNTIMES.some((runtime) => runtime.name === arg)) {
      options.runtimes.push(arg);
    } else {
      throw new BenchError(
        `Unknown argument ${arg} (runtimes: node deno bun; --rounds= --duration= --connections= --warmup= ` +
          "--floors)",
      );
    }
  }
  if (options.runtimes.length === 0) options.runtimes = RUNTIMES.map((runtime) => runtime.name);
  if (options.rounds < 1 || options.duration < 1 || options.connections < 1) {
    throw new BenchError("--rounds, --duration and --connections must be at least 1");
  }
  return options;
}

function checkTools(options: Options): void {
  for (const [tool, hint] of [["wrk", "apt-get install wrk"], ["taskset", "util-linux"]]) {
    if (spawnSync(tool, ["--version"], { stdio: "ignore" }).error !== undefined) {
      throw new BenchError(`${tool} is not installed (${hint})`);
    }
  }
  if (availableParallelism() < 2) {
    throw new BenchError("Needs two CPUs: one for the server, one for wrk");
  }
  if (options.runtimes.includes("node") && !existsSync(`${ROOT}npm/examples/echo.js`)) {
    throw new BenchError("npm/examples/echo.js is missing: run `npm run build` first");
  }
}

function firstLine(command: string[]): string {
  const result = spawnSync(command[0], command.slice(1), { encoding: "utf8" });
  return result.error ? "?" : result.stdout.split("\n")[0].trim();
}

/** Starts `command` pinned to the server CPU and resolves with the URL it prints. */
function startServer(command: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn("taskset", ["-c", SERVER_CPU, ...command], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (text: string) => stderr += text);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new BenchError(`${command.join(" ")} did not start: ${stderr}`));
    }, START_LIMIT_MS);
    child.stdout!.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
      const match = /Listening on (http:\/\/[^\s]+)/.exec(stdout);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        new BenchError(
          `${command.join(" ")} exited (${code ?? signal}) before listening: ${stderr}`,
        ),
      );
    });
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) =>
    timer = setTimeout(() => resolve(true), STOP_LIMIT_MS)
  );
  if (await Promise.race([exited.then(() => false), late])) {
    child.kill("SIGKILL");
    await exited;
  }
  clearTimeout(timer);
}

interface WrkResult {
  requestsPerSecond: number;
  /** Non-2xx answers and socket errors: any of them makes the number suspect. */
  errors: number;
  /** wrk's CPU time over the run, in seconds (user + system). */
  wrkCpuSeconds: number;
}

/**
 * A median CPU share at or above which a process counts as saturated: wrk there while the server is
 * below it means wrk, not the server, set the request rate.
 */
const PACING_SHARE = 0.95;

/** Clock ticks per second of the CPU times in `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux). */
const CLOCK_TICKS = 100;

/**
 * Fields 3 onwards of `/proc/<pid>/stat` (index 0 is field 3, the state): the command name before them is
 * in parentheses and may contain spaces.
 */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).trim().split(" ");
}

/** User + system CPU seconds of process `pid` so far, all threads (fields 14 and 15 of its stat). */
function processCpuSeconds(pid: number): number {
  const fields = statFields(readFileSync(`/proc/${pid}/stat`, "utf8"));
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function wrk(url: string, seconds: number, connections: number): WrkResult {
  // wrk runs as the child of a shell that prints its own stat line once wrk is reaped: the children's
  // times there (fields 16 and 17) are wrk's CPU time, which wrk itself does not report.
  const script = 'wrk "$@"; status=$?; cat /proc/$$/stat; exit $status';
  const result = spawnSync("taskset", [
    "-c",
    CLIENT_CPU,
    "sh",
    "-c",
    script,
    "sh",
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    url,
  ], { encoding: "utf8" });
  if (result.status !== 0) throw new BenchError(`wrk failed: ${result.stderr}${result.stdout}`);
  const lines = result.stdout.trimEnd().split("\n");
  const shellStat = statFields(lines.pop()!);
  const wrkCpuSeconds = (Number(shellStat[13]) + Number(shellStat[14])) / CLOCK_TICKS;
  const output = lines.join("\n");
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(output);
  if (rate === null) throw new BenchError(`Cannot read wrk's output:\n${output}`);
  let errors = 0;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  if (non2xx !== null) errors += Number(non2xx[1]);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  if (socket !== null) errors += socket.slice(1).reduce((sum, count) => sum + Number(count), 0);
  return { requestsPerSecond: Number(rate[1]), errors, wrkCpuSeconds };
}

/** One measured run's figures. */
interface RunResult {
  requestsPerSecond: number;
  errors: number;
  /** CPU used over the measured run, as a share of one core. */
  serverCpu: number;
  wrkCpu: number;
}

/** One run: a fresh server, a check of its answer, a warm-up, then the measured run. */
async function measure(contender: Contender, options: Options): Promise<RunResult> {
  const { child, url } = await startServer(contender.command);
  try {
    const response = await fetch(url);
    const body = await response.text();
    if (response.status !== 200 || body !== "Hello World!") {
      throw new BenchError(`${contender.command.join(" ")} answered ${response.status} ${body}`);
    }
    if (options.warmup > 0) wrk(url, options.warmup, options.connections);
    const serverCpuBefore = processCpuSeconds(child.pid!);
    const started = performance.now();
    const result = wrk(url, options.duration, options.connections);
    const seconds = (performance.now() - started) / 1000;
    return {
      requestsPerSecond: result.requestsPerSecond,
      errors: result.errors,
      serverCpu: (processCpuSeconds(child.pid!) - serverCpuBefore) / seconds,
      wrkCpu: result.wrkCpuSeconds / seconds,
    };
  } finally {
    await stopServer(child);
  }
}

/** ± half the range of the rounds relative to their median, as a percentage: how far apart they were. */
function spread(values: number[]): string {
  return `±${((Math.max(...values) - Math.min(...values)) / median(values) * 50).toFixed(1)}%`;
}

/** Median CPU shares of the rounds, e.g. `100% / 84%`. */
function cpuShares(...sides: number[][]): string {
  return sides.map((shares) => `${Math.round(median(shares) * 100)}%`).join(" / ");
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row.map((cell, column) =>
      column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])
    )
      .join("  ")
  ).join("\n");
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

async function main(args: readonly string[]): Promise<void> {
  const options = parseOptions(args);
  checkTools(options);
  acquireLock();
  try {
    await measureAll(options);
  } finally {
    releaseLock();
  }
}

async function measureAll(options: Options): Promise<void> {
  const cpu = /model name\s*:\s*(.+)/.exec(
    existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "",
  )?.[1] ?? "unknown CPU";
  console.log(
    `HTTP hello world: wrk -t1 -c${options.connections} -d${options.duration}s after a ${options.warmup} s ` +
      `warm-up, server on CPU ${SERVER_CPU}, wrk on CPU ${CLIENT_CPU}, ${options.rounds} round(s) ` +
      `alternating Wharf and peer, fresh server per run (${cpu})`,
  );
  const rows = [[
    "runtime",
    "version",
    "Wharf req/s",
    "peer",
    "peer req/s",
    "Wharf/peer",
    "of medians",
    "Wharf spread",
    "peer spread",
    ...(options.floors ? ["floor", "floor req/s", "floor/peer", "floor spread"] : []),
    options.floors ? "server CPU W/P/F" : "server CPU W/P",
    options.floors ? "wrk CPU W/P/F" : "wrk CPU W/P",
  ]];
  const warnings: string[] = [];
  const floorLines: string[] = [];
  const pacedLines: string[] = [];
  for (const runtime of RUNTIMES.filter((runtime) => options.runtimes.includes(runtime.name))) {
    const results = { wharf: [] as number[], peer: [] as number[], floor: [] as number[] };
    const serverCpu = { wharf: [] as number[], peer: [] as number[], floor: [] as number[] };
    const wrkCpu = { wharf: [] as number[], peer: [] as number[], floor: [] as number[] };
    const sides = options.floors && runtime.floor !== undefined
      ? ["wharf", "peer", "floor"] as const
      : ["wharf", "peer"] as const;
    for (let round = 0; round < options.rounds; round++) {
      // A B (C), then (C) B A: neither side always runs first, on a machine that warmed up or not.
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const contender = runtime[side]!;
        const result = await measure(contender, options);
        results[side].push(result.requestsPerSecond);
        serverCpu[side].push(result.serverCpu);
        wrkCpu[side].push(result.wrkCpu);
        console.log(
          `  ${runtime.name} round ${round + 1} ${contender.label}: ` +
            `${integer.format(result.requestsPerSecond)} req/s, server CPU ` +
            `${Math.round(result.serverCpu * 100)}%, wrk CPU ${Math.round(result.wrkCpu * 100)}%`,
        );
        if (result.errors > 0) {
          warnings.push(
            `${runtime.name} ${contender.label} round ${round + 1}: ${result.errors} errors`,
          );
        }
      }
    }
    const wharf = median(results.wharf);
    const peer = median(results.peer);
    rows.push([
      runtime.name,
      /\d+\.\d+\.\d+/.exec(firstLine(runtime.version))?.[0] ?? "?",
      integer.format(wharf),
      runtime.peer.label,
      integer.format(peer),
      pairedRatio(results.wharf, results.peer).toFixed(2),
      (wharf / peer).toFixed(2),
      spread(results.wharf),
      spread(results.peer),
      ...(!options.floors ? [] : runtime.floor === undefined ? ["–", "–", "–", "–"] : [
        runtime.floor.label,
        integer.format(median(results.floor)),
        pairedRatio(results.floor, results.peer).toFixed(2),
        spread(results.floor),
      ]),
      cpuShares(...sides.map((side) => serverCpu[side])),
      cpuShares(...sides.map((side) => wrkCpu[side])),
    ]);
    for (const side of sides) {
      const client = median(wrkCpu[side]);
      const server = median(serverCpu[side]);
      if (client >= PACING_SHARE && server < PACING_SHARE) {
        pacedLines.push(
          `${runtime.name} ${runtime[side]!.label}: wrk ${
            Math.round(client * 100)
          }% of its core, the ` +
            `server ${Math.round(server * 100)}%: wrk set the pace, so ` +
            `${integer.format(median(results[side]))} req/s is a lower bound of this server's.`,
        );
      }
    }
    if (options.floors && runtime.floor !== undefined) {
      const floor = median(results.floor);
      floorLines.push(
        `${runtime.name}: a server on ${runtime.floor.label.replace("bare ", "")} that parses ` +
          `nothing and writes one canned response per read answers ${
            integer.format(floor)
          } req/s, ` +
          `${pairedRatio(results.floor, results.peer).toFixed(2)} of ${runtime.peer.label}'s; ` +
          `Wharf reaches ${pairedRatio(results.wharf, results.floor).toFixed(2)} of it.`,
      );
    }
  }
  console.log(`\n${table(rows)}`);
  console.log(
    "\nWharf/peer (and floor/peer) is the median of the rounds' ratios, each round's two runs back to " +
      'back, so drift between rounds cancels; "of medians" is the ratio of the two medians. When they ' +
      "differ much, the machine changed speed between rounds.",
  );
  console.log(
    "\nCPU: share of one core over the measured run, median of the rounds (server: all its threads; wrk: " +
      "its own time). Near 100% for wrk means wrk set the pace: that server's figure is a lower bound.",
  );
  for (const line of pacedLines) console.log(line);
  if (floorLines.length > 0) {
    console.log(
      "\nFloors (--floors, bench/floors/): one canned response written per read on the runtime's " +
        "socket API, no parsing.",
    );
    for (const line of floorLines) console.log(line);
  }
  for (const warning of warnings) console.log(`warning: ${warning}`);
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof BenchError)) throw error;
  console.error(`bench/http: ${error.message}`);
  process.exit(1);
}
