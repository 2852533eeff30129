import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { COPY_THRESHOLD_BYTES, OutputBuffer } from "../../src/_output_buffer.ts";
import {
  encodeFrame,
  headerBytes,
  isControlOpcode,
  isReservedOpcode,
  Opcode,
  readPayloadLength,
  readUint32,
  serverHeaderBytes,
  unmask,
  writeFrame,
  writeServerHeader,
} from "../../src/protocol/frame.ts";
import { hex } from "../_helpers/splits.ts";
import { drain, parseServerFrames } from "./_frames.ts";

function naiveMask(bytes: Uint8Array, key: readonly number[], phase: number): Uint8Array {
  return bytes.map((byte, i) => byte ^ key[(i + phase) & 3]);
}

function filled(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff);
}

describe("unmask", () => {
  test("matches a byte-wise XOR for every length, alignment and phase", () => {
    const key = [0x37, 0xfa, 0x21, 0x3d];
    const keyNumber = readUint32(Uint8Array.from(key), 0);
    for (const length of [0, 1, 2, 3, 4, 5, 7, 8, 255, 256, 257, 258, 259, 1000, 4099]) {
      for (let offset = 0; offset < 4; offset++) {
        for (let phase = 0; phase < 4; phase++) {
          const backing = new Uint8Array(length + 16);
          const original = filled(length);
          backing.set(original, offset + 5);
          unmask(backing, offset + 5, offset + 5 + length, keyNumber, phase);
          const label = `length ${length} offset ${offset} phase ${phase}`;
          assert.deepEqual(
            backing.subarray(offset + 5, offset + 5 + length),
            naiveMask(original, key, phase),
            label,
          );
          assert.ok(backing.subarray(0, offset + 5).every((b) => b === 0), `before: ${label}`);
          assert.ok(backing.subarray(offset + 5 + length).every((b) => b === 0), `after: ${label}`);
        }
      }
    }
  });

  test("works on a view with a byteOffset, and pieces with phases compose", () => {
    const key = [1, 2, 3, 0xff];
    const keyNumber = readUint32(Uint8Array.from(key), 0);
    const original = filled(700);
    const view = new Uint8Array(new ArrayBuffer(703), 3, 700);
    view.set(original);
    unmask(view, 0, 301, keyNumber, 0);
    unmask(view, 301, 302, keyNumber, 301);
    unmask(view, 302, 700, keyNumber, 302);
    assert.deepEqual(view, naiveMask(original, key, 0));
  });

  test("a zero key changes nothing", () => {
    const bytes = filled(300);
    unmask(bytes, 0, 300, 0, 1);
    assert.deepEqual(bytes, filled(300));
  });
});

describe("header fields", () => {
  test("opcode classes", () => {
    for (let opcode = 0; opcode < 16; opcode++) {
      assert.equal(isControlOpcode(opcode), opcode >= 8);
      assert.equal(isReservedOpcode(opcode), (opcode >= 3 && opcode <= 7) || opcode >= 0xb);
    }
  });

  test("header length from the second byte", () => {
    assert.equal(headerBytes(0x05), 2);
    assert.equal(headerBytes(0x85), 6);
    assert.equal(headerBytes(0x7e), 4);
    assert.equal(headerBytes(0xfe), 8);
    assert.equal(headerBytes(0x7f), 10);
    assert.equal(headerBytes(0xff), 14);
  });

  test("payload lengths: 7, 16 and 64 bits, non-minimal accepted, top bit refused", () => {
    assert.equal(readPayloadLength(hex("81 7d"), 0), 125);
    assert.equal(readPayloadLength(hex("81 fe 00 05"), 0), 5);
    assert.equal(readPayloadLength(hex("81 7e ff ff"), 0), 65535);
    assert.equal(readPayloadLength(hex("00 81 ff 00 00 00 00 00 01 00 00"), 1), 65536);
    assert.equal(readPayloadLength(hex("81 7f 00 00 00 01 00 00 00 00"), 0), 2 ** 32);
    assert.equal(readPayloadLength(hex("81 7f 00 1f ff ff ff ff ff ff"), 0), 2 ** 53 - 1);
    assert.equal(readPayloadLength(hex("81 7f 80 00 00 00 00 00 00 00"), 0), -1);
  });
});

describe("server frames", () => {
  const cases: [number, string][] = [
    [0, "82 00"],
    [125, "82 7d"],
    [126, "82 7e 00 7e"],
    [65535, "82 7e ff ff"],
    [65536, "82 7f 00 00 00 00 00 01 00 00"],
  ];

  test("encodeFrame uses the shortest length encoding and never masks", () => {
    for (const [length, header] of cases) {
      const payload = filled(length);
      const frame = encodeFrame(Opcode.Binary, payload);
      const head = hex(header);
      assert.deepEqual(frame.subarray(0, head.length), head);
      assert.deepEqual(frame.subarray(head.length), payload);
      assert.equal(serverHeaderBytes(length), head.length);
    }
  });

  test("encodeFrame refuses continuation, reserved opcodes and long control frames", () => {
    for (const opcode of [0, 3, 7, 0xb, 0xf, 16, -1]) {
      assert.throws(() => encodeFrame(opcode as Opcode, new Uint8Array(0)), RangeError);
    }
    for (const opcode of [Opcode.Close, Opcode.Ping, Opcode.Pong]) {
      assert.equal(encodeFrame(opcode, filled(125)).length, 127);
      assert.throws(() => encodeFrame(opcode, filled(126)), RangeError);
    }
  });

  test("writeFrame copies small payloads behind the header and references large ones", () => {
    const out = new OutputBuffer();
    const small = filled(COPY_THRESHOLD_BYTES);
    const large = filled(COPY_THRESHOLD_BYTES + 1);
    writeFrame(out, Opcode.Text, small);
    writeFrame(out, Opcode.Binary, large);
    const chunks: Uint8Array[] = [];
    out.drainTo({ write: (chunk) => chunks.push(chunk) });
    // Header + small payload + the large frame's header in one slab segment, then the large payload itself.
    assert.equal(chunks.length, 2);
    assert.equal(chunks[1], large);
    const frames = parseServerFrames(new Uint8Array([...chunks[0], ...chunks[1]]));
    assert.deepEqual(frames.map((f) => [f.fin, f.opcode, f.payload.length]), [
      [true, Opcode.Text, small.length],
      [true, Opcode.Binary, large.length],
    ]);
    assert.deepEqual(frames[0].payload, small);
  });

  test("writeServerHeader writes just the header", () => {
    for (const [length, header] of cases) {
      const out = new OutputBuffer();
      writeServerHeader(out, Opcode.Binary, length);
      assert.deepEqual(drain(out), hex(header));
    }
  });
});
