/**
 * Sections 9 and 10 (Autobahn numbering): large messages and auto-fragmentation.
 *
 * 9.1-9.4 send text and binary messages of 64 KiB to 16 MiB whole and in 64 KiB fragments; 9.5-9.6 send
 * 1 MiB in writes of 64 to 2048 bytes; 9.7-9.8 do 1000 round trips of small messages. The report gives
 * each case's time. The server must run with `WS_MAX_MSG_SIZE` of at least 16 MiB.
 *
 * Section 10: a server may send a message as one frame or many (RFC 6455 §5.4); the client reassembles
 * whatever it gets and the echo must match. Messages go out in odd 1300-byte fragments, so code points are
 * split across frames too.
 *
 * @module
 */

import { binaryPayload, fragments, Op, textPayload } from "./_client.ts";
import type { ConformanceCase } from "./_runner.ts";
import { echoCase } from "./_steps.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [64 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB];

function sizeText(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`;
}

function payloadFor(isText: boolean, n: number): Uint8Array {
  return isText ? textPayload(n) : binaryPayload(n, n + 9);
}

/** Generous time for `n` bytes out and back, however slow the runtime. */
function timeoutFor(n: number): number {
  return 10_000 + Math.ceil(n / MiB) * 1500;
}

function section9(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (
    const [sub, isText, fragmented] of [[1, true, false], [2, false, false], [3, true, true], [
      4,
      false,
      true,
    ]] as const
  ) {
    const type = isText ? "text" : "binary";
    const opcode = isText ? Op.Text : Op.Binary;
    SIZES.forEach((n, i) => {
      cases.push(echoCase(
        `9.${sub}.${i + 1}`,
        `Send a ${type} message of ${sizeText(n)}${fragmented ? " in 64 KiB fragments" : ""}`,
        () =>
          fragmented
            ? fragments(opcode, payloadFor(isText, n), 64 * KiB)
            : [{ opcode, payload: payloadFor(isText, n) }],
        () => [{ message: payloadFor(isText, n), isText }],
        { timeoutMs: timeoutFor(n), exclusive: true },
      ));
    });
  }
  for (const [sub, isText] of [[5, true], [6, false]] as const) {
    const type = isText ? "text" : "binary";
    const opcode = isText ? Op.Text : Op.Binary;
    [64, 128, 256, 512, 1024, 2048].forEach((chop, i) => {
      cases.push(echoCase(
        `9.${sub}.${i + 1}`,
        `Send a ${type} message of 1 MiB in ${chop}-byte writes`,
        () => [{ opcode, payload: payloadFor(isText, MiB) }],
        () => [{ message: payloadFor(isText, MiB), isText }],
        { delivery: chop, timeoutMs: 20_000, exclusive: true },
      ));
    });
  }
  for (const [sub, isText] of [[7, true], [8, false]] as const) {
    const type = isText ? "text" : "binary";
    const opcode = isText ? Op.Text : Op.Binary;
    [0, 16, 64, 256, 1024, 4096].forEach((n, i) => {
      cases.push({
        id: `9.${sub}.${i + 1}`,
        description:
          `Send 1000 ${type} messages of ${n} bytes, each after the echo of the one before`,
        timeoutMs: 20_000,
        exclusive: true,
        async run(context) {
          const client = await context.connect();
          const payload = payloadFor(isText, n);
          for (let k = 0; k < 1000; k++) {
            await client.send({ opcode, payload });
            await client.expectMessage(payload, isText);
          }
          await client.closeHandshake(1000);
        },
      });
    });
  }
  return cases;
}

function section10(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  let index = 1;
  for (const n of [64 * KiB, MiB]) {
    for (const isText of [true, false]) {
      const type = isText ? "text" : "binary";
      const opcode = isText ? Op.Text : Op.Binary;
      cases.push(echoCase(
        `10.1.${index++}`,
        `Send a ${type} message of ${
          sizeText(n)
        } in 1300-byte fragments; the echo may come in any ` +
          "number of frames and is reassembled",
        () => fragments(opcode, payloadFor(isText, n), 1300),
        () => [{ message: payloadFor(isText, n), isText }],
        { timeoutMs: timeoutFor(n), cost: n / 8 / KiB },
      ));
    }
  }
  return cases;
}

/** Cases of sections 9 and 10. */
export function largeCases(): ConformanceCase[] {
  return [...section9(), ...section10()];
}
