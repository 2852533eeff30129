/**
 * Lingering close (RFC 9112 §9.6): after a transport sends its FIN it keeps reading, and dropping, until the
 * peer closes too, so bytes the peer already sent never meet a closed socket whose reset could destroy the
 * response it has not read yet. A peer that never closes must not hold the connection forever, so each
 * lingering transport has a deadline.
 *
 * One list and one timer serve every transport of an adapter: a timer per closing connection costs a timer
 * operation to arm and another to clear on each of them, which shows in handshake-heavy loads.
 *
 * @module
 */

/** A transport that can linger. */
export interface Lingering {
  /**
   * The wait is over: after a linger the peer has not closed, after a write stall it has taken nothing. Close
   * at once, or start the wait over.
   */
  lingerExpired(): void;
  /**
   * Where the member sits in the {@linkcode LingerList} holding it, -1 (the initial value) when in none.
   * Written only by the lists; a member is in at most one list at a time.
   */
  lingerSlot: number;
}

/** Slots of a new list; it grows by doubling when more members linger at once. */
const INITIAL_SLOTS = 16;

/**
 * Transports lingering after their FIN, in the order they started. Every member waits the same time, so that
 * order is also the order of their deadlines and only the oldest needs a timer.
 *
 * The members sit in a ring of slots, and each member knows its slot (`lingerSlot`), so that leaving the
 * list is a store, not a search. Not a `Map` keyed by member: under a stream of short connections (each
 * added at its close and deleted a moment later), a `Map` made the connections outlive the young generation
 * of the garbage collector. On Deno, handshakes that passed through one promoted about 1 KB each to the
 * old generation, against 0.28 KB through this ring (`--v8-flags=--trace-gc-nvp`, loadgen `handshake`).
 */
export class LingerList {
  /** The ring: members oldest first from `#start`, `undefined` where one left before its time. */
  #members: (Lingering | undefined)[] = new Array(INITIAL_SLOTS).fill(undefined);
  /** The `Date.now()` at which the member in the same slot stops lingering. */
  #deadlines = new Float64Array(INITIAL_SLOTS);
  /** The oldest slot in use, and how many slots from it are in use (members and the gaps between them). */
  #start = 0;
  #used = 0;
  readonly #lingerMs: number;
  readonly #unref: (timer: unknown) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param lingerMs How long a member may linger.
   * @param unref Lets the process exit while the list's timer is pending; the default calls the timer's own
   * `unref()` (Node, Bun, and Deno where timers are objects, as in 2.9).
   */
  constructor(lingerMs: number, unref: (timer: unknown) => void = unrefOwn) {
    this.#lingerMs = lingerMs;
    this.#unref = unref;
  }

  /**
   * Starts `member`'s linger; {@linkcode Lingering.lingerExpired} is called unless it is deleted first. A
   * member already lingering starts over, at the end of the order.
   */
  add(member: Lingering): void {
    this.delete(member);
    if (this.#used === this.#members.length) this.#makeRoom();
    const slot = (this.#start + this.#used) & (this.#members.length - 1);
    this.#members[slot] = member;
    this.#deadlines[slot] = Date.now() + this.#lingerMs;
    member.lingerSlot = slot;
    this.#used++;
    if (this.#timer === undefined) this.#arm(this.#lingerMs);
  }

  /** Ends `member`'s linger (its peer closed); a member not in this list is ignored. */
  delete(member: Lingering): void {
    const slot = member.lingerSlot;
    const members = this.#members;
    // Another list's slot, or none: this list does not hold the member there.
    if (slot < 0 || slot >= members.length || members[slot] !== member) return;
    members[slot] = undefined;
    member.lingerSlot = -1;
    // Gaps at either end are given back at once: the ring then only grows with the members lingering at
    // the same time, not with every member that came and went behind a long-lingering one.
    const mask = members.length - 1;
    while (this.#used > 0 && members[this.#start] === undefined) {
      this.#start = (this.#start + 1) & mask;
      this.#used--;
    }
    while (this.#used > 0 && members[(this.#start + this.#used - 1) & mask] === undefined) {
      this.#used--;
    }
  }

  /** The ring is full: moves the members, in order, to the front of a ring with room for as many again. */
  #makeRoom(): void {
    const members = this.#members;
    const deadlines = this.#deadlines;
    let live = 0;
    for (const member of members) if (member !== undefined) live++;
    const size = live * 2 > members.length ? members.length * 2 : members.length;
    const moved: (Lingering | undefined)[] = new Array(size).fill(undefined);
    const movedDeadlines = new Float64Array(size);
    const mask = members.length - 1;
    let next = 0;
    for (let i = 0; i < this.#used; i++) {
      const slot = (this.#start + i) & mask;
      const member = members[slot];
      if (member === undefined) continue;
      moved[next] = member;
      movedDeadlines[next] = deadlines[slot];
      member.lingerSlot = next++;
    }
    this.#members = moved;
    this.#deadlines = movedDeadlines;
    this.#start = 0;
    this.#used = next;
  }

  #arm(delayMs: number): void {
    this.#timer = setTimeout(this.#sweep, delayMs);
    this.#unref(this.#timer);
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    const now = Date.now();
    // Read afresh on each turn: `lingerExpired` may add (even grow the ring) and delete.
    while (this.#used > 0) {
      const slot = this.#start;
      const member = this.#members[slot]!;
      const until = this.#deadlines[slot];
      if (until > now) {
        // A member added by `lingerExpired` may have armed the timer already.
        if (this.#timer === undefined) this.#arm(until - now);
        return;
      }
      this.delete(member);
      member.lingerExpired();
    }
  };
}

/**
 * {@linkcode LingerList}s by duration, for a wait whose length each server sets (the write stall after
 * `end()`, the handler's `writeStallMs`): one list per duration keeps each list's members in
 * deadline order. A process usually runs one server, so one list.
 */
export class LingerLists {
  readonly #lists = new Map<number, LingerList>();
  readonly #unref: (timer: unknown) => void;

  /** @param unref As for {@linkcode LingerList}. */
  constructor(unref: (timer: unknown) => void = unrefOwn) {
    this.#unref = unref;
  }

  /** Starts, or starts over, `member`'s wait of `waitMs`. */
  add(member: Lingering, waitMs: number): void {
    let list = this.#lists.get(waitMs);
    if (list === undefined) this.#lists.set(waitMs, list = new LingerList(waitMs, this.#unref));
    list.add(member);
  }

  /** Ends `member`'s wait of `waitMs`; a member not waiting is ignored. */
  delete(member: Lingering, waitMs: number): void {
    this.#lists.get(waitMs)?.delete(member);
  }
}

function unrefOwn(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
