/**
 * Chromium as the client: a page served from a public folder opens a WebSocket back to the server, sends the
 * message set, checks every echoed byte, closes with 1000 and reports to the test. Needs `/usr/bin/chromium`
 * and the npm `playwright-core` package; skipped, saying why, where either is missing or cannot run.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runtime, Websocket } from "../../mod.ts";
import { CHROMIUM, CHROMIUM_ARGS, loadChromium } from "../_helpers/chromium.ts";
import {
  CLOSE_ME,
  type EchoServer,
  SERVER_CLOSE,
  startEchoServer,
  TEST_MAX_MSG_SIZE,
  within,
} from "../_helpers/ws_client.ts";

/** Launch and each page run together stay well under a minute. */
const LAUNCH_MS = 30_000;
const RUN_MS = 20_000;

/**
 * The page's script. It builds the same message set as the TCP tests (`messageSet` in ws_client.ts), sends it,
 * compares each echo byte by byte and reports what differed.
 */
const PAGE_SCRIPT = `
function pattern(length, seed) {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return bytes;
}
function messageSet() {
  const bytes = new Uint8Array(256);
  for (let i = 0; i < 256; i++) bytes[i] = i;
  return ["héllo wörld ✓ 🚀", bytes, "", new Uint8Array(0), pattern(70000, 1),
    "ünïcödé ✓ 🚀 ".repeat(3500), pattern(1024 * 1024, 2)];
}
function open(path) {
  const ws = new WebSocket("ws://" + location.host + path);
  ws.binaryType = "arraybuffer";
  const received = [];
  let wake = null;
  ws.onmessage = (event) => { received.push(event.data); if (wake) wake(); };
  const closed = new Promise((resolve) => {
    ws.onclose = (event) => resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
  });
  const opened = new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("WebSocket error"));
  });
  async function next() {
    while (received.length === 0) await new Promise((resolve) => wake = resolve);
    return received.shift();
  }
  return { ws, opened, closed, next };
}
function compare(sent, got, index) {
  const isText = typeof sent === "string";
  if (isText !== (typeof got === "string")) return "message " + index + ": text/binary mixed up";
  const a = isText ? new TextEncoder().encode(sent) : sent;
  const b = isText ? new TextEncoder().encode(got) : new Uint8Array(got);
  if (a.length !== b.length) return "message " + index + ": " + b.length + " bytes, sent " + a.length;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return "message " + index + " differs at byte " + i;
  }
  return null;
}
window.runEcho = async () => {
  const socket = open("/echo");
  await socket.opened;
  const messages = messageSet();
  for (const message of messages) socket.ws.send(message);
  const errors = [];
  for (let i = 0; i < messages.length; i++) {
    const error = compare(messages[i], await socket.next(), i);
    if (error) errors.push(error);
  }
  socket.ws.close(1000, "bye");
  const closed = await socket.closed;
  return { errors, checked: messages.length, closed };
};
window.runServerClose = async () => {
  const socket = open("/echo");
  await socket.opened;
  socket.ws.send(${JSON.stringify(CLOSE_ME)});
  return await socket.closed;
};
`;

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Wharf WebSocket test</title>
<script src="/echo.js"></script></head><body>Wharf</body></html>
`;

/** The part of playwright-core used here. */
interface Page {
  goto(url: string): Promise<unknown>;
  evaluate<T>(expression: string): Promise<T>;
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Chromium {
  launch(options: { executablePath: string; args: string[]; timeout: number }): Promise<Browser>;
}

const { chromium, skip: cannotLoad } = await loadChromium<Chromium>();

describe(`Chromium as a WebSocket client (${runtime})`, { skip: cannotLoad }, () => {
  let folder = "";
  let echo: EchoServer | undefined;
  let browser: Browser | undefined;
  let launchFailure = "";
  let savedMaxMsgSize = 0;

  before(async () => {
    savedMaxMsgSize = Websocket.maxMsgSize;
    Websocket.maxMsgSize = TEST_MAX_MSG_SIZE;
    folder = mkdtempSync(join(tmpdir(), "wharf-browser-"));
    writeFileSync(join(folder, "index.html"), PAGE);
    writeFileSync(join(folder, "echo.js"), PAGE_SCRIPT);
    echo = await startEchoServer({ publicFolder: folder });
    try {
      browser = await within(
        chromium!.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: LAUNCH_MS }),
        LAUNCH_MS + 5000,
        "Chromium to launch",
      );
    } catch (error) {
      // Playwright drives Chromium over a pipe with Node's child_process; not every runtime supports that.
      launchFailure = `Chromium does not launch through playwright-core on ${runtime}: ${error}`;
    }
  }, { timeout: LAUNCH_MS + 10_000 });

  after(async () => {
    Websocket.maxMsgSize = savedMaxMsgSize;
    await browser?.close();
    if (echo !== undefined) await within(echo.server.stop(), 10_000, "server.stop()");
    if (folder !== "") rmSync(folder, { recursive: true, force: true });
  });

  /** A fresh page of the test site; skips the test (with the reason) when Chromium did not launch. */
  async function page(context: { skip(message?: string): void }): Promise<Page | undefined> {
    if (browser === undefined) {
      if (runtime === "deno") {
        context.skip(launchFailure);
        return undefined;
      }
      assert.fail(launchFailure);
    }
    const page = await browser.newPage();
    await within(page.goto(`http://127.0.0.1:${echo!.server.port}/`), RUN_MS, "the page to load");
    return page;
  }

  test("echoes the message set byte for byte and closes cleanly with 1000", {
    timeout: RUN_MS + 10_000,
  }, async (context) => {
    const p = await page(context);
    if (p === undefined) return;
    const result = await within(
      p.evaluate<
        { errors: string[]; checked: number; closed: { code: number; wasClean: boolean } }
      >(
        "window.runEcho()",
      ),
      RUN_MS,
      "the page's echo run",
    );
    assert.deepEqual(result.errors, []);
    assert.equal(result.checked, 7);
    assert.equal(result.closed.code, 1000);
    assert.equal(result.closed.wasClean, true);
    assert.deepEqual(await echo!.nextClose(), { code: 1000, reason: "bye" });
  });

  test("the server closing first reaches the page with 4000 and its reason", {
    timeout: RUN_MS + 10_000,
  }, async (context) => {
    const p = await page(context);
    if (p === undefined) return;
    const closed = await within(
      p.evaluate<{ code: number; reason: string; wasClean: boolean }>("window.runServerClose()"),
      RUN_MS,
      "the page's close run",
    );
    assert.deepEqual(closed, { ...SERVER_CLOSE, wasClean: true });
    assert.equal((await echo!.nextClose()).code, SERVER_CLOSE.code);
  });
});
