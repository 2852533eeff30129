/**
 * Runs the WebSocket conformance suite (Autobahn's fuzzingclient cases plus Wharf's handshake and limits
 * sections) against running servers and prints the report.
 *
 * ```sh
 * WS_MAX_MSG_SIZE=16777216 PORT=9001 deno run -A examples/echo.ts &
 * WS_MAX_MSG_SIZE=100000 WS_TIMEOUT=2 PORT=9002 deno run -A examples/echo.ts &
 * deno run -A scripts/conformance.ts ws://127.0.0.1:9001 \
 *   --limits ws://127.0.0.1:9002 --max-msg-size 100000 --timeout 2 --json report.json
 * bun scripts/conformance.ts ws://127.0.0.1:9001 --cases 6.4,7.
 * ```
 *
 * The main server must echo every message (the `examples/echo.ts` handler) and allow messages of 16 MiB
 * (sections 1 and 9). Section L runs only with `--limits`, against a second server whose
 * `WS_MAX_MSG_SIZE` and `WS_TIMEOUT` are given by `--max-msg-size` and `--timeout`.
 *
 * Options: `--cases P1,P2` runs the cases whose id starts with one of the prefixes (`6.4` is 6.4.x, `6.4.`
 * excludes 6.40); `--concurrency N` (default 8); `--json FILE` writes the JSON report (`-` for stdout, then
 * the summary goes to stderr); `--expected FILE` compares with expected statuses (`{"cases": {"1.1.1":
 * "PASS", ...}}`) and lists the differences; `--quiet` prints no progress.
 *
 * Exit status: 0 when every case passed (and matched `--expected`), 1 otherwise, 2 for bad arguments.
 *
 * @module
 */

import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { allCases } from "../tests/conformance/_cases.ts";
import {
  DEFAULT_CONCURRENCY,
  diffExpected,
  formatReport,
  runSuite,
  type Status,
  type Targets,
} from "../tests/conformance/_runner.ts";
import type { Target } from "../tests/conformance/_client.ts";

const USAGE =
  `Usage: conformance.ts ws://HOST:PORT [--limits ws://HOST:PORT --max-msg-size N --timeout S]
       [--cases PREFIX,...] [--concurrency N] [--json FILE|-] [--expected FILE] [--quiet]`;

/** A usage error: printed with the usage text, exit status 2. */
class UsageError extends Error {}

function parseTarget(url: string): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`Not a URL: ${url}`);
  }
  if (parsed.protocol !== "ws:") throw new UsageError(`Only ws:// URLs are supported: ${url}`);
  const host = parsed.hostname.startsWith("[") ? parsed.hostname.slice(1, -1) : parsed.hostname;
  return { host, port: Number(parsed.port || 80) };
}

function positiveInteger(name: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < 0) {
    throw new UsageError(`${name} needs a non-negative integer, got ${value}`);
  }
  return n;
}

interface Options {
  targets: Targets;
  prefixes: string[];
  concurrency: number;
  json: string | undefined;
  expected: string | undefined;
  quiet: boolean;
}

function parseArgs(args: readonly string[]): Options {
  let main: Target | undefined;
  let limits: Target | undefined;
  let maxMsgSize: number | undefined;
  let timeoutS: number | undefined;
  const options: Omit<Options, "targets"> = {
    prefixes: [],
    concurrency: DEFAULT_CONCURRENCY,
    json: undefined,
    expected: undefined,
    quiet: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case "--limits":
        limits = parseTarget(value());
        break;
      case "--max-msg-size":
        maxMsgSize = positiveInteger(arg, value());
        break;
      case "--timeout":
        timeoutS = positiveInteger(arg, value());
        break;
      case "--cases":
        options.prefixes = value().split(",").filter((p) => p !== "");
        break;
      case "--concurrency":
        options.concurrency = Math.max(1, positiveInteger(arg, value()));
        break;
      case "--json":
        options.json = value();
        break;
      case "--expected":
        options.expected = value();
        break;
      case "--quiet":
        options.quiet = true;
        break;
      case "-h":
      case "--help":
        throw new UsageError("");
      default:
        if (arg.startsWith("-") || main !== undefined) throw new UsageError(`Unexpected ${arg}`);
        main = parseTarget(arg);
    }
  }
  if (main === undefined) throw new UsageError("The server URL is missing");
  if (limits !== undefined && (maxMsgSize === undefined || timeoutS === undefined)) {
    throw new UsageError("--limits needs --max-msg-size and --timeout");
  }
  return {
    ...options,
    targets: {
      main,
      limits: limits === undefined
        ? undefined
        : { target: limits, maxMsgSize: maxMsgSize!, timeoutS: timeoutS! },
    },
  };
}

async function main(args: readonly string[]): Promise<number> {
  const options = parseArgs(args);
  const cases = allCases().filter((c) =>
    options.prefixes.length === 0 || options.prefixes.some((p) => c.id.startsWith(p))
  );
  if (cases.length === 0) throw new UsageError(`No case matches ${options.prefixes.join(",")}`);
  const out = options.json === "-" ? process.stderr : process.stdout;
  if (options.targets.limits === undefined && cases.some((c) => c.server === "limits")) {
    out.write("Section L is skipped: no --limits server\n");
  }
  let done = 0;
  const report = await runSuite(cases, options.targets, {
    concurrency: options.concurrency,
    onResult(result) {
      done++;
      if (!options.quiet && result.status !== "PASS") {
        out.write(`${result.status} ${result.id}: ${result.detail}\n`);
      }
      if (!options.quiet && done % 100 === 0) out.write(`${done} cases run\n`);
    },
  });
  out.write(formatReport(report) + "\n");
  if (options.json === "-") process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else if (options.json !== undefined) writeFileSync(options.json, JSON.stringify(report, null, 2));
  let differences: string[] = [];
  if (options.expected !== undefined) {
    const expected = JSON.parse(readFileSync(options.expected, "utf8")) as {
      cases: Record<string, Status>;
    };
    // Compare only what was asked for and could run (section L needs --limits).
    const runnable = new Set(
      cases.filter((c) => c.server !== "limits" || options.targets.limits !== undefined)
        .map((c) => c.id),
    );
    const wanted = Object.fromEntries(
      Object.entries(expected.cases).filter(([id]) => runnable.has(id)),
    );
    differences = diffExpected(report, wanted);
    out.write(
      differences.length === 0
        ? "Matches the expected results\n"
        : `Differences from ${options.expected}:\n${differences.map((d) => `  ${d}\n`).join("")}`,
    );
  }
  return report.totals.fail + report.totals.nonStrict === 0 && differences.length === 0 ? 0 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  if (error.message !== "") console.error(error.message);
  console.error(USAGE);
  process.exitCode = 2;
}
