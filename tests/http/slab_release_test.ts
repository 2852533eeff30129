/**
 * A connection whose socket still had bytes buffered right after a flush keeps its hold on the output slab
 * it copied into; the connection asks the transport for a drain and lets go of the slab then, so a busy
 * socket does not keep slabs out of reuse (see `src/_output_buffer.ts`).
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type HttpRequest, HttpResponse } from "../../mod.ts";
import { connect, RecordingHost } from "../_helpers/connection_host.ts";

const encoder = new TextEncoder();
const REQUEST = encoder.encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n");

function answer(request: HttpRequest): void {
  const response = HttpResponse.create(request);
  response.writeBody("Hello World!");
  response.destroy();
}

describe("output slab release at the transport's drain", () => {
  test("a socket with bytes left after the flush is watched, and its drain lets go of the slab", () => {
    const host = new RecordingHost(answer);
    const { connection, transport } = connect(host);
    transport.releasesWrittenChunks = true;
    transport.bufferedAmount = 100;
    connection.onData(REQUEST);
    assert.match(transport.output, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(connection.out.holdsSlab, true);
    assert.equal(transport.drainWatches, 1);
    // A drain that comes while bytes are still buffered changes nothing.
    connection.onDrain();
    assert.equal(connection.out.holdsSlab, true);
    transport.bufferedAmount = 0;
    connection.onDrain();
    assert.equal(connection.out.holdsSlab, false);
  });

  test("a socket that took everything at once lets go at the flush, with no drain to wait for", () => {
    const host = new RecordingHost(answer);
    const { connection, transport } = connect(host);
    transport.releasesWrittenChunks = true;
    connection.onData(REQUEST);
    assert.match(transport.output, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(connection.out.holdsSlab, false);
    assert.equal(transport.drainWatches, 0);
  });

  test("a transport that keeps what it was given (a stream) is never watched for it", () => {
    const host = new RecordingHost(answer);
    const { connection, transport } = connect(host);
    transport.bufferedAmount = 100;
    connection.onData(REQUEST);
    assert.equal(connection.out.holdsSlab, true);
    assert.equal(transport.drainWatches, 0);
  });
});
