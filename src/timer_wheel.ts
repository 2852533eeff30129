/**
 * One coarse timer for a whole server. The seed allows fuzzy timeouts ("a second or two later"), so instead of
 * a timer per connection, which costs memory and timer-heap work per connection, items sit in one-second
 * buckets of a ring, and the server advances the ring once a second.
 *
 * Scheduling is lazy: an item records its own deadline, and activity only moves that field. When its bucket
 * comes round, the owner checks the real deadline and re-schedules if it moved; so the hot path (a frame
 * received) touches one number and never the wheel.
 *
 * @module
 */

/** Something the wheel can hold. */
export interface WheelItem {
  /** The second this item is in a bucket for, or -1 when in none; owned by the wheel. */
  wheelSecond: number;
  /** The neighbours in its bucket; owned by the wheel (`null` at the ends, and when in none). */
  wheelPrev: WheelItem | null;
  wheelNext: WheelItem | null;
}

/** 512 one-second buckets: more than the 255 s maximum Websocket timeout, so most items land exactly. */
const BUCKETS = 512;

/** A ring of one-second buckets. */
export class TimerWheel<T extends WheelItem> {
  // Each bucket is a list threaded through its items: adding and removing allocate nothing, and a closed
  // connection leaves its bucket at once. Held until its bucket came round, it would outlive the young
  // generation of the garbage collector and be promoted, which under a stream of short connections costs
  // more than the rest of their lifetime together.
  #heads: (WheelItem | null)[] = new Array(BUCKETS).fill(null);
  #tails: (WheelItem | null)[] = new Array(BUCKETS).fill(null);
  #second: number;
  #size = 0;

  /** @param nowMs The current time in milliseconds; the wheel starts at that second. */
  constructor(nowMs: number) {
    this.#second = Math.floor(nowMs / 1000);
  }

  /** Items held. */
  get size(): number {
    return this.#size;
  }

  /**
   * Puts `item` in the bucket for `atMs` (rounded up to a whole second). An item already due no later than that
   * stays where it is: it is re-checked then and can be moved on. An item due later moves to the earlier bucket.
   */
  schedule(item: T, atMs: number): void {
    let second = Math.ceil(atMs / 1000);
    if (second <= this.#second) second = this.#second + 1;
    // Deadlines beyond the ring wait in its farthest bucket and are re-scheduled when it comes round.
    if (second - this.#second >= BUCKETS) second = this.#second + BUCKETS - 1;
    if (item.wheelSecond !== -1) {
      if (item.wheelSecond <= second) return;
      this.remove(item);
    }
    item.wheelSecond = second;
    const index = second % BUCKETS;
    const tail = this.#tails[index];
    item.wheelPrev = tail;
    item.wheelNext = null;
    if (tail === null) this.#heads[index] = item;
    else tail.wheelNext = item;
    this.#tails[index] = item;
    this.#size++;
  }

  /** Takes `item` out of the wheel; an item in no bucket is ignored. */
  remove(item: T): void {
    if (item.wheelSecond === -1) return;
    const index = item.wheelSecond % BUCKETS;
    const { wheelPrev: prev, wheelNext: next } = item;
    if (prev === null) this.#heads[index] = next;
    else prev.wheelNext = next;
    if (next === null) this.#tails[index] = prev;
    else next.wheelPrev = prev;
    item.wheelSecond = -1;
    item.wheelPrev = null;
    item.wheelNext = null;
    this.#size--;
  }

  /**
   * Advances to `nowMs`, calling `fire` for every item whose bucket has come due, in scheduling order. `fire`
   * may schedule or remove any item, the ones still waiting in the same bucket included.
   */
  advance(nowMs: number, fire: (item: T) => void): void {
    const target = Math.floor(nowMs / 1000);
    while (this.#second < target) {
      const second = ++this.#second;
      const index = second % BUCKETS;
      // New items never land in the bucket being emptied (they are due at least a second later, and at most
      // BUCKETS - 1 seconds ahead), so taking the head until none is left ends.
      for (let item = this.#heads[index]; item !== null; item = this.#heads[index]) {
        this.remove(item as T);
        fire(item as T);
      }
    }
  }
}
