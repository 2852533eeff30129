/**
 * Real clients over real TCP: the runtime's built-in `WebSocket` (Deno, Bun; Node 20 has none), the npm `ws`
 * client and undici's `WebSocket`, each against the echo server on 127.0.0.1.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runtime, startHttpServer, Websocket, type WebsocketConnection } from "../../mod.ts";
import {
  CLOSE_ME,
  type EchoServer,
  messageSet,
  pattern,
  SERVER_CLOSE,
  startEchoServer,
  TEST_MAX_MSG_SIZE,
  utf8,
  WAIT_MS,
  within,
} from "../_helpers/ws_client.ts";

/** Per-test bound: Bun's default of 5 s would cut a test while its own bounded waits are still running. */
const TEST_MS = 30_000;

/** A message as a client received it. */
interface Received {
  data: Uint8Array;
  isText: boolean;
}

/** How a client saw the connection end. */
interface Closed {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** One client connection, whatever library made it. */
interface TestSocket {
  opened: Promise<void>;
  send(data: string | Uint8Array): void;
  /** The next message, in arrival order. */
  next(): Promise<Received>;
  close(code: number, reason: string): void;
  /** The close event; the wait's bound starts when this is called. */
  closed(): Promise<Closed>;
}

type Connect = (url: string) => TestSocket;

/** Messages in arrival order; `next()` waits for one. */
class Inbox {
  #items: Promise<Received>[] = [];
  #waiters: ((item: Promise<Received>) => void)[] = [];

  push(item: Promise<Received>): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter(item);
    else this.#items.push(item);
  }

  async next(): Promise<Received> {
    let item = this.#items.shift();
    if (item === undefined) {
      let waiter!: (item: Promise<Received>) => void;
      const arrived = new Promise<{ item: Promise<Received> }>((resolve) =>
        waiter = (next) => resolve({ item: next })
      );
      this.#waiters.push(waiter);
      try {
        item = (await within(arrived, WAIT_MS, "a message")).item;
      } finally {
        // A wait that timed out must not swallow a later message.
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      }
    }
    return await within(item, WAIT_MS, "a message's data");
  }
}

function bytesOf(data: unknown): Promise<Received> {
  if (typeof data === "string") return Promise.resolve({ data: utf8(data), isText: true });
  if (data instanceof ArrayBuffer) {
    return Promise.resolve({ data: new Uint8Array(data), isText: false });
  }
  if (ArrayBuffer.isView(data)) {
    return Promise.resolve({
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
      isText: false,
    });
  }
  if (data instanceof Blob) {
    return data.arrayBuffer().then((buffer) => ({ data: new Uint8Array(buffer), isText: false }));
  }
  throw new TypeError(`Unexpected message data: ${Object.prototype.toString.call(data)}`);
}

/** The WHATWG `WebSocket` interface as the built-in and undici's implement it. */
interface WhatwgSocket {
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}
type WhatwgConstructor = new (url: string) => WhatwgSocket;

function whatwg(Socket: WhatwgConstructor): Connect {
  return (url) => {
    const socket = new Socket(url);
    socket.binaryType = "arraybuffer";
    const inbox = new Inbox();
    socket.onmessage = (event) => inbox.push(bytesOf(event.data));
    const opened = new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = (event) =>
        reject(new Error(`WebSocket error before open: ${String(event)}`));
    });
    const closed = new Promise<Closed>((resolve) => {
      socket.onclose = (event) =>
        resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
    });
    return {
      opened: within(opened, WAIT_MS, "open"),
      send: (data) => socket.send(data),
      next: () => inbox.next(),
      close: (code, reason) => socket.close(code, reason),
      closed: () => within(closed, WAIT_MS, "the close event"),
    };
  };
}

/** The part of the npm `ws` client used here. */
interface WsSocket {
  on(event: "open", listener: () => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  on(event: "message", listener: (data: Uint8Array, isBinary: boolean) => void): void;
  on(event: "close", listener: (code: number, reason: Uint8Array) => void): void;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}
type WsConstructor = new (url: string) => WsSocket;

function wsClient(Socket: WsConstructor): Connect {
  return (url) => {
    const socket = new Socket(url);
    const inbox = new Inbox();
    let sawError = false;
    socket.on("message", (data, isBinary) => {
      inbox.push(Promise.resolve({ data: Uint8Array.from(data), isText: !isBinary }));
    });
    const opened = new Promise<void>((resolve, reject) => {
      socket.on("open", () => resolve());
      socket.on("error", (error) => {
        sawError = true;
        reject(error);
      });
    });
    opened.catch(() => {});
    const closed = new Promise<Closed>((resolve) => {
      socket.on("close", (code, reason) =>
        // ws reports 1006 for a connection that ended without a close handshake.
        resolve({
          code,
          reason: new TextDecoder().decode(reason),
          wasClean: code !== 1006 && !sawError,
        }));
    });
    return {
      opened: within(opened, WAIT_MS, "open"),
      send: (data) => socket.send(data),
      next: () => inbox.next(),
      close: (code, reason) => socket.close(code, reason),
      closed: () => within(closed, WAIT_MS, "the close event"),
    };
  };
}

/** Each client, or why it cannot run here. */
async function clients(): Promise<[string, Connect | string][]> {
  const list: [string, Connect | string][] = [];
  const builtIn = (globalThis as { WebSocket?: unknown }).WebSocket;
  list.push([
    "built-in WebSocket",
    typeof builtIn === "function"
      ? whatwg(builtIn as WhatwgConstructor)
      : `${runtime} has no global WebSocket`,
  ]);
  try {
    const ws = await import("ws") as { default?: unknown; WebSocket?: unknown };
    list.push(["npm ws", wsClient((ws.default ?? ws.WebSocket) as WsConstructor)]);
  } catch (error) {
    list.push(["npm ws", `the ws package does not load on ${runtime}: ${error}`]);
  }
  try {
    const undici = await import("undici");
    list.push(["undici WebSocket", whatwg(undici.WebSocket as unknown as WhatwgConstructor)]);
  } catch (error) {
    list.push(["undici WebSocket", `undici does not load on ${runtime}: ${error}`]);
  }
  return list;
}

function describeBytes(bytes: Uint8Array): string {
  return bytes.length > 40 ? `${bytes.length} bytes` : `[${bytes.join(",")}]`;
}

/** Asserts `received` is `sent`, byte for byte and of the same kind. */
function assertEcho(received: Received, sent: string | Uint8Array, index: number): void {
  const isText = typeof sent === "string";
  const expected = isText ? utf8(sent) : sent;
  assert.equal(received.isText, isText, `message ${index}: text/binary mixed up`);
  assert.equal(received.data.length, expected.length, `message ${index}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (received.data[i] !== expected[i]) {
      assert.fail(`message ${index} (${describeBytes(expected)}) differs at byte ${i}`);
    }
  }
}

async function withEchoServer(body: (echo: EchoServer) => Promise<void>): Promise<void> {
  const saved = Websocket.maxMsgSize;
  Websocket.maxMsgSize = TEST_MAX_MSG_SIZE;
  const echo = await startEchoServer();
  try {
    await body(echo);
  } finally {
    Websocket.maxMsgSize = saved;
    await within(echo.server.stop(), WAIT_MS * 2, "server.stop()");
  }
}

for (const [name, connect] of await clients()) {
  const skip = typeof connect === "string" ? connect : false;
  describe(`${name} over TCP (${runtime})`, () => {
    test("echoes text, binary, empty, 70 kB and 1 MiB messages and closes with 1000", {
      skip,
      timeout: TEST_MS,
    }, async () => {
      await withEchoServer(async (echo) => {
        const socket = (connect as Connect)(echo.url);
        await socket.opened;
        const messages = messageSet();
        for (const message of messages) socket.send(message);
        for (let i = 0; i < messages.length; i++) assertEcho(await socket.next(), messages[i], i);
        socket.close(1000, "bye");
        const closed = await socket.closed();
        assert.equal(closed.code, 1000);
        assert.equal(closed.wasClean, true);
        assert.deepEqual(await echo.nextClose(), { code: 1000, reason: "bye" });
      });
    });

    test("60 back-to-back messages of 17–70 kB come back intact and in order", {
      skip,
      timeout: TEST_MS,
    }, async () => {
      await withEchoServer(async (echo) => {
        const socket = (connect as Connect)(echo.url);
        await socket.opened;
        // Above the 16 KiB at which echoes go out by reference, split across reads: each message is assembled
        // in the recycled message buffer while earlier echoes may still be queued.
        const messages = Array.from({ length: 60 }, (_, i) => pattern(17_000 + i * 900, i + 10));
        for (const message of messages) socket.send(message);
        for (let i = 0; i < messages.length; i++) assertEcho(await socket.next(), messages[i], i);
        socket.close(1000, "bye");
        assert.equal((await socket.closed()).code, 1000);
        assert.deepEqual(await echo.nextClose(), { code: 1000, reason: "bye" });
      });
    });

    /**
     * A server whose connection on `/receiver` is handed to `onMessage`, a client there (`target`) and one
     * on `/sender` (`source`); `exchange` runs between them, then both close cleanly.
     */
    async function withReceiver(
      onMessage: (
        ws: WebsocketConnection,
        data: Uint8Array,
        isText: boolean,
        receiver: WebsocketConnection | undefined,
      ) => void,
      exchange: (source: TestSocket, target: TestSocket) => Promise<void>,
    ): Promise<void> {
      const saved = Websocket.maxMsgSize;
      Websocket.maxMsgSize = TEST_MAX_MSG_SIZE;
      let receiver: WebsocketConnection | undefined;
      const server = await startHttpServer((request) => {
        Websocket.upgrade({
          request,
          onOpen: (ws) => {
            if (request.path === "/receiver") receiver = ws;
          },
          onMessage: (ws, data, isText) => onMessage(ws, data, isText, receiver),
        });
      }, { port: 0, address: "127.0.0.1", handleSignals: false });
      try {
        const target = (connect as Connect)(`ws://127.0.0.1:${server.port}/receiver`);
        await target.opened;
        const source = (connect as Connect)(`ws://127.0.0.1:${server.port}/sender`);
        await source.opened;
        await exchange(source, target);
        source.close(1000, "bye");
        target.close(1000, "bye");
        await source.closed();
        await target.closed();
      } finally {
        Websocket.maxMsgSize = saved;
        await within(server.stop(), WAIT_MS * 2, "server.stop()");
      }
    }

    test("60 messages of 17–70 kB relayed to another connection arrive intact and in order", {
      skip,
      timeout: TEST_MS,
    }, async () => {
      // The relay writes the view onMessage was handed to a different socket: while that socket's kernel
      // buffer is full the bytes wait in its transport, and must not be the sender's recycled read buffer.
      await withReceiver((_ws, data, isText, receiver) => {
        if (receiver !== undefined) Websocket.write(receiver, data, isText);
      }, async (source, target) => {
        const messages = Array.from({ length: 60 }, (_, i) => pattern(17_000 + i * 900, i + 30));
        for (const message of messages) source.send(message);
        for (let i = 0; i < messages.length; i++) assertEcho(await target.next(), messages[i], i);
      });
    });

    test("40 messages of 300–66 kB echoed, every third also relayed, arrive intact and in order", {
      skip,
      timeout: TEST_MS,
    }, async () => {
      // Buffered messages over 64 KiB come from the process-wide pool: a buffer echoed by reference must
      // not be reused while the sender's transport still has it queued, nor one written to two sockets.
      let count = 0;
      await withReceiver((ws, data, isText, receiver) => {
        Websocket.write(ws, data, isText);
        if (count++ % 3 === 0 && receiver !== undefined) Websocket.write(receiver, data, isText);
      }, async (source, target) => {
        const messages = Array.from({ length: 40 }, (_, i) => pattern(300_000 - i * 6_000, i + 7));
        for (const message of messages) source.send(message);
        for (let i = 0; i < messages.length; i++) assertEcho(await source.next(), messages[i], i);
        for (let i = 0; i < messages.length; i += 3) {
          assertEcho(await target.next(), messages[i], i);
        }
      });
    });

    test("a server that honours -1 and onDrain streams 8 MiB within backpressureLimit", {
      skip,
      timeout: TEST_MS,
    }, async () => {
      const saved = Websocket.backpressureLimit;
      Websocket.backpressureLimit = 256 * 1024;
      const CHUNKS = 128;
      const stats = { sent: 0, refusals: 0, drains: 0, maxBuffered: 0 };
      const pump = (ws: WebsocketConnection) => {
        while (stats.sent < CHUNKS) {
          const buffered = Websocket.bufferedAmount(ws);
          if (Websocket.write(ws, pattern(64 * 1024, stats.sent)) !== 0) {
            stats.refusals++;
            return;
          }
          stats.maxBuffered = Math.max(stats.maxBuffered, buffered);
          stats.sent++;
        }
        Websocket.close(ws, 1000, "done");
      };
      const server = await startHttpServer((request) => {
        Websocket.upgrade({
          request,
          onOpen: pump,
          onDrain: (ws) => {
            stats.drains++;
            pump(ws);
          },
        });
      }, { port: 0, address: "127.0.0.1", handleSignals: false });
      try {
        const socket = (connect as Connect)(`ws://127.0.0.1:${server.port}/stream`);
        await socket.opened;
        for (let i = 0; i < CHUNKS; i++) {
          const received = await within(
            socket.next(),
            WAIT_MS,
            `chunk ${i} (sent ${stats.sent}, refused ${stats.refusals}, drained ${stats.drains})`,
          );
          assertEcho(received, pattern(64 * 1024, i), i);
        }
        assert.equal((await socket.closed()).code, 1000);
        assert.ok(stats.refusals > 0, "the limit was never reached");
        assert.equal(stats.drains, stats.refusals, "each refusal is followed by one onDrain");
        assert.ok(
          stats.maxBuffered <= 256 * 1024,
          `wrote with ${stats.maxBuffered} bytes buffered`,
        );
      } finally {
        Websocket.backpressureLimit = saved;
        await within(server.stop(), WAIT_MS * 2, "server.stop()");
      }
    });

    test("the server closes first: 4000 and its reason reach the client", {
      skip,
      timeout: TEST_MS,
    }, async () => {
      await withEchoServer(async (echo) => {
        const socket = (connect as Connect)(echo.url);
        await socket.opened;
        socket.send("before");
        assertEcho(await socket.next(), "before", 0);
        socket.send(CLOSE_ME);
        const closed = await socket.closed();
        assert.deepEqual(closed, { ...SERVER_CLOSE, wasClean: true });
        assert.equal((await echo.nextClose()).code, SERVER_CLOSE.code);
      });
    });

    test(
      "a message over maxMsgSize closes the connection with 1009",
      { skip, timeout: TEST_MS },
      async () => {
        await withEchoServer(async (echo) => {
          Websocket.maxMsgSize = 1000;
          const socket = (connect as Connect)(echo.url);
          await socket.opened;
          socket.send(new Uint8Array(1000));
          assertEcho(await socket.next(), new Uint8Array(1000), 0);
          socket.send(new Uint8Array(1001));
          const closed = await socket.closed();
          assert.equal(closed.code, 1009);
          assert.equal((await echo.nextClose()).code, 1009);
        });
      },
    );
  });
}

describe(`client pings over TCP (${runtime})`, () => {
  test("the npm ws client's pings are answered with pongs carrying the same payload", {
    timeout: TEST_MS,
  }, async () => {
    const { default: WebSocket } = await import("ws");
    await withEchoServer(async (echo) => {
      const socket = new WebSocket(echo.url);
      await within(new Promise((resolve) => socket.once("open", resolve)), WAIT_MS, "open");
      const payloads = [new Uint8Array(0), utf8("are you there?"), pattern(125)];
      for (const payload of payloads) {
        const pong = new Promise<Uint8Array>((resolve) => socket.once("pong", resolve));
        socket.ping(payload);
        assert.deepEqual(Uint8Array.from(await within(pong, WAIT_MS, "pong")), payload);
      }
      const closed = new Promise<number>((resolve) => socket.once("close", resolve));
      socket.close(1000, "bye");
      assert.equal(await within(closed, WAIT_MS, "close"), 1000);
    });
  });
});
