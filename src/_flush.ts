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

let queue: Flushable[] = [];
let depth = 0;
let microtaskPending = false;

/** Queues `target` to be flushed at the end of the current callback or in a microtask. */
export function markDirty(target: Flushable): void {
  if (target.flushQueued) return;
  target.flushQueued = true;
  queue.push(target);
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
  // A flush can make more connections dirty (a drain handler that writes): loop until the queue stays empty.
  while (queue.length > 0) {
    const batch = queue;
    queue = [];
    for (const target of batch) {
      target.flushQueued = false;
      target.flush();
    }
    if (queue.length === 0) {
      batch.length = 0;
      queue = batch;
    }
  }
}
