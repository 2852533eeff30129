import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { enterCallback, type Flushable, leaveCallback, markDirty } from "../src/_flush.ts";

function target(log: string[], name: string, onFlush?: () => void): Flushable {
  return {
    flushQueued: false,
    flush() {
      log.push(name);
      onFlush?.();
    },
  };
}

describe("flush batching", () => {
  test("inside a callback, each dirty target flushes once when the outermost callback leaves", () => {
    const log: string[] = [];
    const a = target(log, "a");
    const b = target(log, "b");
    enterCallback();
    markDirty(a);
    markDirty(b);
    markDirty(a);
    enterCallback();
    markDirty(b);
    leaveCallback();
    assert.deepEqual(log, [], "the inner callback does not flush");
    leaveCallback();
    assert.deepEqual(log, ["a", "b"]);
  });

  test("outside a callback, targets flush together in one microtask", async () => {
    const log: string[] = [];
    const a = target(log, "a");
    const b = target(log, "b");
    markDirty(a);
    markDirty(b);
    markDirty(a);
    assert.deepEqual(log, []);
    await Promise.resolve();
    assert.deepEqual(log, ["a", "b"]);
  });

  test("a target made dirty by another's flush is flushed in the same pass", () => {
    const log: string[] = [];
    const b = target(log, "b");
    const a = target(log, "a", () => markDirty(b));
    enterCallback();
    markDirty(a);
    leaveCallback();
    assert.deepEqual(log, ["a", "b"]);
  });

  test("when a flush throws, the targets after it stay queued and flush next time", () => {
    const log: string[] = [];
    const failing = target(log, "failing", () => {
      throw new Error("flush failed");
    });
    const after = target(log, "after");
    enterCallback();
    markDirty(failing);
    markDirty(after);
    assert.throws(() => leaveCallback(), /flush failed/);
    assert.deepEqual(log, ["failing"]);
    enterCallback();
    leaveCallback();
    assert.deepEqual(log, ["failing", "after"]);
    assert.equal(after.flushQueued, false);
  });

  test("a transport callback made during a flush leaves the flushing to the running pass", () => {
    const log: string[] = [];
    const c = target(log, "c");
    const b = target(log, "b");
    // a's write makes its transport call back at once (a close), which marks c dirty and leaves a callback.
    const a = target(log, "a", () => {
      enterCallback();
      markDirty(c);
      leaveCallback();
    });
    enterCallback();
    markDirty(a);
    markDirty(b);
    leaveCallback();
    assert.deepEqual(log, ["a", "b", "c"]);
  });
});
