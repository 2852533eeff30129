/**
 * Starts an example as its own process, the way a user does (`deno run -A`, `bun`, or `node` on the compiled
 * `npm/examples/*.js`), learns its URL from the `Listening on http://127.0.0.1:<port>` line it prints with
 * `PORT=0`, and stops it with SIGTERM. Shared by `tests/examples_test.ts` and the browser test of the chat example.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runtime } from "../../mod.ts";

/** Fails whatever is awaited through it once its time is up, naming what was awaited. */
export class Deadline {
  readonly #end: number;

  /** @param limitMs Milliseconds from now until every later `wait` fails. */
  constructor(limitMs: number) {
    this.#end = Date.now() + limitMs;
  }

  /** Milliseconds left, at least 0. */
  get remainingMs(): number {
    return Math.max(0, this.#end - Date.now());
  }

  /** Resolves like `promise`, or rejects with "Timed out waiting for `what`" once the deadline passes. */
  async wait<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Timed out waiting for ${what}`)),
        this.remainingMs,
      );
    });
    try {
      return await Promise.race([promise, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** How a process ended: `code` is `null` when a signal ended it. */
export interface Exit {
  code: number | null;
  signal: string | null;
}

/** How this runtime starts an example: the TypeScript source on Deno and Bun, the compiled file on Node. */
function exampleCommand(name: string): { command: string; args: string[] } {
  if (runtime === "node") {
    // This file runs as npm/tests/_helpers/example_process.js; the example is npm/examples/<name>.js.
    const file = fileURLToPath(new URL(`../../examples/${name}.js`, import.meta.url));
    return { command: process.execPath, args: [file] };
  }
  const file = fileURLToPath(new URL(`../../examples/${name}.ts`, import.meta.url));
  if (runtime === "deno") {
    return { command: globalThis.Deno!.execPath(), args: ["run", "-A", "--quiet", file] };
  }
  return { command: process.execPath, args: [file] };
}

/** A started process: text arrives through the callbacks; `exited` resolves once its output ended too. */
interface Child {
  kill(signal: "SIGTERM" | "SIGKILL"): void;
  readonly exited: Promise<Exit>;
}

type Spawner = (
  command: string,
  args: string[],
  env: Record<string, string>,
  onStdout: (text: string) => void,
  onStderr: (text: string) => void,
) => Child;

const spawnNode: Spawner = (command, args, env, onStdout, onStderr) => {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.setEncoding("utf8").on("data", onStdout);
  child.stderr!.setEncoding("utf8").on("data", onStderr);
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  return {
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    exited,
  };
};

async function readText(
  stream: ReadableStream<Uint8Array>,
  onText: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
}

// Deno's node:child_process reports the signal it sent even when the child caught it and exited with 0, so
// on Deno the exit status comes from Deno.Command.
const spawnDeno: Spawner = (command, args, env, onStdout, onStderr) => {
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let done = false;
  const exited = Promise.all([
    child.status,
    readText(child.stdout, onStdout),
    readText(child.stderr, onStderr),
  ]).then(([status]) => {
    done = true;
    return { code: status.signal === null ? status.code : null, signal: status.signal };
  });
  return {
    kill(signal) {
      if (!done) child.kill(signal);
    },
    exited,
  };
};

/** An example running as a child process of the test, on the test's own runtime. */
export class ExampleProcess {
  readonly #child: Child;
  readonly #stdoutListeners = new Set<() => void>();
  /** Resolves with how the process ended, once its output has ended too. */
  readonly exited: Promise<Exit>;
  /** Everything printed so far. */
  stdout = "";
  /** Everything printed to stderr so far. */
  stderr = "";

  /**
   * Spawns `examples/<name>` with `HOST=127.0.0.1`, `PORT=0` and `env` on top of the test's environment.
   * Prefer {@linkcode ExampleProcess.start}, which also waits for the URL.
   */
  constructor(name: string, env: Record<string, string> = {}) {
    const { command, args } = exampleCommand(name);
    const onStdout = (text: string) => {
      this.stdout += text;
      for (const listener of this.#stdoutListeners) listener();
    };
    const onStderr = (text: string) => this.stderr += text;
    const fullEnv = { HOST: "127.0.0.1", PORT: "0", ...env };
    this.#child = runtime === "deno"
      ? spawnDeno(command, args, fullEnv, onStdout, onStderr)
      : spawnNode(command, args, fullEnv, onStdout, onStderr);
    this.exited = this.#child.exited;
  }

  /**
   * Starts `examples/<name>` and resolves once it prints `Listening on http://127.0.0.1:<port>`.
   *
   * @throws Error when the process exits first or `deadline` passes; the process is killed then.
   */
  static async start(
    name: string,
    deadline: Deadline,
    env: Record<string, string> = {},
  ): Promise<{ example: ExampleProcess; url: string }> {
    const example = new ExampleProcess(name, env);
    const listening = new Promise<string>((resolve, reject) => {
      const look = () => {
        const match = /Listening on (http:\/\/127\.0\.0\.1:[1-9][0-9]*)\r?\n/.exec(example.stdout);
        if (match !== null) {
          example.#stdoutListeners.delete(look);
          resolve(match[1]);
        }
      };
      example.#stdoutListeners.add(look);
      example.exited.then(
        (exit) => reject(new Error(`${name} exited before listening: ${example.describe(exit)}`)),
        reject,
      );
    });
    try {
      return { example, url: await deadline.wait(listening, `${name} to listen`) };
    } catch (error) {
      example.kill();
      throw error;
    }
  }

  /** Sends SIGTERM and resolves with how the process ended; rejects once `deadline` passes. */
  stop(deadline: Deadline): Promise<Exit> {
    this.#child.kill("SIGTERM");
    return deadline.wait(this.exited, "the example to stop after SIGTERM");
  }

  /** Cuts the process if it still runs (cleanup after a failure); does nothing once it has exited. */
  kill(): void {
    this.#child.kill("SIGKILL");
  }

  /** `exit` with everything the process printed, for assertion messages. */
  describe(exit: Exit): string {
    return `code ${exit.code}, signal ${exit.signal}; stdout: ${this.stdout}; stderr: ${this.stderr}`;
  }
}
