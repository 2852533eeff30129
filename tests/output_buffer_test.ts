import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { COPY_THRESHOLD_BYTES, OutputBuffer } from "../src/_output_buffer.ts";
import { concat } from "./_helpers/splits.ts";

/** The slab size in `src/_output_buffer.ts`; enough 16 KiB copies to exceed it force a new slab. */
const SLAB_BYTES = 64 * 1024;

/** `n` bytes of a pattern that differs per `seed`, so misplaced or overwritten bytes show. */
function pattern(n: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (seed * 31 + i * 7) & 0xff;
  return bytes;
}

/**
 * Everything `buffer` hands to its writer, chunk by chunk. The writer keeps the chunks, so by default it
 * says nothing of releasing them (as a stream would); `sink` sets what it reports instead.
 */
function drain(
  buffer: OutputBuffer,
  sink: { bufferedAmount: number; releasesWrittenChunks?: boolean } = { bufferedAmount: 0 },
): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  buffer.drainTo({
    write: (chunk) => {
      chunks.push(chunk);
    },
    bufferedAmount: sink.bufferedAmount,
    releasesWrittenChunks: sink.releasesWrittenChunks,
  });
  return chunks;
}

/** A socket's transport that the kernel has emptied. */
const DRAINED_SOCKET = { bufferedAmount: 0, releasesWrittenChunks: true };

/**
 * Makes sure at least one slab's worth of bytes is free and held by nobody, so a test's chunk count does
 * not depend on what earlier tests left in the shared slab: reserving a whole slab without committing starts
 * a fresh (or spare) one, and draining to an emptied socket lets go of it.
 */
function withRoomInSlab(): void {
  const buffer = new OutputBuffer();
  buffer.reserve(SLAB_BYTES);
  drain(buffer, DRAINED_SOCKET);
}

/**
 * Copies 40 kB into a new connection's buffer (two of them never fit one slab) and drains it to `sink`.
 *
 * @returns The connection and the one chunk it wrote.
 */
function writeMostOfASlab(
  seed: number,
  sink: { bufferedAmount: number; releasesWrittenChunks?: boolean } = DRAINED_SOCKET,
): { buffer: OutputBuffer; chunk: Uint8Array } {
  const buffer = new OutputBuffer();
  buffer.copy(pattern(40_000, seed));
  const chunks = drain(buffer, sink);
  assert.equal(chunks.length, 1);
  return { buffer, chunk: chunks[0] };
}

/** The chunks' bytes, copied now, to compare with what they hold later. */
function snapshot(chunks: readonly Uint8Array[]): Uint8Array[] {
  return chunks.map((chunk) => chunk.slice());
}

describe("OutputBuffer", () => {
  test("starts empty and drains nothing", () => {
    const buffer = new OutputBuffer();
    assert.equal(buffer.length, 0);
    assert.deepEqual(drain(buffer), []);
  });

  test("copy keeps the bytes as they were when copied", () => {
    const buffer = new OutputBuffer();
    const source = pattern(100, 1);
    const expected = source.slice();
    buffer.copy(source);
    source.fill(0xee);
    const chunks = drain(buffer);
    assert.equal(chunks.length, 1);
    assert.notEqual(chunks[0].buffer, source.buffer);
    assert.deepEqual(chunks[0], expected);
  });

  test("push hands over the caller's bytes by reference", () => {
    const buffer = new OutputBuffer();
    const source = pattern(100, 2);
    buffer.push(source);
    assert.equal(buffer.length, 100);
    source[0] = 0xab;
    const chunks = drain(buffer);
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0], source);
    assert.equal(chunks[0][0], 0xab);
  });

  test("empty copies and pushes add no chunk", () => {
    const buffer = new OutputBuffer();
    buffer.copy(new Uint8Array(0));
    buffer.push(new Uint8Array(0));
    buffer.append(new Uint8Array(0));
    assert.equal(buffer.length, 0);
    assert.deepEqual(drain(buffer), []);
  });

  test("append copies up to the threshold and references above it", () => {
    const buffer = new OutputBuffer();
    const atThreshold = pattern(COPY_THRESHOLD_BYTES, 3);
    buffer.append(atThreshold);
    const copied = drain(buffer);
    assert.equal(copied.length, 1);
    assert.notEqual(copied[0], atThreshold);
    assert.notEqual(copied[0].buffer, atThreshold.buffer);
    assert.deepEqual(copied[0], atThreshold);

    const aboveThreshold = pattern(COPY_THRESHOLD_BYTES + 1, 4);
    buffer.append(aboveThreshold);
    const referenced = drain(buffer);
    assert.equal(referenced.length, 1);
    assert.equal(referenced[0], aboveThreshold);
  });

  test("consecutive small writes of one connection drain as one contiguous chunk", () => {
    const buffer = new OutputBuffer();
    withRoomInSlab();
    const parts = [pattern(2, 5), pattern(125, 6), pattern(1, 7), pattern(300, 8)];
    for (const part of parts) buffer.append(part);
    assert.equal(buffer.length, 428);
    const chunks = drain(buffer);
    assert.equal(chunks.length, 1);
    assert.deepEqual(chunks[0], concat(parts));
    assert.equal(buffer.length, 0);
  });

  test("reserve and commit write in place, contiguous with copies", () => {
    withRoomInSlab();
    const buffer = new OutputBuffer();
    const head = pattern(10, 9);
    buffer.copy(head);
    const target = buffer.reserve(4);
    const at = buffer.offset;
    assert.ok(at + 4 <= target.length);
    target[at] = 0x81;
    target[at + 1] = 0x02;
    target[at + 2] = 0x68;
    target[at + 3] = 0x69;
    buffer.commit(4);
    const tail = pattern(5, 10);
    buffer.copy(tail);
    assert.equal(buffer.length, 19);
    const chunks = drain(buffer);
    assert.equal(chunks.length, 1);
    assert.deepEqual(chunks[0], concat([head, Uint8Array.of(0x81, 0x02, 0x68, 0x69), tail]));
  });

  test("two connections interleaving writes in the shared slab stay separate and ordered", () => {
    const a = new OutputBuffer();
    const b = new OutputBuffer();
    const aParts: Uint8Array[] = [];
    const bParts: Uint8Array[] = [];
    withRoomInSlab();
    for (let round = 0; round < 20; round++) {
      const forA = pattern(1 + round * 13, 100 + round);
      a.copy(forA);
      aParts.push(forA);
      // Every other round `a` writes twice before `b` does: both writes must share one chunk.
      if (round % 2 === 0) {
        const again = pattern(3, 300 + round);
        a.copy(again);
        aParts.push(again);
      }
      const forB = pattern(1 + round * 7, 200 + round);
      b.copy(forB);
      bParts.push(forB);
    }
    const aLength = aParts.reduce((sum, part) => sum + part.length, 0);
    const bLength = bParts.reduce((sum, part) => sum + part.length, 0);
    assert.equal(a.length, aLength);
    assert.equal(b.length, bLength);

    const aChunks = drain(a);
    assert.equal(b.length, bLength, "draining one buffer leaves the other alone");
    const bChunks = drain(b);
    // Each round's writes of one connection are contiguous; the other's writes separate rounds.
    assert.equal(aChunks.length, 20);
    assert.equal(bChunks.length, 20);
    assert.deepEqual(concat(aChunks), concat(aParts));
    assert.deepEqual(concat(bChunks), concat(bParts));
  });

  test("a connection that resumes after another wrote starts a new chunk", () => {
    withRoomInSlab();
    const a = new OutputBuffer();
    const b = new OutputBuffer();
    a.copy(pattern(8, 11));
    b.copy(pattern(8, 12));
    a.copy(pattern(8, 13));
    const chunks = drain(a);
    assert.equal(chunks.length, 2);
    assert.deepEqual(chunks[0], pattern(8, 11));
    assert.deepEqual(chunks[1], pattern(8, 13));
    assert.deepEqual(drain(b), [pattern(8, 12)]);
  });

  test("drained bytes are never rewritten by later writes of any connection", () => {
    const a = new OutputBuffer();
    const b = new OutputBuffer();
    a.copy(pattern(50, 14));
    const first = drain(a);
    const before = snapshot(first);
    // Enough traffic to wrap into fresh slabs several times.
    for (let i = 0; i < 12; i++) {
      a.copy(pattern(COPY_THRESHOLD_BYTES, 15 + i));
      b.copy(pattern(COPY_THRESHOLD_BYTES, 40 + i));
    }
    drain(a);
    drain(b);
    assert.deepEqual(first, before);
  });

  test("slab rollover keeps earlier chunks intact and the batch ordered", () => {
    const buffer = new OutputBuffer();
    const parts: Uint8Array[] = [];
    // Five 16 KiB copies exceed one 64 KiB slab whatever earlier tests left in it.
    for (let i = 0; i < 5; i++) {
      const part = pattern(COPY_THRESHOLD_BYTES, 60 + i);
      buffer.copy(part);
      parts.push(part);
    }
    assert.equal(buffer.length, 5 * COPY_THRESHOLD_BYTES);
    const chunks = drain(buffer);
    assert.ok(chunks.length >= 2, `expected a rollover, got ${chunks.length} chunk(s)`);
    assert.ok(new Set(chunks.map((chunk) => chunk.buffer)).size >= 2, "a new slab was started");
    for (const chunk of chunks) assert.ok(chunk.length > 0);
    assert.deepEqual(concat(chunks), concat(parts));
  });

  test("a reservation larger than a slab gets a slab of its own", () => {
    const buffer = new OutputBuffer();
    const n = SLAB_BYTES + 1000;
    const target = buffer.reserve(n);
    const at = buffer.offset;
    assert.ok(target.length - at >= n);
    const payload = pattern(n, 70);
    target.set(payload, at);
    buffer.commit(n);
    const small = pattern(20, 71);
    buffer.copy(small);
    const chunks = drain(buffer);
    assert.deepEqual(concat(chunks), concat([payload, small]));
  });

  test("drainTo hands chunks over in write order, mixing copies and references", () => {
    withRoomInSlab();
    const buffer = new OutputBuffer();
    const head1 = pattern(4, 80);
    const body1 = pattern(COPY_THRESHOLD_BYTES + 10, 81);
    const head2 = pattern(2, 82);
    const small = pattern(6, 83);
    const body2 = pattern(COPY_THRESHOLD_BYTES * 2, 84);
    buffer.copy(head1);
    buffer.append(body1);
    buffer.copy(head2);
    buffer.copy(small);
    buffer.push(body2);
    assert.equal(buffer.length, 4 + body1.length + 2 + 6 + body2.length);
    const chunks = drain(buffer);
    assert.equal(chunks.length, 4);
    assert.deepEqual(chunks[0], head1);
    assert.equal(chunks[1], body1);
    assert.deepEqual(chunks[2], concat([head2, small]));
    assert.equal(chunks[3], body2);
    assert.equal(buffer.length, 0);
    assert.deepEqual(drain(buffer), [], "a second drain finds nothing");
  });

  test("writes made while draining go to the next batch", () => {
    const buffer = new OutputBuffer();
    buffer.copy(pattern(3, 90));
    buffer.push(pattern(COPY_THRESHOLD_BYTES + 1, 91));
    const seen: Uint8Array[] = [];
    buffer.drainTo({
      write: (chunk) => {
        seen.push(chunk);
        if (seen.length === 1) buffer.copy(pattern(5, 92));
      },
      bufferedAmount: 0,
      releasesWrittenChunks: true,
    });
    assert.equal(seen.length, 2);
    assert.deepEqual(seen[0], pattern(3, 90));
    assert.deepEqual(seen[1], pattern(COPY_THRESHOLD_BYTES + 1, 91));
    assert.equal(buffer.length, 5);
    assert.deepEqual(drain(buffer), [pattern(5, 92)]);
  });

  test("clear drops pending bytes and the buffer stays usable", () => {
    const buffer = new OutputBuffer();
    buffer.copy(pattern(10, 93));
    buffer.push(pattern(COPY_THRESHOLD_BYTES + 5, 94));
    buffer.copy(pattern(10, 95));
    buffer.clear();
    assert.equal(buffer.length, 0);
    assert.deepEqual(drain(buffer), []);
    const after = pattern(7, 96);
    buffer.copy(after);
    assert.equal(buffer.length, 7);
    assert.deepEqual(drain(buffer), [after]);
  });

  test("clear of one connection leaves another's interleaved bytes alone", () => {
    const a = new OutputBuffer();
    const b = new OutputBuffer();
    a.copy(pattern(10, 97));
    b.copy(pattern(10, 98));
    a.copy(pattern(10, 99));
    b.copy(pattern(10, 100));
    a.clear();
    assert.deepEqual(concat(drain(b)), concat([pattern(10, 98), pattern(10, 100)]));
    assert.deepEqual(drain(a), []);
  });
});

describe("OutputBuffer slab reuse", () => {
  test("a full slab is reused once every connection that wrote from it drained to a socket", () => {
    withRoomInSlab();
    const first = writeMostOfASlab(1);
    // The second 40 kB do not fit: the full slab, held by nobody, comes back as the next one.
    const second = writeMostOfASlab(2);
    assert.equal(second.chunk.buffer, first.chunk.buffer);
    assert.deepEqual(second.chunk, pattern(40_000, 2));
  });

  test("a slab is not reused while a socket still has some of its bytes buffered", () => {
    withRoomInSlab();
    const first = writeMostOfASlab(3, { bufferedAmount: 1, releasesWrittenChunks: true });
    const second = writeMostOfASlab(4);
    assert.notEqual(second.chunk.buffer, first.chunk.buffer);
    assert.deepEqual(first.chunk, pattern(40_000, 3));
  });

  test("a slab written to a transport that does not release chunks is never reused", () => {
    withRoomInSlab();
    const first = writeMostOfASlab(5, { bufferedAmount: 0 });
    const second = writeMostOfASlab(6);
    const third = writeMostOfASlab(7);
    assert.notEqual(second.chunk.buffer, first.chunk.buffer);
    assert.notEqual(third.chunk.buffer, first.chunk.buffer);
    assert.deepEqual(first.chunk, pattern(40_000, 5));
  });

  test("a connection cleared while holding a slab keeps that slab out of reuse", () => {
    withRoomInSlab();
    const closed = new OutputBuffer();
    closed.copy(pattern(40_000, 8));
    const [chunk] = drain(closed, { bufferedAmount: 1, releasesWrittenChunks: true });
    closed.clear();
    const second = writeMostOfASlab(9);
    assert.notEqual(second.chunk.buffer, chunk.buffer);
    assert.deepEqual(chunk, pattern(40_000, 8));
  });

  test("a hold let go at a later flush makes the slab reusable", () => {
    withRoomInSlab();
    const first = writeMostOfASlab(10, { bufferedAmount: 1, releasesWrittenChunks: true });
    // Still buffered as well: the slab after the first one stays out of reuse too.
    const second = writeMostOfASlab(11, { bufferedAmount: 1, releasesWrittenChunks: true });
    assert.notEqual(second.chunk.buffer, first.chunk.buffer);
    // The first connection's socket has emptied: its next flush (bytes by reference, no copy) lets go.
    first.buffer.push(pattern(COPY_THRESHOLD_BYTES + 1, 12));
    drain(first.buffer, DRAINED_SOCKET);
    const third = writeMostOfASlab(13);
    assert.equal(third.chunk.buffer, first.chunk.buffer);
    assert.deepEqual(second.chunk, pattern(40_000, 11));
  });

  test("a connection that moved on to a newer slab while its socket was busy lets go of both at its drain", () => {
    const busy = { bufferedAmount: 1, releasesWrittenChunks: true };
    // Connections whose sockets never drain take up every spare slab (two 40 kB never share one), so the
    // spares below are only the ones this test makes.
    for (let i = 0; i < 5; i++) writeMostOfASlab(20 + i, busy);
    const buffer = new OutputBuffer();
    buffer.copy(pattern(40_000, 14));
    const [older] = drain(buffer, busy);
    // 40 kB more do not fit: the connection goes on in a new slab, its socket still busy.
    buffer.copy(pattern(40_000, 15));
    const [newer] = drain(buffer, busy);
    assert.notEqual(newer.buffer, older.buffer);
    assert.equal(buffer.holdsSlab, true);
    // The socket drained (nothing written since): both slabs come back.
    buffer.releaseWritten(DRAINED_SOCKET);
    assert.equal(buffer.holdsSlab, false);
    const next = writeMostOfASlab(16, busy);
    assert.equal(next.chunk.buffer, newer.buffer);
    const last = writeMostOfASlab(17, busy);
    assert.equal(last.chunk.buffer, older.buffer);
    assert.deepEqual(last.chunk, pattern(40_000, 17));
  });
});
