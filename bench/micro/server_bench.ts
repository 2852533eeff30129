/**
 * Micro-benchmarks of the server's own work per connection and per request, without sockets: a server
 * from `startServerWith` whose listener hands out inert transports (writes are counted and dropped), so
 * what is timed is Wharf's JavaScript alone: parsing, checks, the SHA-1, building the answer, flushing,
 * and the garbage it leaves. The gap to a load test's CPU time per handshake or request is the runtime's
 * socket cost.
 *
 * ```sh
 * deno bench bench/micro/server_bench.ts
 * ```
 *
 * @module
 */

import { HttpResponse, Websocket, websocketUpgrade } from "../../mod.ts";
import { sha1Base64 } from "../../adapters/_crypto_node.ts";
import { type Listen, startServerWith } from "../../src/server.ts";
import type { Transport, TransportHandler } from "../../src/transport.ts";

const encoder = new TextEncoder();
let written = 0;

/** A transport that accepts every write and closes at once when asked. */
class InertTransport implements Transport {
  handler!: TransportHandler;
  readonly remoteAddress = "127.0.0.1";
  readonly remotePort = 40000;
  readonly bufferedAmount = 0;
  // As every adapter's transport: what it was given is with the kernel once nothing is buffered. Without
  // it the core never reuses an output slab, and each run would pay for a fresh zero-filled one.
  readonly releasesWrittenChunks = true;
  write(chunk: Uint8Array): boolean {
    written += chunk.length;
    return true;
  }
  end(): void {
    this.handler.onClose();
  }
  destroy(): void {
    this.handler.onClose();
  }
  pause(): void {}
  resume(): void {}
  watchDrain(): void {}
}

let accept!: (transport: Transport) => TransportHandler;
const captureAccept: Listen = (_options, acceptConnection) => {
  accept = acceptConnection;
  return Promise.resolve({ port: 0, address: "", close() {} });
};
const server = await startServerWith(
  captureAccept,
  { name: "streams", homeDir: () => undefined, sha1Base64 },
  (request) => {
    if (request.upgrade) {
      websocketUpgrade({
        request,
        onMessage: (ws, data, isText) => Websocket.write(ws, data, isText),
      });
      return;
    }
    const response = HttpResponse.create(request);
    response.writeBody("Hello World!");
    response.destroy();
  },
  { port: 0, handleSignals: false },
);

function connect(): InertTransport {
  const transport = new InertTransport();
  transport.handler = accept(transport);
  return transport;
}

const upgradeRequest = encoder.encode(
  "GET /chat HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
);
// A masked close frame with code 1000, as loadgen's handshake loop sends after the 101.
const closeFrame = Uint8Array.of(0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2);
const request = encoder.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n\r\n");

Deno.bench({
  name: "connection: accept, upgrade request, 101, close frame, close",
  group: "server",
  baseline: true,
  fn() {
    const transport = connect();
    // The core may unmask in place: each run gets fresh copies, as a socket read would.
    transport.handler.onData(upgradeRequest.slice());
    transport.handler.onData(closeFrame.slice());
  },
});

{
  const transport = connect();
  const chunk = request.slice();
  Deno.bench({
    name: "keep-alive request: parse, handler, 200 with a 12-byte body, flush",
    group: "server",
    fn() {
      chunk.set(request);
      transport.handler.onData(chunk);
    },
  });
}

addEventListener("unload", () => {
  if (written === 0) throw new Error("nothing was written: the benchmark measured nothing");
  void server.stop();
});
