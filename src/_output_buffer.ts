/**
 * Outgoing bytes of one connection, batched until the connection flushes them in one transport write.
 *
 * Small writes (frame headers, small payloads, HTTP heads) are copied into a slab shared by every connection
 * of the process: a bump allocator whose bytes are never rewritten once handed out, so the transport may keep
 * them by reference. An idle connection therefore holds no output memory, and a batch is usually one
 * contiguous view of the slab. Large payloads are queued by reference, not copied just to sit behind a header.
 *
 * A full slab is reused, instead of a new one being allocated (fresh memory costs a page fault per 4 KiB,
 * which on virtual machines is dearer than the copies), once no connection can still be writing from it:
 * each connection holds the slabs it copied into until a flush or a drain leaves its transport with nothing
 * buffered, and only transports that keep no reference once drained (sockets) let go of a hold. A connection
 * that closes with a hold not let go keeps that slab out of reuse for good.
 *
 * @module
 */

/** 64 KiB: large enough that most batches of small frames fit in one view, small enough to waste little. */
const SLAB_BYTES = 64 * 1024;
/** Payloads above this go by reference; below it a copy is cheaper than an extra transport write. */
export const COPY_THRESHOLD_BYTES = 16 * 1024;

/** Copies up to this many bytes go byte by byte. */
const SHORT_COPY_BYTES = 64;

/** Full slabs kept for reuse, at most. */
const SPARE_SLABS = 4;

/** A slab and the number of connections that may still be writing some of its bytes. */
interface Slab {
  readonly bytes: Uint8Array;
  holders: number;
  /** Full: no new bytes go into it until it is reused. */
  retired: boolean;
}

/**
 * Where {@linkcode OutputBuffer.drainTo} writes: a transport. Without `releasesWrittenChunks` (see
 * `Transport`) and a `bufferedAmount` of 0, no slab this sink was given is ever reused.
 */
export interface OutputSink {
  write(chunk: Uint8Array): unknown;
  readonly bufferedAmount?: number;
  readonly releasesWrittenChunks?: boolean;
}

let slab: Slab = { bytes: new Uint8Array(SLAB_BYTES), holders: 0, retired: false };
let slabUsed = 0;
const spareSlabs: Slab[] = [];

function makeReusable(full: Slab): void {
  if (full.bytes.length === SLAB_BYTES && spareSlabs.length < SPARE_SLABS) {
    full.retired = false;
    spareSlabs.push(full);
  }
}

/** One connection fewer may be writing bytes of `held`. */
function letGo(held: Slab): void {
  if (--held.holders === 0 && held.retired) makeReusable(held);
}

/** The slab after a full one: a spare whose bytes nobody can still be writing, or a new one. */
function nextSlab(full: Slab, n: number): Slab {
  full.retired = true;
  if (full.holders === 0) makeReusable(full);
  return (n <= SLAB_BYTES ? spareSlabs.pop() : undefined) ??
    { bytes: new Uint8Array(Math.max(SLAB_BYTES, n)), holders: 0, retired: false };
}

/**
 * A connection's pending output.
 *
 * Every connection is one (`HttpConnection` extends it) for its whole life, so its fields are few: its
 * helpers are TypeScript-`private` rather than `#` methods (a class with `#` methods stores its brand in
 * every instance), and the open segment's slab is `#held` (see `#segmentStart`).
 */
export class OutputBuffer {
  /**
   * The first sealed chunk waiting for {@linkcode OutputBuffer.drainTo}, and the ones after it. Usually a
   * batch is one chunk, so an idle connection holds no array and a flush builds none.
   */
  #first: Uint8Array | null = null;
  #rest: Uint8Array[] | null = null;
  /**
   * The slab this connection may still be writing bytes of (see the module's comment). The open segment, if
   * any, lives in it: a segment opens in the slab the connection holds, which it keeps until the segment is
   * sealed.
   */
  #held: Slab | null = null;
  /**
   * Older slabs still held when the connection moved on to a newer one, because its sink had bytes left
   * (a busy socket); let go of together with `#held`. `null` on most connections.
   */
  #heldBefore: Slab[] | null = null;
  /** Where the open segment starts in `#held`, or -1 when there is no open segment. */
  #segmentStart = -1;
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
      this.#held === slab && this.#segmentEnd === slabUsed && this.#segmentStart >= 0 &&
      slabUsed + n <= slab.bytes.length
    ) {
      return slab.bytes;
    }
    this.seal();
    if (slabUsed + n > slab.bytes.length) {
      slab = nextSlab(slab, n);
      slabUsed = 0;
    }
    const held = this.#held;
    if (held !== slab) {
      if (held !== null) (this.#heldBefore ??= []).push(held);
      this.#held = slab;
      slab.holders++;
    }
    this.#segmentStart = slabUsed;
    this.#segmentEnd = slabUsed;
    return slab.bytes;
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
    this.seal();
    this.add(bytes);
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

  /**
   * Hands every pending chunk to `sink.write`, in order, and empties the buffer. Lets go of the slab this
   * connection holds when the sink then has nothing buffered and releases what it wrote.
   */
  drainTo(sink: OutputSink): void {
    this.seal();
    const first = this.#first;
    if (first !== null) {
      const rest = this.#rest;
      this.#first = null;
      this.#rest = null;
      this.#pending = 0;
      sink.write(first);
      if (rest !== null) { for (const chunk of rest) sink.write(chunk); }
    }
    this.releaseWritten(sink);
  }

  /** Whether this connection holds a slab: {@linkcode OutputBuffer.releaseWritten} at its sink's drain lets go. */
  get holdsSlab(): boolean {
    return this.#held !== null;
  }

  /**
   * Lets go of the slabs this connection holds if nothing is pending and `sink` has written everything it
   * was given and keeps no reference to it. Called by `drainTo`, and by the connection when its sink drains:
   * a sink that still had bytes right after `drainTo` (a busy socket) would otherwise keep them out of reuse
   * until the connection next writes.
   */
  releaseWritten(sink: Omit<OutputSink, "write">): void {
    const held = this.#held;
    // Bytes copied during the writes (a sink calling back into the core) are not written yet.
    if (
      held !== null && this.#pending === 0 && this.#segmentStart < 0 &&
      sink.releasesWrittenChunks === true && sink.bufferedAmount === 0
    ) {
      this.#held = null;
      letGo(held);
      const before = this.#heldBefore;
      if (before !== null) {
        this.#heldBefore = null;
        for (const older of before) letGo(older);
      }
    }
  }

  /** Drops everything pending (the connection is gone). A hold not let go stays counted. */
  clear(): void {
    this.seal();
    this.#first = null;
    this.#rest = null;
    this.#pending = 0;
    this.#held = null;
    this.#heldBefore = null;
  }

  private seal(): void {
    const start = this.#segmentStart;
    if (start < 0) return;
    this.#segmentStart = -1;
    if (this.#segmentEnd > start) this.add(this.#held!.bytes.subarray(start, this.#segmentEnd));
  }

  private add(chunk: Uint8Array): void {
    if (this.#first === null) this.#first = chunk;
    else if (this.#rest === null) this.#rest = [chunk];
    else this.#rest.push(chunk);
  }
}
