/**
 * Micro-benchmarks of receiving client frames: the header parse and unmask alone, and the whole
 * `WebSocketProtocol.receive` path (header checks, unmask, UTF-8 validation for text, delivery).
 *
 * ```sh
 * deno bench bench/micro/frame_bench.ts
 * ```
 *
 * Unmasking works in place, so each iteration toggles the payload between masked and unmasked; both
 * states cost the same, and with a key whose bytes are below 0x80 ASCII text stays valid either way.
 *
 * @module
 */

import { OutputBuffer } from "../../src/_output_buffer.ts";
import { headerBytes, readPayloadLength, readUint32, unmask } from "../../src/protocol/frame.ts";
import { WebSocketProtocol } from "../../src/protocol/websocket.ts";
import { asciiPayload, clientFrame, KEY } from "./_frames.ts";

const BINARY = 0x2;
const TEXT = 0x1;

/** Parses the header at 0 and unmasks the payload in place, as the receive path does. */
function parseAndUnmask(frame: Uint8Array): number {
  const header = headerBytes(frame[1]);
  const length = readPayloadLength(frame, 0);
  const key = readUint32(frame, header - 4);
  unmask(frame, header, header + length, key);
  return length;
}

for (const size of [32, 4096]) {
  const frame = clientFrame(BINARY, asciiPayload(size));
  Deno.bench({
    name: `header parse + unmask, ${size} B`,
    group: `parse ${size}`,
    baseline: true,
    fn() {
      parseAndUnmask(frame);
    },
  });
}

// Throughput of unmasking alone, on the 1 MiB messages of the `large` scenario of bench/ws.ts, aligned
// and starting 1 byte into the buffer (a payload behind a 2-byte header, or a chunk cut anywhere).
{
  const bytes = new Uint8Array(1024 * 1024 + 4);
  for (const [name, start] of [["aligned", 0], ["unaligned", 1]] as const) {
    Deno.bench({
      name: `unmask, 1 MiB ${name}`,
      group: "unmask 1 MiB",
      baseline: start === 0,
      fn() {
        unmask(bytes, start, start + 1024 * 1024, KEY);
      },
    });
  }
}

/** A protocol instance that counts what it delivers and never closes. */
function receiver(): { protocol: WebSocketProtocol; out: OutputBuffer; delivered: () => number } {
  let delivered = 0;
  const out = new OutputBuffer();
  const protocol = new WebSocketProtocol(out, {
    onMessage(data) {
      delivered += data.length;
    },
    onFinish(code, reason) {
      throw new Error(`Benchmark connection finished: ${code} ${reason}`);
    },
    maxMessageBytes: () => 1 << 20,
  });
  return { protocol, out, delivered: () => delivered };
}

for (const size of [32, 4096]) {
  for (const [kind, opcode] of [["binary", BINARY], ["text", TEXT]] as const) {
    const frame = clientFrame(opcode, asciiPayload(size));
    const { protocol } = receiver();
    Deno.bench({
      name: `WebSocketProtocol.receive, ${size} B ${kind} frame`,
      group: `parse ${size}`,
      fn() {
        protocol.receive(frame);
      },
    });
  }
}

// 16 frames of 32 B in one read, as a busy connection delivers them.
{
  const one = clientFrame(BINARY, asciiPayload(32));
  const batch = new Uint8Array(one.length * 16);
  for (let i = 0; i < 16; i++) batch.set(one, i * one.length);
  const { protocol } = receiver();
  Deno.bench({
    name: "WebSocketProtocol.receive, 16 × 32 B binary frames in one chunk",
    group: "parse 32",
    fn() {
      protocol.receive(batch);
    },
  });
}
