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
  /** When its linger ends, in `Date.now()` milliseconds; owned by the list. */
  lingerUntil: number;
  /** Its neighbours in the list; owned by the list (`null` at the ends, and when not lingering). */
  lingerPrev: Lingering | null;
  lingerNext: Lingering | null;
  /** The linger is over and the peer has not closed: close at once. */
  lingerExpired(): void;
}

/**
 * Transports lingering after their FIN, in the order they started: a list threaded through them, so adding
 * and removing allocate nothing. Every member waits the same time, so that order is also the order of their
 * deadlines and only the oldest needs a timer.
 */
export class LingerList {
  #oldest: Lingering | null = null;
  #newest: Lingering | null = null;
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
    this.delete(member);
    member.lingerUntil = Date.now() + this.#lingerMs;
    const newest = this.#newest;
    member.lingerPrev = newest;
    if (newest === null) this.#oldest = member;
    else newest.lingerNext = member;
    this.#newest = member;
    if (this.#timer === undefined) this.#arm(this.#lingerMs);
  }

  /** Ends `member`'s linger (its peer closed); a member not in the list is ignored. */
  delete(member: Lingering): void {
    const { lingerPrev: prev, lingerNext: next } = member;
    if (prev === null && this.#oldest !== member) return;
    if (prev === null) this.#oldest = next;
    else prev.lingerNext = next;
    if (next === null) this.#newest = prev;
    else next.lingerPrev = prev;
    member.lingerPrev = null;
    member.lingerNext = null;
  }

  #arm(delayMs: number): void {
    this.#timer = setTimeout(this.#sweep, delayMs);
    this.#unref(this.#timer);
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    const now = Date.now();
    for (let member = this.#oldest; member !== null; member = this.#oldest) {
      if (member.lingerUntil > now) {
        this.#arm(member.lingerUntil - now);
        return;
      }
      this.delete(member);
      member.lingerExpired();
    }
  };
}

function unrefOwn(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
