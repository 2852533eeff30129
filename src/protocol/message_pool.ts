/**
 * Large message buffers shared by every connection of the process, so a stream of large messages reuses
 * memory instead of asking the runtime for a fresh zero-filled buffer per message. A fresh one costs a page
 * fault per 4 KiB the first time it is written (1 MiB: 256 faults), and on a virtual machine those can make
 * the allocation cost more than everything else done with the message.
 *
 * A buffer comes back in two ways: free (its message was delivered and nothing kept it), or lent (the
 * application wrote the message it was handed to one connection, which may still be writing it by
 * reference). A lent buffer is free again once that connection's transport is still open and has nothing
 * left to write; a buffer lent to a connection whose transport closed is dropped, since a write may still be
 * in flight there. The pool holds few buffers, so idle connections keep no large buffer and the process at
 * most {@linkcode POOL_SLOTS} of them.
 *
 * @module
 */

/** Whoever a message buffer was written to by reference. */
export interface Borrower {
  /** Bytes queued by the connection and not yet taken by the operating system. */
  readonly bufferedAmount: number;
  /** `false` once the transport closed: whatever it had queued is in an unknown state. */
  readonly transportOpen: boolean;
}

/** How many buffers the pool keeps: enough for a few connections exchanging large messages at once. */
const POOL_SLOTS = 8;
/** A pooled buffer serves only messages of at least 1/this of its size, so little of it sits unused. */
const MAX_SIZE_FACTOR = 4;

const buffers: Uint8Array[] = [];
const borrowers: (Borrower | null)[] = [];

/**
 * A pooled buffer of at least `size` bytes (and at most {@linkcode MAX_SIZE_FACTOR} times it) that nobody may
 * still be writing, taken out of the pool; `null` when there is none. Its bytes are whatever the last
 * message left: the caller overwrites what it uses.
 */
export function takeMessageBuffer(size: number): Uint8Array | null {
  for (let i = 0; i < buffers.length; i++) {
    const buffer = buffers[i];
    if (buffer.length < size || buffer.length > size * MAX_SIZE_FACTOR) continue;
    const borrower = borrowers[i];
    if (borrower !== null) {
      if (!borrower.transportOpen) {
        remove(i--);
        continue;
      }
      if (borrower.bufferedAmount > 0) continue;
    }
    remove(i);
    return buffer;
  }
  return null;
}

/**
 * Puts a message buffer in the pool, free (`borrower` null) or lent to `borrower`. When the pool is full
 * the oldest entry makes room.
 */
export function giveBackMessageBuffer(buffer: Uint8Array, borrower: Borrower | null): void {
  if (buffers.length === POOL_SLOTS) remove(0);
  buffers.push(buffer);
  borrowers.push(borrower);
}

/** Empties the pool (tests start from a known state with it). */
export function clearMessagePool(): void {
  buffers.length = 0;
  borrowers.length = 0;
}

function remove(index: number): void {
  buffers.splice(index, 1);
  borrowers.splice(index, 1);
}
