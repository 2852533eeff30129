/**
 * Runs each example as its own process, the way a user starts it (`deno run -A`, `bun`, or `node` on the
 * compiled `npm/examples/*.js`), talks to it over real sockets, then stops it with SIGTERM and checks that
 * it stops gracefully. The examples print `Listening on http://127.0.0.1:<port>` with `PORT=0`, which is how
 * the test learns the port.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Deadline, ExampleProcess as Example } from "./_helpers/example_process.ts";

/** Every test, child process start-up included, must finish within this. */
const TEST_LIMIT_MS = 20_000;

/** Stops the example with SIGTERM and asserts a graceful, successful exit. */
async function assertStopsGracefully(example: Example, deadline: Deadline): Promise<void> {
  const exit = await example.stop(deadline);
  assert.deepEqual(exit, { code: 0, signal: null }, example.describe(exit));
  assert.match(example.stdout, /\nStopped\n$/);
}

/** Time allowed for a killed example to go, on top of the test's own limit. */
const CLEANUP_LIMIT_MS = 5_000;

/** Runs `body` against a started example; the process never outlives the test. */
async function withExample(
  name: string,
  env: Record<string, string>,
  body: (example: Example, url: string, deadline: Deadline) => Promise<void>,
): Promise<void> {
  const deadline = new Deadline(TEST_LIMIT_MS);
  const { example, url } = await Example.start(name, deadline, env);
  let failure: { error: unknown } | undefined;
  try {
    await body(example, url, deadline);
  } catch (error) {
    failure = { error };
  }
  // After a failure the process may still run: cut it. Not ending even then is a failure too, but the
  // first failure is the one to report.
  example.kill();
  try {
    await new Deadline(CLEANUP_LIMIT_MS).wait(example.exited, `${name} to exit after SIGKILL`);
  } catch (error) {
    failure ??= { error };
  }
  if (failure !== undefined) throw failure.error;
}

async function get(url: string, deadline: Deadline): Promise<{ response: Response; text: string }> {
  return await deadline.wait(
    (async () => {
      const response = await fetch(url);
      return { response, text: await response.text() };
    })(),
    `GET ${url}`,
  );
}

// ---- Websocket client: the runtime's own, or the `ws` package on Node 20, which has none ----

type Message = string | Uint8Array;

interface Closed {
  code: number;
  reason: string;
}

interface BrowserLikeSocket {
  binaryType: string;
  readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

type SocketClass = new (url: string) => BrowserLikeSocket;

async function socketClass(): Promise<SocketClass> {
  const native = (globalThis as { WebSocket?: SocketClass }).WebSocket;
  if (native !== undefined) return native;
  // A variable specifier keeps type checkers from resolving a package that has no types installed.
  const name = "ws";
  const module = await import(name) as { WebSocket: SocketClass };
  return module.WebSocket;
}

/** A Websocket client that queues what it receives, so a test can await messages in order. */
class Client {
  readonly #socket: BrowserLikeSocket;
  readonly #queue: Message[] = [];
  #waiter: (() => void) | undefined;
  readonly closed: Promise<Closed>;

  private constructor(socket: BrowserLikeSocket) {
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      const data = event.data;
      this.#queue.push(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
      this.#waiter?.();
    };
    this.closed = new Promise((resolve) => {
      socket.onclose = (event) => {
        resolve({ code: event.code, reason: event.reason });
        this.#waiter?.();
      };
    });
  }

  static async open(url: string, deadline: Deadline): Promise<Client> {
    const Socket = await socketClass();
    const socket = new Socket(url);
    const client = new Client(socket);
    await deadline.wait(
      new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error(`Cannot open a Websocket to ${url}`));
      }),
      `the Websocket to ${url} to open`,
    );
    socket.onerror = null;
    return client;
  }

  /** The next message received. */
  next(deadline: Deadline): Promise<Message> {
    return deadline.wait(
      (async () => {
        while (this.#queue.length === 0) {
          if (this.#socket.readyState === 3) throw new Error("The Websocket closed");
          await new Promise<void>((resolve) => this.#waiter = resolve);
          this.#waiter = undefined;
        }
        return this.#queue.shift()!;
      })(),
      "a Websocket message",
    );
  }

  /** The next message parsed as JSON, skipping (and returning) those that do not match `type`. */
  async nextOf(
    type: string,
    deadline: Deadline,
  ): Promise<{ message: Record<string, unknown>; skipped: Record<string, unknown>[] }> {
    const skipped: Record<string, unknown>[] = [];
    for (;;) {
      const data = await this.next(deadline);
      assert.equal(typeof data, "string", "the chat sends text messages only");
      const message = JSON.parse(data as string) as Record<string, unknown>;
      if (message.type === type) return { message, skipped };
      skipped.push(message);
    }
  }

  send(data: string | Uint8Array): void {
    this.#socket.send(data);
  }

  close(): void {
    this.#socket.close(1000);
  }
}

function wsUrl(url: string, path: string): string {
  return url.replace(/^http:/, "ws:") + path;
}

// ---- the examples ----

describe("examples/hello", () => {
  test("serves the public folder, answers Hello World! elsewhere, and stops on SIGTERM", async () => {
    await withExample("hello", {}, async (example, url, deadline) => {
      const page = readFileSync(new URL("../examples/public/index.html", import.meta.url), "utf8");
      const index = await get(`${url}/`, deadline);
      assert.equal(index.response.status, 200);
      assert.equal(index.response.headers.get("content-type"), "text/html; charset=utf-8");
      assert.equal(index.text, page);

      const hello = await get(`${url}/hello`, deadline);
      assert.equal(hello.response.status, 200);
      assert.equal(hello.text, "Hello World!");

      await assertStopsGracefully(example, deadline);
    });
  });
});

describe("examples/echo", () => {
  test("answers Hello World! and echoes text and binary messages on any path", async () => {
    await withExample("echo", {}, async (example, url, deadline) => {
      const hello = await get(`${url}/anything?at=all`, deadline);
      assert.equal(hello.response.status, 200);
      assert.equal(hello.text, "Hello World!");

      const client = await Client.open(wsUrl(url, "/some/path"), deadline);
      client.send("hello ☃");
      assert.equal(await client.next(deadline), "hello ☃");
      const bytes = new Uint8Array([0, 1, 2, 0x80, 0xff]);
      client.send(bytes);
      assert.deepEqual(await client.next(deadline), bytes);
      const large = new Uint8Array(100_000).map((_, i) => i % 251);
      client.send(large);
      assert.deepEqual(await client.next(deadline), large);

      // A graceful stop closes open Websockets with 1001 (going away) before the process exits.
      await assertStopsGracefully(example, deadline);
      const closed = await deadline.wait(client.closed, "the Websocket to close");
      assert.equal(closed.code, 1001);
    });
  });

  test("WS_MAX_MSG_SIZE sets the message limit: one byte over closes with 1009", async () => {
    await withExample("echo", { WS_MAX_MSG_SIZE: "64" }, async (example, url, deadline) => {
      const client = await Client.open(wsUrl(url, "/"), deadline);
      client.send("x".repeat(64));
      assert.equal(await client.next(deadline), "x".repeat(64));
      client.send("x".repeat(65));
      const closed = await deadline.wait(client.closed, "the Websocket to close");
      assert.equal(closed.code, 1009);
      await assertStopsGracefully(example, deadline);
    });
  });

  test("a WS_TIMEOUT out of range (0-255) stops the example with a RangeError", async () => {
    const deadline = new Deadline(TEST_LIMIT_MS);
    const example = new Example("echo", { WS_TIMEOUT: "256" });
    try {
      const exit = await deadline.wait(example.exited, "the example to fail");
      assert.notEqual(exit.code, 0, example.describe(exit));
      assert.match(example.stderr, /RangeError/);
      assert.doesNotMatch(example.stdout, /Listening/);
    } finally {
      example.kill();
    }
  });
});

describe("examples/chat", () => {
  test("serves the page and its script", async () => {
    await withExample("chat", {}, async (example, url, deadline) => {
      const page = await get(`${url}/`, deadline);
      assert.equal(page.response.status, 200);
      assert.match(page.text, /<script src="\/chat\.js"/);
      const script = await get(`${url}/chat.js`, deadline);
      assert.equal(script.response.status, 200);
      assert.match(script.response.headers.get("content-type") ?? "", /javascript/);
      // The page renders untrusted names and messages as text only.
      assert.doesNotMatch(
        script.text,
        /\.(inner|outer)HTML\s*\+?=|insertAdjacentHTML|document\.write/,
      );
      const missing = await get(`${url}/nothing-here`, deadline);
      assert.equal(missing.response.status, 404);
      await assertStopsGracefully(example, deadline);
    });
  });

  test("sends each message to everyone but its sender and tells everyone who is online", async () => {
    await withExample("chat", {}, async (example, url, deadline) => {
      const alice = await Client.open(wsUrl(url, "/ws?name=alice"), deadline);
      assert.deepEqual((await alice.nextOf("welcome", deadline)).message, {
        type: "welcome",
        name: "alice",
      });
      assert.deepEqual((await alice.nextOf("online", deadline)).message, {
        type: "online",
        count: 1,
      });

      // The name goes through the query string; control characters are dropped.
      const bob = await Client.open(wsUrl(url, "/ws?name=%01bob%0A"), deadline);
      assert.equal((await bob.nextOf("welcome", deadline)).message.name, "bob");
      assert.equal((await bob.nextOf("online", deadline)).message.count, 2);
      assert.equal((await alice.nextOf("online", deadline)).message.count, 2);
      assert.deepEqual((await alice.nextOf("joined", deadline)).message, {
        type: "joined",
        name: "bob",
      });

      alice.send("hi <b>bob</b>");
      assert.deepEqual((await bob.nextOf("message", deadline)).message, {
        type: "message",
        name: "alice",
        text: "hi <b>bob</b>",
      });
      bob.send("hello alice");
      // Alice's own "hi" must not have come back to her: the first message she gets is Bob's.
      const toAlice = await alice.nextOf("message", deadline);
      assert.deepEqual(toAlice.message, { type: "message", name: "bob", text: "hello alice" });
      assert.deepEqual(toAlice.skipped, []);

      bob.close();
      await deadline.wait(bob.closed, "Bob's Websocket to close");
      assert.equal((await alice.nextOf("online", deadline)).message.count, 1);
      assert.deepEqual((await alice.nextOf("left", deadline)).message, {
        type: "left",
        name: "bob",
      });

      // A client with no name gets a guest name.
      const guest = await Client.open(wsUrl(url, "/ws"), deadline);
      assert.match(String((await guest.nextOf("welcome", deadline)).message.name), /^guest-\d+$/);
      assert.equal((await guest.nextOf("online", deadline)).message.count, 2);

      await assertStopsGracefully(example, deadline);
      assert.equal((await deadline.wait(alice.closed, "Alice's Websocket to close")).code, 1001);
      assert.equal(
        (await deadline.wait(guest.closed, "the guest's Websocket to close")).code,
        1001,
      );
    });
  });
});
