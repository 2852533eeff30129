/**
 * Test helpers for the WebSocket core: client frames as a browser would mask them, server frames parsed back
 * from an OutputBuffer, and a handler that records events.
 *
 * @module
 */

import assert from "node:assert/strict";
import { OutputBuffer } from "../../src/_output_buffer.ts";
import { type WebSocketHandler, WebSocketProtocol } from "../../src/protocol/websocket.ts";
import { concat, splits } from "../_helpers/splits.ts";

/** How to build a client frame; every field has the usual default. */
export interface ClientFrameOptions {
  /** Default true. */
  fin?: boolean;
  /** RSV1-3 as the 3 bits 0b(rsv1)(rsv2)(rsv3). Default 0. */
  rsv?: number;
  /** The masking key; `null` sends the frame unmasked. Default 37 fa 21 3d (RFC 6455 §5.7). */
  mask?: readonly number[] | null;
  /** Forces a length encoding (7, 16 or 64 bits) even when not minimal. Default: minimal. */
  lengthBits?: 7 | 16 | 64;
  /** Overrides the payload length written in the header (for lying headers). */
  declaredLength?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A frame as a client sends it: masked unless told otherwise. */
export function clientFrame(
  opcode: number,
  payload: Uint8Array | string = new Uint8Array(0),
  options: ClientFrameOptions = {},
): Uint8Array {
  const data = typeof payload === "string" ? utf8(payload) : payload;
  const { fin = true, rsv = 0, mask = [0x37, 0xfa, 0x21, 0x3d] } = options;
  const length = options.declaredLength ?? data.length;
  const bits = options.lengthBits ?? (length < 126 ? 7 : length < 0x10000 ? 16 : 64);
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = mask === null ? 0 : 0x80;
  if (bits === 7) {
    head.push(maskBit | length);
  } else if (bits === 16) {
    head.push(maskBit | 126, length >>> 8, length & 0xff);
  } else {
    const high = Math.floor(length / 0x1_0000_0000);
    const low = length >>> 0;
    head.push(maskBit | 127);
    for (const word of [high, low]) {
      head.push(word >>> 24, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff);
    }
  }
  const masked = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ (mask === null ? 0 : mask[i & 3]);
  return concat([
    Uint8Array.from(head),
    mask === null ? new Uint8Array(0) : Uint8Array.from(mask),
    masked,
  ]);
}

/** A frame as the server sends it, parsed back. */
export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/**
 * Parses server frames, asserting RFC 6455's rules for senders: unmasked, RSV 0, minimal length encoding,
 * nothing truncated.
 */
export function parseServerFrames(bytes: Uint8Array): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = 0;
  while (at < bytes.length) {
    assert.ok(bytes.length - at >= 2, "truncated header");
    const first = bytes[at];
    const second = bytes[at + 1];
    assert.equal(first & 0x70, 0, "RSV bits set on a server frame");
    assert.equal(second & 0x80, 0, "server frame is masked");
    let length = second & 0x7f;
    at += 2;
    if (length === 126) {
      length = (bytes[at] << 8) | bytes[at + 1];
      assert.ok(length >= 126, "16-bit length is not minimal");
      at += 2;
    } else if (length === 127) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, 8);
      length = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4);
      assert.ok(length >= 0x10000, "64-bit length is not minimal");
      at += 8;
    }
    assert.ok(bytes.length - at >= length, "truncated payload");
    frames.push({
      fin: (first & 0x80) !== 0,
      opcode: first & 0x0f,
      payload: bytes.slice(at, at + length),
    });
    at += length;
  }
  return frames;
}

/** Everything queued in `out`, as one array (drains it). */
export function drain(out: OutputBuffer): Uint8Array {
  const chunks: Uint8Array[] = [];
  out.drainTo({ write: (chunk) => chunks.push(chunk.slice()) });
  return concat(chunks);
}

/** A close frame's payload: the code in network order and the reason. */
export function closePayload(code: number, reason = ""): Uint8Array {
  return concat([Uint8Array.of(code >>> 8, code & 0xff), utf8(reason)]);
}

/** An event the recording handler saw; byte payloads as hex, text as text. */
export type Event =
  | ["message", "text" | "binary", string]
  | ["ping" | "pong", string]
  | ["peerClose", number, string]
  | ["finish", number, string, boolean];

/** Lowercase hex of `bytes`, space-separated. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** A protocol instance wired to a recording handler and its own output buffer. */
export interface Session {
  proto: WebSocketProtocol;
  out: OutputBuffer;
  events: Event[];
  handler: WebSocketHandler;
  /** Sets what `maxMessageBytes()` returns from now on. */
  setLimit(bytes: number): void;
}

/** Hooks to run inside the handler's callbacks, for tests of re-entrant use. */
export interface SessionHooks {
  onMessage?(data: Uint8Array, isText: boolean, session: Session): void;
  onPeerClose?(code: number, reason: string, session: Session): void;
}

/** A fresh session with `maxMessageBytes` = `limit` (default 1 MiB). */
export function session(limit = 1024 * 1024, hooks: SessionHooks = {}): Session {
  const out = new OutputBuffer();
  const events: Event[] = [];
  let current = limit;
  const handler: WebSocketHandler = {
    onMessage(data, isText) {
      events.push([
        "message",
        isText ? "text" : "binary",
        isText ? decoder.decode(data) : toHex(data),
      ]);
      hooks.onMessage?.(data, isText, result);
    },
    onPing(payload) {
      events.push(["ping", toHex(payload)]);
    },
    onPong(payload) {
      events.push(["pong", toHex(payload)]);
    },
    onPeerClose(code, reason) {
      events.push(["peerClose", code, reason]);
      hooks.onPeerClose?.(code, reason, result);
    },
    onFinish(code, reason, wasClean) {
      events.push(["finish", code, reason, wasClean]);
    },
    maxMessageBytes: () => current,
  };
  const proto = new WebSocketProtocol(out, handler);
  const result: Session = {
    proto,
    out,
    events,
    handler,
    setLimit(bytes) {
      current = bytes;
    },
  };
  return result;
}

/** What one run produced: the events and the server frames it queued. */
export interface Outcome {
  events: Event[];
  frames: ServerFrame[];
  state: string;
}

/**
 * Feeds `input` to a fresh session in every chunking `splits` yields, asserts that each gives the same
 * events, output and state, and returns that outcome.
 */
export function runSplits(input: Uint8Array, limit?: number): Outcome {
  let first: Outcome | undefined;
  for (const pieces of splits(input)) {
    const s = session(limit);
    for (const piece of pieces) s.proto.receive(piece);
    const outcome: Outcome = {
      events: s.events,
      frames: parseServerFrames(drain(s.out)),
      state: s.proto.state,
    };
    if (first === undefined) first = outcome;
    else {assert.deepEqual(
        outcome,
        first,
        `chunks of ${pieces.map((p) => p.length).join("+")} bytes`,
      );}
  }
  assert.ok(first !== undefined);
  return first;
}

/** The close code of the single close frame in `frames`, asserting it is the last frame. */
export function closeCodeSent(frames: ServerFrame[]): number | null {
  const closes = frames.filter((frame) => frame.opcode === 0x8);
  if (closes.length === 0) return null;
  assert.equal(closes.length, 1, "more than one close frame");
  assert.equal(frames[frames.length - 1].opcode, 0x8, "frames after the close frame");
  const payload = closes[0].payload;
  return payload.length === 0 ? 1005 : (payload[0] << 8) | payload[1];
}
