/**
 * The seed's Websocket API over the whole server, in memory: wire bytes go in through `server.serveStreams`,
 * and every byte the server writes is parsed back. Time is an injected clock advanced with `server.tick()`.
 *
 * Global settings (`Websocket.maxMsgSize`, `timeout`, `backpressureLimit`) are restored after each test that
 * changes them; `Websocket.count()` is process-wide, so only its changes are asserted.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  createStreamServer,
  type HttpRequest,
  HttpResponse,
  type HttpServerOptions,
  type Platform,
  type Server,
  Websocket,
  type WebsocketConnection,
  type WebsocketSettings,
  websocketUpgrade,
} from "../../mod.ts";
import { deferred } from "../_helpers/fixtures.ts";
import { concat, splits } from "../_helpers/splits.ts";
import {
  closeOf,
  connect,
  maskedFrame,
  type MemoryClient,
  Op,
  pattern,
  type ResponseHead,
  SAMPLE_ACCEPT,
  settle,
  text,
  upgradeRequest,
  type UpgradeRequestOptions,
  utf8,
  WAIT_MS,
  within,
} from "../_helpers/ws_client.ts";

// ---- harness ----

/** A message as `onMessage` saw it (copied: the buffer is recycled after the callback). */
interface Received {
  data: Uint8Array;
  isText: boolean;
}

/** The server's view of one upgrade attempt: every callback it got, in order. */
class Conn {
  readonly events: string[] = [];
  readonly messages: Received[] = [];
  ws: WebsocketConnection | undefined;
  uuid = 0;
  opens = 0;
  closes = 0;
  readonly #opened = deferred();
  readonly #closed = deferred();
  #waiters: (() => void)[] = [];

  /** Wraps the test's callbacks with recording ones. Without its own `onMessage`, the connection echoes. */
  settings(request: HttpRequest, extra: Partial<WebsocketSettings>): WebsocketSettings {
    return {
      ...extra,
      request,
      onOpen: (ws) => {
        this.opens++;
        this.ws = ws;
        this.events.push("open");
        extra.onOpen?.(ws);
        this.#opened.resolve();
      },
      onMessage: (ws, data, isText) => {
        this.events.push(`${isText ? "text" : "binary"}:${data.length}`);
        this.messages.push({ data: data.slice(), isText });
        if (extra.onMessage !== undefined) extra.onMessage(ws, data, isText);
        else Websocket.write(ws, data, isText);
        this.#wake();
      },
      onShutdown: (ws) => {
        this.events.push("shutdown");
        extra.onShutdown?.(ws);
      },
      onClose: (ws) => {
        this.closes++;
        this.ws ??= ws;
        this.events.push("close");
        extra.onClose?.(ws);
        this.#closed.resolve();
      },
      onDrain: (ws) => {
        this.events.push("drain");
        extra.onDrain?.(ws);
      },
    };
  }

  opened(): Promise<void> {
    return within(this.#opened.promise, WAIT_MS, "onOpen");
  }

  closed(): Promise<void> {
    return within(this.#closed.promise, WAIT_MS, "onClose");
  }

  /** Waits until message number `index` (from 0) has arrived. */
  async message(index: number): Promise<Received> {
    while (this.messages.length <= index) {
      await within(
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        WAIT_MS,
        `message ${index}`,
      );
    }
    return this.messages[index];
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

interface Setup {
  /** Extra settings for each upgrade. */
  settings?: (request: HttpRequest, conn: Conn) => Partial<WebsocketSettings>;
  /** Replaces the plain `Websocket.upgrade(settings)` of the handler (and is the handler's result). */
  upgrade?: (settings: WebsocketSettings, request: HttpRequest, conn: Conn) => void | Promise<void>;
  options?: HttpServerOptions;
  platform?: Platform;
}

interface Harness {
  server: Server;
  conns: Conn[];
  /** Opens a connection and upgrades it; resolves once `onOpen` ran. */
  open(
    request?: UpgradeRequestOptions,
  ): Promise<{ client: MemoryClient; conn: Conn; head: ResponseHead }>;
  /** Stops the server (open connections are cut after a short grace). */
  stop(): Promise<void>;
}

async function harness(setup: Setup = {}): Promise<Harness> {
  const conns: Conn[] = [];
  const server = await createStreamServer(
    (request) => {
      const conn = new Conn();
      conns.push(conn);
      conn.uuid = request.uuid;
      const settings = conn.settings(request, setup.settings?.(request, conn) ?? {});
      if (setup.upgrade !== undefined) return setup.upgrade(settings, request, conn);
      Websocket.upgrade(settings);
    },
    { shutdownTimeout: 0.2, ...setup.options },
    setup.platform,
  );
  return {
    server,
    conns,
    async open(request) {
      const client = connect(server);
      const head = await client.upgrade(request);
      const conn = conns[conns.length - 1];
      await conn.opened();
      return { client, conn, head };
    },
    stop: () => within(server.stop(), WAIT_MS, "server.stop()"),
  };
}

/** A platform whose SHA-1 is synchronous, so the 101 is queued inside the handler (no await). */
const SYNC_SHA1: Platform = {
  name: "streams",
  homeDir: () => undefined,
  sha1Base64: (input) => createHash("sha1").update(input).digest("base64"),
};

/** Both handshake paths: `crypto.subtle` (asynchronous, the default) and a synchronous SHA-1. */
const PLATFORMS: [string, Platform | undefined][] = [
  ["async SHA-1", undefined],
  ["sync SHA-1", SYNC_SHA1],
];

/** Runs `body` with `Websocket[name]` set to `value`, then restores it. */
async function withSetting<K extends "maxMsgSize" | "timeout" | "backpressureLimit">(
  name: K,
  value: number,
  body: () => Promise<void>,
): Promise<void> {
  const saved = Websocket[name];
  Websocket[name] = value;
  try {
    await body();
  } finally {
    Websocket[name] = saved;
  }
}

/** The client closes cleanly and the server reports it once. */
async function closeCleanly(client: MemoryClient, conn: Conn): Promise<void> {
  const result = await client.closeHandshake(1000);
  assert.equal(result.code, 1000);
  assert.equal(result.side, "closed");
  await conn.closed();
  await client.finish();
}

// ---- tests ----

describe("Websocket callbacks", () => {
  for (const [name, platform] of PLATFORMS) {
    test(`onOpen, onMessage, onClose come in order; a client close is answered (${name})`, async () => {
      const h = await harness({ platform });
      try {
        const { client, conn } = await h.open();
        assert.equal(conn.ws!.readyState, "open");
        client.sendFrame(Op.Text, "hi");
        client.sendFrame(Op.Binary, Uint8Array.of(1, 2, 3));
        assert.deepEqual(await client.readFrame(), {
          fin: true,
          opcode: Op.Text,
          payload: utf8("hi"),
        });
        assert.deepEqual(await client.readFrame(), {
          fin: true,
          opcode: Op.Binary,
          payload: Uint8Array.of(1, 2, 3),
        });
        const result = await client.closeHandshake(1000, "done");
        // RFC 6455 §5.5.1: the echo carries the status code; §7.1.1: then the server closes TCP.
        assert.deepEqual(result, { before: [], code: 1000, reason: "", side: "closed" });
        await conn.closed();
        await client.finish();
        await settle();
        assert.deepEqual(conn.events, ["open", "text:2", "binary:3", "close"]);
        assert.equal(conn.closes, 1);
        assert.equal(conn.ws!.readyState, "closed");
        assert.equal(conn.ws!.closeCode, 1000);
        assert.equal(conn.ws!.closeReason, "done");
      } finally {
        await h.stop();
      }
    });
  }

  test("close(ws, code, reason) sends that frame; TCP closes only after the client answers", async () => {
    const h = await harness({
      settings: () => ({
        onMessage: (ws, data) => {
          if (text(data) === "close") Websocket.close(ws, 4000, "server says bye");
        },
      }),
    });
    try {
      const { client, conn } = await h.open();
      client.sendFrame(Op.Text, "close");
      assert.deepEqual(closeOf(await client.readFrame()), {
        code: 4000,
        reason: "server says bye",
      });
      assert.equal(conn.ws!.readyState, "closing");
      // §7.1.2: until the client answers, its messages still arrive and the TCP connection stays up.
      client.sendFrame(Op.Text, "still here");
      assert.equal(text((await conn.message(1)).data), "still here");
      await settle();
      assert.equal(client.serverSide, "open");
      assert.equal(conn.closes, 0);
      client.sendClose(4000, "ok");
      assert.equal(await client.serverEnd(), "closed");
      assert.equal(client.unread.length, 0, "nothing after the close frame");
      client.end();
      await conn.closed();
      await client.finish();
      await settle();
      assert.equal(conn.closes, 1);
      assert.equal(conn.ws!.closeCode, 4000);
      assert.deepEqual(conn.events, ["open", "text:5", "text:10", "close"]);
    } finally {
      await h.stop();
    }
  });

  test("onOpen may write at once: the frame follows the 101", async () => {
    for (const [, platform] of PLATFORMS) {
      const h = await harness({
        platform,
        settings: () => ({ onOpen: (ws) => ws.write("welcome") }),
      });
      try {
        const { client, conn } = await h.open();
        assert.deepEqual(await client.readFrame(), {
          fin: true,
          opcode: Op.Text,
          payload: utf8("welcome"),
        });
        await closeCleanly(client, conn);
      } finally {
        await h.stop();
      }
    }
  });

  test("an async handler may upgrade after an await", async () => {
    const h = await harness({
      upgrade: async (settings) => {
        await Promise.resolve();
        await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
        Websocket.upgrade(settings);
      },
    });
    try {
      const { client, conn } = await h.open();
      client.sendFrame(Op.Text, "later");
      assert.deepEqual((await client.readFrame()).payload, utf8("later"));
      await closeCleanly(client, conn);
    } finally {
      await h.stop();
    }
  });

  test("a callback that throws closes the connection with 1011 and onClose still comes once", async () => {
    const logged: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => logged.push(args);
    const h = await harness({
      settings: () => ({
        onMessage: () => {
          throw new Error("app bug");
        },
      }),
    });
    try {
      const { client, conn } = await h.open();
      client.sendFrame(Op.Text, "boom");
      const close = closeOf(await client.readFrame());
      // RFC 6455 §7.4.1: 1011, an unexpected condition on the server; no details leak to the client.
      assert.deepEqual(close, { code: 1011, reason: "" });
      client.sendClose(1011);
      assert.equal(await client.serverEnd(), "closed");
      client.end();
      await conn.closed();
      assert.equal(conn.closes, 1);
      assert.equal(logged.length, 1);
    } finally {
      console.error = consoleError;
      await h.stop();
    }
  });

  test("close(ws) with no code sends 1000", async () => {
    const h = await harness({ settings: () => ({ onOpen: (ws) => Websocket.close(ws) }) });
    try {
      const { client, conn } = await h.open();
      const frame = await client.readFrame();
      assert.deepEqual(frame.payload, Uint8Array.of(0x03, 0xe8));
      client.sendClose(1000);
      await client.serverEnd();
      client.end();
      await conn.closed();
      assert.equal(conn.closes, 1);
    } finally {
      await h.stop();
    }
  });

  const violations: [string, Uint8Array, number][] = [
    ["an unmasked frame", maskedFrame(Op.Text, "hi", { mask: null }), 1002],
    ["a reserved opcode", maskedFrame(0x3, "hi"), 1002],
    ["a fragmented ping", maskedFrame(Op.Ping, "", { fin: false }), 1002],
    ["a continuation without a message", maskedFrame(Op.Continuation, "x"), 1002],
    ["invalid UTF-8 in a text message", maskedFrame(Op.Text, Uint8Array.of(0xc3, 0x28)), 1007],
    ["a close code of 1005", maskedFrame(Op.Close, Uint8Array.of(0x03, 0xed)), 1002],
  ];
  for (const [name, bytes, code] of violations) {
    test(`a protocol error (${name}) fails with ${code} and calls onClose once`, async () => {
      const h = await harness();
      try {
        const { client, conn } = await h.open();
        client.send(bytes);
        assert.equal(closeOf(await client.readFrame()).code, code);
        assert.equal(await client.serverEnd(), "closed");
        client.end();
        await conn.closed();
        await client.finish();
        await settle();
        assert.equal(conn.closes, 1);
        assert.equal(conn.messages.length, 0);
        assert.equal(conn.ws!.closeCode, code);
        assert.equal(Websocket.write(conn.ws!, "late"), -1);
      } finally {
        await h.stop();
      }
    });
  }

  test("a cut transport calls onClose once with 1006", async () => {
    const h = await harness();
    try {
      const { client, conn } = await h.open();
      client.cut();
      await conn.closed();
      await within(client.served, WAIT_MS, "the read loop");
      await settle();
      assert.equal(conn.closes, 1);
      assert.equal(conn.ws!.closeCode, 1006);
      assert.equal(conn.ws!.readyState, "closed");
      assert.equal(Websocket.write(conn.ws!, "late"), -1);
      assert.deepEqual(conn.events, ["open", "close"]);
    } finally {
      await h.stop();
    }
  });

  test(
    "a client that ends its side without a close frame gets onClose (1006) once the server has closed too",
    async () => {
      const h = await harness();
      try {
        const { client, conn } = await h.open();
        client.end();
        // The peer is gone (§7.1.1): the server closes its side without a handshake...
        assert.equal(await client.serverEnd(), "closed");
        // ...and with both sides closed nothing is left to wait for.
        await settle();
        assert.equal(conn.closes, 1, "onClose not called although both sides are closed");
        assert.equal(conn.ws!.closeCode, 1006);
      } finally {
        await h.stop();
      }
    },
  );

  const failures: [string, UpgradeRequestOptions, number][] = [
    ["a key that is not base64 of 16 bytes", { key: "abc" }, 400],
    ["a key of 15 bytes", { key: "AAAAAAAAAAAAAAAAAAAA" }, 400],
    ["no key", { key: null }, 400],
    ["no version", { version: null }, 426],
    ["version 8", { version: "8" }, 426],
    ["the POST method", { method: "POST" }, 400],
    ["HTTP/1.0", { httpVersion: "HTTP/1.0" }, 400],
    ["no Upgrade header", { upgrade: null }, 400],
    ["an Upgrade to another protocol", { upgrade: "h2c" }, 400],
    ["an origin checkOrigin refuses", { origin: "https://evil.example" }, 403],
  ];
  for (const [name, request, status] of failures) {
    test(`a failed upgrade (${name}) answers ${status} and still calls onClose once`, async () => {
      const origins: (string | undefined)[] = [];
      const h = await harness({
        settings: () => ({
          checkOrigin: (origin) => {
            origins.push(origin);
            return origin !== "https://evil.example";
          },
        }),
      });
      try {
        const before = Websocket.count();
        const client = connect(h.server);
        client.send(upgradeRequest(request));
        const head = await client.readHead();
        assert.equal(head.status, status, head.raw);
        assert.equal(head.get("sec-websocket-accept"), undefined);
        assert.equal(head.get("connection")?.toLowerCase(), "close");
        // RFC 6455 §4.4: a version we do not speak is answered with the one we do.
        if (status === 426) assert.equal(head.get("sec-websocket-version"), "13", head.raw);
        assert.equal(await client.serverEnd(), "closed");
        client.end();
        const conn = h.conns[0];
        await conn.closed();
        await client.finish();
        await settle();
        assert.deepEqual(conn.events, ["close"]);
        assert.equal(conn.closes, 1);
        assert.equal(conn.ws!.readyState, "closed");
        assert.equal(Websocket.write(conn.ws!, "never sent"), -1);
        assert.equal(Websocket.count(), before);
        if (status === 403) assert.deepEqual(origins, ["https://evil.example"]);
      } finally {
        await h.stop();
      }
    });
  }

  test("header tokens match in any case and inside lists (Firefox sends keep-alive, Upgrade)", async () => {
    const h = await harness();
    try {
      const variants: UpgradeRequestOptions[] = [
        { connection: "keep-alive, Upgrade" },
        { connection: "upgrade", upgrade: "WebSocket" },
        { connection: "Upgrade,keep-alive", upgrade: "websocket", version: " 13 " },
      ];
      for (const request of variants) {
        const { client, conn } = await h.open(request);
        await closeCleanly(client, conn);
      }
    } finally {
      await h.stop();
    }
  });

  test("a client ping is answered with a pong carrying its payload, and is not a message", async () => {
    const h = await harness();
    try {
      const { client, conn } = await h.open();
      for (const payload of [new Uint8Array(0), utf8("abc"), pattern(125)]) {
        client.sendFrame(Op.Ping, payload);
        assert.deepEqual(await client.readFrame(), { fin: true, opcode: Op.Pong, payload });
      }
      // An unsolicited pong needs no answer (§5.5.3): the next frame is the echo.
      client.sendFrame(Op.Pong, utf8("unsolicited"));
      client.sendFrame(Op.Text, "after");
      assert.deepEqual((await client.readFrame()).payload, utf8("after"));
      assert.deepEqual(conn.events, ["open", "text:5"]);
      await closeCleanly(client, conn);
    } finally {
      await h.stop();
    }
  });

  for (const [name, platform] of PLATFORMS) {
    test(`a client gone before the 101 gets onClose once and never onOpen (${name})`, async () => {
      const h = await harness({ platform });
      try {
        const client = connect(h.server);
        client.send(upgradeRequest());
        client.cut();
        await within(client.served, WAIT_MS, "the read loop");
        await h.conns[0]?.closed();
        await settle();
        const conn = h.conns[0];
        assert.equal(conn.closes, 1);
        // With a synchronous SHA-1 the 101 is queued before the cut is read, so the connection opens first.
        assert.deepEqual(conn.events, platform === undefined ? ["close"] : ["open", "close"]);
      } finally {
        await h.stop();
      }
    });
  }

  for (const callback of ["checkOrigin", "selectProtocol"] as const) {
    test(
      `a ${callback} that throws fails the upgrade with 500 and still calls onClose once`,
      async () => {
        const errors: unknown[] = [];
        const h = await harness({
          options: { onError: (error) => errors.push(error) },
          settings: () => ({
            [callback]: () => {
              throw new Error(`${callback} bug`);
            },
          }),
        });
        try {
          const client = connect(h.server);
          client.send(upgradeRequest({ protocols: "chat" }));
          const head = await client.readHead();
          assert.equal(head.status, 500, head.raw);
          assert.equal(errors.length, 1);
          await client.serverEnd();
          await client.finish();
          await settle();
          // The connection is gone on both sides: onClose must have come by now.
          assert.deepEqual(h.conns[0].events, ["close"]);
        } finally {
          await h.stop();
        }
      },
    );
  }

  test("checkOrigin gets the Origin header (undefined without one) and true lets the upgrade through", async () => {
    const origins: (string | undefined)[] = [];
    const h = await harness({
      settings: () => ({
        checkOrigin: (origin, request) => {
          assert.equal(request.path, "/chat");
          origins.push(origin);
          return true;
        },
      }),
    });
    try {
      const first = await h.open({ origin: "https://good.example" });
      const second = await h.open();
      assert.deepEqual(origins, ["https://good.example", undefined]);
      await closeCleanly(first.client, first.conn);
      await closeCleanly(second.client, second.conn);
    } finally {
      await h.stop();
    }
  });
});

describe("Websocket functions", () => {
  test("getUdata, setUdata (returns the old value), getServer, getUuid", async () => {
    const marker = { name: "first" };
    const seenAtOpen: unknown[] = [];
    const h = await harness({
      settings: () => ({ udata: marker, onOpen: (ws) => seenAtOpen.push(Websocket.getUdata(ws)) }),
    });
    try {
      const { client, conn } = await h.open();
      const ws = conn.ws!;
      assert.deepEqual(seenAtOpen, [marker]);
      assert.equal(Websocket.getUdata(ws), marker);
      const next = { name: "second" };
      assert.equal(Websocket.setUdata(ws, next), marker);
      assert.equal(Websocket.getUdata(ws), next);
      assert.equal(ws.udata, next);
      assert.equal(Websocket.setUdata(ws, undefined), next);
      assert.equal(Websocket.getUdata(ws), undefined);
      assert.equal(Websocket.getServer(ws), h.server);
      assert.equal(ws.server, h.server);
      assert.equal(Websocket.getUuid(ws), conn.uuid);
      assert.equal(ws.uuid, conn.uuid);
      const notAConnection = {} as WebsocketConnection;
      assert.throws(() => Websocket.getUdata(notAConnection), TypeError);
      assert.throws(() => Websocket.setUdata(notAConnection, 1), TypeError);
      assert.throws(() => Websocket.getServer(notAConnection), TypeError);
      assert.throws(() => Websocket.getUuid(notAConnection), TypeError);
      await closeCleanly(client, conn);
      // User data outlives the connection (the app may read it in onClose and after).
      assert.equal(Websocket.setUdata(ws, marker), undefined);
      assert.equal(Websocket.getUdata(ws), marker);
    } finally {
      await h.stop();
    }
  });

  test("udata is undefined when none was given; connections have distinct uuids", async () => {
    const h = await harness();
    try {
      const a = await h.open();
      const b = await h.open();
      assert.equal(Websocket.getUdata(a.conn.ws!), undefined);
      assert.notEqual(Websocket.getUuid(a.conn.ws!), Websocket.getUuid(b.conn.ws!));
      await closeCleanly(a.client, a.conn);
      await closeCleanly(b.client, b.conn);
    } finally {
      await h.stop();
    }
  });

  test("write: string → text, bytes → binary, isText overrides; 0 while open, -1 after close", async () => {
    const h = await harness();
    try {
      const { client, conn } = await h.open();
      const ws = conn.ws!;
      const long = "€".repeat(6000) + "x".repeat(70_000);
      const writes: [() => 0 | -1, number, Uint8Array][] = [
        [() => Websocket.write(ws, "héllo ✓ 🚀"), Op.Text, utf8("héllo ✓ 🚀")],
        [() => Websocket.write(ws, Uint8Array.of(0, 255, 7)), Op.Binary, Uint8Array.of(0, 255, 7)],
        [() => Websocket.write(ws, utf8("bytes as text"), true), Op.Text, utf8("bytes as text")],
        [() => Websocket.write(ws, "text as binary", false), Op.Binary, utf8("text as binary")],
        [() => Websocket.write(ws, ""), Op.Text, new Uint8Array(0)],
        [() => Websocket.write(ws, new Uint8Array(0)), Op.Binary, new Uint8Array(0)],
        [() => ws.write("method"), Op.Text, utf8("method")],
        [() => ws.write(pattern(20_000)), Op.Binary, pattern(20_000)],
        [() => Websocket.write(ws, long), Op.Text, utf8(long)],
      ];
      for (const [write] of writes) assert.equal(write(), 0);
      for (const [, opcode, payload] of writes) {
        const frame = await client.readFrame();
        assert.equal(frame.opcode, opcode);
        assert.equal(frame.fin, true);
        assert.deepEqual(frame.payload, payload);
      }
      assert.throws(() => Websocket.write(ws, 42 as unknown as string), TypeError);
      await closeCleanly(client, conn);
      assert.equal(Websocket.write(ws, "after close"), -1);
      assert.equal(Websocket.write(ws, pattern(100_000)), -1);
      assert.equal(ws.write("after close"), -1);
    } finally {
      await h.stop();
    }
  });

  test("close with a code that may not be sent, or a reason over 123 bytes, throws RangeError", async () => {
    const h = await harness();
    try {
      const { client, conn } = await h.open();
      const ws = conn.ws!;
      const bad: [number, string][] = [
        [0, ""],
        [999, ""],
        [1004, ""],
        [1005, ""],
        [1006, ""],
        [1015, ""],
        [2999, ""],
        [5000, ""],
        [1000.5, ""],
        [Number.NaN, ""],
        [1000, "x".repeat(124)],
        [1000, "é".repeat(62)],
      ];
      for (const [code, reason] of bad) {
        assert.throws(() => Websocket.close(ws, code, reason), RangeError, `code ${code}`);
        assert.equal(ws.readyState, "open", `still open after close(${code})`);
      }
      // Nothing was sent: the next frame is the echo.
      client.sendFrame(Op.Text, "alive");
      assert.deepEqual((await client.readFrame()).payload, utf8("alive"));
      // The longest reason allowed, with a private-use code.
      const reason = "é".repeat(61) + "x";
      Websocket.close(ws, 4999, reason);
      assert.deepEqual(closeOf(await client.readFrame()), { code: 4999, reason });
      client.sendClose(4999);
      await client.serverEnd();
      client.end();
      await conn.closed();
    } finally {
      await h.stop();
    }
  });

  test(
    "close with an invalid code throws RangeError in every state, not only while open",
    async () => {
      const h = await harness();
      try {
        const { client, conn } = await h.open();
        const ws = conn.ws!;
        await closeCleanly(client, conn);
        // API misuse throws at once (STYLE.md), as WebSocketProtocol.close does "whatever the state".
        assert.throws(() => Websocket.close(ws, 1005), RangeError);
        assert.throws(() => Websocket.close(ws, 1000, "x".repeat(124)), RangeError);
      } finally {
        await h.stop();
      }
    },
  );

  test("websocketUpgrade is Websocket.upgrade (the seed's macro)", async () => {
    const h = await harness({ upgrade: (settings) => websocketUpgrade(settings) });
    try {
      const { client, conn } = await h.open();
      client.sendFrame(Op.Text, "macro");
      assert.deepEqual((await client.readFrame()).payload, utf8("macro"));
      await closeCleanly(client, conn);
    } finally {
      await h.stop();
    }
  });

  test("upgrade throws TypeError for settings that are no object, lack a request or hold a non-function callback", async () => {
    const refusals: string[] = [];
    const h = await harness({
      upgrade: (settings) => {
        const misuses: unknown[] = [
          null,
          "settings",
          { ...settings, request: undefined },
          ...["onMessage", "onOpen", "onShutdown", "onClose", "onDrain"].map((name) => ({
            ...settings,
            [name]: "not a function",
          })),
        ];
        for (const misuse of misuses) {
          assert.throws(() => Websocket.upgrade(misuse as WebsocketSettings), (error) => {
            assert.ok(error instanceof TypeError);
            refusals.push(error.message);
            return true;
          });
        }
        // None of the refusals claimed the request: it can still be upgraded.
        Websocket.upgrade(settings);
      },
    });
    try {
      const { client, conn } = await h.open();
      assert.deepEqual(refusals, [
        "Websocket.upgrade needs a settings object",
        "Websocket.upgrade needs a settings object",
        "Websocket.upgrade needs a request",
        "onMessage must be a function",
        "onOpen must be a function",
        "onShutdown must be a function",
        "onClose must be a function",
        "onDrain must be a function",
      ]);
      await closeCleanly(client, conn);
    } finally {
      await h.stop();
    }
  });
  test("a broadcast in each sends every target the same frames, re-framed when the data changes", async () => {
    const h = await harness();
    try {
      const peers = [await h.open(), await h.open(), await h.open()];
      const mine = peers.map((x) => x.conn.ws!);
      const binary = pattern(70_000, 3);
      const finished = deferred<void>();
      Websocket.each(
        null,
        (target) => {
          if (!mine.includes(target)) return;
          assert.equal(Websocket.write(target, "héllo everyone ✓"), 0);
          assert.equal(Websocket.write(target, binary), 0);
          assert.equal(Websocket.write(target, "héllo everyone ✓", false), 0);
        },
        undefined,
        () => finished.resolve(),
      );
      await within(finished.promise, WAIT_MS, "onFinish");
      for (const { client } of peers) {
        const first = await client.readFrame();
        assert.equal(first.opcode, Op.Text);
        assert.deepEqual(first.payload, utf8("héllo everyone ✓"));
        const second = await client.readFrame();
        assert.equal(second.opcode, Op.Binary);
        assert.deepEqual(second.payload, binary);
        const third = await client.readFrame();
        assert.equal(third.opcode, Op.Binary, "the same string as binary is framed again");
        assert.deepEqual(third.payload, utf8("héllo everyone ✓"));
      }
      for (const { client, conn } of peers) await closeCleanly(client, conn);
    } finally {
      await h.stop();
    }
  });

  test("each skips the originator, null visits all, onFinish(originator, arg) comes after the last", async () => {
    const h = await harness();
    try {
      const a = await h.open();
      const b = await h.open();
      const c = await h.open();
      const mine = [a, b, c].map((x) => x.conn.ws!);
      const arg = { tag: "broadcast" };
      const run = (originator: WebsocketConnection | null) => {
        const visited: WebsocketConnection[] = [];
        const finished = deferred<[WebsocketConnection | null, unknown, number]>();
        Websocket.each(
          originator,
          (target, x) => {
            assert.equal(x, arg);
            // Other tests' connections may be open in this process: touch only ours.
            if (!mine.includes(target)) return;
            visited.push(target);
            Websocket.write(target, `from ${originator === null ? "null" : "a"}`);
          },
          arg,
          (from, x) => finished.resolve([from, x, visited.length]),
        );
        return { visited, finished: within(finished.promise, WAIT_MS, "onFinish") };
      };

      const fromA = run(a.conn.ws!);
      const [originator, x, countAtFinish] = await fromA.finished;
      assert.equal(originator, a.conn.ws);
      assert.equal(x, arg);
      assert.equal(countAtFinish, 2);
      assert.deepEqual(new Set(fromA.visited), new Set([b.conn.ws, c.conn.ws]));
      for (const { client } of [b, c]) {
        assert.deepEqual((await client.readFrame()).payload, utf8("from a"));
      }
      // a got nothing: its next frame is the echo of what it sends now.
      a.client.sendFrame(Op.Text, "mine");
      assert.deepEqual((await a.client.readFrame()).payload, utf8("mine"));

      const fromNull = run(null);
      const [nullOriginator, , all] = await fromNull.finished;
      assert.equal(nullOriginator, null);
      assert.equal(all, 3);
      assert.deepEqual(new Set(fromNull.visited), new Set(mine));
      for (const { client } of [a, b, c]) {
        assert.deepEqual((await client.readFrame()).payload, utf8("from null"));
      }

      // A connection that closed is not visited; arg and onFinish are optional.
      await closeCleanly(c.client, c.conn);
      const visited: WebsocketConnection[] = [];
      const done = deferred();
      Websocket.each(null, (target) => {
        if (mine.includes(target)) visited.push(target);
      });
      Websocket.each(null, () => {}, undefined, () => done.resolve());
      await within(done.promise, WAIT_MS, "onFinish");
      assert.deepEqual(new Set(visited), new Set([a.conn.ws, b.conn.ws]));
      assert.throws(() => Websocket.each(null, "task" as never), TypeError);
      await closeCleanly(a.client, a.conn);
      await closeCleanly(b.client, b.conn);
    } finally {
      await h.stop();
    }
  });

  test("count() counts open connections only", async () => {
    const h = await harness();
    try {
      const before = Websocket.count();
      const a = await h.open();
      assert.equal(Websocket.count(), before + 1);
      const b = await h.open();
      assert.equal(Websocket.count(), before + 2);
      // A failed upgrade never counts.
      const failed = connect(h.server);
      failed.send(upgradeRequest({ version: "8" }));
      assert.equal((await failed.readHead()).status, 426);
      assert.equal(Websocket.count(), before + 2);
      await failed.serverEnd();
      await failed.finish();
      await closeCleanly(a.client, a.conn);
      assert.equal(Websocket.count(), before + 1);
      b.client.cut();
      await b.conn.closed();
      assert.equal(Websocket.count(), before);
    } finally {
      await h.stop();
    }
  });

  test("connections upgraded with the same functions each keep their own state; other functions stay theirs", async () => {
    // Module-level handlers, as most apps write them: the connections share them, not their close state.
    const closes: string[] = [];
    const allClosed = deferred();
    const shout = (ws: WebsocketConnection, data: Uint8Array) => ws.write(`A:${text(data)}`);
    const whisper = (ws: WebsocketConnection, data: Uint8Array) => ws.write(`B:${text(data)}`);
    const recordClose = (ws: WebsocketConnection) => {
      closes.push(`${ws.udata}:${ws.closeCode}`);
      if (closes.length === 4) allClosed.resolve();
    };
    const server = await createStreamServer((request) => {
      Websocket.upgrade({
        request,
        onMessage: request.path.startsWith("/a") ? shout : whisper,
        onClose: recordClose,
        udata: request.path,
      });
    }, { shutdownTimeout: 0.2 });
    try {
      const paths = ["/a1", "/a2", "/b1", "/a3"];
      const clients: MemoryClient[] = [];
      for (const path of paths) {
        const client = connect(server);
        assert.equal((await client.upgrade({ path })).status, 101);
        clients.push(client);
      }
      for (const [i, client] of clients.entries()) client.sendFrame(Op.Text, `m${i}`);
      const answers = [];
      for (const client of clients) answers.push(text((await client.readFrame()).payload));
      assert.deepEqual(answers, ["A:m0", "A:m1", "B:m2", "A:m3"]);
      for (const [i, client] of clients.entries()) {
        assert.equal((await client.closeHandshake(4000 + i)).side, "closed");
        await client.finish();
      }
      await within(allClosed.promise, WAIT_MS, "every onClose");
      await settle();
      assert.deepEqual(closes.sort(), ["/a1:4000", "/a2:4001", "/a3:4003", "/b1:4002"]);
    } finally {
      await within(server.stop(), WAIT_MS, "server.stop()");
    }
  });

  test("each and count span every server of the process; stopping one server leaves the other's connections open", async () => {
    const first = await harness();
    const second = await harness();
    try {
      const before = Websocket.count();
      const a = await first.open();
      const b = await second.open();
      const c = await first.open();
      assert.equal(Websocket.count(), before + 3);
      const visited: WebsocketConnection[] = [];
      const done = deferred();
      Websocket.each(
        null,
        (target) => {
          if ([a, b, c].some(({ conn }) => conn.ws === target)) visited.push(target);
        },
        undefined,
        () => done.resolve(),
      );
      await within(done.promise, WAIT_MS, "onFinish");
      // Oldest connection first, whichever server made it.
      assert.deepEqual(visited, [a.conn.ws, b.conn.ws, c.conn.ws]);

      await first.stop();
      await a.conn.closed();
      await c.conn.closed();
      assert.deepEqual(a.conn.events.slice(-2), ["shutdown", "close"]);
      assert.equal(first.server.connectionCount, 0);
      assert.equal(second.server.connectionCount, 1);
      assert.equal(Websocket.count(), before + 1);
      assert.equal(b.conn.ws!.readyState, "open");
      assert.equal(b.conn.events.includes("shutdown"), false);
      b.client.sendFrame(Op.Text, "still open");
      assert.deepEqual((await b.client.readFrame()).payload, utf8("still open"));
      await closeCleanly(b.client, b.conn);
      assert.equal(Websocket.count(), before);
    } finally {
      await first.stop();
      await second.stop();
    }
  });
});

describe("Websocket.maxMsgSize", () => {
  test("a message of exactly maxMsgSize bytes is delivered; one byte more fails with 1009 (every chunking)", async () => {
    await withSetting("maxMsgSize", 130, async () => {
      const h = await harness({ platform: SYNC_SHA1 });
      try {
        for (const pieces of splits(maskedFrame(Op.Binary, pattern(130)))) {
          const { client, conn } = await h.open();
          for (const piece of pieces) client.send(piece);
          assert.deepEqual((await client.readFrame()).payload, pattern(130));
          await closeCleanly(client, conn);
        }
        for (const pieces of splits(maskedFrame(Op.Binary, pattern(131)))) {
          const { client, conn } = await h.open();
          for (const piece of pieces) client.send(piece);
          assert.equal(closeOf(await client.readFrame()).code, 1009);
          assert.equal(await client.serverEnd(), "closed");
          client.end();
          await conn.closed();
          assert.equal(conn.messages.length, 0);
          assert.equal(conn.ws!.closeCode, 1009);
          assert.equal(conn.closes, 1);
        }
      } finally {
        await h.stop();
      }
    });
  });

  test("text at the limit in multi-byte characters is delivered; the limit counts bytes", async () => {
    await withSetting("maxMsgSize", 130, async () => {
      const h = await harness();
      try {
        const ok = await h.open();
        ok.client.sendFrame(Op.Text, "é".repeat(65));
        assert.equal(text((await ok.client.readFrame()).payload), "é".repeat(65));
        await closeCleanly(ok.client, ok.conn);
        const over = await h.open();
        over.client.sendFrame(Op.Text, "é".repeat(65) + "!");
        assert.equal(closeOf(await over.client.readFrame()).code, 1009);
        await over.client.serverEnd();
        over.client.end();
        await over.conn.closed();
      } finally {
        await h.stop();
      }
    });
  });

  test("the limit applies to a fragmented message as a whole, and fails at the header", async () => {
    await withSetting("maxMsgSize", 130, async () => {
      const h = await harness();
      try {
        const whole = pattern(131);
        const fragments = (length: number) =>
          concat([
            maskedFrame(Op.Binary, whole.subarray(0, 50), { fin: false }),
            maskedFrame(Op.Continuation, whole.subarray(50, 100), { fin: false }),
            maskedFrame(Op.Continuation, whole.subarray(100, length)),
          ]);
        const ok = await h.open();
        ok.client.send(fragments(130));
        assert.deepEqual((await ok.client.readFrame()).payload, whole.subarray(0, 130));
        await closeCleanly(ok.client, ok.conn);

        const over = await h.open();
        const bytes = fragments(131);
        // Everything up to the last fragment's header, without its 31 payload bytes: the declared length is
        // enough to refuse it (nothing over the limit is ever buffered).
        over.client.send(bytes.subarray(0, bytes.length - 31));
        assert.equal(closeOf(await over.client.readFrame()).code, 1009);
        await over.client.serverEnd();
        over.client.end();
        await over.conn.closed();
        assert.equal(over.conn.messages.length, 0);

        // A header declaring 2^40 bytes is refused before any payload.
        const huge = await h.open();
        huge.client.send(Uint8Array.of(0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4));
        assert.equal(closeOf(await huge.client.readFrame()).code, 1009);
        await huge.client.serverEnd();
        huge.client.end();
        await huge.conn.closed();
      } finally {
        await h.stop();
      }
    });
  });

  test("a change takes effect for the next message of an open connection", async () => {
    await withSetting("maxMsgSize", 130, async () => {
      const h = await harness();
      try {
        const raised = await h.open();
        Websocket.maxMsgSize = 200;
        raised.client.sendFrame(Op.Binary, pattern(200));
        assert.deepEqual((await raised.client.readFrame()).payload, pattern(200));
        await closeCleanly(raised.client, raised.conn);

        Websocket.maxMsgSize = 130;
        const lowered = await h.open();
        lowered.client.sendFrame(Op.Binary, pattern(130));
        assert.deepEqual((await lowered.client.readFrame()).payload, pattern(130));
        Websocket.maxMsgSize = 100;
        lowered.client.sendFrame(Op.Binary, pattern(101));
        assert.equal(closeOf(await lowered.client.readFrame()).code, 1009);
        await lowered.client.serverEnd();
        lowered.client.end();
        await lowered.conn.closed();
        assert.equal(lowered.conn.messages.length, 1);
      } finally {
        await h.stop();
      }
    });
  });

  test("maxMsgSize refuses values that are not positive integers", () => {
    const saved = Websocket.maxMsgSize;
    for (const value of [0, -1, 1.5, Number.NaN, Infinity]) {
      assert.throws(() => Websocket.maxMsgSize = value, RangeError, String(value));
    }
    assert.equal(Websocket.maxMsgSize, saved);
  });
});

describe("Websocket.timeout", () => {
  /** A harness on a fake clock, starting at a whole second. */
  async function clocked(): Promise<{ h: Harness; advance(ms: number): void }> {
    let now = 1_000_000;
    const h = await harness({ options: { clock: () => now } });
    return {
      h,
      advance(ms) {
        now += ms;
        h.server.tick();
      },
    };
  }

  test("the default is 40 s and each connection keeps the value it opened with", async () => {
    assert.equal(Websocket.timeout, 40);
    await withSetting("timeout", 10, async () => {
      const { h, advance } = await clocked();
      try {
        const early = await h.open();
        Websocket.timeout = 100;
        const late = await h.open();
        advance(11_000);
        assert.equal((await early.client.readFrame()).opcode, Op.Ping);
        await settle();
        assert.equal(late.client.unread.length, 0, "the 100 s connection was pinged after 11 s");
        early.client.sendFrame(Op.Pong);
        await settle();
        advance(90_000);
        assert.equal((await late.client.readFrame()).opcode, Op.Ping);
        assert.equal((await early.client.readFrame()).opcode, Op.Ping);
        await closeCleanly(early.client, early.conn);
        await closeCleanly(late.client, late.conn);
      } finally {
        await h.stop();
      }
    });
  });

  test("a ping goes out after timeout seconds without traffic; traffic postpones it", async () => {
    await withSetting("timeout", 10, async () => {
      const { h, advance } = await clocked();
      try {
        const { client, conn } = await h.open();
        advance(9_000);
        await settle();
        assert.equal(client.unread.length, 0, "pinged before the timeout");
        client.sendFrame(Op.Text, "traffic");
        assert.deepEqual((await client.readFrame()).payload, utf8("traffic"));
        advance(3_000);
        await settle();
        assert.equal(client.unread.length, 0, "pinged although there was traffic 3 s ago");
        advance(8_000);
        const ping = await client.readFrame();
        assert.equal(ping.opcode, Op.Ping);
        assert.equal(ping.payload.length, 0);
        assert.equal(conn.ws!.readyState, "open");
        // Data the server sends counts as traffic too (the seed: "no data was sent or received").
        client.sendFrame(Op.Pong);
        await settle();
        advance(2_000);
        assert.equal(Websocket.write(conn.ws!, "news"), 0);
        assert.deepEqual((await client.readFrame()).payload, utf8("news"));
        advance(9_000);
        await settle();
        assert.equal(client.unread.length, 0, "pinged although the server sent data 9 s ago");
        advance(2_000);
        assert.equal((await client.readFrame()).opcode, Op.Ping);
        await closeCleanly(client, conn);
      } finally {
        await h.stop();
      }
    });
  });

  test("a client that answers stays open; a silent one is cut after a further timeout and gets onClose", async () => {
    await withSetting("timeout", 10, async () => {
      const { h, advance } = await clocked();
      try {
        const answering = await h.open();
        const silent = await h.open();
        advance(11_000);
        assert.equal((await answering.client.readFrame()).opcode, Op.Ping);
        assert.equal((await silent.client.readFrame()).opcode, Op.Ping);
        answering.client.sendFrame(Op.Pong);
        await settle();
        advance(9_000);
        await settle();
        assert.equal(silent.conn.closes, 0, "cut before a further timeout had passed");
        advance(2_000);
        await silent.conn.closed();
        assert.equal(await silent.client.serverEnd(), "aborted");
        assert.equal(silent.conn.ws!.closeCode, 1006);
        assert.equal(silent.conn.closes, 1);
        assert.equal(answering.conn.ws!.readyState, "open");
        assert.equal(answering.conn.closes, 0);
        // The answering client is pinged again (no traffic since) and still works.
        assert.equal((await answering.client.readFrame()).opcode, Op.Ping);
        answering.client.sendFrame(Op.Text, "alive");
        assert.deepEqual((await answering.client.readFrame()).payload, utf8("alive"));
        await closeCleanly(answering.client, answering.conn);
        await silent.client.finish();
      } finally {
        await h.stop();
      }
    });
  });

  test("pings and cuts keep their timing past 2^31 ms of server uptime, beyond any 32-bit time", async () => {
    await withSetting("timeout", 10, async () => {
      const { h, advance } = await clocked();
      try {
        // About 24.9 days in: the connection opens just before the mark and is pinged and cut past it.
        advance(2 ** 31 - 5_000);
        const { client, conn } = await h.open();
        advance(9_000);
        await settle();
        assert.equal(client.unread.length, 0, "pinged before the timeout");
        advance(2_000);
        assert.equal((await client.readFrame()).opcode, Op.Ping);
        advance(9_000);
        await settle();
        assert.equal(conn.closes, 0, "cut before a further timeout had passed");
        advance(2_000);
        await conn.closed();
        assert.equal(conn.ws!.closeCode, 1006);
        await client.finish();
      } finally {
        await h.stop();
      }
    });
  });

  test("a client that never answers the server's close is cut after closeTimeout and gets onClose", async () => {
    assert.equal(Websocket.closeTimeout, 5);
    const { h, advance } = await clocked();
    try {
      const { client, conn } = await h.open();
      Websocket.close(conn.ws!, 1000, "bye");
      assert.equal(closeOf(await client.readFrame()).code, 1000);
      advance(4_000);
      await settle();
      assert.equal(conn.closes, 0, "cut before closeTimeout");
      assert.equal(client.serverSide, "open");
      advance(2_000);
      await conn.closed();
      assert.equal(await client.serverEnd(), "aborted");
      assert.equal(conn.closes, 1);
      assert.equal(conn.ws!.readyState, "closed");
      await client.finish();
    } finally {
      await h.stop();
    }
  });

  test("closeTimeout refuses anything but an integer from 1 to 3600", () => {
    const saved = Websocket.closeTimeout;
    for (const value of [0, -1, 3601, 1.5, Number.NaN]) {
      assert.throws(() => Websocket.closeTimeout = value, RangeError, String(value));
    }
    assert.equal(Websocket.closeTimeout, saved);
  });

  test("timeout 0 sends no pings and never cuts", async () => {
    await withSetting("timeout", 0, async () => {
      const { h, advance } = await clocked();
      try {
        const { client, conn } = await h.open();
        for (let i = 0; i < 3; i++) advance(300_000);
        await settle();
        assert.equal(client.unread.length, 0);
        assert.equal(conn.ws!.readyState, "open");
        client.sendFrame(Op.Text, "still here");
        assert.deepEqual((await client.readFrame()).payload, utf8("still here"));
        await closeCleanly(client, conn);
      } finally {
        await h.stop();
      }
    });
  });

  test("timeout refuses anything but an integer from 0 to 255", () => {
    const saved = Websocket.timeout;
    try {
      for (const value of [256, -1, 1.5, Number.NaN, Infinity]) {
        assert.throws(() => Websocket.timeout = value, RangeError, String(value));
        assert.equal(Websocket.timeout, saved);
      }
      Websocket.timeout = 255;
      assert.equal(Websocket.timeout, 255);
      Websocket.timeout = 0;
      assert.equal(Websocket.timeout, 0);
    } finally {
      Websocket.timeout = saved;
    }
  });
});

describe("the upgrade", () => {
  test("headers and cookies of the response passed to upgrade go out with the 101", async () => {
    const h = await harness({
      upgrade: (settings, request) => {
        const response = HttpResponse.create(request);
        response.writeHeader("X-Custom", "yes");
        response.setCookie({ name: "sid", value: "abc123", httpOnly: true });
        Websocket.upgrade({ ...settings, response });
        // The seed: the response stays the caller's, who frees it; that must not disturb the 101.
        response.destroy();
      },
    });
    try {
      const { client, conn, head } = await h.open();
      assert.equal(head.get("x-custom"), "yes", head.raw);
      assert.equal(head.all("set-cookie").length, 1, head.raw);
      assert.match(head.get("set-cookie")!, /^sid=abc123;.*HttpOnly/i);
      assert.equal(head.get("transfer-encoding"), undefined, head.raw);
      client.sendFrame(Op.Text, "after cookies");
      assert.deepEqual((await client.readFrame()).payload, utf8("after cookies"));
      await closeCleanly(client, conn);
    } finally {
      await h.stop();
    }
  });

  test("no Sec-WebSocket-Protocol unless selectProtocol picks one of the offers", async () => {
    const calls: string[][] = [];
    let pick: string | undefined;
    const h = await harness({
      settings: (request, conn) =>
        request.path === "/plain" ? {} : {
          selectProtocol: (offered, req) => {
            assert.equal(req.uuid, conn.uuid);
            calls.push([...offered]);
            return pick;
          },
        },
    });
    try {
      const cases: [string, UpgradeRequestOptions, string | undefined, string | undefined][] = [
        [
          "no selectProtocol",
          { path: "/plain", protocols: "chat, superchat" },
          undefined,
          undefined,
        ],
        ["a pick", { protocols: "chat, superchat" }, "superchat", "superchat"],
        ["no pick", { protocols: "chat" }, undefined, undefined],
        ["a pick not offered", { protocols: "chat, superchat" }, "other", undefined],
        ["no offer", {}, "chat", undefined],
      ];
      for (const [name, request, chosen, expected] of cases) {
        pick = chosen;
        const { client, conn, head } = await h.open(request);
        assert.equal(head.get("sec-websocket-protocol"), expected, `${name}\n${head.raw}`);
        assert.equal(conn.ws!.protocol, expected ?? "", name);
        await closeCleanly(client, conn);
      }
      // Offers arrive in the client's order; without an offer selectProtocol is not asked.
      assert.deepEqual(calls, [["chat", "superchat"], ["chat"], ["chat", "superchat"]]);
    } finally {
      await h.stop();
    }
  });

  for (const [name, platform] of PLATFORMS) {
    test(`frames in the same write as the upgrade request are delivered (every chunking, ${name})`, async () => {
      const bytes = concat([
        upgradeRequest(),
        maskedFrame(Op.Text, "glued"),
        maskedFrame(Op.Binary, Uint8Array.of(7, 8)),
        maskedFrame(Op.Close, Uint8Array.of(0x03, 0xe8)),
      ]);
      const h = await harness({ platform });
      try {
        for (const pieces of splits(bytes)) {
          const client = connect(h.server);
          for (const piece of pieces) client.send(piece);
          const head = await client.readHead();
          assert.equal(head.status, 101);
          assert.equal(head.get("sec-websocket-accept"), SAMPLE_ACCEPT);
          assert.deepEqual((await client.readFrame()).payload, utf8("glued"));
          assert.deepEqual((await client.readFrame()).payload, Uint8Array.of(7, 8));
          assert.equal(closeOf(await client.readFrame()).code, 1000);
          assert.equal(await client.serverEnd(), "closed");
          client.end();
          const conn = h.conns[h.conns.length - 1];
          await conn.closed();
          assert.deepEqual(conn.events, ["open", "text:5", "binary:2", "close"]);
          await client.finish();
        }
      } finally {
        await h.stop();
      }
    });
  }
});

describe("server stop", () => {
  test("stop() calls onShutdown before onClose, sends 1001, and resolves once clients answer", async () => {
    const h = await harness({
      options: { shutdownTimeout: 5 },
      settings: () => ({ onShutdown: (ws) => Websocket.write(ws, "goodbye") }),
    });
    const a = await h.open();
    const b = await h.open();
    const stopped = h.stop();
    for (const { client } of [a, b]) {
      // onShutdown runs while the connection is still open, so it may still write.
      assert.deepEqual((await client.readFrame()).payload, utf8("goodbye"));
      assert.equal(closeOf(await client.readFrame()).code, 1001);
      client.sendClose(1001);
      assert.equal(await client.serverEnd(), "closed");
      client.end();
    }
    await stopped;
    await within(h.server.finished, WAIT_MS, "server.finished");
    for (const { conn } of [a, b]) {
      assert.deepEqual(conn.events, ["open", "shutdown", "close"]);
      assert.equal(conn.ws!.closeCode, 1001);
    }
  });

  test("stop() cuts a client that never answers once shutdownTimeout passes", async () => {
    const h = await harness({ options: { shutdownTimeout: 0.1 } });
    const { client, conn } = await h.open();
    await h.stop();
    assert.deepEqual(conn.events, ["open", "shutdown", "close"]);
    assert.equal(conn.closes, 1);
    assert.equal(client.serverSide, "aborted");
  });
});

describe("backpressure", () => {
  test("write returns -1 once bufferedAmount is over backpressureLimit, and 0 again after draining", async () => {
    await withSetting("backpressureLimit", 1000, async () => {
      const h = await harness();
      try {
        const { client, conn } = await h.open();
        const ws = conn.ws!;
        client.stall();
        const results: [number, 0 | -1][] = [];
        for (let i = 0; i < 50; i++) {
          const buffered = Websocket.bufferedAmount(ws);
          const result = Websocket.write(ws, pattern(300, i));
          results.push([buffered, result]);
          if (result === -1) break;
        }
        const [lastBuffered, last] = results[results.length - 1];
        assert.equal(last, -1, "write never refused");
        assert.ok(lastBuffered > 1000, `refused at ${lastBuffered} buffered bytes`);
        assert.ok(results.length >= 3);
        for (const [buffered, result] of results.slice(0, -1)) {
          assert.equal(result, 0);
          assert.ok(buffered <= 1000);
        }
        // The bytes now sit in the transport, still unsent: writes are still refused.
        await settle();
        assert.ok(client.heldWrites > 0);
        assert.ok(Websocket.bufferedAmount(ws) > 1000);
        assert.equal(Websocket.write(ws, "refused"), -1);
        assert.equal(ws.readyState, "open");
        client.unstall();
        for (let i = 0; i < results.length - 1; i++) {
          assert.deepEqual((await client.readFrame()).payload, pattern(300, i));
        }
        await settle();
        assert.equal(Websocket.bufferedAmount(ws), 0);
        assert.equal(Websocket.write(ws, "accepted"), 0);
        assert.deepEqual((await client.readFrame()).payload, utf8("accepted"));
        await closeCleanly(client, conn);
      } finally {
        await h.stop();
      }
    });
  });

  test(
    "onDrain is called once a refused connection's buffer has drained",
    async () => {
      await withSetting("backpressureLimit", 1000, async () => {
        const h = await harness();
        try {
          const { client, conn } = await h.open();
          client.stall();
          while (Websocket.write(conn.ws!, pattern(300)) === 0);
          await settle();
          client.unstall();
          await settle();
          await settle();
          assert.equal(Websocket.bufferedAmount(conn.ws!), 0);
          assert.ok(conn.events.includes("drain"), `events: ${conn.events.join(", ")}`);
        } finally {
          await h.stop();
        }
      });
    },
  );

  test("closeOnBackpressureLimit closes with 1008 when a write is refused", async () => {
    const saved = Websocket.closeOnBackpressureLimit;
    Websocket.closeOnBackpressureLimit = true;
    try {
      await withSetting("backpressureLimit", 1000, async () => {
        const h = await harness();
        try {
          const { client, conn } = await h.open();
          client.stall();
          let writes = 0;
          while (Websocket.write(conn.ws!, pattern(300)) === 0) writes++;
          assert.equal(conn.ws!.readyState, "closing");
          client.unstall();
          const { before, frame } = await client.readUntil(Op.Close);
          assert.equal(before.length, writes);
          assert.equal(closeOf(frame).code, 1008);
          client.sendClose(1008);
          await client.serverEnd();
          client.end();
          await conn.closed();
        } finally {
          await h.stop();
        }
      });
    } finally {
      Websocket.closeOnBackpressureLimit = saved;
    }
  });
});

describe("recycled message buffers", () => {
  /** `message` as a binary message in two fragments, so it is assembled in the message buffer. */
  function fragmented(message: Uint8Array, opcode: number = Op.Binary): Uint8Array {
    const cut = Math.floor(message.length / 3);
    return concat([
      maskedFrame(opcode, message.subarray(0, cut), { fin: false }),
      maskedFrame(Op.Continuation, message.subarray(cut)),
    ]);
  }

  const first = pattern(20_000, 1);
  const second = pattern(20_000, 2);
  const smaller = pattern(5_000, 3);

  test("an echo of a >16 KiB message is not overwritten by the next message", async () => {
    const h = await harness();
    try {
      const { client, conn } = await h.open();
      // The socket does not drain, so the echoes stay queued by reference while more messages arrive.
      client.stall();
      const frameOfFirst = maskedFrame(Op.Binary, first);
      const sequences: [Uint8Array[], Uint8Array[]][] = [
        [[fragmented(first), fragmented(second)], [first, second]],
        [[fragmented(first), fragmented(smaller)], [first, smaller]],
        [[concat([fragmented(first), fragmented(second)])], [first, second]],
        [[concat([fragmented(first), fragmented(smaller)])], [first, smaller]],
        // One frame split across reads is assembled in the message buffer too.
        [
          [
            frameOfFirst.subarray(0, 9000),
            concat([frameOfFirst.subarray(9000), fragmented(smaller)]),
          ],
          [first, smaller],
        ],
        [[concat([frameOfFirst, maskedFrame(Op.Binary, second)])], [first, second]],
      ];
      const expected: Uint8Array[] = [];
      for (const [chunks, messages] of sequences) {
        for (const chunk of chunks) client.send(chunk);
        expected.push(...messages);
        await conn.message(expected.length - 1);
      }
      client.unstall();
      for (let i = 0; i < expected.length; i++) {
        const frame = await client.readFrame();
        assert.equal(frame.payload.length, expected[i].length, `echo ${i}`);
        assert.ok(equalBytes(frame.payload, expected[i]), `echo ${i} was corrupted`);
      }
      await closeCleanly(client, conn);
    } finally {
      await h.stop();
    }
  });

  test("an echo of the >16 KiB message being delivered is one write, its header in front of the payload", async () => {
    const h = await harness();
    try {
      const { client, conn } = await h.open();
      const writesBefore = client.writes.length;
      client.send(fragmented(first));
      const frame = await client.readFrame();
      assert.ok(equalBytes(frame.payload, first), "echo corrupted");
      const echoWrites = client.writes.slice(writesBefore);
      assert.equal(echoWrites.length, 1, "header and payload went out as separate writes");
      assert.equal(echoWrites[0].length, 4 + first.length);
      await closeCleanly(client, conn);
    } finally {
      await h.stop();
    }
  });

  test("the delivered message sent as text and as binary keeps both frames intact", async () => {
    const ascii = new TextEncoder().encode("x".repeat(20_000));
    const h = await harness({
      settings: () => ({
        onMessage: (ws, data) => {
          Websocket.write(ws, data, false);
          Websocket.write(ws, data, true);
          Websocket.write(ws, data, false);
        },
      }),
    });
    try {
      const { client, conn } = await h.open();
      // Stalled, every frame stays queued by reference until all three are written.
      client.stall();
      client.send(fragmented(ascii));
      await conn.message(0);
      client.unstall();
      for (const opcode of [Op.Binary, Op.Text, Op.Binary]) {
        const frame = await client.readFrame();
        assert.equal(frame.opcode, opcode);
        assert.ok(equalBytes(frame.payload, ascii), "payload corrupted");
      }
      await closeCleanly(client, conn);
    } finally {
      await h.stop();
    }
  });

  test("a >16 KiB message written to another connection is not overwritten by the next message", async () => {
    const h = await harness({
      settings: (_request, conn) => ({
        onMessage: (_ws, data, isText) => {
          // A chat room: each message goes to every other connection, and a view of it back to the sender.
          for (const other of h.conns) {
            if (other !== conn && other.ws?.readyState === "open") {
              Websocket.write(other.ws, data, isText);
            }
          }
          Websocket.write(conn.ws!, data.subarray(1), isText);
        },
      }),
    });
    try {
      const sender = await h.open();
      const receiver = await h.open();
      sender.client.stall();
      receiver.client.stall();
      sender.client.send(fragmented(first));
      sender.client.send(fragmented(smaller));
      await sender.conn.message(1);
      receiver.client.unstall();
      sender.client.unstall();
      for (const message of [first, smaller]) {
        assert.ok(
          equalBytes((await receiver.client.readFrame()).payload, message),
          "relay corrupted",
        );
        assert.ok(
          equalBytes((await sender.client.readFrame()).payload, message.subarray(1)),
          "view echo corrupted",
        );
      }
      await closeCleanly(sender.client, sender.conn);
      await closeCleanly(receiver.client, receiver.conn);
    } finally {
      await h.stop();
    }
  });
});

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
