/**
 * A browser chat: `examples/chat_public/` holds the page, which opens a Websocket to `/ws?name=<nickname>`.
 * Each text message goes to everyone but its sender (`Websocket.each`), and everyone is told how many are
 * online (`Websocket.count()`) whenever someone joins or leaves.
 *
 * ```sh
 * deno run -A examples/chat.ts      # then open http://127.0.0.1:3000 in two browser tabs
 * bun examples/chat.ts
 * npm run build && node npm/examples/chat.js
 * ```
 *
 * `PORT` (default 3000; 0 picks a free port) and `HOST` (default 127.0.0.1) come from the environment.
 *
 * The server sends JSON text messages:
 * - `{ "type": "welcome", "name" }` to a new connection: the nickname it got;
 * - `{ "type": "online", "count" }` to everyone when someone joins or leaves;
 * - `{ "type": "joined" | "left", "name" }` to everyone else;
 * - `{ "type": "message", "name", "text" }` to everyone but the sender.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  CloseCode,
  startHttpServer,
  Websocket,
  type WebsocketConnection,
  websocketUpgrade,
} from "../mod.ts";

/** An environment variable on Deno, Bun and Node alike. */
function env(name: string): string | undefined {
  return globalThis.Deno?.env.get(name) ?? globalThis.process?.env[name];
}

/** Longest nickname, in UTF-16 code units; longer ones are cut. */
const MAX_NAME_LENGTH = 24;

// A chat line is short: refusing large messages (1009) keeps one client from flooding everyone's buffers.
Websocket.maxMsgSize = 4096;

// The nickname must be printable and short; anything else is dropped rather than refused, so a client
// always gets in.
function nickname(raw: string | null, uuid: number): string {
  let name = "";
  for (const char of raw ?? "") {
    const code = char.codePointAt(0)!;
    if (code >= 0x20 && code !== 0x7f && !(code >= 0x80 && code < 0xa0)) name += char;
  }
  name = name.trim().slice(0, MAX_NAME_LENGTH).trim();
  return name === "" ? `guest-${uuid}` : name;
}

/** What `udata` holds for each connection. */
interface Member {
  name: string;
  /** Set once open: `onClose` also runs for a failed handshake, which never joined. */
  joined: boolean;
}

function nameOf(ws: WebsocketConnection): string {
  return (Websocket.getUdata(ws) as Member).name;
}

function sendText(target: WebsocketConnection, text: string): void {
  Websocket.write(target, text);
}

/**
 * Sends `message` as JSON to every open connection but `originator` (to all when it is `null`). The JSON is
 * made once and shared by every write.
 */
function broadcast(originator: WebsocketConnection | null, message: object): void {
  Websocket.each(originator, sendText, JSON.stringify(message));
}

const decoder = new TextDecoder();

const server = await startHttpServer((request) => {
  if (request.upgrade && request.path === "/ws") {
    const member: Member = {
      name: nickname(new URLSearchParams(request.query).get("name"), request.uuid),
      joined: false,
    };
    websocketUpgrade({
      request,
      udata: member,
      onOpen(ws) {
        member.joined = true;
        Websocket.write(ws, JSON.stringify({ type: "welcome", name: member.name }));
        broadcast(null, { type: "online", count: Websocket.count() });
        broadcast(ws, { type: "joined", name: member.name });
      },
      onMessage(ws, data, isText) {
        if (!isText) {
          Websocket.close(ws, CloseCode.UnsupportedData, "Text messages only");
          return;
        }
        // `data` is recycled once this callback returns, and `each` runs later: decode (copy) it now.
        broadcast(ws, { type: "message", name: nameOf(ws), text: decoder.decode(data) });
      },
      onClose(ws) {
        if (!member.joined) return;
        // `count()` no longer includes this connection.
        broadcast(null, { type: "online", count: Websocket.count() });
        broadcast(null, { type: "left", name: nameOf(ws) });
      },
    });
    return;
  }
  // The page and its script come from the public folder, served before this handler; answering nothing to
  // anything else makes it a 404.
}, {
  port: env("PORT") ?? "3000",
  address: env("HOST") ?? "127.0.0.1",
  // Beside this file; the npm build copies `examples/chat_public/` next to `npm/examples/chat.js`.
  publicFolder: fileURLToPath(new URL("./chat_public/", import.meta.url)),
});

const host = server.address.includes(":") ? `[${server.address}]` : server.address;
console.log(`Listening on http://${host}:${server.port}`);
await server.finished;
console.log("Stopped");
