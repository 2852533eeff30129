/**
 * What the runtime's adapter does with bytes still queued when the server ends a connection, against a raw
 * socket: a peer that stops reading is cut once it has taken nothing for the server's `timeout`, so it
 * cannot hold the connection and its queue forever, while a peer that reads slowly, however long it takes
 * in all, gets every byte.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as net from "node:net";
import { HttpResponse, startHttpServer, Websocket } from "../../mod.ts";
import { deferred } from "../_helpers/fixtures.ts";
import { concat } from "../_helpers/splits.ts";
import {
  closePayload,
  maskedFrame,
  Op,
  upgradeRequest,
  WAIT_MS,
  within,
} from "../_helpers/ws_client.ts";

/** The servers' `timeout` here, in seconds: how long a closing connection may make no progress. */
const STALL_S = 1;
/** More than the kernel's socket buffers on both sides hold, so the server's transport keeps a queue. */
const LARGE_BYTES = 24 * 1024 * 1024;

test(
  "a peer that stops reading after the close handshake is cut once it has taken nothing for `timeout`",
  { timeout: 30_000 },
  async () => {
    const serverClosed = deferred();
    const server = await startHttpServer((request) => {
      if (!request.upgrade) return;
      Websocket.upgrade({
        request,
        onOpen: (ws) => assert.equal(Websocket.write(ws, new Uint8Array(LARGE_BYTES)), 0),
        onClose: () => serverClosed.resolve(),
      });
    }, { port: 0, address: "127.0.0.1", timeout: STALL_S });
    const socket = net.connect({ port: server.port, host: "127.0.0.1", allowHalfOpen: true });
    try {
      const chunks: Uint8Array[] = [];
      let dataArrived = deferred();
      socket.on("data", (chunk: Uint8Array) => {
        chunks.push(chunk);
        dataArrived.resolve();
      });
      socket.on("error", () => {});
      socket.write(upgradeRequest());
      while (new TextDecoder().decode(concat(chunks)).indexOf("\r\n\r\n") < 0) {
        await within(dataArrived.promise, WAIT_MS, "the 101");
        dataArrived = deferred();
      }
      assert.match(new TextDecoder().decode(concat(chunks)), /^HTTP\/1\.1 101 /);
      // From here on the client reads nothing: the server's answer to its close waits behind the message.
      socket.pause();
      socket.write(maskedFrame(Op.Close, closePayload(1000)));
      const closingAt = Date.now();
      await within(serverClosed.promise, STALL_S * 1000 + WAIT_MS, "onClose after the stall");
      const closedAfter = Date.now() - closingAt;
      assert.ok(closedAfter >= STALL_S * 1000 - 100, `cut ${closedAfter} ms after the close frame`);
    } finally {
      socket.destroy();
      await within(server.stop(), WAIT_MS, "server.stop()");
    }
  },
);

/** What the slow client below reads before each pause, and how long it pauses: well within `STALL_S`. */
const BURST_BYTES = 2 * 1024 * 1024;
const PAUSE_MS = 300;

test(
  "a peer that reads an ended response slowly gets all of it, for longer than `timeout` and the linger",
  { timeout: 60_000 },
  async () => {
    const body = new Uint8Array(LARGE_BYTES);
    for (let i = 0; i < body.length; i += 4096) body[i] = (i >>> 12) & 0xff;
    const server = await startHttpServer((request) => {
      const response = HttpResponse.create(request);
      response.writeHeader("Connection", "close");
      response.writeBody(body);
      response.destroy();
    }, { port: 0, address: "127.0.0.1", timeout: STALL_S });
    const socket = net.connect({ port: server.port, host: "127.0.0.1", allowHalfOpen: true });
    let resumeTimer: ReturnType<typeof setTimeout> | undefined;
    try {
      const chunks: Uint8Array[] = [];
      let inBurst = 0;
      const ended = deferred();
      socket.on("data", (chunk: Uint8Array) => {
        chunks.push(chunk);
        inBurst += chunk.length;
        if (inBurst < BURST_BYTES) return;
        inBurst = 0;
        socket.pause();
        resumeTimer = setTimeout(() => socket.resume(), PAUSE_MS);
      });
      socket.on("end", () => ended.resolve());
      socket.on("error", () => {});
      const started = Date.now();
      // HTTP/1.0: the body is close-delimited, its bytes exactly the app's.
      socket.write("GET / HTTP/1.0\r\n\r\n");
      // Twelve bursts with a pause after each but the last: at least 3.3 s in all.
      const bursts = Math.ceil(LARGE_BYTES / BURST_BYTES);
      await within(ended.promise, bursts * PAUSE_MS + 4 * WAIT_MS, "the whole response");
      const received = concat(chunks);
      const head = new TextDecoder().decode(received.subarray(0, 200));
      const bodyStart = head.indexOf("\r\n\r\n") + 4;
      assert.match(head, /^HTTP\/1\.[01] 200 /);
      assert.equal(received.length - bodyStart, LARGE_BYTES, "body bytes received");
      assert.ok(Buffer.from(body).equals(received.subarray(bodyStart)), "the body, byte for byte");
      assert.ok(
        Date.now() - started >= (bursts - 1) * PAUSE_MS,
        "the client read as slowly as planned",
      );
    } finally {
      clearTimeout(resumeTimer);
      socket.destroy();
      await within(server.stop(), WAIT_MS, "server.stop()");
    }
  },
);
