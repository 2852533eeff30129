/**
 * Request parsers are handed back to the server when a connection will parse no more (after an upgrade,
 * after the close) and given to later connections: each connection must still start from a clean parser,
 * and a parser must never be handed back while the connection is still using it.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createStreamServer, HttpResponse, websocketUpgrade } from "../../mod.ts";
import { MemoryConnection } from "../_helpers/duplex_pair.ts";
import { connect, RecordingHost } from "../_helpers/connection_host.ts";
import type { HttpConnection } from "../../src/http/connection.ts";

const encoder = new TextEncoder();

function send(connection: HttpConnection, text: string): void {
  connection.onData(encoder.encode(text));
}

const UPGRADE_REQUEST = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n" +
  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\n\r\n";

describe("request parser reuse", () => {
  test("an upgrade made by the handler gives the parser back once the chunk is parsed", () => {
    const host = new RecordingHost((request) => websocketUpgrade({ request }));
    const { connection, transport } = connect(host);
    send(connection, UPGRADE_REQUEST);
    assert.match(transport.output, /^HTTP\/1\.1 101 /);
    assert.deepEqual(host.recycled, host.taken);
    assert.equal(host.taken.length, 1);
    // Handed back by the parse that ran the handler once the handler returned, not from inside it.
    assert.deepEqual(host.recycledInHandler, [false]);
  });

  test("an upgrade made later, by an async handler, gives it back then", async () => {
    let upgradeNow!: () => void;
    const upgraded = new Promise<void>((resolve) => upgradeNow = resolve);
    const host = new RecordingHost(async (request) => {
      await upgraded;
      websocketUpgrade({ request });
    });
    const { connection, transport } = connect(host);
    send(connection, UPGRADE_REQUEST);
    assert.equal(host.recycled.length, 0, "still the connection's while its request is handled");
    upgradeNow();
    // Let the handler's continuation run.
    await upgraded;
    await Promise.resolve();
    assert.match(transport.output, /^HTTP\/1\.1 101 /);
    assert.deepEqual(host.recycled, host.taken);
    assert.deepEqual(host.recycledInHandler, [false]);
  });

  test("a close reported from inside the handler gives it back once, after the parse", () => {
    const host = new RecordingHost((request) => {
      const response = HttpResponse.create(request);
      response.send();
      // Half a response is out: the connection is destroyed, and this transport reports it at once.
      throw new Error("handler failed after the head");
    });
    const { connection } = connect(host);
    send(connection, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.ok(connection.closed);
    assert.equal(host.errors.length, 1);
    assert.deepEqual(host.recycled, host.taken);
    assert.deepEqual(host.recycledInHandler, [false]);
  });

  test("a connection closed in the middle of a request gives its parser back; a later close does not again", () => {
    const host = new RecordingHost(() => assert.fail("no request completes"));
    const { connection } = connect(host);
    send(connection, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345");
    connection.onClose();
    connection.onClose();
    assert.deepEqual(host.recycled, host.taken);
    assert.deepEqual(host.recycledInHandler, [false]);
  });
});

describe("the server's spare parsers", () => {
  test("a parser given back mid-request parses the next connection's request from the start", async () => {
    const paths: string[] = [];
    const server = await createStreamServer((request) => {
      paths.push(`${request.method} ${request.path} ${request.text()}`);
      const response = HttpResponse.create(request);
      response.writeBody("ok");
      response.destroy();
    }, { shutdownTimeout: 2 });
    try {
      // Stopped halfway through a body, and halfway through a chunked one: the client leaves.
      for (
        const partial of [
          "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345",
          "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
          "GET /c HTTP/1.1\r\nHost: h\r\nX-Half: ",
        ]
      ) {
        const left = new MemoryConnection(server);
        await left.write(partial);
        // A reset: the server's read fails and the connection closes before `served` settles.
        left.abort();
        await left.served;
        const next = new MemoryConnection(server);
        next.write("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
        const [response] = await next.waitForResponses(1);
        assert.equal(response.status, 200);
        next.abort();
        await next.served;
      }
      assert.deepEqual(paths, ["GET /next ", "GET /next ", "GET /next "]);
    } finally {
      await server.stop();
    }
  });
});
