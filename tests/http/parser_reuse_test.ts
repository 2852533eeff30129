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
import { sha1Base64 } from "../../adapters/_crypto_node.ts";
import { type ConnectionHost, HttpConnection } from "../../src/http/connection.ts";
import { DEFAULT_MAX_HEADER_BYTES, RequestParser } from "../../src/http/parser.ts";
import type { HttpRequest } from "../../src/http/request.ts";
import type { Transport, TransportHandler } from "../../src/transport.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A host that records what is taken and given back, and how the parser was when it came back. */
class RecordingHost implements ConnectionHost {
  readonly handle = {};
  readonly maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES;
  readonly maxBodyBytes = 1024;
  readonly idleTimeoutMs = 0;
  readonly headerTimeoutMs = 0;
  readonly publicFolder = undefined;
  readonly sha1Base64 = sha1Base64;
  readonly coarseNow = 0;
  readonly stopping = false;
  readonly taken: RequestParser[] = [];
  readonly recycled: RequestParser[] = [];
  readonly errors: unknown[] = [];
  /** For each recycled parser: whether the request handler was still running when it came back. */
  readonly recycledInHandler: boolean[] = [];
  #inHandler = false;
  readonly #app: (request: HttpRequest) => unknown;

  constructor(app: (request: HttpRequest) => unknown) {
    this.#app = app;
  }

  readonly onRequest = (request: HttpRequest): unknown => {
    this.#inHandler = true;
    try {
      return this.#app(request);
    } finally {
      this.#inHandler = false;
    }
  };

  onError(error: unknown): void {
    this.errors.push(error);
  }

  serveFile(): Promise<null> {
    return Promise.resolve(null);
  }

  schedule(): void {}

  connectionClosed(): void {}

  takeParser(): RequestParser {
    const parser = new RequestParser(this);
    this.taken.push(parser);
    return parser;
  }

  recycleParser(parser: RequestParser): void {
    this.recycled.push(parser);
    this.recycledInHandler.push(this.#inHandler);
  }
}

/** A transport that keeps what is written and reports its close at once, from inside the call (as Bun may). */
class SyncTransport implements Transport {
  handler!: TransportHandler;
  readonly remoteAddress = "";
  readonly remotePort = 0;
  readonly bufferedAmount = 0;
  output = "";
  #closed = false;
  write(chunk: Uint8Array): boolean {
    this.output += decoder.decode(chunk);
    return true;
  }
  end(): void {
    this.#close();
  }
  destroy(): void {
    this.#close();
  }
  pause(): void {}
  resume(): void {}
  watchDrain(): void {}
  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.handler.onClose();
  }
}

function connect(host: RecordingHost): { connection: HttpConnection; transport: SyncTransport } {
  const transport = new SyncTransport();
  const connection = new HttpConnection(host, transport);
  transport.handler = connection;
  return { connection, transport };
}

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
