/**
 * Batches socket writes per tick. A connection that queues output marks itself dirty; every dirty connection
 * is flushed once when the outermost transport callback returns, or in a microtask when the write came from
 * elsewhere (a timer, a promise). So all frames produced while handling one read chunk, including frames a
 * handler sends to other connections, leave in one transport write each, before the read chunk can be reused.
 *
 * @module
 */

/** Something with batched output. */
export interface Flushable {
  /** `true` while queued for a flush; owned by this module. */
  flushQueued: boolean;
  /** Hands the batched output to the transport. */
  flush(): void;
}

/** Dirty targets in `dirty[0..dirtyCount)`; the array is reused, so marking allocates nothing. */
const dirty: (Flushable | undefined)[] = [];
let dirtyCount = 0;
let depth = 0;
let flushing = false;
let microtaskPending = false;

/** Queues `target` to be flushed at the end of the current callback or in a microtask. */
export function markDirty(target: Flushable): void {
  if (target.flushQueued) return;
  target.flushQueued = true;
  dirty[dirtyCount++] = target;
  if (depth === 0 && !microtaskPending) {
    microtaskPending = true;
    queueMicrotask(flushFromMicrotask);
  }
}

/** Marks the start of a transport callback; pair with {@linkcode leaveCallback} in a `finally`. */
export function enterCallback(): void {
  depth++;
}

/** Marks the end of a transport callback; the outermost one flushes everything dirty. */
export function leaveCallback(): void {
  if (--depth === 0) flushAll();
}

function flushFromMicrotask(): void {
  microtaskPending = false;
  if (depth === 0) flushAll();
}

function flushAll(): void {
  // A flush can make more connections dirty (a drain handler that writes): they are appended, and reached
  // by the same loop. A transport may also call back synchronously from a write (a close): the nested
  // callback leaves the flushing to the loop already running.
  if (flushing) return;
  flushing = true;
  let i = 0;
  try {
    for (; i < dirtyCount; i++) {
      const target = dirty[i]!;
      dirty[i] = undefined;
      target.flushQueued = false;
      target.flush();
    }
  } finally {
    // Only when a flush threw: the targets after it stay queued for the next flush.
    let kept = 0;
    for (let j = i + 1; j < dirtyCount; j++) {
      dirty[kept++] = dirty[j];
      dirty[j] = undefined;
    }
    dirtyCount = kept;
    flushing = false;
  }
}
