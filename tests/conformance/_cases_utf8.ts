/**
 * Section 6 (Autobahn numbering): UTF-8 handling (RFC 6455 §5.6, §8.1; RFC 3629).
 *
 * 6.1-6.3 send valid and invalid text whole and fragmented; 6.4 checks that the server fails FAST: an
 * invalid sequence early in a message closes the connection with 1007 before the rest of the message is
 * sent (the rest is sent only when no close came, and then the case fails). 6.5-6.23 are the sequences of
 * Markus Kuhn's "UTF-8 decoder capability and stress test" as Autobahn groups them, each sent in one frame
 * (`6.x.y`) and fragmented at every byte, one frame per byte (`6.x.yf`). Valid text is echoed; invalid
 * text fails the connection with 1007.
 *
 * @module
 */

import {
  CaseFailure,
  concat,
  describeEvent,
  encodeFrame,
  fragments,
  hex,
  Op,
  textPayload,
  type WsClient,
} from "./_client.ts";
import type { ConformanceCase } from "./_runner.ts";
import { echoCase, failCase } from "./_steps.ts";

/** κόσμε, Markus Kuhn's "some correct UTF-8 text". */
const KOSME = hex("ce ba e1 bd b9 cf 83 ce bc ce b5");
/** Where KOSME's code points end: its prefixes of these lengths are valid. */
const KOSME_BOUNDARIES = [2, 5, 7, 9, 11];
const EDITED = hex("65 64 69 74 65 64");
/** KOSME, then a UTF-16 surrogate encoded in UTF-8 (invalid), then "edited". */
const KOSME_SURROGATE_EDITED = concat([KOSME, hex("ed a0 80"), EDITED]);

const latin = (text: string) => new TextEncoder().encode(text);

/** One Autobahn group: a title and its sequences with their validity. */
type Group = [title: string, sequences: [valid: boolean, bytes: Uint8Array][]];

function all(valid: boolean, ...sequences: string[]): [boolean, Uint8Array][] {
  return sequences.map((s) => [valid, hex(s)]);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** The test sequences of 6.5 to 6.23, in Autobahn's order (its ranges exclude their upper end). */
function groups(): Group[] {
  const truncated = [
    "c0",
    "e0 80",
    "f0 80 80",
    "f8 80 80 80",
    "fc 80 80 80 80",
    "df",
    "ef bf",
    "f7 bf bf",
    "fb bf bf bf",
    "fd bf bf bf bf",
  ];
  const nonCharacters: [boolean, Uint8Array][] = all(true, "ef bf be", "ef bf bf");
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      // F4 above 8F encodes code points past U+10FFFF; F0 8F is overlong.
      if (z1 === 0xf4 && z2 !== 0x8f) continue;
      for (const z3 of [0xbe, 0xbf]) {
        if (z1 === 0xf0 && z2 === 0x8f) continue;
        nonCharacters.push([true, new Uint8Array([z1, z2, 0xbf, z3])]);
      }
    }
  }
  return [
    ["Some valid UTF-8 sequences", [
      [true, concat([latin("hello"), hex("24"), latin("world")])],
      [true, concat([latin("hello"), hex("c2 a2"), latin("world")])],
      [true, concat([latin("hello"), hex("e2 82 ac"), latin("world")])],
      [true, concat([latin("hello"), hex("f0 a4 ad a2"), latin("world")])],
      [true, KOSME],
    ]],
    [
      "All prefixes of a valid UTF-8 string that contains multi-byte code points",
      range(1, KOSME.length + 1).map((n) => [KOSME_BOUNDARIES.includes(n), KOSME.subarray(0, n)]),
    ],
    [
      "First possible sequence of a certain length",
      all(true, "00", "c2 80", "e0 a0 80", "f0 90 80 80"),
    ],
    [
      "First possible sequence length 5/6 (invalid code points)",
      all(false, "f8 88 80 80 80", "fc 84 80 80 80 80"),
    ],
    [
      "Last possible sequence of a certain length",
      all(true, "7f", "df bf", "ef bf bf", "f4 8f bf bf"),
    ],
    [
      "Last possible sequence length 4/5/6 (invalid code points)",
      all(false, "f7 bf bf bf", "fb bf bf bf bf", "fd bf bf bf bf bf"),
    ],
    ["Other boundary conditions", [
      ...all(true, "ed 9f bf", "ee 80 80", "ef bf bd", "f4 8f bf bf"),
      ...all(false, "f4 90 80 80"),
    ]],
    ["Unexpected continuation bytes", [
      ...all(
        false,
        "80",
        "bf",
        "80 bf",
        "80 bf 80",
        "80 bf 80 bf",
        "80 bf 80 bf 80",
        "80 bf 80 bf 80 bf",
      ),
      [false, new Uint8Array(range(0x80, 0xbf))],
    ]],
    [
      "Lonely start characters",
      [[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [0xfc, 0xfd]].map((
        [from, to],
      ) => [false, new Uint8Array(range(from, to).flatMap((b) => [b, 0x20]))]),
    ],
    ["Sequences with last continuation byte missing", all(false, ...truncated)],
    ["Concatenation of incomplete sequences", all(false, truncated.join(" "))],
    ["Impossible bytes", all(false, "fe", "ff", "fe fe ff ff")],
    [
      "Examples of an overlong ASCII character",
      all(false, "c0 af", "e0 80 af", "f0 80 80 af", "f8 80 80 80 af", "fc 80 80 80 80 af"),
    ],
    [
      "Maximum overlong sequences",
      all(false, "c1 bf", "e0 9f bf", "f0 8f bf bf", "f8 87 bf bf bf", "fc 83 bf bf bf bf"),
    ],
    [
      "Overlong representation of the NUL character",
      all(false, "c0 80", "e0 80 80", "f0 80 80 80", "f8 80 80 80 80", "fc 80 80 80 80 80"),
    ],
    [
      "Single UTF-16 surrogates",
      all(
        false,
        "ed a0 80",
        "ed ad bf",
        "ed ae 80",
        "ed af bf",
        "ed b0 80",
        "ed be 80",
        "ed bf bf",
      ),
    ],
    ["Paired UTF-16 surrogates", [
      ...all(
        false,
        "ed a0 80 ed b0 80",
        "ed a0 80 ed bf bf",
        "ed ad bf ed b0 80",
        "ed ad bf ed bf bf",
        "ed ae 80 ed b0 80",
        "ed ae 80 ed bf bf",
        "ed af bf ed b0 80",
        "ed af bf ed bf bf",
      ),
    ]],
    ["Non-character code points (valid UTF-8)", nonCharacters],
    [
      "Unicode specials (i.e. replacement char)",
      all(true, "ef bf b9", "ef bf ba", "ef bf bb", "ef bf bc", "ef bf bd", "ef bf be", "ef bf bf"),
    ],
  ];
}

function toHexCompact(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function kuhnCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  groups().forEach(([title, sequences], g) => {
    sequences.forEach(([valid, bytes], s) => {
      const id = `6.${g + 5}.${s + 1}`;
      const what = `${title}: 0x${toHexCompact(bytes)} (${valid ? "valid" : "invalid"})`;
      const single = [{ opcode: Op.Text, payload: bytes }];
      const perByte = fragments(Op.Text, bytes, 1);
      if (valid) {
        cases.push(
          echoCase(id, `${what} in one frame`, single, [{ message: bytes, isText: true }]),
          echoCase(`${id}f`, `${what} fragmented at every byte`, perByte, [{
            message: bytes,
            isText: true,
          }]),
        );
      } else {
        cases.push(
          failCase(id, `${what} in one frame`, single, 1007),
          failCase(`${id}f`, `${what} fragmented at every byte`, perByte, 1007),
        );
      }
    });
  });
  return cases;
}

/** How long a fail-fast case waits for the close before it sends the rest of the message. */
const FAIL_FAST_GRACE_MS = 2000;

/**
 * Writes `invalidPart`, which makes the message invalid UTF-8 while more of it is still to come, and
 * expects the close with 1007 before `rest` is sent. Without a close within the grace time the rest is
 * sent, and the case fails either way: the server did not fail fast.
 */
async function expectFailFast(
  client: WsClient,
  invalidPart: Uint8Array,
  rest: Uint8Array | (() => Uint8Array),
  unsent: string,
): Promise<void> {
  await client.write(invalidPart);
  const event = await client.poll(FAIL_FAST_GRACE_MS);
  if (event !== undefined) {
    await client.expectFailure(1007, event);
    return;
  }
  await client.write(typeof rest === "function" ? rest() : rest);
  const late = await client.poll(FAIL_FAST_GRACE_MS);
  throw new CaseFailure(
    `Not fail-fast: no close within ${FAIL_FAST_GRACE_MS} ms of the invalid bytes while ${unsent} ` +
      `was unsent; after the rest: ${late === undefined ? "nothing" : describeEvent(late)}`,
  );
}

function failFastCases(): ConformanceCase[] {
  const payload = concat([KOSME, hex("f4 90 80 80"), EDITED]);
  const MiB = 1024 * 1024;
  return [
    {
      id: "6.4.1",
      description:
        "Send invalid UTF-8 text in 3 frames: the 1st is valid (κόσμε) and accepted (a ping " +
        "after it is answered), the 2nd (f4 90 80 80, above U+10FFFF) must close with 1007 at once, " +
        "before the 3rd is sent",
      async run(context) {
        const client = await context.connect();
        await client.send([{ opcode: Op.Text, payload: KOSME, fin: false }, {
          opcode: Op.Ping,
          payload: "A",
        }]);
        await client.expectPong("A");
        await expectFailFast(
          client,
          encodeFrame({ opcode: Op.Continuation, payload: hex("f4 90 80 80"), fin: false }),
          encodeFrame({ opcode: Op.Continuation, payload: EDITED }),
          "the 3rd frame",
        );
      },
    },
    {
      id: "6.4.2",
      description:
        "As 6.4.1, but the 2nd frame holds only the byte that makes the text invalid (0x90 " +
        "after f4)",
      async run(context) {
        const client = await context.connect();
        await client.send([{ opcode: Op.Text, payload: payload.subarray(0, 12), fin: false }, {
          opcode: Op.Ping,
          payload: "A",
        }]);
        await client.expectPong("A");
        await expectFailFast(
          client,
          encodeFrame({ opcode: Op.Continuation, payload: payload.subarray(12, 13), fin: false }),
          encodeFrame({ opcode: Op.Continuation, payload: payload.subarray(13) }),
          "the 3rd frame",
        );
      },
    },
    {
      id: "6.4.3",
      description:
        "As 6.4.1, but in 3 chops of ONE frame: the chop with f4 90 80 80 must close with " +
        "1007 before the last chop is sent",
      async run(context) {
        const client = await context.connect();
        const frame = encodeFrame({ opcode: Op.Text, payload });
        const header = frame.length - payload.length;
        await client.write(frame.subarray(0, header + 11));
        await expectFailFast(
          client,
          frame.subarray(header + 11, header + 15),
          frame.subarray(header + 15),
          "the last chop",
        );
      },
    },
    {
      id: "6.4.4",
      description: "As 6.4.3, but the 2nd chop holds only the byte that makes the text invalid",
      async run(context) {
        const client = await context.connect();
        const frame = encodeFrame({ opcode: Op.Text, payload });
        const header = frame.length - payload.length;
        await client.write(frame.subarray(0, header + 12));
        await expectFailFast(
          client,
          frame.subarray(header + 12, header + 13),
          frame.subarray(header + 13),
          "the last chop",
        );
      },
    },
    {
      id: "6.4.5",
      description:
        "FAIL-FAST in a long frame: a text frame announcing 1 MiB whose first 1000 bytes are " +
        "valid and then ed a0 80 (a surrogate); the server must close with 1007 before the rest " +
        "(over 1 MiB) is sent",
      timeoutMs: 10_000,
      async run(context) {
        const client = await context.connect();
        const text = textPayload(MiB);
        text.set(hex("ed a0 80"), 1000);
        const frame = encodeFrame({ opcode: Op.Text, payload: text });
        const header = frame.length - text.length;
        await expectFailFast(
          client,
          frame.subarray(0, header + 1003),
          frame.subarray(header + 1003),
          `${text.length - 1003} bytes of the frame`,
        );
      },
    },
    {
      id: "6.4.6",
      description:
        "FAIL-FAST across fragments: a valid 64 KiB first fragment (a ping after it is " +
        "answered), then a continuation frame announcing 1 MiB whose 3rd byte makes the text invalid " +
        "(c3 then 28); the server must close with 1007 before the rest is sent",
      timeoutMs: 10_000,
      async run(context) {
        const client = await context.connect();
        await client.send([
          { opcode: Op.Text, payload: textPayload(65536), fin: false },
          { opcode: Op.Ping, payload: "A" },
        ]);
        await client.expectPong("A");
        const second = textPayload(MiB);
        second.set(hex("41 c3 28"), 0);
        const frame = encodeFrame({ opcode: Op.Continuation, payload: second });
        const header = frame.length - second.length;
        await expectFailFast(
          client,
          frame.subarray(0, header + 3),
          frame.subarray(header + 3),
          `${second.length - 3} bytes of the frame`,
        );
      },
    },
    {
      id: "6.4.7",
      description:
        "FAIL-FAST on the first byte: a text frame announcing 16 MiB whose first byte is " +
        "0xff; the server must close with 1007 without waiting for (or buffering) the payload",
      async run(context) {
        const client = await context.connect();
        const frame = encodeFrame({
          opcode: Op.Text,
          payload: hex("ff"),
          declaredLength: 16 * MiB,
        });
        // Only sent when the server did not fail fast; masked with another key, which no longer matters.
        const rest = () =>
          encodeFrame({ opcode: Op.Text, payload: textPayload(16 * MiB - 1) }).subarray(14);
        await expectFailFast(client, frame, rest, "16 MiB of the frame");
      },
      timeoutMs: 15_000,
    },
  ];
}

/** Cases of section 6. */
export function utf8Cases(): ConformanceCase[] {
  const hello = "Hello-µ@ßöäüàá-UTF-8!!";
  const helloBytes = latin(hello);
  const codePoints = Array.from(hello).map((c) => latin(c));
  return [
    echoCase("6.1.1", "Send a text message of length 0", [{ opcode: Op.Text }], [{ message: "" }]),
    echoCase(
      "6.1.2",
      "Send a text message of length 0 in 3 empty fragments",
      [
        { opcode: Op.Text, fin: false },
        { opcode: Op.Continuation, fin: false },
        { opcode: Op.Continuation },
      ],
      [{ message: "" }],
    ),
    echoCase(
      "6.1.3",
      "Send a text message in 3 fragments: empty, 'middle frame payload', empty",
      [
        { opcode: Op.Text, fin: false },
        { opcode: Op.Continuation, payload: "middle frame payload", fin: false },
        { opcode: Op.Continuation },
      ],
      [{ message: "middle frame payload" }],
    ),
    echoCase("6.2.1", `Send valid UTF-8 text '${hello}' in one frame`, [{
      opcode: Op.Text,
      payload: hello,
    }], [{ message: hello }]),
    echoCase(
      "6.2.2",
      `Send valid UTF-8 text '${hello}' with one frame per code point`,
      codePoints.map((payload, i) => ({
        opcode: i === 0 ? Op.Text : Op.Continuation,
        payload,
        fin: i === codePoints.length - 1,
      })),
      [{ message: hello }],
    ),
    echoCase(
      "6.2.3",
      `Send valid UTF-8 text '${hello}' fragmented at every byte`,
      fragments(Op.Text, helloBytes, 1),
      [{ message: hello }],
    ),
    echoCase(
      "6.2.4",
      "Send valid UTF-8 text κόσμε (ce ba e1 bd b9 cf 83 ce bc ce b5) fragmented at every byte",
      fragments(Op.Text, KOSME, 1),
      [{ message: KOSME, isText: true }],
    ),
    failCase(
      "6.3.1",
      "Send invalid UTF-8 text (κόσμε, then ed a0 80, a surrogate, then 'edited') in one frame",
      [{ opcode: Op.Text, payload: KOSME_SURROGATE_EDITED }],
      1007,
    ),
    failCase(
      "6.3.2",
      "Send the invalid UTF-8 text of 6.3.1 fragmented at every byte",
      fragments(Op.Text, KOSME_SURROGATE_EDITED, 1),
      1007,
    ),
    ...failFastCases(),
    ...kuhnCases(),
  ];
}
