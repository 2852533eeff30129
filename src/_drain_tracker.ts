/**
 * The backpressure bookkeeping every queueing transport shares: bytes accepted but not yet written, and when
 * {@linkcode TransportHandler.onDrain} is due (see {@linkcode Transport.watchDrain} for the second case).
 *
 * @module
 */

/** Unsent bytes above which `write` returns `false`: Node's default socket high-water mark. */
export const HIGH_WATER_BYTES = 64 * 1024;

/** Counts a transport's unsent bytes and decides when its handler is owed a drain. */
export class DrainTracker {
  /** Bytes accepted by `write` and not yet written. */
  bufferedAmount = 0;
  #needDrain = false;
  #watching = false;

  /**
   * Counts `n` more bytes queued.
   *
   * @returns `false` when the total is above {@linkcode HIGH_WATER_BYTES}: a drain is then owed.
   */
  queued(n: number): boolean {
    this.bufferedAmount += n;
    if (this.bufferedAmount <= HIGH_WATER_BYTES) return true;
    this.#needDrain = true;
    return false;
  }

  /** Counts `n` bytes written. */
  written(n: number): void {
    this.bufferedAmount -= n;
  }

  /** The handler asked to hear when the buffer empties. */
  watch(): void {
    if (this.bufferedAmount > 0) this.#watching = true;
  }

  /** After progress: `true` (once) when a drain is owed now. */
  drainDue(): boolean {
    const buffered = this.bufferedAmount;
    if ((this.#needDrain && buffered <= HIGH_WATER_BYTES) || (this.#watching && buffered === 0)) {
      this.#needDrain = false;
      this.#watching = false;
      return true;
    }
    return false;
  }

  /** Forgets everything queued (the transport closed). */
  clear(): void {
    this.bufferedAmount = 0;
    this.#needDrain = false;
    this.#watching = false;
  }
}
