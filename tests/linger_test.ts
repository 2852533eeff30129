import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Lingering, LingerList } from "../src/_linger.ts";

const LINGER_MS = 30;
/** Far above LINGER_MS: only a list that never fires reaches it. */
const BOUND_MS = 3000;

interface Member extends Lingering {
  readonly name: string;
  readonly addedAt: number;
  expiredAt: number;
}

function member(name: string, log: Member[], onExpired?: () => void): Member {
  return {
    name,
    addedAt: Date.now(),
    expiredAt: -1,
    lingerSlot: -1,
    lingerExpired() {
      this.expiredAt = Date.now();
      log.push(this);
      onExpired?.();
    },
  };
}

/** Resolves when `count` members have expired; rejects after BOUND_MS. */
function expiries(count: number): { log: Member[]; done: Promise<void>; expired: () => void } {
  const log: Member[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((ok, fail) => {
    const bound = setTimeout(() => fail(new Error("no expiry within the bound")), BOUND_MS);
    resolve = () => {
      clearTimeout(bound);
      ok();
    };
  });
  return { log, done, expired: () => log.length === count && resolve() };
}

describe("LingerList", () => {
  test("a member still lingering expires once its time is over, not before", async () => {
    const list = new LingerList(LINGER_MS);
    const { log, done, expired } = expiries(1);
    const a = member("a", log, expired);
    list.add(a);
    await done;
    assert.deepEqual(log.map((m) => m.name), ["a"]);
    assert.ok(
      a.expiredAt - a.addedAt >= LINGER_MS - 1,
      `expired after ${a.expiredAt - a.addedAt} ms`,
    );
  });

  test("a deleted member never expires; the others expire in the order they started", async () => {
    const list = new LingerList(LINGER_MS);
    const { log, done, expired } = expiries(2);
    const a = member("a", log, expired);
    const b = member("b", log, expired);
    const c = member("c", log, expired);
    list.add(a);
    list.add(b);
    list.add(c);
    list.delete(b);
    list.delete(b); // twice, or never added: ignored
    await done;
    assert.deepEqual(log.map((m) => m.name), ["a", "c"]);
  });

  test("a member added after the timer is armed gets its whole linger time", async () => {
    const list = new LingerList(LINGER_MS);
    const { log, done, expired } = expiries(2);
    const first = member("first", log, () => {
      // Added while the list sweeps: the re-armed timer must cover it.
      const late = member("late", log, expired);
      list.add(late);
      expired();
    });
    list.add(first);
    await done;
    const late = log[1];
    assert.equal(late.name, "late");
    assert.ok(
      late.expiredAt - late.addedAt >= LINGER_MS - 1,
      `expired after ${late.expiredAt - late.addedAt} ms`,
    );
  });

  test("adding a lingering member again restarts it at the end of the line", async () => {
    const list = new LingerList(LINGER_MS);
    const { log, done, expired } = expiries(2);
    const a = member("a", log, expired);
    const b = member("b", log, expired);
    list.add(a);
    list.add(b);
    list.add(a);
    await done;
    assert.deepEqual(log.map((m) => m.name), ["b", "a"]);
  });

  test("members keep their order as the ring wraps round, fills up and grows", async () => {
    const list = new LingerList(LINGER_MS);
    const { log, done, expired } = expiries(29);
    const members = Array.from({ length: 40 }, (_, i) => member(`m${i}`, log, expired));
    // The first ten, then all but the last two of them leave: the ring's oldest slot moves on.
    for (const m of members.slice(0, 10)) list.add(m);
    for (const m of members.slice(0, 8)) list.delete(m);
    // Twelve more wrap round the end of the ring, five more fill it up and make it grow.
    for (const m of members.slice(10, 27)) list.add(m);
    // Gaps in the middle and at the newest end, and a restart, before the growth moves everyone.
    list.delete(members[15]);
    list.delete(members[26]);
    list.add(members[9]);
    for (const m of members.slice(27, 40)) list.add(m);
    list.delete(members[30]);
    await done;
    const expected = [8, ...range(10, 15), ...range(16, 26), ...range(27, 30), ...range(31, 40)];
    expected.splice(expected.indexOf(27), 0, 9);
    assert.deepEqual(log.map((m) => m.name), expected.map((i) => `m${i}`));
    assert.ok(members.every((m) => m.lingerSlot === -1), "every member left the ring");
  });

  test("a list ignores a member that another list holds in the same slot", async () => {
    const short = new LingerList(LINGER_MS);
    const long = new LingerList(LINGER_MS * 2);
    const { log, done, expired } = expiries(2);
    const a = member("a", log, expired);
    const b = member("b", log, expired);
    short.add(a);
    long.add(b);
    assert.equal(a.lingerSlot, b.lingerSlot, "both in their list's first slot");
    short.delete(b);
    long.delete(a);
    await done;
    assert.deepEqual(log.map((m) => m.name), ["a", "b"]);
  });

  test("the timer is unref'd so a lingering peer cannot keep the process alive", () => {
    const unrefed: unknown[] = [];
    const list = new LingerList(LINGER_MS, (timer) => unrefed.push(timer));
    const log: Member[] = [];
    const a = member("a", log);
    list.add(a);
    list.add(member("b", log));
    assert.equal(unrefed.length, 1, "one timer for all members");
    list.delete(a);
    clearTimeout(unrefed[0] as ReturnType<typeof setTimeout>);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
