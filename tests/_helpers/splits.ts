/**
 * Ways to cut a byte sequence, so parsers are tested against every chunking a transport may produce.
 *
 * @module
 */

/** Every way of delivering `bytes`: whole, one byte at a time, and split in two at every point. */
export function* splits(bytes: Uint8Array): Generator<Uint8Array[]> {
  yield [bytes.slice()];
  const single: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.slice(i, i + 1));
  yield single;
  for (let cut = 1; cut < bytes.length; cut++) yield [bytes.slice(0, cut), bytes.slice(cut)];
}

/** Bytes from hex pairs separated by spaces: `hex("81 02 68 69")`. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  if (digits.length % 2 !== 0) throw new RangeError(`Odd number of hex digits: ${text}`);
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Latin-1/ASCII text as bytes, for HTTP heads. */
export function ascii(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
