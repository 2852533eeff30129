import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TimerWheel, type WheelItem } from "../src/timer_wheel.ts";

interface Item extends WheelItem {
  name: string;
}

function item(name: string): Item {
  return { name, wheelSecond: -1, wheelPrev: null, wheelNext: null };
}

function fired(wheel: TimerWheel<Item>, nowMs: number): string[] {
  const names: string[] = [];
  wheel.advance(nowMs, (entry) => names.push(entry.name));
  return names;
}

describe("TimerWheel", () => {
  test("fires an item once its second has passed, not before", () => {
    const wheel = new TimerWheel<Item>(10_000);
    const a = item("a");
    wheel.schedule(a, 12_500);
    assert.deepEqual(fired(wheel, 12_999), []);
    assert.deepEqual(fired(wheel, 13_000), ["a"]);
    assert.deepEqual(fired(wheel, 20_000), []);
    assert.equal(a.wheelSecond, -1);
  });

  test("a later schedule keeps the earlier bucket (lazy re-check), an earlier one moves the item", () => {
    const wheel = new TimerWheel<Item>(0);
    const a = item("a");
    wheel.schedule(a, 5_000);
    wheel.schedule(a, 9_000);
    assert.deepEqual(fired(wheel, 5_000), ["a"]);
    const b = item("b");
    wheel.schedule(b, 9_000);
    wheel.schedule(b, 7_000);
    assert.deepEqual(fired(wheel, 8_000), ["b"]);
    assert.deepEqual(fired(wheel, 10_000), [], "the item left its later bucket");
    assert.equal(wheel.size, 0);
  });

  test("a removed item never fires and leaves the wheel", () => {
    const wheel = new TimerWheel<Item>(0);
    const a = item("a");
    const b = item("b");
    wheel.schedule(a, 2_000);
    wheel.schedule(b, 2_000);
    wheel.remove(a);
    wheel.remove(a);
    assert.equal(a.wheelSecond, -1);
    assert.equal(wheel.size, 1);
    assert.deepEqual(fired(wheel, 5_000), ["b"]);
    wheel.schedule(a, 6_000);
    assert.deepEqual(fired(wheel, 6_000), ["a"], "a removed item can be scheduled again");
  });

  test("fire may remove or re-schedule items still waiting in the same bucket", () => {
    const wheel = new TimerWheel<Item>(0);
    const [a, b, c, d] = ["a", "b", "c", "d"].map(item);
    for (const each of [a, b, c, d]) wheel.schedule(each, 1_000);
    const names: string[] = [];
    wheel.advance(1_000, (entry) => {
      names.push(entry.name);
      if (entry === a) {
        wheel.remove(c);
        wheel.schedule(b, 3_000); // already due earlier: stays, fires now
      }
      if (entry === b) wheel.schedule(b, 2_000); // fired items may come back
    });
    assert.deepEqual(names, ["a", "b", "d"]);
    assert.equal(wheel.size, 1);
    assert.deepEqual(fired(wheel, 2_000), ["b"]);
    assert.equal(wheel.size, 0);
  });

  test("deadlines beyond the ring wait in its farthest bucket", () => {
    const wheel = new TimerWheel<Item>(0);
    const a = item("a");
    wheel.schedule(a, 10_000_000);
    assert.deepEqual(fired(wheel, 510_000), []);
    assert.deepEqual(fired(wheel, 511_000), ["a"]);
  });

  test("a deadline in the past fires at the next second", () => {
    const wheel = new TimerWheel<Item>(50_000);
    wheel.schedule(item("late"), 1_000);
    assert.deepEqual(fired(wheel, 51_000), ["late"]);
  });

  test("many items in one bucket all fire, in scheduling order", () => {
    const wheel = new TimerWheel<Item>(0);
    const names = Array.from({ length: 1000 }, (_, i) => `i${i}`);
    for (const name of names) wheel.schedule(item(name), 3_000);
    assert.equal(wheel.size, 1000);
    assert.deepEqual(fired(wheel, 3_000), names);
    assert.equal(wheel.size, 0);
  });
});
