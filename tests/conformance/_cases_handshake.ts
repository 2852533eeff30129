/**
 * Section H (Wharf's own; Autobahn's fuzzingclient only ever sends a valid handshake): the opening
 * handshake of RFC 6455 §4.2. A valid request gets 101 with the right `Sec-WebSocket-Accept` and neither a
 * subprotocol nor an extension the server did not agree to; each required part missing or wrong gets 400
 * (426 with `Sec-WebSocket-Version: 13` for a version it does not speak, §4.4), after which the server
 * closes the connection; requests that are not WebSocket handshakes at all (no `Upgrade`, HTTP/1.0) are
 * never switched.
 *
 * @module
 */

import {
  binaryPayload,
  encodeFrame,
  encodeFrames,
  httpExchange,
  newKey,
  Op,
  type Target,
} from "./_client.ts";
import type { CaseContext, ConformanceCase } from "./_runner.ts";
import { check } from "./_steps.ts";

/** How a test request differs from a valid handshake. */
interface Variation {
  method?: string;
  version?: string;
  /** Header names (as below) to leave out. */
  omit?: string[];
  /** Header values to use instead of the valid ones. */
  replace?: Record<string, string>;
  /** Extra lines. */
  extra?: string[];
}

/** A handshake request, valid unless `variation` says otherwise. */
function handshake(target: Target, variation: Variation = {}): string {
  const fields: [string, string][] = [
    ["Host", `${target.host}:${target.port}`],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", newKey()],
    ["Sec-WebSocket-Version", "13"],
  ];
  const lines = fields
    .filter(([name]) => !(variation.omit ?? []).includes(name))
    .map(([name, value]) => `${name}: ${variation.replace?.[name] ?? value}`);
  lines.push(...(variation.extra ?? []));
  return `${variation.method ?? "GET"} /chat ${variation.version ?? "HTTP/1.1"}\r\n` +
    lines.map((line) => `${line}\r\n`).join("") + "\r\n";
}

/**
 * A case where the server must refuse `variation` with one of `statuses` and close the connection; with
 * 426, `Sec-WebSocket-Version: 13` must say which version it speaks.
 */
function refused(
  id: string,
  description: string,
  variation: Variation,
  statuses: number[] = [400],
): ConformanceCase {
  return {
    id,
    description,
    async run(context) {
      const { head, closedByServer } = await httpExchange(
        context.target,
        handshake(context.target, variation),
        context.deadline,
      );
      check(
        statuses.includes(head.status),
        `Expected ${statuses.join(" or ")}, got ${head.status} ${head.reason}`,
      );
      if (head.status === 426) {
        const versions = head.headerAll("sec-websocket-version");
        check(
          versions.some((v) => v.split(",").some((part) => part.trim() === "13")),
          `426 without Sec-WebSocket-Version: 13 (RFC 6455 §4.4); got ${JSON.stringify(versions)}`,
        );
      }
      check(closedByServer, `The server kept the connection open after ${head.status}`);
    },
  };
}

/** A case where the server must not switch protocols for a request that is not a WebSocket handshake. */
function notSwitched(id: string, description: string, variation: Variation): ConformanceCase {
  return {
    id,
    description,
    async run(context) {
      const { head } = await httpExchange(
        context.target,
        handshake(context.target, variation),
        context.deadline,
        0,
      );
      check(head.status !== 101, "The server switched protocols");
      check(head.status < 500, `Server error ${head.status} ${head.reason}`);
      context.note(`answered ${head.status}`);
    },
  };
}

/** Opens with `headers` added, checks the 101 has none of `absent`, then echoes a message and closes. */
async function acceptedWith(
  context: CaseContext,
  headers: string[],
  absent: string[],
): Promise<void> {
  const client = await context.connect({ headers });
  for (const name of absent) {
    check(
      client.response.header(name) === undefined,
      `The 101 has ${name}: ${client.response.header(name)}, which the server did not agree to`,
    );
  }
  await client.send({ opcode: Op.Text, payload: "Hello, handshake!" });
  await client.expectMessage("Hello, handshake!");
  await client.closeHandshake(1000);
}

/** Cases of section H. */
export function handshakeCases(): ConformanceCase[] {
  return [
    {
      id: "H.1",
      description:
        "A valid handshake gets 101 with Upgrade: websocket, Connection: Upgrade and the " +
        "right Sec-WebSocket-Accept, no subprotocol and no extension; then a message is echoed",
      async run(context) {
        await acceptedWith(context, [], ["sec-websocket-protocol", "sec-websocket-extensions"]);
      },
    },
    {
      id: "H.2",
      description:
        "Subprotocols offered (chat, superchat): the echo server selects none, so the 101 " +
        "has no Sec-WebSocket-Protocol (never echo the client's first choice)",
      async run(context) {
        await acceptedWith(context, ["Sec-WebSocket-Protocol: chat, superchat"], [
          "sec-websocket-protocol",
        ]);
      },
    },
    {
      id: "H.3",
      description:
        "permessage-deflate offered: the 101 has no Sec-WebSocket-Extensions, and a frame " +
        "with RSV1 set then fails with 1002 (no extension was negotiated)",
      async run(context) {
        const client = await context.connect({
          headers: ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
        });
        check(
          client.response.header("sec-websocket-extensions") === undefined,
          `The 101 has Sec-WebSocket-Extensions: ${
            client.response.header("sec-websocket-extensions")
          }`,
        );
        await client.send({ opcode: Op.Text, payload: "compressed?", rsv: 4 });
        await client.expectFailure(1002);
      },
    },
    {
      id: "H.4",
      description:
        "Header names and tokens in any case and Connection as a list: 'upgrade: WebSocket', " +
        "'connection: keep-alive, Upgrade' get 101",
      async run(context) {
        const target = context.target;
        const request = handshake(target, {
          omit: ["Upgrade", "Connection"],
          extra: ["upgrade: WebSocket", "connection: keep-alive, Upgrade"],
        });
        const { head } = await httpExchange(target, request, context.deadline, 0);
        check(head.status === 101, `Expected 101, got ${head.status} ${head.reason}`);
      },
    },
    {
      id: "H.5",
      description:
        "Frames sent in the same write as the handshake request (before the 101 arrives) " +
        "are processed after the upgrade: a text and a binary message are echoed",
      async run(context) {
        const binary = binaryPayload(300, 5);
        const client = await context.connect({
          pipelined: encodeFrames([
            { opcode: Op.Text, payload: "early bird" },
            { opcode: Op.Binary, payload: binary },
          ]),
        });
        await client.expectMessage("early bird");
        await client.expectMessage(binary, false);
        await client.closeHandshake(1000);
      },
    },
    refused("H.6", "Sec-WebSocket-Key missing: 400", { omit: ["Sec-WebSocket-Key"] }),
    refused(
      "H.7",
      "Sec-WebSocket-Key is not 16 bytes in base64 (dGVzdA== is 4 bytes): 400",
      { replace: { "Sec-WebSocket-Key": "dGVzdA==" } },
    ),
    refused(
      "H.8",
      "Sec-WebSocket-Key twice (RFC 6455 §11.3.1: it must not appear more than once): 400",
      { extra: [`Sec-WebSocket-Key: ${newKey()}`] },
    ),
    refused(
      "H.9",
      "Sec-WebSocket-Version missing: 400, or 426 with Sec-WebSocket-Version: 13",
      { omit: ["Sec-WebSocket-Version"] },
      [400, 426],
    ),
    refused(
      "H.10",
      "Sec-WebSocket-Version: 8 (not spoken): 426 with Sec-WebSocket-Version: 13 (RFC 6455 §4.4)",
      { replace: { "Sec-WebSocket-Version": "8" } },
      [426],
    ),
    refused("H.11", "Connection missing: 400", { omit: ["Connection"] }),
    refused("H.12", "Connection: keep-alive (no upgrade token): 400", {
      replace: { Connection: "keep-alive" },
    }),
    refused("H.13", "Upgrade: h2c (not websocket): 400", { replace: { Upgrade: "h2c" } }),
    refused(
      "H.14",
      "Method POST (RFC 6455 §4.1: the handshake is a GET): 400",
      { method: "POST", extra: ["Content-Length: 0"] },
    ),
    refused("H.15", "Host missing (RFC 6455 §4.1, RFC 9112 §3.2): 400", { omit: ["Host"] }),
    notSwitched(
      "H.16",
      "An HTTP/1.0 request with the upgrade headers is not switched (RFC 6455 §4.1 needs HTTP/1.1; " +
        "RFC 9110 §7.8: Upgrade is ignored in HTTP/1.0)",
      { version: "HTTP/1.0" },
    ),
    notSwitched(
      "H.17",
      "A request without Upgrade is plain HTTP and is not switched",
      { omit: ["Upgrade"] },
    ),
    {
      id: "H.18",
      description:
        "Sec-WebSocket-Accept is base64(SHA-1(key + 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)) " +
        "for RFC 6455's sample key dGhlIHNhbXBsZSBub25jZQ== (s3pPLMBiTxaQ9kYGzzhZRbK+xOo=)",
      async run(context) {
        const request = handshake(context.target, {
          replace: { "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" },
        });
        const { head } = await httpExchange(context.target, request, context.deadline, 0);
        check(head.status === 101, `Expected 101, got ${head.status} ${head.reason}`);
        const accept = head.header("sec-websocket-accept");
        check(
          accept === "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
          `Sec-WebSocket-Accept is ${
            JSON.stringify(accept)
          }, expected s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`,
        );
      },
    },
    {
      id: "H.19",
      description:
        "A ping sent in the same write as the handshake request is answered after the 101",
      async run(context) {
        const client = await context.connect({
          pipelined: encodeFrame({ opcode: Op.Ping, payload: "ping at once" }),
        });
        await client.expectPong("ping at once");
        await client.closeHandshake(1000);
      },
    },
  ];
}
