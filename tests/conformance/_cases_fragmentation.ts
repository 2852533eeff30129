/**
 * Section 5 (Autobahn numbering): fragmentation (RFC 6455 §5.4). 5.1-5.20 are Autobahn's cases; 5.21-5.28
 * add binary messages, many fragments, and the remaining ways to break fragmentation rules.
 *
 * Where Autobahn waits a second between frames to see that a ping is answered before the message ends,
 * these cases wait for the pong itself before sending the next fragment, which proves the same without
 * sleeping.
 *
 * @module
 */

import { binaryPayload, fragments, type FrameSpec, Op, textPayload } from "./_client.ts";
import type { ConformanceCase } from "./_runner.ts";
import { type Delivery, deliveryText, echoCase, failCase } from "./_steps.ts";

const text = (payload: string | Uint8Array, fin = true): FrameSpec => ({
  opcode: Op.Text,
  payload,
  fin,
});
const cont = (payload: string | Uint8Array, fin = true): FrameSpec => ({
  opcode: Op.Continuation,
  payload,
  fin,
});

/** Cases of section 5. */
export function fragmentationCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const deliveries: Delivery[] = ["whole", 1, "frame-wise"];

  cases.push(
    failCase(
      "5.1",
      "Send a ping in 2 fragments (control frames must not be fragmented, RFC 6455 §5.5)",
      [{ opcode: Op.Ping, payload: "fragment1", fin: false }, cont("fragment2")],
      1002,
    ),
    failCase(
      "5.2",
      "Send a pong in 2 fragments (control frames must not be fragmented)",
      [{ opcode: Op.Pong, payload: "fragment1", fin: false }, cont("fragment2")],
      1002,
    ),
  );
  deliveries.forEach((delivery, i) => {
    cases.push(echoCase(
      `5.${3 + i}`,
      `Send a text message in 2 fragments, ${deliveryText(delivery)}`,
      [text("fragment1", false), cont("fragment2")],
      [{ message: "fragment1fragment2" }],
      { delivery },
    ));
  });
  deliveries.forEach((delivery, i) => {
    cases.push(echoCase(
      `5.${6 + i}`,
      `Send a text message in 2 fragments with a ping between them, ${
        deliveryText(delivery)
      }; the pong comes first`,
      [text("fragment1", false), { opcode: Op.Ping, payload: "pongme!" }, cont("fragment2")],
      [{ pong: "pongme!" }, { message: "fragment1fragment2" }],
      { delivery },
    ));
  });
  const after = [text("Hello, world!")];
  deliveries.forEach((delivery, i) => {
    cases.push(failCase(
      `5.${9 + i}`,
      `Send a continuation frame with FIN set and nothing to continue, then a text message, ` +
        deliveryText(delivery),
      [cont("non-continuation payload"), ...after],
      1002,
      [],
      { delivery },
    ));
  });
  deliveries.forEach((delivery, i) => {
    cases.push(failCase(
      `5.${12 + i}`,
      `Send a continuation frame without FIN and nothing to continue, then a text message, ` +
        deliveryText(delivery),
      [cont("non-continuation payload", false), ...after],
      1002,
      [],
      { delivery },
    ));
  });
  cases.push(
    failCase(
      "5.15",
      "Send a text message in 2 fragments, then a continuation frame without FIN with nothing to " +
        "continue, then a text message; the first message is echoed, then 1002",
      [
        text("fragment1", false),
        cont("fragment2"),
        cont("fragment3", false),
        text("fragment4"),
      ],
      1002,
      [{ message: "fragment1fragment2" }],
    ),
    failCase(
      "5.16",
      "Repeated twice: a continuation frame without FIN with nothing to continue, then a text message " +
        "in 2 fragments",
      [
        cont("fragment1", false),
        text("fragment2", false),
        cont("fragment3"),
        cont("fragment1", false),
        text("fragment2", false),
        cont("fragment3"),
      ],
      1002,
    ),
    failCase(
      "5.17",
      "Repeated twice: a continuation frame with FIN with nothing to continue, then a text message " +
        "in 2 fragments",
      [
        cont("fragment1"),
        text("fragment2", false),
        cont("fragment3"),
        cont("fragment1"),
        text("fragment2", false),
        cont("fragment3"),
      ],
      1002,
    ),
    failCase(
      "5.18",
      "Send a text message in 2 fragments where both frames have the text opcode",
      [text("fragment1", false), text("fragment2")],
      1002,
    ),
    {
      id: "5.19",
      description:
        "Send a text message in 5 fragments with a ping after the 2nd and the 4th; each pong must " +
        "arrive before the next fragment is sent (pings are answered at once, not after the message)",
      async run(context) {
        const client = await context.connect();
        await client.send([
          text("fragment1", false),
          cont("fragment2", false),
          { opcode: Op.Ping, payload: "pongme 1!" },
        ]);
        await client.expectPong("pongme 1!");
        await client.send([
          cont("fragment3", false),
          cont("fragment4", false),
          { opcode: Op.Ping, payload: "pongme 2!" },
        ]);
        await client.expectPong("pongme 2!");
        await client.send(cont("fragment5"));
        await client.expectMessage("fragment1fragment2fragment3fragment4fragment5");
        await client.closeHandshake(1000);
      },
    },
    echoCase(
      "5.20",
      "Send a text message in 5 fragments with a ping after the 2nd and the 4th, one write per frame " +
        "without waiting; two pongs, then the message",
      [
        text("fragment1", false),
        cont("fragment2", false),
        { opcode: Op.Ping, payload: "pongme 1!" },
        cont("fragment3", false),
        cont("fragment4", false),
        { opcode: Op.Ping, payload: "pongme 2!" },
        cont("fragment5"),
      ],
      [{ pong: "pongme 1!" }, { pong: "pongme 2!" }, {
        message: "fragment1fragment2fragment3fragment4fragment5",
      }],
      { delivery: "frame-wise" },
    ),
    echoCase(
      "5.21",
      "Send a binary message in 2 fragments",
      () => fragments(Op.Binary, binaryPayload(200, 21), 100),
      () => [{ message: binaryPayload(200, 21), isText: false }],
    ),
    {
      id: "5.22",
      description:
        "Send a binary message in 2 fragments with a ping between them; the pong must arrive before " +
        "the 2nd fragment is sent",
      async run(context) {
        const client = await context.connect();
        const payload = binaryPayload(300, 22);
        await client.send([
          { opcode: Op.Binary, payload: payload.subarray(0, 100), fin: false },
          { opcode: Op.Ping, payload: "between fragments" },
        ]);
        await client.expectPong("between fragments");
        await client.send(cont(payload.subarray(100)));
        await client.expectMessage(payload, false);
        await client.closeHandshake(1000);
      },
    },
    echoCase(
      "5.23",
      "Send a text message of 10000 bytes in 100 fragments of 100 bytes (code points split across " +
        "fragments) with empty fragments between them",
      () => withEmptyFragments(fragments(Op.Text, textPayload(10_000), 100)),
      () => [{ message: textPayload(10_000), isText: true }],
    ),
    echoCase(
      "5.24",
      "Send a binary message of 1000 bytes in 1000 one-byte fragments, in 1-byte writes",
      () => fragments(Op.Binary, binaryPayload(1000, 24), 1),
      () => [{ message: binaryPayload(1000, 24), isText: false }],
      { delivery: 1, timeoutMs: 10_000, cost: 3 },
    ),
    failCase(
      "5.25",
      "Send the first fragment of a binary message, then a whole binary message (a new data frame " +
        "inside a fragmented message, RFC 6455 §5.4)",
      [{ opcode: Op.Binary, payload: "fragment1", fin: false }, {
        opcode: Op.Binary,
        payload: "whole",
      }],
      1002,
    ),
    failCase(
      "5.26",
      "Send the first fragment of a text message, then the first fragment of a binary message",
      [text("fragment1", false), { opcode: Op.Binary, payload: "fragment2", fin: false }],
      1002,
    ),
    failCase(
      "5.27",
      "Send a close frame in 2 fragments (control frames must not be fragmented)",
      [{ opcode: Op.Close, payload: new Uint8Array([0x03, 0xe8]), fin: false }, cont("")],
      1002,
    ),
    failCase(
      "5.28",
      "Send the first fragment of a text message, then a fragmented ping inside it",
      [text("fragment1", false), { opcode: Op.Ping, payload: "ping1", fin: false }, cont("ping2")],
      1002,
    ),
  );
  return cases;
}

/** Puts an empty continuation frame after every fragment but the last. */
function withEmptyFragments(specs: FrameSpec[]): FrameSpec[] {
  const out: FrameSpec[] = [];
  specs.forEach((spec, i) => {
    out.push(spec);
    if (i < specs.length - 1) out.push(cont("", false));
  });
  return out;
}
