/**
 * How a Websocket that is finished ends its transport: after a complete close handshake the peer sends
 * nothing more, so the transport closes outright (`end(true)`); a connection failed for an error, like an
 * HTTP connection, lingers for what the peer may still be sending (`end(false)`).
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type HttpRequest, HttpResponse, Websocket } from "../../mod.ts";
import { connect, RecordingHost } from "../_helpers/connection_host.ts";
import { closePayload, maskedFrame, Op, upgradeRequest } from "../_helpers/ws_client.ts";

function upgradeOrAnswer(request: HttpRequest): void {
  if (request.upgrade) {
    Websocket.upgrade({ request, onMessage: (ws) => ws.close(4000, "bye") });
    return;
  }
  const response = HttpResponse.create(request);
  response.writeHeader("Connection", "close");
  response.writeBody("Hello World!");
  response.destroy();
}

/** A connection upgraded in memory; its transport records how it was ended. */
function upgraded() {
  const { connection, transport } = connect(new RecordingHost(upgradeOrAnswer));
  connection.onData(upgradeRequest());
  assert.match(transport.output, /^HTTP\/1\.1 101 /);
  return { connection, transport };
}

describe("how a finished Websocket ends its transport", () => {
  test("the peer's close, echoed: closed outright", () => {
    const { connection, transport } = upgraded();
    connection.onData(maskedFrame(Op.Close, closePayload(1000)));
    assert.deepEqual(transport.ends, [true]);
  });

  test("our close, answered by the peer: closed outright", () => {
    const { connection, transport } = upgraded();
    connection.onData(maskedFrame(Op.Text, "close please"));
    assert.deepEqual(transport.ends, []);
    connection.onData(maskedFrame(Op.Close, closePayload(4000)));
    assert.deepEqual(transport.ends, [true]);
  });

  test("a connection failed for a protocol error (an unmasked frame) lingers", () => {
    const { connection, transport } = upgraded();
    connection.onData(maskedFrame(Op.Text, "unmasked", { mask: null }));
    assert.deepEqual(transport.ends, [false]);
  });

  test("an HTTP connection that closes after its response lingers", () => {
    const { connection, transport } = connect(new RecordingHost(upgradeOrAnswer));
    connection.onData(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    assert.match(transport.output, /^HTTP\/1\.1 200 OK\r\n/);
    assert.deepEqual(transport.ends, [false]);
  });
});
