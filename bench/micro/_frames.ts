/**
 * Inputs shared by the micro-benchmarks: masked client frames as a browser would send them.
 *
 * @module
 */

/** A fixed masking key whose bytes are all below 0x80, so masked ASCII stays ASCII (valid UTF-8). */
export const KEY = 0x15263748;

/** `size` bytes of printable ASCII. */
export function asciiPayload(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = 0x20 + ((i * 7) % 95);
  return bytes;
}

/**
 * About `size` bytes of text mixing 1-, 2-, 3- and 4-byte UTF-8 sequences (Latin, Greek, CJK, emoji),
 * cut at a character boundary.
 */
export function mixedPayload(size: number): Uint8Array {
  const piece = new TextEncoder().encode("Grüße, καλημέρα, 你好世界 🙂 plain ASCII words; ");
  const bytes = new Uint8Array(size);
  let at = 0;
  while (at + piece.length <= size) {
    bytes.set(piece, at);
    at += piece.length;
  }
  // Pad with ASCII so the length is exact and the text stays valid.
  bytes.fill(0x2e, at);
  return bytes;
}

/** A final, masked client frame (RFC 6455 §5.2, §5.3) carrying `payload` with opcode `opcode`. */
export function clientFrame(opcode: number, payload: Uint8Array, key = KEY): Uint8Array {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 0x1_0000 ? 4 : 10;
  const frame = new Uint8Array(header + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 0x1_0000) {
    frame[1] = 0x80 | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  new DataView(frame.buffer).setUint32(header, key);
  for (let i = 0; i < length; i++) {
    frame[header + 4 + i] = payload[i] ^ ((key >>> (24 - 8 * (i & 3))) & 0xff);
  }
  return frame;
}
