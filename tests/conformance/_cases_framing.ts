/**
 * Sections 1 to 4 (Autobahn numbering): framing, pings and pongs, reserved bits, reserved opcodes.
 *
 * Section 1 sends text and binary messages of every length class of RFC 6455 §5.2 (7-bit, 16-bit and
 * 64-bit lengths and their edges) whole and in 1-byte writes; 1.x.17 is Autobahn's 1.x.8 (65535 bytes in
 * 997-byte chops); 1.3 adds what Autobahn does not send: a 64-bit length with the top bit set, an unmasked
 * frame, a zero masking key and frames pipelined in one write.
 *
 * @module
 */

import { binaryPayload, type FrameSpec, hex, Op, textPayload } from "./_client.ts";
import type { ConformanceCase } from "./_runner.ts";
import { type Delivery, deliveryText, echoCase, type Expected, failCase } from "./_steps.ts";

const MiB = 1024 * 1024;
/** RFC 6455 §5.2's length classes and their edges, and a message larger than any single read. */
const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536, MiB];

function section1(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const [sub, opcode, type] of [[1, Op.Text, "text"], [2, Op.Binary, "binary"]] as const) {
    const payload = (n: number) => opcode === Op.Text ? textPayload(n) : binaryPayload(n, n);
    const add = (index: number, n: number, delivery: Delivery) => {
      const big = n >= MiB;
      const octetWise = delivery === 1;
      cases.push(echoCase(
        `1.${sub}.${index}`,
        `Send a ${type} message with a payload of ${n} bytes ${
          deliveryText(delivery)
        }; the echo must match byte for byte`,
        () => [{ opcode, payload: payload(n) }],
        () => [{ message: payload(n), isText: opcode === Op.Text }],
        {
          delivery,
          timeoutMs: big && octetWise
            ? 40_000
            : big
            ? 10_000
            : octetWise && n > 1000
            ? 10_000
            : 5000,
          cost: big && octetWise ? 100 : octetWise ? n / 10_000 + 1 : 1,
        },
      ));
    };
    LENGTHS.forEach((n, i) => add(i + 1, n, "whole"));
    LENGTHS.forEach((n, i) => add(i + 9, n, 1));
    add(17, 65535, 997);
  }
  const hello = "Hello, world!";
  cases.push(
    failCase(
      "1.3.1",
      "Send a binary frame header whose 64-bit payload length has the most significant bit set " +
        "(RFC 6455 §5.2 requires it to be 0); the server must fail with 1002 without waiting for a payload",
      [{ opcode: Op.Binary, declaredLength: (1n << 63n) | 5n }],
      1002,
    ),
    failCase(
      "1.3.2",
      "Send an unmasked text frame (RFC 6455 §5.1: the server must close the connection)",
      [{ opcode: Op.Text, payload: hello, mask: false }],
      1002,
    ),
    echoCase(
      "1.3.3",
      "Send a text message masked with the all-zero key (valid: any 32-bit key is allowed)",
      [{ opcode: Op.Text, payload: hello, maskKey: new Uint8Array(4) }],
      [{ message: hello }],
    ),
    echoCase(
      "1.3.4",
      "Send 100 small text and binary messages in one write; all are echoed in order",
      () => pipelined().frames,
      () => pipelined().expected,
    ),
  );
  return cases;
}

function pipelined(): { frames: FrameSpec[]; expected: Expected[] } {
  const frames: FrameSpec[] = [];
  const expected: Expected[] = [];
  for (let i = 0; i < 100; i++) {
    if (i % 2 === 0) {
      frames.push({ opcode: Op.Text, payload: `message ${i}` });
      expected.push({ message: `message ${i}` });
    } else {
      const bytes = binaryPayload(i * 3, i);
      frames.push({ opcode: Op.Binary, payload: bytes });
      expected.push({ message: bytes, isText: false });
    }
  }
  return { frames, expected };
}

function section2(): ConformanceCase[] {
  const ping = (payload: string | Uint8Array = ""): FrameSpec => ({ opcode: Op.Ping, payload });
  const pong = (payload: string | Uint8Array = ""): FrameSpec => ({ opcode: Op.Pong, payload });
  const b125 = new Uint8Array(125).fill(0xfe);
  const b126 = new Uint8Array(126).fill(0xfe);
  const binary = hex("00 ff fe fd fc fb 00 ff");
  const tenPings = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  return [
    echoCase("2.1", "Send a ping without payload", [ping()], [{ pong: "" }]),
    echoCase("2.2", "Send a ping with a small text payload", [ping("Hello, world!")], [{
      pong: "Hello, world!",
    }]),
    echoCase("2.3", "Send a ping with a small binary (non UTF-8) payload", [ping(binary)], [{
      pong: binary,
    }]),
    echoCase("2.4", "Send a ping with a 125-byte binary payload (the maximum)", [ping(b125)], [{
      pong: b125,
    }]),
    failCase(
      "2.5",
      "Send a ping with a 126-byte payload (control frames carry at most 125, RFC 6455 §5.5)",
      [ping(b126)],
      1002,
    ),
    echoCase(
      "2.6",
      "Send a ping with a 125-byte payload in 1-byte writes",
      [ping(b125)],
      [{ pong: b125 }],
      { delivery: 1 },
    ),
    echoCase(
      "2.7",
      "Send an unsolicited pong without payload, then a text message; the pong is ignored",
      [pong(), { opcode: Op.Text, payload: "after pong" }],
      [{ message: "after pong" }],
    ),
    echoCase(
      "2.8",
      "Send an unsolicited pong with payload, then a text message; the pong is ignored",
      [pong("unsolicited pong payload"), { opcode: Op.Text, payload: "after pong" }],
      [{ message: "after pong" }],
    ),
    echoCase(
      "2.9",
      "Send an unsolicited pong with payload, then a ping with payload; only the ping is answered",
      [pong("unsolicited pong payload"), ping("ping payload")],
      [{ pong: "ping payload" }],
    ),
    echoCase(
      "2.10",
      "Send 10 pings with payloads in one write; 10 pongs come back in order",
      tenPings.map((p) => ping(p)),
      tenPings.map((p) => ({ pong: p })),
    ),
    echoCase(
      "2.11",
      "Send 10 pings with payloads in 1-byte writes; 10 pongs come back in order",
      tenPings.map((p) => ping(p)),
      tenPings.map((p) => ({ pong: p })),
      { delivery: 1 },
    ),
  ];
}

function section3(): ConformanceCase[] {
  const hello = "Hello, world!";
  const text = (rsv = 0): FrameSpec => ({ opcode: Op.Text, payload: hello, rsv });
  // RSV as Autobahn numbers it: the 3-bit field RSV1-RSV2-RSV3, so 4 is RSV1 and 1 is RSV3.
  const after = (rsv: number, delivery: Delivery) =>
    `Send a small text message, then the same with RSV = ${rsv}, then a ping, ${
      deliveryText(delivery)
    }; the first is echoed, then the server fails with 1002 and never answers the ping`;
  return [
    failCase("3.1", "Send a small text message with RSV = 1 (RSV3 set)", [text(1)], 1002),
    failCase("3.2", after(2, "whole"), [text(), text(2), { opcode: Op.Ping }], 1002, [{
      message: hello,
    }]),
    failCase("3.3", after(3, "frame-wise"), [text(), text(3), { opcode: Op.Ping }], 1002, [{
      message: hello,
    }], { delivery: "frame-wise" }),
    failCase("3.4", after(4, 1), [text(), text(4), { opcode: Op.Ping }], 1002, [{
      message: hello,
    }], { delivery: 1 }),
    failCase(
      "3.5",
      "Send a small binary message with RSV = 5 (RSV1 and RSV3 set)",
      [{ opcode: Op.Binary, payload: hex("00 ff fe fd fc fb 00 ff"), rsv: 5 }],
      1002,
    ),
    failCase(
      "3.6",
      "Send a ping with RSV = 6 (RSV1 and RSV2 set)",
      [{ opcode: Op.Ping, payload: hello, rsv: 6 }],
      1002,
    ),
    failCase(
      "3.7",
      "Send a close frame with RSV = 7 (all reserved bits set)",
      [{ opcode: Op.Close, payload: hex("03 e8"), rsv: 7 }],
      1002,
    ),
  ];
}

function section4(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const hello = "Hello, world!";
  const groups = [[1, [3, 4, 5, 6, 7], "non-control"], [
    2,
    [11, 12, 13, 14, 15],
    "control",
  ]] as const;
  for (const [sub, opcodes, kind] of groups) {
    opcodes.forEach((opcode, i) => {
      const id = `4.${sub}.${i + 1}`;
      const withPayload = i % 2 === 1 || i === 4;
      const frame: FrameSpec = { opcode, payload: withPayload ? "reserved opcode payload" : "" };
      if (i < 2) {
        cases.push(failCase(
          id,
          `Send a frame with the reserved ${kind} opcode ${opcode}${
            withPayload ? " and a payload" : ""
          } (RFC 6455 §5.2)`,
          [frame],
          1002,
        ));
      } else {
        cases.push(failCase(
          id,
          `Send a small text message, then a frame with the reserved ${kind} opcode ${opcode}${
            withPayload ? " and a payload" : ""
          }, then a ping; the text is echoed, then the server fails with 1002 and never answers the ping`,
          [{ opcode: Op.Text, payload: hello }, frame, { opcode: Op.Ping }],
          1002,
          [{ message: hello }],
        ));
      }
    });
  }
  return cases;
}

/** Cases of sections 1-4. */
export function framingCases(): ConformanceCase[] {
  return [...section1(), ...section2(), ...section3(), ...section4()];
}
