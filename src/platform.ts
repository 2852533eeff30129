/**
 * What the core needs from the runtime besides sockets. Each adapter supplies one {@linkcode Platform}, so
 * `src/` stays free of `Deno`, `Bun`, `process` and `node:*`.
 *
 * @module
 */

/** Facts about a file, as the static file server needs them. */
export interface FileInfo {
  /** `true` for a regular file. */
  readonly isFile: boolean;
  /** `true` for a directory. */
  readonly isDirectory: boolean;
  /** Size in bytes. */
  readonly size: number;
  /** Last modification time, `null` when the file system does not record it. */
  readonly mtime: Date | null;
}

/** The file system operations used by the public folder and `HttpResponse.sendFile`. */
export interface FileSystem {
  /** Facts about `path` after following symbolic links; `null` when it does not exist. */
  stat(path: string): Promise<FileInfo | null>;
  /** The canonical absolute path of `path` with every symbolic link resolved; `null` when missing. */
  realPath(path: string): Promise<string | null>;
  /**
   * Streams bytes `start` (inclusive) to `end` (exclusive) of the file at `path` in chunks, reading from disk as
   * the stream is pulled, so a large file never sits in memory.
   */
  readRange(path: string, start: number, end: number): ReadableStream<Uint8Array>;
}

/** Runtime services, supplied by an adapter. */
export interface Platform {
  /** The runtime's name, for diagnostics. */
  readonly name: "deno" | "bun" | "node" | "streams";
  /** File access; absent where the runtime gives none (then static files and `sendFile` are unavailable). */
  readonly fs?: FileSystem;
  /** The user's home folder, for a leading `~` in `publicFolder`; `undefined` when unknown. */
  homeDir(): string | undefined;
  /**
   * Synchronous SHA-1 of bytes, base64-encoded; it must not keep `data`, which the caller reuses. Optional:
   * where absent the core falls back to the asynchronous `crypto.subtle.digest`.
   */
  sha1Base64?(data: Uint8Array): string;
  /** Lets the process exit while `timer` (from `setInterval`) is pending; absent where timers have `unref()`. */
  unrefTimer?(timer: unknown): void;
  /**
   * Calls `listener` on SIGINT and SIGTERM until the returned function is called. Absent where the runtime
   * has no signals.
   */
  onShutdownSignal?(listener: () => void): () => void;
}
