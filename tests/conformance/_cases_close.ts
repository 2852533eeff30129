/**
 * Section 7 (Autobahn numbering): the closing handshake (RFC 6455 §5.5.1, §7).
 *
 * Every close here must be answered with a close frame carrying the code we sent (an empty close with an
 * empty one), after which the server closes the TCP connection first (§7.1.1); anything we send after our
 * close frame must be ignored. Codes follow Wharf's rule: exactly 1000-1003, 1007-1011 and 3000-4999 are
 * valid in a received close frame; any other code fails the connection with 1002. Autobahn lists 1012-1014
 * as valid in later versions and 7.13 (5000, 65535) as informational; here they must fail with 1002.
 *
 * @module
 */

import { binaryPayload, concat, encodeFrame, hex, Op } from "./_client.ts";
import type { ConformanceCase } from "./_runner.ts";
import { echoCase, expectAll, type Expected, failCase } from "./_steps.ts";

/** A close frame payload: the code in network order, then the reason. */
function closePayload(code: number, reason: string | Uint8Array = ""): Uint8Array {
  const reasonBytes = typeof reason === "string" ? new TextEncoder().encode(reason) : reason;
  return concat([new Uint8Array([code >> 8, code & 0xff]), reasonBytes]);
}

/** Codes a server must accept and echo. */
const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
/** Autobahn 7.9's invalid codes, then those Wharf's rule adds (1012-1015). */
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 1012, 1013, 1014, 1015];

/** A case that sends `frames` (ending with or containing our close) and expects only the close echo. */
function closeEchoCase(
  id: string,
  description: string,
  frames: Parameters<typeof echoCase>[2],
  before: Expected[] | (() => Expected[]),
  echoCodes: (number | undefined)[] = [1000],
  timeoutMs?: number,
): ConformanceCase {
  return {
    id,
    description,
    timeoutMs,
    cost: timeoutMs === undefined ? 1 : 5,
    async run(context) {
      const client = await context.connect();
      await client.send(typeof frames === "function" ? frames() : frames);
      await expectAll(client, typeof before === "function" ? before() : before);
      await client.expectCloseEcho(echoCodes);
    },
  };
}

/** Cases of section 7. */
export function closeCases(): ConformanceCase[] {
  const close1000 = { opcode: Op.Close, payload: closePayload(1000) };
  const hello = "Hello World!";
  const reason123 = "*".repeat(123);
  const kosmeInvalid = hex("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64");
  const big = () => {
    const pattern = new TextEncoder().encode("BAsd7&jh23");
    const bytes = new Uint8Array(256 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = pattern[i % pattern.length];
    return bytes;
  };
  const cases: ConformanceCase[] = [
    echoCase(
      "7.1.1",
      "Send a message, then close normally",
      [{ opcode: Op.Text, payload: hello }],
      [{
        message: hello,
      }],
    ),
    closeEchoCase(
      "7.1.2",
      "Send two close frames in one write; only the first is answered, then TCP is closed",
      [close1000, close1000],
      [],
    ),
    closeEchoCase(
      "7.1.3",
      "Send a close frame, then a ping; the ping after the close is ignored (no pong)",
      [close1000, { opcode: Op.Ping, payload: "Hello!" }],
      [],
    ),
    closeEchoCase(
      "7.1.4",
      "Send a close frame, then a text message; data after the close is ignored (no echo)",
      [close1000, { opcode: Op.Text, payload: hello }],
      [],
    ),
    closeEchoCase(
      "7.1.5",
      "Send the 1st fragment of a text message, a close frame, then the 2nd fragment; the close is " +
        "answered and the message is never delivered",
      [
        { opcode: Op.Text, payload: "fragment1", fin: false },
        close1000,
        { opcode: Op.Continuation, payload: "fragment2" },
      ],
      [],
    ),
    closeEchoCase(
      "7.1.6",
      "Send a 256 KiB text message, a small text message, a close frame and a ping back to back; both " +
        "messages are echoed in order, then the close, and no pong",
      () => [
        { opcode: Op.Text, payload: big() },
        { opcode: Op.Text, payload: hello },
        close1000,
        { opcode: Op.Ping },
      ],
      () => [{ message: big(), isText: true }, { message: hello }],
      [1000],
      10_000,
    ),
    {
      id: "7.1.7",
      description: "Send a close frame in 1-byte writes",
      async run(context) {
        const client = await context.connect();
        await client.send(close1000, 1);
        await client.expectCloseEcho([1000]);
      },
    },
    closeEchoCase(
      "7.1.8",
      "Send a binary message, a ping and a close frame in one write; echo, pong, then the close",
      [
        { opcode: Op.Binary, payload: binaryPayload(64) },
        { opcode: Op.Ping, payload: "p" },
        close1000,
      ],
      [{ message: binaryPayload(64), isText: false }, { pong: "p" }],
    ),
    {
      id: "7.1.9",
      description:
        "Lingering close: send a frame with a reserved opcode, then keep writing (4 MiB in " +
        "16 KiB writes, reading nothing meanwhile, as a client busy uploading does); the server's close " +
        "frame 1002 must still arrive, so after failing the connection the server must keep reading " +
        "and dropping input until the client closes, not close the socket and reset the connection " +
        "(RFC 6455 §7.1.1; RFC 9112 §9.6), which destroys the close frame before the client reads it",
      timeoutMs: 10_000,
      cost: 5,
      async run(context) {
        const client = await context.connect();
        await client.send({ opcode: 3 });
        const upload = encodeFrame({ opcode: Op.Binary, payload: binaryPayload(4 * 1024 * 1024) });
        await client.write(upload, 16 * 1024, true);
        await client.expectFailure(1002);
      },
    },
    {
      id: "7.3.1",
      description: "Send a close frame with an empty payload; the echo is empty (or 1000)",
      async run(context) {
        const client = await context.connect();
        await client.closeHandshake(undefined, "", [undefined, 1000]);
      },
    },
    failCase(
      "7.3.2",
      "Send a close frame with a 1-byte payload (RFC 6455 §5.5.1: a body starts with a 2-byte code)",
      [{ opcode: Op.Close, payload: hex("03") }],
      1002,
    ),
    {
      id: "7.3.3",
      description: "Send a close frame with code 1000 and no reason",
      async run(context) {
        const client = await context.connect();
        await client.closeHandshake(1000);
      },
    },
    {
      id: "7.3.4",
      description: "Send a close frame with code 1000 and a reason",
      async run(context) {
        const client = await context.connect();
        await client.closeHandshake(1000, "Hello World!");
      },
    },
    {
      id: "7.3.5",
      description: "Send a close frame with code 1000 and a 123-byte reason (the maximum)",
      async run(context) {
        const client = await context.connect();
        await client.closeHandshake(1000, reason123);
      },
    },
    failCase(
      "7.3.6",
      "Send a close frame with code 1000 and a 124-byte reason (a 126-byte control frame)",
      [{ opcode: Op.Close, payload: closePayload(1000, reason123 + "*") }],
      1002,
    ),
    failCase(
      "7.5.1",
      "Send a close frame with code 1000 and a reason that is not valid UTF-8 (κόσμε, ed a0 80, " +
        "'edited')",
      [{ opcode: Op.Close, payload: closePayload(1000, kosmeInvalid) }],
      1007,
    ),
  ];
  VALID_CODES.forEach((code, i) => {
    cases.push({
      id: `7.7.${i + 1}`,
      description: `Send a close frame with the valid code ${code}; it is echoed`,
      async run(context) {
        const client = await context.connect();
        await client.closeHandshake(code);
      },
    });
  });
  INVALID_CODES.forEach((code, i) => {
    cases.push(failCase(
      `7.9.${i + 1}`,
      `Send a close frame with the invalid code ${code}`,
      [{ opcode: Op.Close, payload: closePayload(code) }],
      1002,
    ));
  });
  [5000, 65535].forEach((code, i) => {
    cases.push(failCase(
      `7.13.${i + 1}`,
      `Send a close frame with the invalid code ${code} (informational in Autobahn; 1002 by Wharf's rule)`,
      [{ opcode: Op.Close, payload: closePayload(code) }],
      1002,
    ));
  });
  return cases;
}
