/**
 * Outgoing bytes of one connection, batched until the connection flushes them in one transport write.
 *
 * Small writes (frame headers, small payloads, HTTP heads) are copied into a slab shared by every connection
 * of the process: a bump allocator whose bytes are never rewritten once handed out, so the transport may keep
 * them by reference. An idle connection therefore holds no output memory, and a batch is usually one
 * contiguous view of the slab. Large payloads are queued by reference, not copied just to sit behind a header.
 *
 * @module
 */

/** 64 KiB: large enough that most batches of small frames fit in one view, small enough to waste little. */
const SLAB_BYTES = 64 * 1024;
/** Payloads above this go by reference; below it a copy is cheaper than an extra transport write. */
export const COPY_THRESHOLD_BYTES = 16 * 1024;

/** Copies up to this many bytes go byte by byte. */
const SHORT_COPY_BYTES = 64;

let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/** A connection's pending output. */
export class OutputBuffer {
  /**
   * The first sealed chunk waiting for {@linkcode OutputBuffer.drainTo}, and the ones after it. Usually a
   * batch is one chunk, so an idle connection holds no array and a flush builds none.
   */
  #first: Uint8Array | null = null;
  #rest: Uint8Array[] | null = null;
  /** The slab the open segment lives in, or `null` when there is no open segment. */
  #segmentSlab: Uint8Array | null = null;
  #segmentStart = 0;
  #segmentEnd = 0;
  #pending = 0;

  /**
   * Reserves `n` contiguous bytes and returns the buffer to write them into, starting at
   * {@linkcode OutputBuffer.offset}. Call {@linkcode OutputBuffer.commit} with `n` right after writing, before
   * any other connection writes.
   */
  reserve(n: number): Uint8Array {
    // Extend the open segment only while nobody else has taken slab bytes after it.
    if (
      this.#segmentSlab === slab && this.#segmentEnd === slabUsed && slabUsed + n <= slab.length
    ) {
      return slab;
    }
    this.#seal();
    if (slabUsed + n > slab.length) {
      slab = new Uint8Array(Math.max(SLAB_BYTES, n));
      slabUsed = 0;
    }
    this.#segmentSlab = slab;
    this.#segmentStart = slabUsed;
    this.#segmentEnd = slabUsed;
    return slab;
  }

  /** Where the bytes reserved by {@linkcode OutputBuffer.reserve} start. */
  get offset(): number {
    return slabUsed;
  }

  /** Marks `n` reserved bytes as written. */
  commit(n: number): void {
    slabUsed += n;
    this.#segmentEnd = slabUsed;
    this.#pending += n;
  }

  /** Appends a copy of `bytes`. */
  copy(bytes: Uint8Array): void {
    const n = bytes.length;
    const target = this.reserve(n);
    // A loop beats `set` (a runtime call) for the short pieces of a head or a small frame.
    if (n <= SHORT_COPY_BYTES) {
      for (let i = 0, offset = slabUsed; i < n; i++) target[offset++] = bytes[i];
    } else {
      target.set(bytes, slabUsed);
    }
    this.commit(n);
  }

  /** Appends `bytes` by reference: the caller must not modify them until the transport has written them. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#seal();
    this.#add(bytes);
    this.#pending += bytes.length;
  }

  /** Appends `bytes`, copying small ones and referencing large ones. */
  append(bytes: Uint8Array): void {
    if (bytes.length <= COPY_THRESHOLD_BYTES) this.copy(bytes);
    else this.push(bytes);
  }

  /** Bytes waiting to be written. */
  get length(): number {
    return this.#pending;
  }

  /** Hands every pending chunk to `sink.write`, in order, and empties the buffer. */
  drainTo(sink: { write(chunk: Uint8Array): unknown }): void {
    this.#seal();
    const first = this.#first;
    if (first === null) return;
    const rest = this.#rest;
    this.#first = null;
    this.#rest = null;
    this.#pending = 0;
    sink.write(first);
    if (rest !== null) { for (const chunk of rest) sink.write(chunk); }
  }

  /** Drops everything pending (the connection is gone). */
  clear(): void {
    this.#seal();
    this.#first = null;
    this.#rest = null;
    this.#pending = 0;
  }

  #seal(): void {
    const segmentSlab = this.#segmentSlab;
    if (segmentSlab === null) return;
    this.#segmentSlab = null;
    if (this.#segmentEnd > this.#segmentStart) {
      this.#add(segmentSlab.subarray(this.#segmentStart, this.#segmentEnd));
    }
  }

  #add(chunk: Uint8Array): void {
    if (this.#first === null) this.#first = chunk;
    else if (this.#rest === null) this.#rest = [chunk];
    else this.#rest.push(chunk);
  }
}
