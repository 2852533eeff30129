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
}

/**
 * Transports lingering after their FIN, in the order they started. Every member waits the same time, so that
 * order is also the order of their deadlines and only the oldest needs a timer.
 *
 * The members and their deadlines live in a `Map` (which keeps insertion order) rather than in fields of the
 * transports: fields would be paid by every connection for its whole life, idle Websockets included, to serve
 * the few seconds of its close; a `Map` costs a hash lookup when a connection starts or ends its linger.
 */
export class LingerList {
  /** Each lingering member with the `Date.now()` at which its linger ends, oldest first. */
  readonly #deadlines = new Map<Lingering, number>();
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
   * member already lingering starts over.
   */
  add(member: Lingering): void {
    const deadlines = this.#deadlines;
    // Deleted first so that a restarted member moves to the end of the order.
    deadlines.delete(member);
    deadlines.set(member, Date.now() + this.#lingerMs);
    if (this.#timer === undefined) this.#arm(this.#lingerMs);
  }

  /** Ends `member`'s linger (its peer closed); a member not in the list is ignored. */
  delete(member: Lingering): void {
    this.#deadlines.delete(member);
  }

  #arm(delayMs: number): void {
    this.#timer = setTimeout(this.#sweep, delayMs);
    this.#unref(this.#timer);
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    const now = Date.now();
    const deadlines = this.#deadlines;
    // A `Map` iterator also visits members added meanwhile (from `lingerExpired`), and tolerates deletions.
    for (const [member, until] of deadlines) {
      if (until > now) {
        // A member added by `lingerExpired` may have armed the timer already.
        if (this.#timer === undefined) this.#arm(until - now);
        return;
      }
      deadlines.delete(member);
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
