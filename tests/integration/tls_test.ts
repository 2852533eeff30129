import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import WebSocket from "ws";
import { HttpResponse, startHttpServer, Websocket } from "../../mod.ts";

/** A self-signed certificate for localhost and 127.0.0.1, valid for a century: test material only. */
const cert = readFileSync(new URL("../fixtures/localhost_cert.pem", import.meta.url), "utf8");
const key = readFileSync(new URL("../fixtures/localhost_key.pem", import.meta.url), "utf8");
const TEST_MS = 15_000;

/** Sends `request` over TLS and reads until the server closes. */
function tlsRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca: cert, servername: "localhost" });
    let text = "";
    socket.setEncoding("utf8");
    socket.on("secureConnect", () => socket.write(request));
    socket.on("data", (chunk: string) => text += chunk);
    socket.on("error", reject);
    socket.on("close", () => resolve(text));
  });
}

describe("TLS (the seed's start_https_server)", () => {
  test("HTTPS: a request over TLS gets its response", { timeout: TEST_MS }, async () => {
    const server = await startHttpServer((request) => {
      const response = HttpResponse.create(request);
      response.writeBody(`secure ${request.path}`);
      response.destroy();
    }, { port: 0, address: "127.0.0.1", handleSignals: false, tls: { cert, key } });
    try {
      const text = await tlsRequest(
        server.port,
        "GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      );
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(text.endsWith("\r\n\r\nsecure /hello"), text);
    } finally {
      await server.stop();
    }
  });

  test("WSS: the ws client echoes text and binary over TLS and closes cleanly", {
    timeout: TEST_MS,
  }, async () => {
    const server = await startHttpServer((request) => {
      Websocket.upgrade({
        request,
        onMessage: (ws, data, isText) => Websocket.write(ws, data, isText),
      });
    }, { port: 0, address: "127.0.0.1", handleSignals: false, tls: { cert, key } });
    try {
      const client = new WebSocket(`wss://localhost:${server.port}/`, { ca: cert });
      await new Promise((resolve, reject) => {
        client.once("open", resolve);
        client.once("error", reject);
      });
      const received: [string, boolean][] = [];
      const done = new Promise<void>((resolve) => {
        client.on("message", (data: Uint8Array, isBinary: boolean) => {
          received.push([new TextDecoder().decode(data), isBinary]);
          if (received.length === 2) resolve();
        });
      });
      client.send("héllo ✓");
      client.send(new TextEncoder().encode("bytes"));
      await done;
      assert.deepEqual(received, [["héllo ✓", false], ["bytes", true]]);
      const closed = new Promise<number>((resolve) => client.once("close", resolve));
      client.close(1000, "bye");
      assert.equal(await closed, 1000);
    } finally {
      await server.stop();
    }
  });
});
