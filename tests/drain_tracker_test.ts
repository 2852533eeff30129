import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DrainTracker, HIGH_WATER_BYTES } from "../src/_drain_tracker.ts";

describe("DrainTracker", () => {
  test("a write past the high-water mark owes one drain once back under it", () => {
    const drain = new DrainTracker();
    assert.equal(drain.queued(HIGH_WATER_BYTES), true, "at the mark is still fine");
    assert.equal(drain.queued(1), false);
    assert.equal(drain.drainDue(), false, "still above the mark");
    drain.written(1);
    assert.equal(drain.drainDue(), true);
    assert.equal(drain.drainDue(), false, "owed once");
  });

  test("watch() owes a drain when the buffer empties, without any refused write", () => {
    const drain = new DrainTracker();
    drain.queued(100);
    drain.watch();
    drain.written(60);
    assert.equal(drain.drainDue(), false, "not empty yet");
    drain.written(40);
    assert.equal(drain.bufferedAmount, 0);
    assert.equal(drain.drainDue(), true);
    assert.equal(drain.drainDue(), false);
  });

  test("watch() on an empty buffer owes nothing (the caller checks bufferedAmount)", () => {
    const drain = new DrainTracker();
    drain.watch();
    drain.queued(10);
    drain.written(10);
    assert.equal(drain.drainDue(), false);
  });

  test("clear() forgets bytes and owed drains", () => {
    const drain = new DrainTracker();
    drain.queued(HIGH_WATER_BYTES + 1);
    drain.clear();
    assert.equal(drain.bufferedAmount, 0);
    assert.equal(drain.drainDue(), false);
  });
});
