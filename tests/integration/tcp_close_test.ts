/**
 * How the runtime's adapter ends the TCP connection of a Websocket, seen from a raw socket that never sends
 * its own FIN: after a complete close handshake the server closes at once (RFC 6455 §5.5.1: it must close
 * the connection), where an ended HTTP connection would linger for the client's FIN for two seconds.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
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

/** Well below the adapters' linger (2 s): a lingering server would not have closed by then. */
const UNLINGERED_CLOSE_MS = 1000;

test(
  "after a close handshake the server closes the TCP connection without waiting for the client's FIN",
  {
    timeout: 30_000,
  },
  async () => {
    const serverClosed = deferred();
    const server = await startHttpServer((request) => {
      if (request.upgrade) Websocket.upgrade({ request, onClose: () => serverClosed.resolve() });
    }, { port: 0, address: "127.0.0.1" });
    const socket = net.connect({ port: server.port, host: "127.0.0.1", allowHalfOpen: true });
    try {
      const chunks: Uint8Array[] = [];
      let dataArrived = deferred();
      const serverEnded = deferred();
      socket.on("data", (chunk: Uint8Array) => {
        chunks.push(chunk);
        dataArrived.resolve();
      });
      socket.on("end", () => serverEnded.resolve());
      socket.on("error", () => {});
      const received = () => concat(chunks);
      const headEnd = () => new TextDecoder().decode(received()).indexOf("\r\n\r\n");
      socket.write(upgradeRequest());
      while (headEnd() < 0) {
        await within(dataArrived.promise, WAIT_MS, "the 101");
        dataArrived = deferred();
      }
      assert.match(new TextDecoder().decode(received()), /^HTTP\/1\.1 101 /);
      const bodyStart = headEnd() + 4;

      socket.write(maskedFrame(Op.Close, closePayload(1000)));
      await within(serverClosed.promise, UNLINGERED_CLOSE_MS, "onClose before the client's FIN");
      await within(serverEnded.promise, WAIT_MS, "the server's FIN");
      assert.deepEqual([...received().subarray(bodyStart)], [0x88, 0x02, 0x03, 0xe8]);
      assert.equal(socket.writableEnded, false, "the client never ended its side");
    } finally {
      socket.destroy();
      await within(server.stop(), WAIT_MS, "server.stop()");
    }
  },
);

/** The adapters' linger after an HTTP connection's FIN (`LINGER_MS` of each adapter). */
const LINGER_MS = 2000;
/** How often the client below sends a byte, to learn when the server's socket is gone. */
const PROBE_MS = 100;

test(
  "an HTTP connection that ends lingers for the client's FIN, then closes once the linger is over",
  {
    timeout: 30_000,
  },
  async () => {
    const server = await startHttpServer((request) => {
      const response = HttpResponse.create(request);
      response.writeHeader("Connection", "close");
      response.writeBody("ok");
      response.destroy();
    }, { port: 0, address: "127.0.0.1" });
    const socket = net.connect({ port: server.port, host: "127.0.0.1", allowHalfOpen: true });
    let probe: ReturnType<typeof setInterval> | undefined;
    try {
      const serverEnded = deferred();
      const clientFailed = deferred();
      socket.on("data", () => {});
      socket.on("end", () => serverEnded.resolve());
      // The server's socket is gone: a byte sent to it comes back as a reset.
      socket.on("error", () => clientFailed.resolve());
      socket.on("close", () => clientFailed.resolve());
      socket.write("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
      await within(serverEnded.promise, WAIT_MS, "the server's FIN");
      const endedAt = Date.now();
      // While lingering the server reads and drops these; once it has closed, they meet a reset.
      probe = setInterval(() => socket.write("x"), PROBE_MS);
      await within(
        clientFailed.promise,
        LINGER_MS + WAIT_MS,
        "the server's close after its linger",
      );
      const closedAfter = Date.now() - endedAt;
      assert.ok(closedAfter >= LINGER_MS - 2 * PROBE_MS, `closed ${closedAfter} ms after its FIN`);
      assert.equal(socket.writableEnded, false, "the client never ended its side");
    } finally {
      clearInterval(probe);
      socket.destroy();
      await within(server.stop(), WAIT_MS, "server.stop()");
    }
  },
);
