import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { COPY_THRESHOLD_BYTES } from "../../src/_output_buffer.ts";
import { encodeFrame, Opcode } from "../../src/protocol/frame.ts";
import { WebSocketProtocol } from "../../src/protocol/websocket.ts";
import {
  type Borrower,
  clearMessagePool,
  giveBackMessageBuffer,
  takeMessageBuffer,
} from "../../src/protocol/message_pool.ts";
import { concat, hex } from "../_helpers/splits.ts";
import {
  clientFrame,
  closeCodeSent,
  closePayload,
  drain,
  type Outcome,
  parseServerFrames,
  runSplits,
  session,
  toHex,
  utf8,
} from "./_frames.ts";

const TEXT = Opcode.Text;
const BINARY = Opcode.Binary;
const CONT = Opcode.Continuation;
const CLOSE = Opcode.Close;
const PING = Opcode.Ping;
const PONG = Opcode.Pong;

/** Asserts the run failed the connection with `code`: one close frame sent, finished unclean. */
function assertFailed(outcome: Outcome, code: number): void {
  assert.equal(closeCodeSent(outcome.frames), code);
  assert.equal(outcome.state, "closed");
  const last = outcome.events[outcome.events.length - 1];
  assert.equal(last[0], "finish");
  assert.equal(last[1], code);
  assert.equal(last[3], false);
  assert.equal(outcome.events.filter((event) => event[0] === "finish").length, 1);
}

/** Feeds `bytes` one at a time and returns the index of the byte after which the state became closed. */
function closedAtByte(bytes: Uint8Array, limit?: number): number {
  const s = session(limit);
  for (let i = 0; i < bytes.length; i++) {
    s.proto.receive(bytes.slice(i, i + 1));
    if (s.proto.state === "closed") return i;
  }
  return -1;
}

/** A borrower that has written everything: a buffer lent to it is free at once. */
function drained() {
  return { bufferedAmount: 0, transportOpen: true };
}

function filled(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

describe("receiving messages", () => {
  test("RFC 6455 §5.7 masked text message", () => {
    const outcome = runSplits(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"));
    assert.deepEqual(outcome.events, [["message", "text", "Hello"]]);
    assert.deepEqual(outcome.frames, []);
    assert.equal(outcome.state, "open");
  });

  test("RFC 6455 §5.7 fragmented text message", () => {
    const input = concat([
      clientFrame(TEXT, "Hel", { fin: false }),
      clientFrame(CONT, "lo"),
    ]);
    assert.deepEqual(runSplits(input).events, [["message", "text", "Hello"]]);
  });

  test("binary message, and several messages in one chunk", () => {
    const input = concat([
      clientFrame(BINARY, hex("00 ff 80 c0")),
      clientFrame(TEXT, "a"),
      clientFrame(BINARY, hex("01"), { fin: false }),
      clientFrame(CONT, hex("02"), { fin: false }),
      clientFrame(CONT, hex("03")),
    ]);
    assert.deepEqual(runSplits(input).events, [
      ["message", "binary", "00 ff 80 c0"],
      ["message", "text", "a"],
      ["message", "binary", "01 02 03"],
    ]);
  });

  test("empty messages, single and fragmented", () => {
    const input = concat([
      clientFrame(TEXT, ""),
      clientFrame(BINARY, "", { fin: false }),
      clientFrame(CONT, "", { fin: false }),
      clientFrame(CONT, ""),
      clientFrame(TEXT, "", { fin: false }),
      clientFrame(CONT, "x"),
    ]);
    assert.deepEqual(runSplits(input).events, [
      ["message", "text", ""],
      ["message", "binary", ""],
      ["message", "text", "x"],
    ]);
  });

  test("16-bit and 64-bit lengths, minimal and not", () => {
    const payload = filled(300);
    const input = concat([
      clientFrame(BINARY, payload),
      clientFrame(BINARY, payload, { lengthBits: 64 }),
      clientFrame(TEXT, "abc", { lengthBits: 16 }),
      clientFrame(TEXT, "def", { lengthBits: 64 }),
      clientFrame(PING, "p", { lengthBits: 16 }),
    ]);
    assert.deepEqual(runSplits(input).events, [
      ["message", "binary", toHex(payload)],
      ["message", "binary", toHex(payload)],
      ["message", "text", "abc"],
      ["message", "text", "def"],
      ["ping", "70"],
    ]);
  });

  test("a zero masking key and masks of every byte value", () => {
    const payload = filled(40);
    for (const mask of [[0, 0, 0, 0], [0xff, 0xff, 0xff, 0xff], [1, 0, 0, 0], [0, 0, 0, 0x80]]) {
      const outcome = runSplits(clientFrame(BINARY, payload, { mask }));
      assert.deepEqual(outcome.events, [["message", "binary", toHex(payload)]]);
    }
  });

  test("a message of 1 MiB, single frame and fragmented, in 64 KiB chunks or whole", () => {
    const payload = filled(1024 * 1024, 7);
    const fragments: Uint8Array[] = [];
    for (let at = 0; at < payload.length; at += 65536) {
      const opcode = at === 0 ? BINARY : CONT;
      fragments.push(
        clientFrame(opcode, payload.subarray(at, at + 65536), {
          fin: at + 65536 >= payload.length,
        }),
      );
    }
    for (const input of [clientFrame(BINARY, payload), concat(fragments)]) {
      for (const chunkBytes of [input.length, 65536, 65537, 1000]) {
        let received: Uint8Array | undefined;
        const s = session(1024 * 1024, {
          onMessage(data) {
            received = data.slice();
          },
        });
        for (let at = 0; at < input.length; at += chunkBytes) {
          s.proto.receive(input.slice(at, at + chunkBytes));
        }
        assert.ok(received !== undefined);
        assert.equal(received.length, payload.length);
        assert.ok(received.every((byte, i) => byte === payload[i]), "payload differs");
        assert.equal(s.proto.state, "open");
        assert.equal(s.out.length, 0);
      }
    }
  });
});

describe("protocol errors fail the connection with 1002", () => {
  test("an unmasked client frame", () => {
    assertFailed(runSplits(clientFrame(TEXT, "hi", { mask: null })), 1002);
    assertFailed(runSplits(hex("81 02 68 69")), 1002);
  });

  test("RSV1, RSV2 or RSV3 set", () => {
    for (const rsv of [1, 2, 4, 7]) {
      assertFailed(runSplits(clientFrame(TEXT, "hi", { rsv })), 1002);
      assertFailed(runSplits(clientFrame(PING, "", { rsv })), 1002);
    }
  });

  test("reserved opcodes 3-7 and 0xB-0xF", () => {
    for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      const outcome = runSplits(concat([clientFrame(opcode, "x"), clientFrame(TEXT, "after")]));
      assertFailed(outcome, 1002);
      assert.equal(outcome.events.length, 1);
    }
  });

  test("a 64-bit length with its most significant bit set", () => {
    const frame = clientFrame(BINARY, "", { lengthBits: 64, declaredLength: 0 });
    frame[2] = 0x80;
    assertFailed(runSplits(frame), 1002);
  });

  test("control frames: 125 bytes pass, 126 fail, fragmented fail", () => {
    const ok = runSplits(clientFrame(PING, filled(125)));
    assert.deepEqual(ok.events, [["ping", toHex(filled(125))]]);
    assert.deepEqual(ok.frames, [{ fin: true, opcode: PONG, payload: filled(125) }]);
    for (const opcode of [PING, PONG, CLOSE]) {
      assertFailed(runSplits(clientFrame(opcode, filled(126))), 1002);
      assertFailed(runSplits(clientFrame(opcode, "", { fin: false })), 1002);
    }
  });

  test("a continuation frame without a message to continue", () => {
    assertFailed(runSplits(clientFrame(CONT, "x")), 1002);
    const afterMessage = runSplits(concat([clientFrame(TEXT, "a"), clientFrame(CONT, "b")]));
    assertFailed(afterMessage, 1002);
    assert.deepEqual(afterMessage.events[0], ["message", "text", "a"]);
  });

  test("a new data frame while a fragmented message is open", () => {
    for (const opcode of [TEXT, BINARY]) {
      const outcome = runSplits(concat([
        clientFrame(BINARY, "a", { fin: false }),
        clientFrame(opcode, "b"),
      ]));
      assertFailed(outcome, 1002);
      assert.equal(outcome.events.length, 1);
    }
  });

  test("a failure sends one close frame and ignores all further input", () => {
    const s = session();
    s.proto.receive(concat([clientFrame(TEXT, "x", { mask: null }), clientFrame(TEXT, "y")]));
    s.proto.receive(clientFrame(PING, "z"));
    s.proto.receive(clientFrame(CLOSE, closePayload(1000)));
    s.proto.transportClosed();
    assert.equal(s.events.length, 1);
    assert.deepEqual(s.events[0].slice(0, 2), ["finish", 1002]);
    const frames = parseServerFrames(drain(s.out));
    assert.equal(frames.length, 1);
    assert.equal(closeCodeSent(frames), 1002);
    // The reason is a short sentence, the same one onFinish reports.
    assert.equal(new TextDecoder().decode(frames[0].payload.subarray(2)), s.events[0][2]);
    assert.equal(s.events[0][2], "Client frame is not masked");
  });
});

describe("message size limit", () => {
  test("single frame: the limit passes, limit + 1 fails with 1009", () => {
    const limit = 200;
    assert.deepEqual(runSplits(clientFrame(BINARY, filled(limit)), limit).events, [
      ["message", "binary", toHex(filled(limit))],
    ]);
    assertFailed(runSplits(clientFrame(BINARY, filled(limit + 1)), limit), 1009);
  });

  test("fragmented: the running total is checked at each header", () => {
    const limit = 10;
    const exact = concat([
      clientFrame(TEXT, "abcd", { fin: false }),
      clientFrame(CONT, "efg", { fin: false }),
      clientFrame(CONT, "hij"),
    ]);
    assert.deepEqual(runSplits(exact, limit).events, [["message", "text", "abcdefghij"]]);
    const over = concat([
      clientFrame(TEXT, "abcd", { fin: false }),
      clientFrame(CONT, "efg", { fin: false }),
      clientFrame(CONT, "hijk"),
    ]);
    assertFailed(runSplits(over, limit), 1009);
  });

  test("the limit is checked before the payload arrives", () => {
    const frame = clientFrame(BINARY, filled(1000));
    // Fails once the header is complete: 2 bytes, 2 bytes of length, 4 of mask.
    assert.equal(closedAtByte(frame, 999), 7);
    const huge = clientFrame(BINARY, "", { lengthBits: 64, declaredLength: 2 ** 40 });
    assert.equal(closedAtByte(huge, 1024 * 1024), huge.length - 1);
  });

  test("without a limit, a length the runtime cannot allocate fails with 1009", () => {
    const s = session(Infinity);
    const frame = clientFrame(BINARY, "abc", { lengthBits: 64, declaredLength: 2 ** 60 });
    s.proto.receive(frame);
    assert.equal(s.proto.state, "closed");
    assert.deepEqual(s.events, [["finish", 1009, "Message is too big", false]]);
  });

  test("a limit changed between messages applies to the next one", () => {
    const s = session(5);
    s.proto.receive(clientFrame(TEXT, "12345"));
    s.setLimit(3);
    s.proto.receive(clientFrame(TEXT, "123"));
    assert.equal(s.proto.state, "open");
    s.proto.receive(clientFrame(TEXT, "1234"));
    assert.equal(s.proto.state, "closed");
    assert.deepEqual(s.events, [
      ["message", "text", "12345"],
      ["message", "text", "123"],
      ["finish", 1009, "Message is too big", false],
    ]);
  });

  test("a limit lowered during a fragmented message applies at the next fragment", () => {
    const s = session(100);
    s.proto.receive(clientFrame(TEXT, "1234", { fin: false }));
    s.setLimit(5);
    s.proto.receive(clientFrame(CONT, "56", { fin: false }));
    assert.equal(closeCodeSent(parseServerFrames(drain(s.out))), 1009);
  });
});

describe("UTF-8 in text messages", () => {
  test("valid multi-byte text, split across fragments inside a character", () => {
    const euro = utf8("€𝄞é");
    const input = concat([
      clientFrame(TEXT, euro.subarray(0, 1), { fin: false }),
      clientFrame(CONT, euro.subarray(1, 5), { fin: false }),
      clientFrame(CONT, euro.subarray(5)),
    ]);
    assert.deepEqual(runSplits(input).events, [["message", "text", "€𝄞é"]]);
  });

  test("a byte order mark is kept as data", () => {
    assert.deepEqual(runSplits(clientFrame(TEXT, hex("ef bb bf 61"))).events, [
      ["message", "text", "\ufeffa"],
    ]);
  });

  test("invalid text fails with 1007: overlong, surrogate, above U+10FFFF, stray bytes", () => {
    for (const bad of ["c0 80", "e0 80 80", "ed a0 80", "f4 90 80 80", "f8", "80", "ce ba e1 bd"]) {
      assertFailed(runSplits(clientFrame(TEXT, hex(bad))), 1007);
    }
  });

  test("binary messages are not validated", () => {
    assert.deepEqual(runSplits(clientFrame(BINARY, hex("c0 80 ff"))).events, [
      ["message", "binary", "c0 80 ff"],
    ]);
  });

  test("an incomplete sequence at the end of the final fragment fails with 1007", () => {
    assertFailed(runSplits(clientFrame(TEXT, hex("61 e2 82"))), 1007);
    const fragmented = concat([
      clientFrame(TEXT, hex("61 e2"), { fin: false }),
      clientFrame(CONT, hex("82")),
    ]);
    assertFailed(runSplits(fragmented), 1007);
  });

  test("fails fast inside a frame whose payload has only partly arrived", () => {
    const frame = clientFrame(TEXT, hex("61 62 e0 80 63 64 65 66 67 68"));
    // The header is 6 bytes; "e0 80" is at payload offsets 2-3 and proven invalid by 80 (byte 9).
    assert.equal(closedAtByte(frame), 6 + 3);
    const s = session();
    s.proto.receive(frame.slice(0, 6 + 4));
    assertFailed(
      { events: s.events, frames: parseServerFrames(drain(s.out)), state: s.proto.state },
      1007,
    );
  });

  test("fails fast in a non-final fragment, before the message is complete", () => {
    const s = session();
    s.proto.receive(clientFrame(TEXT, "ok", { fin: false }));
    s.proto.receive(clientFrame(CONT, hex("61 ff"), { fin: false }));
    assert.equal(s.proto.state, "closed");
    assert.deepEqual(s.events, [["finish", 1007, "Text message is not valid UTF-8", false]]);
    assert.equal(closeCodeSent(parseServerFrames(drain(s.out))), 1007);
  });

  test("a valid prefix of a sequence keeps the connection open until proven invalid", () => {
    const input = concat([
      clientFrame(TEXT, hex("f0 9d"), { fin: false }),
      clientFrame(CONT, hex("84"), { fin: false }),
    ]);
    const outcome = runSplits(input);
    assert.equal(outcome.state, "open");
    assert.deepEqual(outcome.events, []);
  });
});

describe("control frames", () => {
  test("a ping is answered with a pong carrying the same payload, then reported", () => {
    const outcome = runSplits(clientFrame(PING, "hello"));
    assert.deepEqual(outcome.frames, [{ fin: true, opcode: PONG, payload: utf8("hello") }]);
    assert.deepEqual(outcome.events, [["ping", toHex(utf8("hello"))]]);
  });

  test("a ping between fragments is answered at once", () => {
    const input = concat([
      clientFrame(TEXT, "Hel", { fin: false }),
      clientFrame(PING, "p"),
      clientFrame(PONG, "q"),
      clientFrame(CONT, "lo"),
    ]);
    const outcome = runSplits(input);
    assert.deepEqual(outcome.events, [["ping", "70"], ["pong", "71"], [
      "message",
      "text",
      "Hello",
    ]]);
    assert.deepEqual(outcome.frames, [{ fin: true, opcode: PONG, payload: utf8("p") }]);
  });

  test("a pong is reported and otherwise ignored", () => {
    const outcome = runSplits(clientFrame(PONG, "x"));
    assert.deepEqual(outcome.events, [["pong", "78"]]);
    assert.deepEqual(outcome.frames, []);
    assert.equal(outcome.state, "open");
  });
});

describe("closing handshake", () => {
  test("a close without a code is echoed empty and reported as 1005", () => {
    const outcome = runSplits(clientFrame(CLOSE));
    assert.deepEqual(outcome.events, [["peerClose", 1005, ""], ["finish", 1005, "", true]]);
    assert.deepEqual(outcome.frames, [{ fin: true, opcode: CLOSE, payload: new Uint8Array(0) }]);
    assert.equal(outcome.state, "closed");
  });

  test("a close with code and reason is echoed with the same code", () => {
    const outcome = runSplits(clientFrame(CLOSE, closePayload(4321, "bye ✓")));
    assert.deepEqual(outcome.events, [["peerClose", 4321, "bye ✓"], [
      "finish",
      4321,
      "bye ✓",
      true,
    ]]);
    assert.deepEqual(outcome.frames, [{ fin: true, opcode: CLOSE, payload: hex("10 e1") }]);
  });

  test("every valid received code is echoed", () => {
    for (
      const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
    ) {
      const outcome = runSplits(clientFrame(CLOSE, closePayload(code)));
      assert.equal(closeCodeSent(outcome.frames), code);
      assert.deepEqual(outcome.events.at(-1), ["finish", code, "", true]);
    }
  });

  test("invalid received codes fail with 1002", () => {
    for (
      const code of [
        0,
        999,
        1004,
        1005,
        1006,
        1012,
        1013,
        1014,
        1015,
        1016,
        2000,
        2999,
        5000,
        65535,
      ]
    ) {
      const outcome = runSplits(clientFrame(CLOSE, closePayload(code)));
      assertFailed(outcome, 1002);
      assert.equal(outcome.events.length, 1, `code ${code}`);
    }
  });

  test("a close payload of 1 byte fails with 1002", () => {
    assertFailed(runSplits(clientFrame(CLOSE, hex("03"))), 1002);
  });

  test("a reason of 123 bytes is accepted; invalid UTF-8 in the reason fails with 1007", () => {
    const reason = "r".repeat(123);
    const ok = runSplits(clientFrame(CLOSE, closePayload(1000, reason)));
    assert.deepEqual(ok.events.at(-1), ["finish", 1000, reason, true]);
    const bad = concat([closePayload(1000), hex("ce ba e1 bd")]);
    assertFailed(runSplits(clientFrame(CLOSE, bad)), 1007);
    const truncated = concat([closePayload(1000), hex("e2 82")]);
    assertFailed(runSplits(clientFrame(CLOSE, truncated)), 1007);
  });

  test("anything after the peer's close is ignored", () => {
    const input = concat([
      clientFrame(TEXT, "before"),
      clientFrame(CLOSE, closePayload(1000)),
      clientFrame(TEXT, "after"),
      clientFrame(PING, "p"),
      clientFrame(TEXT, "x", { mask: null }),
    ]);
    const outcome = runSplits(input);
    assert.deepEqual(outcome.events, [
      ["message", "text", "before"],
      ["peerClose", 1000, ""],
      ["finish", 1000, "", true],
    ]);
    assert.equal(outcome.frames.length, 1);
    const s = session();
    s.proto.receive(input);
    s.proto.receive(clientFrame(TEXT, "later"));
    s.proto.transportClosed();
    assert.equal(s.events.length, 3);
  });

  test("close() starts the handshake; the peer's close completes it", () => {
    const s = session();
    s.proto.close(3001, "done");
    assert.equal(s.proto.state, "closing");
    assert.deepEqual(parseServerFrames(drain(s.out)), [
      { fin: true, opcode: CLOSE, payload: closePayload(3001, "done") },
    ]);
    // Messages still arrive while closing; pings are not answered after our close frame.
    s.proto.receive(concat([clientFrame(TEXT, "late"), clientFrame(PING, "p")]));
    assert.equal(s.proto.state, "closing");
    s.proto.receive(clientFrame(CLOSE, closePayload(3001, "ok")));
    assert.equal(s.proto.state, "closed");
    assert.deepEqual(s.events, [
      ["message", "text", "late"],
      ["ping", "70"],
      ["finish", 3001, "ok", true],
    ]);
    assert.equal(s.out.length, 0);
  });

  test("while closing, the peer's empty close reports 1005 and its errors send nothing", () => {
    const clean = session();
    clean.proto.close();
    drain(clean.out);
    clean.proto.receive(clientFrame(CLOSE));
    assert.deepEqual(clean.events, [["finish", 1005, "", true]]);

    const failed = session();
    failed.proto.close(1001);
    drain(failed.out);
    failed.proto.receive(clientFrame(CLOSE, closePayload(1006)));
    assert.equal(failed.proto.state, "closed");
    assert.deepEqual(failed.events, [["finish", 1002, "Invalid close code", false]]);
    assert.equal(failed.out.length, 0);
  });

  test("close() validates its arguments in every state and does nothing unless open", () => {
    const s = session();
    for (const code of [999, 1004, 1005, 1006, 1015, 2000, 5000, 1000.5, NaN]) {
      assert.throws(() => s.proto.close(code), RangeError);
    }
    assert.throws(() => s.proto.close(1000, "x".repeat(124)), RangeError);
    assert.throws(() => s.proto.close(1000, "é".repeat(62)), RangeError);
    assert.equal(s.proto.state, "open");
    assert.equal(s.out.length, 0);
    s.proto.close(1000, "é".repeat(61));
    s.proto.close(1001);
    assert.throws(() => s.proto.close(1005), RangeError);
    const frames = parseServerFrames(drain(s.out));
    assert.equal(frames.length, 1);
    assert.equal(frames[0].payload.length, 2 + 122);
  });

  test("transportClosed reports 1006 once", () => {
    const s = session();
    s.proto.transportClosed();
    s.proto.transportClosed();
    s.proto.receive(clientFrame(TEXT, "x"));
    assert.deepEqual(s.events, [["finish", 1006, "", false]]);
    assert.equal(s.proto.state, "closed");
    assert.equal(s.out.length, 0);
    const closing = session();
    closing.proto.close();
    closing.proto.transportClosed();
    assert.deepEqual(closing.events, [["finish", 1006, "", false]]);
  });

  test("the handler may close from onPeerClose: its close frame replaces the echo", () => {
    const s = session(undefined, {
      onPeerClose(_code, _reason, self) {
        self.proto.close(4000, "mine");
      },
    });
    s.proto.receive(clientFrame(CLOSE, closePayload(1000)));
    assert.deepEqual(parseServerFrames(drain(s.out)), [
      { fin: true, opcode: CLOSE, payload: closePayload(4000, "mine") },
    ]);
    assert.deepEqual(s.events.at(-1), ["finish", 1000, "", true]);
  });
});

describe("zero copy and the message buffer", () => {
  test("an unfragmented frame inside one chunk is delivered as a view into the chunk", () => {
    const chunk = concat([clientFrame(BINARY, filled(300)), clientFrame(TEXT, "hi")]);
    const views: Uint8Array[] = [];
    const s = session(undefined, { onMessage: (data) => views.push(data) });
    s.proto.receive(chunk);
    assert.equal(views.length, 2);
    assert.equal(views[0].buffer, chunk.buffer);
    assert.equal(views[0].byteOffset, 8);
    assert.deepEqual(views[0], filled(300));
    assert.equal(views[1].buffer, chunk.buffer);
  });

  test("a frame split across chunks is copied into a buffer of exactly its size", () => {
    const frame = clientFrame(BINARY, filled(1000));
    const buffers: ArrayBufferLike[] = [];
    const s = session(undefined, { onMessage: (data) => buffers.push(data.buffer) });
    s.proto.receive(frame.slice(0, 500));
    s.proto.receive(frame.slice(500));
    assert.equal(buffers.length, 1);
    assert.equal(buffers[0].byteLength, 1000);
  });

  test("consecutive fragmented messages reuse the same buffer", () => {
    const message = (text: string) =>
      concat([
        clientFrame(TEXT, text.slice(0, 2), { fin: false }),
        clientFrame(CONT, text.slice(2)),
      ]);
    const buffers: ArrayBufferLike[] = [];
    const s = session(undefined, { onMessage: (data) => buffers.push(data.buffer) });
    s.proto.receive(message("hello"));
    s.proto.receive(message("world"));
    s.proto.receive(message("abc"));
    assert.equal(buffers.length, 3);
    assert.equal(buffers[1], buffers[0]);
    assert.equal(buffers[2], buffers[0]);
  });

  test("the buffer grows by doubling while fragments arrive, but not past the limit", () => {
    for (const [limit, expected] of [[100, 40], [30, 30]]) {
      const sizes: number[] = [];
      const s = session(limit, { onMessage: (data) => sizes.push(data.buffer.byteLength) });
      s.proto.receive(clientFrame(BINARY, filled(10), { fin: false }));
      s.proto.receive(clientFrame(CONT, filled(10), { fin: false }));
      s.proto.receive(clientFrame(CONT, filled(1), { fin: false }));
      s.proto.receive(clientFrame(CONT, filled(1), { fin: false }));
      s.proto.receive(clientFrame(CONT, filled(1)));
      // 10, then 20 (needed, and twice 10), then 21 needed: twice 20 unless the limit is lower.
      assert.deepEqual(sizes, [expected]);
    }
  });

  test("the final fragment fixes the buffer's size", () => {
    const sizes: number[] = [];
    const s = session(1000, { onMessage: (data) => sizes.push(data.buffer.byteLength) });
    s.proto.receive(clientFrame(BINARY, filled(10), { fin: false }));
    s.proto.receive(clientFrame(CONT, filled(11)));
    assert.deepEqual(sizes, [21]);
  });

  test("releaseIfShared gives the buffer away; the next message gets a new one", () => {
    const message = () =>
      concat([clientFrame(BINARY, filled(3), { fin: false }), clientFrame(CONT, filled(3, 1))]);
    const seen: Uint8Array[] = [];
    const s = session(undefined, {
      onMessage(data) {
        seen.push(data);
        if (seen.length === 2) WebSocketProtocol.releaseIfShared(data, drained());
      },
    });
    s.proto.receive(message());
    s.proto.receive(message());
    const kept = seen[1].slice();
    s.proto.receive(message());
    assert.equal(seen[1].buffer, seen[0].buffer);
    assert.notEqual(seen[2].buffer, seen[1].buffer);
    assert.deepEqual(seen[1], kept, "the released buffer was written to");
    // A view that does not share the buffer changes nothing.
    WebSocketProtocol.releaseIfShared(new Uint8Array(6), drained());
    s.proto.receive(message());
    assert.equal(seen[3].buffer, seen[2].buffer);
  });

  test("echoing a large received message by reference stays intact after releaseIfShared", () => {
    const length = COPY_THRESHOLD_BYTES + 100;
    const s = session(undefined, {
      onMessage(data, isText, self) {
        self.proto.send(data, isText);
        WebSocketProtocol.releaseIfShared(data, drained());
      },
    });
    const fragmented = (seed: number) =>
      concat([
        clientFrame(BINARY, filled(length, seed).subarray(0, 100), { fin: false }),
        clientFrame(CONT, filled(length, seed).subarray(100)),
      ]);
    s.proto.receive(fragmented(3));
    s.proto.receive(fragmented(5));
    const frames = parseServerFrames(drain(s.out));
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[0].payload, filled(length, 3));
    assert.deepEqual(frames[1].payload, filled(length, 5));
  });

  test("a message buffer above 64 KiB is dropped after its message", () => {
    clearMessagePool();
    const sizes: number[] = [];
    // The buffer's capacity: a large one keeps room for a frame header in front of the message.
    const s = session(1024 * 1024, {
      onMessage: (data) => sizes.push(data.buffer.byteLength - data.byteOffset),
    });
    const large = clientFrame(BINARY, filled(70 * 1024));
    s.proto.receive(large.slice(0, 100));
    s.proto.receive(large.slice(100));
    const small = clientFrame(BINARY, filled(10));
    s.proto.receive(small.slice(0, 8));
    s.proto.receive(small.slice(8));
    assert.deepEqual(sizes, [70 * 1024, 10]);
  });
});

describe("the large message buffer pool", () => {
  const LARGE = 70 * 1024;
  /** One unfragmented large message split across two reads, so it is buffered. */
  function receiveLarge(s: ReturnType<typeof session>, seed: number): void {
    const frame = clientFrame(BINARY, filled(LARGE, seed));
    s.proto.receive(frame.slice(0, 100));
    s.proto.receive(frame.slice(100));
  }

  /**
   * An empty pool and a session whose app hands each delivered message (or only the first) to
   * `borrowers`, as an echo or relay writing it by reference does; `seen` holds the deliveries.
   */
  function lendingSession(
    borrowers: readonly Borrower[],
    only: "first" | "every",
  ): { s: ReturnType<typeof session>; seen: Uint8Array[] } {
    clearMessagePool();
    const seen: Uint8Array[] = [];
    const s = session(1024 * 1024, {
      onMessage(data) {
        seen.push(data);
        if (only === "every" || seen.length === 1) {
          for (const borrower of borrowers) WebSocketProtocol.releaseIfShared(data, borrower);
        }
      },
    });
    return { s, seen };
  }

  test("a delivered large buffer nobody kept is reused by the next large message", () => {
    clearMessagePool();
    const buffers: ArrayBufferLike[] = [];
    const s = session(1024 * 1024, { onMessage: (data) => buffers.push(data.buffer) });
    receiveLarge(s, 1);
    receiveLarge(s, 2);
    assert.equal(buffers[1], buffers[0]);
  });

  test("a buffer lent to a borrower is reused only once the borrower has written everything", () => {
    const borrower = { bufferedAmount: LARGE, transportOpen: true };
    const { s, seen } = lendingSession([borrower], "every");
    receiveLarge(s, 1);
    const kept = seen[0].slice();
    receiveLarge(s, 2);
    assert.notEqual(
      seen[1].buffer,
      seen[0].buffer,
      "reused while the borrower still had it queued",
    );
    assert.deepEqual(seen[0], kept, "the lent buffer was written to");
    borrower.bufferedAmount = 0;
    receiveLarge(s, 3);
    assert.equal(seen[2].buffer, seen[0].buffer);
    assert.deepEqual(seen[2], filled(LARGE, 3));
  });

  test("a buffer lent to a borrower whose transport closed is never reused", () => {
    const { s, seen } = lendingSession([{ bufferedAmount: 0, transportOpen: false }], "first");
    receiveLarge(s, 1);
    receiveLarge(s, 2);
    receiveLarge(s, 3);
    assert.notEqual(seen[1].buffer, seen[0].buffer);
    assert.notEqual(seen[2].buffer, seen[0].buffer);
  });

  test("a message written to two borrowers keeps its buffer out of the pool for good", () => {
    const { s, seen } = lendingSession([
      { bufferedAmount: 0, transportOpen: true },
      { bufferedAmount: 0, transportOpen: true },
    ], "first");
    receiveLarge(s, 1);
    receiveLarge(s, 2);
    assert.notEqual(seen[1].buffer, seen[0].buffer);
  });

  test("a pooled buffer much larger than a message is left for a larger one", () => {
    clearMessagePool();
    giveBackMessageBuffer(new Uint8Array(LARGE * 8), null);
    const buffers: ArrayBufferLike[] = [];
    const s = session(1024 * 1024, { onMessage: (data) => buffers.push(data.buffer) });
    receiveLarge(s, 1);
    assert.ok(buffers[0].byteLength < LARGE * 2, "the message took the much larger buffer");
    assert.equal(takeMessageBuffer(LARGE * 7)?.length, LARGE * 8);
  });

  test("releaseIfShared outside a delivery, or of other bytes, lends nothing", () => {
    clearMessagePool();
    const borrower = { bufferedAmount: 1, transportOpen: true };
    const buffers: ArrayBufferLike[] = [];
    const s = session(1024 * 1024, {
      onMessage(data) {
        buffers.push(data.buffer);
        WebSocketProtocol.releaseIfShared(new Uint8Array(LARGE), borrower);
      },
    });
    receiveLarge(s, 1);
    WebSocketProtocol.releaseIfShared(new Uint8Array(buffers[0]), borrower);
    receiveLarge(s, 2);
    assert.equal(buffers[1], buffers[0]);
  });
});

describe("sending the delivered message in place", () => {
  const LARGE = 70 * 1024;
  /** Delivers one binary message of `length` bytes, split across two reads when `split`. */
  function deliver(
    length: number,
    split: boolean,
    onMessage: (data: Uint8Array) => void,
  ): void {
    const s = session(1024 * 1024, { onMessage: (data) => onMessage(data) });
    const frame = clientFrame(BINARY, filled(length, length & 0xff));
    if (split) {
      s.proto.receive(frame.slice(0, 100));
      s.proto.receive(frame.slice(100));
    } else {
      s.proto.receive(frame);
    }
  }

  test("a buffered message's frame has its header in the room in front of the payload", () => {
    clearMessagePool();
    const frames: (Uint8Array | null)[] = [];
    let delivered: Uint8Array = new Uint8Array(0);
    deliver(LARGE, true, (data) => {
      delivered = data;
      frames.push(WebSocketProtocol.frameInPlace(data, BINARY));
      frames.push(WebSocketProtocol.frameInPlace(data, BINARY));
    });
    const [first, again] = frames;
    assert.ok(first !== null && again !== null);
    assert.equal(first.buffer, delivered.buffer, "the frame is not the message buffer itself");
    assert.equal(first.byteOffset + 10, delivered.byteOffset);
    assert.deepEqual(first, encodeFrame(BINARY, filled(LARGE, LARGE & 0xff)));
    assert.deepEqual(again, first, "the same message sent twice gets the same frame");
    assert.equal(
      WebSocketProtocol.frameInPlace(delivered, BINARY),
      null,
      "a frame in place after the delivery",
    );
  });

  test("a header that differs from the one already in the room, or a view past the start, gets none", () => {
    clearMessagePool();
    const frames: (Uint8Array | null)[] = [];
    deliver(LARGE, true, (data) => {
      frames.push(WebSocketProtocol.frameInPlace(data, BINARY));
      frames.push(WebSocketProtocol.frameInPlace(data, TEXT));
      frames.push(WebSocketProtocol.frameInPlace(data.subarray(0, LARGE - 1), BINARY));
      frames.push(WebSocketProtocol.frameInPlace(data.subarray(1), BINARY));
    });
    assert.ok(frames[0] !== null);
    assert.deepEqual(frames.slice(1), [null, null, null]);
  });

  test("each delivery starts with the room unused", () => {
    clearMessagePool();
    const opcodes = [BINARY, TEXT];
    const frames: (Uint8Array | null)[] = [];
    const s = session(1024 * 1024, {
      onMessage: (data) =>
        frames.push(WebSocketProtocol.frameInPlace(data, opcodes[frames.length])),
    });
    for (const seed of [1, 2]) {
      const frame = clientFrame(BINARY, filled(LARGE, seed));
      s.proto.receive(frame.slice(0, 100));
      s.proto.receive(frame.slice(100));
    }
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[1], encodeFrame(TEXT, filled(LARGE, 2)));
  });

  test("a message read in one chunk, or one small enough to be copied, has no room", () => {
    const frames: (Uint8Array | null)[] = [];
    deliver(LARGE, false, (data) => frames.push(WebSocketProtocol.frameInPlace(data, BINARY)));
    deliver(
      COPY_THRESHOLD_BYTES,
      true,
      (data) => frames.push(WebSocketProtocol.frameInPlace(data, BINARY)),
    );
    assert.deepEqual(frames, [null, null]);
  });
});

describe("sending", () => {
  const sizes = [0, 1, 125, 126, 65535, 65536];
  const headers: Record<number, string> = {
    0: "82 00",
    1: "82 01",
    125: "82 7d",
    126: "82 7e 00 7e",
    65535: "82 7e ff ff",
    65536: "82 7f 00 00 00 00 00 01 00 00",
  };

  test("send() writes an unmasked frame with the shortest length encoding", () => {
    for (const size of sizes) {
      const s = session();
      const payload = filled(size, size);
      assert.equal(s.proto.send(payload, false), true);
      const bytes = drain(s.out);
      const header = hex(headers[size]);
      assert.deepEqual(bytes.subarray(0, header.length), header, `${size} bytes`);
      assert.deepEqual(bytes.subarray(header.length), payload);
    }
  });

  test("send() of a string writes its UTF-8 bytes as a text frame", () => {
    for (const size of sizes) {
      const s = session();
      const text = "a".repeat(size);
      assert.equal(s.proto.send(text, true), true);
      const bytes = drain(s.out);
      const header = hex(headers[size]);
      header[0] = 0x81;
      assert.deepEqual(bytes.subarray(0, header.length), header, `${size} chars`);
      assert.equal(new TextDecoder().decode(bytes.subarray(header.length)), text);
    }
  });

  test("send() of multi-byte strings across the length encodings", () => {
    // 42 euro signs: 42 units (a 2-byte header for ASCII) but 126 bytes (a 4-byte header).
    for (
      const text of [
        "€".repeat(41) + "ab",
        "€".repeat(42),
        "𝄞".repeat(40),
        "é".repeat(30000),
        "\ud800x",
      ]
    ) {
      for (const isText of [true, false]) {
        const s = session();
        s.proto.send(text, isText);
        const frames = parseServerFrames(drain(s.out));
        assert.equal(frames.length, 1);
        assert.equal(frames[0].opcode, isText ? TEXT : BINARY);
        assert.deepEqual(frames[0].payload, utf8(text));
      }
    }
  });

  test("several sends are queued in order", () => {
    const s = session();
    s.proto.send("one", true);
    s.proto.send(hex("02"), false);
    s.proto.sendPing(utf8("p"));
    s.proto.send(filled(COPY_THRESHOLD_BYTES + 1), false);
    s.proto.send("two", true);
    const frames = parseServerFrames(drain(s.out));
    assert.deepEqual(frames.map((f) => [f.opcode, f.payload.length]), [
      [TEXT, 3],
      [BINARY, 1],
      [PING, 1],
      [BINARY, COPY_THRESHOLD_BYTES + 1],
      [TEXT, 3],
    ]);
  });

  test("sendEncoded queues the same bytes by reference", () => {
    const frame = encodeFrame(TEXT, utf8("broadcast"));
    const a = session();
    const b = session();
    assert.equal(a.proto.sendEncoded(frame), true);
    assert.equal(b.proto.sendEncoded(frame), true);
    for (const s of [a, b]) {
      const chunks: Uint8Array[] = [];
      s.out.drainTo({ write: (chunk) => chunks.push(chunk) });
      assert.deepEqual(chunks, [frame]);
      assert.equal(chunks[0], frame);
    }
  });

  test("sendPing: empty by default, 125 bytes allowed, 126 a RangeError", () => {
    const s = session();
    assert.equal(s.proto.sendPing(), true);
    assert.equal(s.proto.sendPing(filled(125)), true);
    assert.throws(() => s.proto.sendPing(filled(126)), RangeError);
    assert.deepEqual(parseServerFrames(drain(s.out)), [
      { fin: true, opcode: PING, payload: new Uint8Array(0) },
      { fin: true, opcode: PING, payload: filled(125) },
    ]);
  });

  test("nothing is queued unless open", () => {
    const s = session();
    s.proto.close();
    drain(s.out);
    assert.equal(s.proto.send("x", true), false);
    assert.equal(s.proto.send(hex("01"), false), false);
    assert.equal(s.proto.sendEncoded(encodeFrame(TEXT, utf8("x"))), false);
    assert.equal(s.proto.sendPing(), false);
    s.proto.transportClosed();
    assert.equal(s.proto.send("x", true), false);
    assert.equal(s.out.length, 0);
  });

  test("the handler may send and close while a chunk is being received", () => {
    let count = 0;
    const s = session(undefined, {
      onMessage(data, isText, self) {
        self.proto.send(data, isText);
        if (++count === 2) self.proto.close(1000);
      },
    });
    s.proto.receive(concat([
      clientFrame(TEXT, "one"),
      clientFrame(TEXT, "two"),
      clientFrame(TEXT, "three"),
      clientFrame(CLOSE, closePayload(1000)),
    ]));
    assert.deepEqual(s.events, [
      ["message", "text", "one"],
      ["message", "text", "two"],
      ["message", "text", "three"],
      ["finish", 1000, "", true],
    ]);
    const frames = parseServerFrames(drain(s.out));
    assert.deepEqual(frames.map((f) => [f.opcode, new TextDecoder().decode(f.payload)]), [
      [TEXT, "one"],
      [TEXT, "two"],
      [CLOSE, new TextDecoder().decode(closePayload(1000))],
    ]);
  });
});
