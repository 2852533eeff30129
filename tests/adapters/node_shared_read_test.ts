import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { isSharedReadBuffer, readIntoSharedBuffer } from "../../adapters/_node_shared_read.ts";
import { pattern, WAIT_MS, within } from "../_helpers/ws_client.ts";

/** Node itself, where the shared read must engage; Deno's and Bun's `node:net` may or may not offer it. */
const onNode = !("Deno" in globalThis) && !("Bun" in globalThis);

interface Received {
  /** Whether the socket reads into the shared buffer (otherwise it fell back to `data` events). */
  shared: boolean;
  /** Every byte read, in order, copied out of the read buffer during its callback. */
  bytes: Uint8Array;
  /** Reads delivered while the socket was paused. */
  readsWhilePaused: number;
  /** Reads whose buffer was not the shared one (when `shared`). */
  foreignBuffers: number;
}

/**
 * Accepts one connection, reads it to its end (pausing after the first read until the next macrotask), and
 * sends `payload` from a client in three writes.
 */
async function receiveThroughServer(payload: Uint8Array): Promise<Received> {
  const parts: Uint8Array[] = [];
  let readsWhilePaused = 0;
  let foreignBuffers = 0;
  let paused = false;
  let shared = false;
  let end!: () => void;
  let fail!: (error: Error) => void;
  const ended = new Promise<void>((resolve, reject) => {
    end = resolve;
    fail = reject;
  });
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const take = (bytes: Uint8Array) => {
      if (paused) readsWhilePaused++;
      parts.push(bytes.slice());
      if (parts.length === 1) {
        paused = true;
        socket.pause();
        setTimeout(() => {
          paused = false;
          socket.resume();
        }, 0);
      }
    };
    shared = readIntoSharedBuffer(socket, (length, buffer) => {
      if (!isSharedReadBuffer(buffer.buffer)) foreignBuffers++;
      take(buffer.subarray(0, length));
    });
    if (!shared) socket.on("data", take);
    socket.on("error", fail);
    socket.on("end", () => {
      socket.end();
      end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect(port, "127.0.0.1");
    client.on("error", fail);
    const third = Math.floor(payload.length / 3);
    client.write(payload.subarray(0, third));
    client.write(payload.subarray(third, 2 * third));
    client.end(payload.subarray(2 * third));
    await within(ended, WAIT_MS, "the server socket's end event");
    client.destroy();
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return { shared, bytes, readsWhilePaused, foreignBuffers };
}

describe("the shared read buffer of the Node adapter", () => {
  test("an accepted socket reads 900 kB in order, honours pause and resume, and ends", {
    timeout: WAIT_MS * 2,
  }, async () => {
    const payload = pattern(900_000, 3);
    const received = await receiveThroughServer(payload);
    // On Node the fast path must engage: a Node whose internals changed shows up here, not as a slowdown.
    if (onNode) {
      assert.equal(received.shared, true, "Node's accepted sockets read into the shared buffer");
    }
    assert.equal(received.foreignBuffers, 0);
    assert.equal(received.readsWhilePaused, 0);
    assert.equal(received.bytes.length, payload.length);
    assert.deepEqual(received.bytes, payload);
  });

  test("a socket without a handle is left alone and reported as not reading into it", () => {
    const socket = new net.Socket();
    assert.equal(readIntoSharedBuffer(socket, () => {}), false);
    assert.equal(isSharedReadBuffer(new ArrayBuffer(8)), false);
    socket.destroy();
  });
});
