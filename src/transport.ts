/**
 * The seam between the runtime-agnostic core and a byte transport (a TCP or TLS socket, or an in-memory
 * stream pair). Adapters implement {@linkcode Transport}; the core implements {@linkcode TransportHandler}.
 *
 * @module
 */

/** A byte transport as the core sees it. Implemented by each adapter and by the stream-pair driver. */
export interface Transport {
  /**
   * Hands `chunk` to the transport. The core never mutates `chunk` afterwards, so the transport may keep it
   * by reference until written.
   *
   * @returns `false` when the transport's own buffer is above its high-water mark: the core then waits for
   * {@linkcode TransportHandler.onDrain} before writing more of a large body.
   */
  write(chunk: Uint8Array): boolean;
  /** Bytes accepted by {@linkcode Transport.write} that the operating system has not taken yet. */
  readonly bufferedAmount: number;
  /**
   * `true` when, while {@linkcode Transport.bufferedAmount} is 0, the transport references no chunk it was
   * given (their bytes went to the operating system), so the core may rewrite that memory. Absent or `false`
   * (a stream that passes chunks on by reference), the core never rewrites a chunk it wrote.
   */
  readonly releasesWrittenChunks?: boolean;
  /**
   * Sends what is buffered, then closes. {@linkcode TransportHandler.onClose} follows. By default the
   * transport half-closes and keeps reading (and dropping) until the peer closes too or a linger time
   * passes: bytes the peer has already sent would otherwise meet a closed socket, whose reset can destroy
   * what the peer has not read yet. `peerFinished` says the peer has declared that it sends nothing more
   * (a completed Websocket close handshake, RFC 6455 §5.5.1, which then requires closing the connection):
   * the transport closes both directions once its bytes are written, without a half-close or a linger.
   * While bytes are still queued, a peer that takes none of them for the handler's
   * {@linkcode TransportHandler.writeStallMs} is cut. (The stream pair of `serveStreams` has no view of its
   * peer's reading: it cuts a linger's time after `end()`, written or not.)
   */
  end(peerFinished?: boolean): void;
  /** Closes at once, dropping unsent bytes. {@linkcode TransportHandler.onClose} follows. */
  destroy(): void;
  /** Stops delivering {@linkcode TransportHandler.onData} until {@linkcode Transport.resume}. */
  pause(): void;
  /** Resumes delivering data after {@linkcode Transport.pause}. */
  resume(): void;
  /**
   * Asks for one {@linkcode TransportHandler.onDrain} once everything written so far has left the transport's
   * buffer, even if no `write` returned `false` (the app's limit may be below the transport's). Nothing is
   * called when the buffer is already empty: the caller checks {@linkcode Transport.bufferedAmount} first.
   */
  watchDrain(): void;
  /** The peer's address, `""` when the transport has none (an in-memory pair). */
  readonly remoteAddress: string;
  /** The peer's port, `0` when the transport has none. */
  readonly remotePort: number;
}

/** What a transport calls on the core. Every call is synchronous; the core never throws from them. */
export interface TransportHandler {
  /**
   * Bytes read from the peer, in order. `chunk` is only valid during the call (Bun reuses its read buffer):
   * the core copies what it keeps, and may modify `chunk` in place (unmasking) while it runs.
   */
  onData(chunk: Uint8Array): void;
  /**
   * The transport's buffer fell below its high-water mark after a `write` returned `false`, or emptied after
   * {@linkcode Transport.watchDrain}.
   */
  onDrain(): void;
  /** The peer ended the stream (EOF). The transport still accepts writes until it closes. */
  onEnd(): void;
  /** The transport is closed, for any reason. Called exactly once; nothing is called after it. */
  onClose(error?: unknown): void;
  /**
   * After {@linkcode Transport.end}, how long in milliseconds a socket transport waits for the peer to take
   * any of the bytes it still holds, before it closes and drops them: a peer that stops reading must not
   * hold the connection and its queue forever. Every byte the peer takes starts the wait again, so a slow
   * reader gets the whole response.
   */
  readonly writeStallMs: number;
}
