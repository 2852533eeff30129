/**
 * The WebSocket frame format (RFC 6455 §5.2): header fields, server frame encoding and unmasking.
 *
 * @module
 */

import { COPY_THRESHOLD_BYTES, type OutputBuffer } from "../_output_buffer.ts";

/** Frame opcodes (RFC 6455 §5.2, §11.8). 3–7 and 0xB–0xF are reserved. */
export const Opcode = {
  /** A later fragment of a fragmented message. */
  Continuation: 0x0,
  /** The first (or only) frame of a text message. */
  Text: 0x1,
  /** The first (or only) frame of a binary message. */
  Binary: 0x2,
  /** Starts or answers the closing handshake. */
  Close: 0x8,
  /** Asks the peer for a pong with the same payload. */
  Ping: 0x9,
  /** Answers a ping, or a unidirectional heartbeat. */
  Pong: 0xa,
} as const;

/** One of the {@linkcode Opcode} values. */
export type Opcode = typeof Opcode[keyof typeof Opcode];

/** First header byte: the frame is the last of its message. */
export const FIN_BIT = 0x80;
/** First header byte: RSV1–RSV3, which must be 0 unless an extension defines them (RFC 6455 §5.2). */
export const RSV_BITS = 0x70;
/** First header byte: the opcode (§5.2). */
export const OPCODE_BITS = 0x0f;
/** Second header byte: a masking key follows the length (required on client frames, §5.3). */
export const MASK_BIT = 0x80;
/** RFC 6455 §5.5: control frames carry at most 125 bytes and are never fragmented. */
export const MAX_CONTROL_PAYLOAD_BYTES = 125;
/** The longest frame header: 2 bytes, a 64-bit length and a masking key. */
export const MAX_HEADER_BYTES = 14;

/** Whether `opcode` is a control frame's (close, ping, pong and the reserved 0xB–0xF): its high bit is set. */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** Whether `opcode` is one RFC 6455 reserves for future use (3–7, 0xB–0xF). */
export function isReservedOpcode(opcode: number): boolean {
  return (opcode > Opcode.Binary && opcode < Opcode.Close) || opcode > Opcode.Pong;
}

/**
 * The length of a header, given its second byte: 2, plus 2 or 8 for an extended payload length, plus 4
 * when masked.
 */
export function headerBytes(secondByte: number): number {
  const length7 = secondByte & 0x7f;
  return 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) +
    ((secondByte & MASK_BIT) !== 0 ? 4 : 0);
}

/**
 * The payload length of the header at `bytes[at]`, whose {@linkcode headerBytes} are all present. Non-minimal
 * encodings are accepted (RFC 6455 §5.2 requires minimal ones of senders only).
 *
 * @returns The length, or -1 when a 64-bit length has its most significant bit set (forbidden by §5.2).
 */
export function readPayloadLength(bytes: Uint8Array, at: number): number {
  const length7 = bytes[at + 1] & 0x7f;
  if (length7 < 126) return length7;
  if (length7 === 126) return (bytes[at + 2] << 8) | bytes[at + 3];
  if ((bytes[at + 2] & 0x80) !== 0) return -1;
  // Above 2^53 the sum is rounded, which is harmless: such a length is refused by any size limit.
  return readUint32(bytes, at + 2) * 0x1_0000_0000 + readUint32(bytes, at + 6);
}

/** The 32-bit big-endian number at `bytes[at]`, e.g. a masking key for {@linkcode unmask}. */
export function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/** The length of an unmasked (server) frame header for a payload of `payloadLength` bytes. */
export function serverHeaderBytes(payloadLength: number): number {
  return payloadLength < 126 ? 2 : payloadLength < 0x1_0000 ? 4 : 10;
}

/**
 * Writes a final, unmasked frame header into `target` at `at`, using the shortest length encoding
 * (RFC 6455 §5.2).
 *
 * @returns The number of bytes written: {@linkcode serverHeaderBytes} of `payloadLength`.
 */
export function putServerHeader(
  target: Uint8Array,
  at: number,
  opcode: Opcode,
  payloadLength: number,
): number {
  target[at] = FIN_BIT | opcode;
  if (payloadLength < 126) {
    target[at + 1] = payloadLength;
    return 2;
  }
  if (payloadLength < 0x1_0000) {
    target[at + 1] = 126;
    target[at + 2] = payloadLength >>> 8;
    target[at + 3] = payloadLength & 0xff;
    return 4;
  }
  const high = Math.floor(payloadLength / 0x1_0000_0000);
  const low = payloadLength >>> 0;
  target[at + 1] = 127;
  target[at + 2] = high >>> 24;
  target[at + 3] = (high >>> 16) & 0xff;
  target[at + 4] = (high >>> 8) & 0xff;
  target[at + 5] = high & 0xff;
  target[at + 6] = low >>> 24;
  target[at + 7] = (low >>> 16) & 0xff;
  target[at + 8] = (low >>> 8) & 0xff;
  target[at + 9] = low & 0xff;
  return 10;
}

/** Queues a final, unmasked frame header for a payload of `payloadLength` bytes that the caller queues next. */
export function writeServerHeader(out: OutputBuffer, opcode: Opcode, payloadLength: number): void {
  const size = serverHeaderBytes(payloadLength);
  const target = out.reserve(size);
  putServerHeader(target, out.offset, opcode, payloadLength);
  out.commit(size);
}

/**
 * Queues a whole final, unmasked frame. A payload of at most `COPY_THRESHOLD_BYTES` is copied right behind
 * its header (one contiguous write); a larger one is queued by reference, so the caller must not modify it
 * until the output has been written.
 */
export function writeFrame(out: OutputBuffer, opcode: Opcode, payload: Uint8Array): void {
  const length = payload.length;
  if (length > COPY_THRESHOLD_BYTES) {
    writeServerHeader(out, opcode, length);
    out.push(payload);
    return;
  }
  const size = serverHeaderBytes(length) + length;
  const target = out.reserve(size);
  const at = out.offset;
  target.set(payload, at + putServerHeader(target, at, opcode, length));
  out.commit(size);
}

/**
 * A whole final, unmasked frame in a new array, encoded once so the same bytes can be queued on many
 * connections (broadcast) with `sendEncoded`.
 *
 * @throws {RangeError} When `opcode` is not text, binary, close, ping or pong, or a control frame's payload
 * exceeds 125 bytes (RFC 6455 §5.5).
 */
export function encodeFrame(opcode: Opcode, payload: Uint8Array): Uint8Array {
  if (opcode === Opcode.Continuation || isReservedOpcode(opcode) || opcode !== (opcode & 0xf)) {
    throw new RangeError(`Cannot encode a frame with opcode ${opcode}`);
  }
  if (isControlOpcode(opcode) && payload.length > MAX_CONTROL_PAYLOAD_BYTES) {
    throw new RangeError(
      `Control frame payload is ${payload.length} bytes; at most ${MAX_CONTROL_PAYLOAD_BYTES} are allowed`,
    );
  }
  const frame = new Uint8Array(serverHeaderBytes(payload.length) + payload.length);
  frame.set(payload, putServerHeader(frame, 0, opcode, payload.length));
  return frame;
}

/**
 * From this many bytes on, {@linkcode unmask} XORs 32-bit words through an `Int32Array` view. Creating the
 * view costs about as much as unmasking a hundred bytes one at a time; measured on Deno 2.9 and Bun 1.4,
 * words win from about 256 bytes (4.7–9.6 GB/s against 2.3–3.6 GB/s at 256 B and above).
 */
const WORD_UNMASK_MIN_BYTES = 256;

/** Whether a `Uint32Array` stores its least significant byte first (true on every supported platform). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * XORs `bytes[start..end)` in place with a masking key (RFC 6455 §5.3), which both masks and unmasks.
 *
 * @param key The 4 key bytes as a big-endian number, as {@linkcode readUint32} reads them from a header.
 * A zero key changes nothing and is skipped.
 * @param phase Which key byte applies to `bytes[start]`: the payload offset of `start` modulo 4, for a
 * payload that arrives in pieces. Default 0.
 */
export function unmask(
  bytes: Uint8Array,
  start: number,
  end: number,
  key: number,
  phase = 0,
): void {
  if (key === 0 || start >= end) return;
  // Rotate the key so that its first byte applies to bytes[start].
  const shift = (phase & 3) << 3;
  if (shift !== 0) key = ((key << shift) | (key >>> (32 - shift))) >>> 0;
  let i = start;
  if (end - start >= WORD_UNMASK_MIN_BYTES) {
    // Bytes up to the first 4-byte-aligned address, rotating the key past each.
    while (((bytes.byteOffset + i) & 3) !== 0) {
      bytes[i++] ^= key >>> 24;
      key = ((key << 8) | (key >>> 24)) >>> 0;
    }
    const count = (end - i) >>> 2;
    // Int32Array, not Uint32Array: a Uint32Array element of 2^31 or more is not a 32-bit integer to the
    // JIT, and JavaScriptCore has been seen to leave this loop unoptimized for the process's life after
    // such speculations failed (Bun, 1 MiB echo: a fresh server now and then ran ~6x slower, its profile
    // all in this function). The XOR is the same on either view.
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, count);
    const word = LITTLE_ENDIAN
      ? (((key & 0xff) << 24) | ((key & 0xff00) << 8) | ((key >>> 8) & 0xff00) | (key >>> 24))
      : key | 0;
    // Four words per iteration: JavaScriptCore unmasks 4 KiB in 0.85 of the time (bench/micro/bun_run.ts
    // on frame_bench.ts) and Node 20's V8 is faster too; Deno's newer V8 runs both loops alike.
    const wordStop = count & ~3;
    let w = 0;
    for (; w < wordStop; w += 4) {
      words[w] ^= word;
      words[w + 1] ^= word;
      words[w + 2] ^= word;
      words[w + 3] ^= word;
    }
    for (; w < count; w++) words[w] ^= word;
    i += count << 2;
  }
  const k0 = key >>> 24;
  const k1 = (key >>> 16) & 0xff;
  const k2 = (key >>> 8) & 0xff;
  const k3 = key & 0xff;
  const stop = i + ((end - i) & ~3);
  for (; i < stop; i += 4) {
    bytes[i] ^= k0;
    bytes[i + 1] ^= k1;
    bytes[i + 2] ^= k2;
    bytes[i + 3] ^= k3;
  }
  if (i < end) bytes[i++] ^= k0;
  if (i < end) bytes[i++] ^= k1;
  if (i < end) bytes[i] ^= k2;
}
