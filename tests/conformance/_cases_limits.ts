/**
 * Section L (Wharf's own): the seed's limits, against a server started with a small `WS_MAX_MSG_SIZE`
 * and `WS_TIMEOUT`.
 *
 * `maxMsgSize` bounds a whole message across its fragments: exactly the limit is echoed, one byte more
 * fails with 1009, and the check happens at the frame header, before the payload arrives. `timeout`: after
 * that many seconds without traffic the server pings; a client that stays silent for a further timeout is
 * cut off. The server's timers are a coarse wheel that fires up to about a second late, so times are
 * checked to ±1 s plus scheduling slack.
 *
 * @module
 */

import {
  binaryPayload,
  CaseFailure,
  describeEvent,
  encodeFrame,
  fragments,
  type FrameSpec,
  Op,
  textPayload,
  type WsClient,
} from "./_client.ts";
import type { CaseContext, ConformanceCase } from "./_runner.ts";
import { check, deliver, type Delivery, expectAll, type Expected } from "./_steps.ts";

/** How late the server's coarse timers may fire, plus scheduling slack on a busy machine. */
const TIMER_SLACK_MS = 2500;

function limitOf(context: CaseContext): number {
  return context.limits!.maxMsgSize;
}

/** A limits-server case built from the limit when it runs. */
function limitCase(
  id: string,
  description: string,
  build: (limit: number) => {
    frames: FrameSpec[];
    expected: Expected[];
    failWith?: number;
    delivery?: Delivery;
  },
): ConformanceCase {
  return {
    id,
    description,
    server: "limits",
    async run(context) {
      const { frames, expected, failWith, delivery } = build(limitOf(context));
      const client = await context.connect();
      await deliver(client, frames, delivery ?? "whole");
      await expectAll(client, expected);
      if (failWith !== undefined) await client.expectFailure(failWith);
      else await client.closeHandshake(1000);
    },
  };
}

/** Cases of section L. */
export function limitsCases(): ConformanceCase[] {
  const text = (n: number) => textPayload(n);
  const binary = (n: number) => binaryPayload(n, 77);
  return [
    limitCase("L.1", "A text message of exactly maxMsgSize bytes is echoed", (m) => ({
      frames: [{ opcode: Op.Text, payload: text(m) }],
      expected: [{ message: text(m), isText: true }],
    })),
    limitCase("L.2", "A text message of maxMsgSize + 1 bytes fails with 1009", (m) => ({
      frames: [{ opcode: Op.Text, payload: text(m + 1) }],
      expected: [],
      failWith: 1009,
    })),
    limitCase("L.3", "A binary message of exactly maxMsgSize bytes is echoed", (m) => ({
      frames: [{ opcode: Op.Binary, payload: binary(m) }],
      expected: [{ message: binary(m), isText: false }],
    })),
    limitCase("L.4", "A binary message of maxMsgSize + 1 bytes fails with 1009", (m) => ({
      frames: [{ opcode: Op.Binary, payload: binary(m + 1) }],
      expected: [],
      failWith: 1009,
    })),
    limitCase(
      "L.5",
      "A text message of exactly maxMsgSize bytes in 2 fragments is echoed",
      (m) => ({
        frames: fragments(Op.Text, text(m), Math.ceil(m / 2)),
        expected: [{ message: text(m), isText: true }],
      }),
    ),
    limitCase(
      "L.6",
      "A binary message of maxMsgSize + 1 bytes in 2 fragments fails with 1009",
      (m) => ({
        frames: fragments(Op.Binary, binary(m + 1), Math.ceil((m + 1) / 2)),
        expected: [],
        failWith: 1009,
      }),
    ),
    limitCase(
      "L.7",
      "A binary message of exactly maxMsgSize bytes in 100 fragments, in 1000-byte writes, is echoed",
      (m) => ({
        frames: fragments(Op.Binary, binary(m), Math.ceil(m / 100)),
        expected: [{ message: binary(m), isText: false }],
        delivery: 1000,
      }),
    ),
    limitCase(
      "L.8",
      "Three text messages of exactly maxMsgSize bytes in one write are all echoed (the limit is per " +
        "message)",
      (m) => ({
        frames: [0, 1, 2].map(() => ({ opcode: Op.Text, payload: text(m) })),
        expected: [0, 1, 2].map(() => ({ message: text(m), isText: true })),
      }),
    ),
    {
      id: "L.9",
      description:
        "A fragmented binary message growing past maxMsgSize fails with 1009 at the header " +
        "of the fragment that crosses it, before that fragment's payload is sent (the fragments before " +
        "it are accepted: a ping after them is answered)",
      server: "limits",
      async run(context) {
        const m = limitOf(context);
        const all = fragments(Op.Binary, binary(m + 1), Math.ceil((m + 1) / 10));
        const client = await context.connect();
        await client.send([...all.slice(0, -1), { opcode: Op.Ping, payload: "so far so good" }]);
        await client.expectPong("so far so good");
        const last = encodeFrame(all[all.length - 1]);
        const payloadLength = (all[all.length - 1].payload as Uint8Array).length;
        await failsAtHeader(client, last, last.length - payloadLength);
      },
    },
    {
      id: "L.10",
      description:
        "A frame header announcing maxMsgSize + 1 bytes fails with 1009 at once, before any " +
        "of the payload is sent",
      server: "limits",
      async run(context) {
        const m = limitOf(context);
        const client = await context.connect();
        const frame = encodeFrame({ opcode: Op.Binary, payload: binary(m + 1) });
        await failsAtHeader(client, frame, frame.length - (m + 1));
      },
    },
    {
      id: "L.11",
      description:
        "A frame header announcing 2^62 bytes fails with 1009 at once (nothing is allocated " +
        "for it)",
      server: "limits",
      async run(context) {
        const client = await context.connect();
        await client.send({ opcode: Op.Binary, declaredLength: 1n << 62n });
        await client.expectFailure(1009);
      },
    },
    {
      id: "L.12",
      description:
        "After WS_TIMEOUT seconds of silence the server sends a ping; answered with a pong, " +
        "the connection stays open and echoes",
      server: "limits",
      timeoutMs: 20_000,
      cost: 50,
      async run(context) {
        const timeoutMs = context.limits!.timeoutS * 1000;
        const client = await context.connect({ surfacePings: true });
        const opened = Date.now();
        const ping = await client.next("the server's keepalive ping");
        const after = Date.now() - opened;
        if (ping.kind !== "ping") {
          throw new CaseFailure(`Expected the server's ping, got ${describeEvent(ping)}`);
        }
        context.note(`ping after ${after} ms`);
        check(
          after >= timeoutMs - 1000 && after <= timeoutMs + TIMER_SLACK_MS,
          `The ping came after ${after} ms; expected about ${timeoutMs} ms (−1 s / +${TIMER_SLACK_MS} ms)`,
        );
        await client.send([
          { opcode: Op.Pong, payload: ping.payload },
          { opcode: Op.Text, payload: "still here" },
        ]);
        await client.expectMessage("still here");
        await client.closeHandshake(1000);
      },
    },
    {
      id: "L.13",
      description: "A client that does not answer the server's ping is cut off after a further " +
        "WS_TIMEOUT seconds (the TCP connection is closed)",
      server: "limits",
      timeoutMs: 20_000,
      cost: 60,
      async run(context) {
        const timeoutMs = context.limits!.timeoutS * 1000;
        const client = await context.connect({ surfacePings: true });
        const ping = await client.next("the server's keepalive ping");
        if (ping.kind !== "ping") {
          throw new CaseFailure(`Expected the server's ping, got ${describeEvent(ping)}`);
        }
        const pinged = Date.now();
        let event = await client.next("the server to cut the connection");
        // A close frame before the cut is allowed too.
        if (event.kind === "close") {
          event = await client.next("the TCP close after the close frame");
        }
        const after = Date.now() - pinged;
        if (event.kind !== "tcp-closed") {
          throw new CaseFailure(`Expected the connection to be cut, got ${describeEvent(event)}`);
        }
        context.note(`cut ${after} ms after the ping`);
        check(
          after >= timeoutMs - 1000 && after <= timeoutMs + TIMER_SLACK_MS,
          `Cut ${after} ms after the ping; expected about ${timeoutMs} ms`,
        );
      },
    },
  ];
}

/**
 * Writes the first `headerLength` bytes of `frame` and expects 1009 before the payload follows; without a
 * close within 2 s the payload is sent and the case fails.
 */
async function failsAtHeader(
  client: WsClient,
  frame: Uint8Array,
  headerLength: number,
): Promise<void> {
  await client.write(frame.subarray(0, headerLength));
  const event = await client.poll(2000);
  if (event !== undefined) {
    await client.expectFailure(1009, event);
    return;
  }
  await client.write(frame.subarray(headerLength));
  const late = await client.poll(2000);
  throw new CaseFailure(
    `No close within 2000 ms of the header announcing a message over the limit; after the payload: ${
      late === undefined ? "nothing" : describeEvent(late)
    }`,
  );
}
