/**
 * The conformance suite (Autobahn's fuzzingclient cases, plus the opening handshake and the seed's limits)
 * against `examples/echo` running as a child process on the runtime that runs this test: `deno run -A
 * examples/echo.ts` on Deno, `bun examples/echo.ts` on Bun, `node npm/examples/echo.js` on Node (this file
 * compiled to `npm/tests/conformance/conformance_test.js`).
 *
 * Two instances: the main one with `WS_MAX_MSG_SIZE` of 16 MiB for sections 1-10 and H, and one with a
 * small `WS_MAX_MSG_SIZE` and `WS_TIMEOUT` for section L. Every case must PASS (strictly); the summary
 * table goes to the log, and the case list must match `expected.json`, so no case disappears unnoticed.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { runtime } from "../../mod.ts";
import { allCases } from "./_cases.ts";
import {
  diffExpected,
  formatReport,
  type Report,
  runSuite,
  sectionOf,
  type Status,
} from "./_runner.ts";

/** Sections 1 and 9 send messages of up to 16 MiB. */
const MAIN_MAX_MSG_SIZE = 16 * 1024 * 1024;
/** Above 65535, so the limit is crossed in frames with a 64-bit length. */
const LIMITS_MAX_MSG_SIZE = 100_000;
/** Long enough that the ping's earliest time (one second early at most) is still measurable. */
const LIMITS_TIMEOUT_S = 2;
/** Time for an example to start and print its address. */
const START_LIMIT_MS = 20_000;
/** The suite takes well under a minute; this only stops a hung run. */
const SUITE_LIMIT_MS = 55_000;

/** How this runtime starts the echo example. */
function echoCommand(): { command: string; args: string[] } {
  if (runtime === "node") {
    // This file runs as npm/tests/conformance/conformance_test.js; the example is npm/examples/echo.js.
    const file = fileURLToPath(new URL("../../examples/echo.js", import.meta.url));
    return { command: process.execPath, args: [file] };
  }
  const file = fileURLToPath(new URL("../../examples/echo.ts", import.meta.url));
  if (runtime === "deno") {
    return { command: globalThis.Deno!.execPath(), args: ["run", "-A", "--quiet", file] };
  }
  return { command: process.execPath, args: [file] };
}

/** `examples/echo` running as a child process. */
class EchoServer {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  port = 0;
  output = "";

  private constructor(env: Record<string, string>) {
    const { command, args } = echoCommand();
    this.#child = spawn(command, args, {
      env: { ...process.env, HOST: "127.0.0.1", PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child.stdout!.setEncoding("utf8").on("data", (text: string) => this.output += text);
    this.#child.stderr!.setEncoding("utf8").on("data", (text: string) => this.output += text);
    this.#exited = new Promise((resolve) => {
      this.#child.once("error", () => resolve());
      this.#child.once("exit", () => resolve());
    });
  }

  /** Starts the example with `env` and resolves once it prints `Listening on http://127.0.0.1:<port>`. */
  static async start(env: Record<string, string>): Promise<EchoServer> {
    const server = new EchoServer(env);
    const started = Date.now();
    let exited = false;
    server.#exited.then(() => exited = true);
    for (;;) {
      const match = /Listening on http:\/\/127\.0\.0\.1:(\d+)\n/.exec(server.output);
      if (match !== null) {
        server.port = Number(match[1]);
        return server;
      }
      if (exited || Date.now() - started > START_LIMIT_MS) {
        server.kill();
        throw new Error(
          `examples/echo did not start (${JSON.stringify(env)}): ${
            exited ? "exited" : "timed out"
          }; ` +
            `output: ${server.output}`,
        );
      }
      // Wait for more output, the exit or the start limit, whichever comes first.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise((resolve) => server.#child.stdout!.once("data", resolve)),
        server.#exited,
        new Promise((resolve) =>
          timer = setTimeout(resolve, started + START_LIMIT_MS - Date.now())
        ),
      ]);
      clearTimeout(timer);
    }
  }

  /** Stops the process: SIGTERM, then SIGKILL if it is still running after 5 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#exited,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.kill();
          resolve();
        }, 5000);
      }),
    ]);
    clearTimeout(timer);
    await this.#exited;
  }

  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill("SIGKILL");
    }
  }
}

const cases = allCases();
const sections = [...new Set(cases.map((c) => sectionOf(c.id)))];
const expected = JSON.parse(
  readFileSync(new URL("./expected.json", import.meta.url), "utf8"),
) as { cases: Record<string, Status> };

describe(`WebSocket conformance of examples/echo on ${runtime}`, () => {
  const servers: EchoServer[] = [];
  let report: Report | undefined;

  after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  test("runs every case against the echo example", { timeout: SUITE_LIMIT_MS }, async () => {
    const started = await Promise.allSettled([
      EchoServer.start({ WS_MAX_MSG_SIZE: String(MAIN_MAX_MSG_SIZE) }),
      EchoServer.start({
        WS_MAX_MSG_SIZE: String(LIMITS_MAX_MSG_SIZE),
        WS_TIMEOUT: String(LIMITS_TIMEOUT_S),
      }),
    ]);
    // Whatever started is stopped by after(), even when the other one failed.
    for (const result of started) if (result.status === "fulfilled") servers.push(result.value);
    for (const result of started) if (result.status === "rejected") throw result.reason;
    const [main, limits] = servers;
    report = await runSuite(cases, {
      main: { host: "127.0.0.1", port: main.port },
      limits: {
        target: { host: "127.0.0.1", port: limits.port },
        maxMsgSize: LIMITS_MAX_MSG_SIZE,
        timeoutS: LIMITS_TIMEOUT_S,
      },
    });
    console.log(formatReport(report, `WebSocket conformance (examples/echo on ${runtime})`));
    assert.equal(report.cases.length, cases.length);
  });

  for (const section of sections) {
    test(`section ${section}: every case passes strictly`, () => {
      assert.ok(report, "The suite did not run");
      const notPassed = report.cases
        .filter((c) => c.section === section && c.status !== "PASS")
        .map((c) => `${c.status} ${c.id}: ${c.detail}`);
      assert.deepEqual(notPassed, []);
    });
  }

  test("the cases and their results match expected.json", () => {
    assert.ok(report, "The suite did not run");
    assert.deepEqual(diffExpected(report, expected.cases), []);
  });
});
