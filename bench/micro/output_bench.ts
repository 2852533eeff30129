/**
 * Micro-benchmarks of writing server frames into an `OutputBuffer` and draining it, as one echo does:
 * small payloads are copied behind their header into the shared slab, large ones queued by reference.
 *
 * ```sh
 * deno bench bench/micro/output_bench.ts
 * ```
 *
 * @module
 */

import { OutputBuffer } from "../../src/_output_buffer.ts";
import { Opcode, writeFrame } from "../../src/protocol/frame.ts";
import { WebSocketProtocol } from "../../src/protocol/websocket.ts";
import { asciiPayload } from "./_frames.ts";

let written = 0;
/**
 * Stands in for a socket transport: the write it would make, and, like a socket whose kernel took
 * everything, nothing left buffered and no reference kept, so full slabs are reused as in a server. (A sink
 * without those two would keep every slab out of reuse, and the 4 KiB case would time fresh allocations.)
 */
const transport = { write: sink, releasesWrittenChunks: true, bufferedAmount: 0 };

function sink(chunk: Uint8Array): void {
  written += chunk.length;
}

for (const size of [32, 4096, 65536]) {
  const payload = asciiPayload(size);
  const out = new OutputBuffer();
  Deno.bench({
    name: `writeFrame + drainTo, ${size} B binary`,
    group: "writeFrame",
    baseline: size === 32,
    fn() {
      writeFrame(out, Opcode.Binary, payload);
      out.drainTo(transport);
    },
  });
}

// 16 small frames batched into one drain, as a connection answering a chunk of 16 messages does.
{
  const payload = asciiPayload(32);
  const out = new OutputBuffer();
  Deno.bench({
    name: "16 × writeFrame + one drainTo, 32 B binary",
    group: "writeFrame",
    fn() {
      for (let i = 0; i < 16; i++) writeFrame(out, Opcode.Binary, payload);
      out.drainTo(transport);
    },
  });
}

// A string message: encoded straight into the slab behind its header.
{
  const out = new OutputBuffer();
  const protocol = new WebSocketProtocol(out, {
    onMessage() {},
    onFinish() {},
    maxMessageBytes: () => 1 << 20,
  });
  const text = "x".repeat(32);
  Deno.bench({
    name: "WebSocketProtocol.send string + drainTo, 32 chars",
    group: "send",
    baseline: true,
    fn() {
      protocol.send(text, true);
      out.drainTo(transport);
    },
  });
  const bytes = asciiPayload(32);
  Deno.bench({
    name: "WebSocketProtocol.send bytes + drainTo, 32 B",
    group: "send",
    fn() {
      protocol.send(bytes, false);
      out.drainTo(transport);
    },
  });
}
