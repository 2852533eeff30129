/**
 * The {@linkcode FileSystem} of the Deno adapter, over the `Deno` namespace. `Deno` is only touched when a
 * method is called, so importing this module elsewhere is harmless.
 *
 * @module
 */

import type { FileInfo, FileSystem } from "../src/platform.ts";

/** 64 KiB per read: large enough to amortise the system call, small enough to keep memory flat. */
const CHUNK_BYTES = 64 * 1024;

// "Nothing there" for a path a client may have chosen: missing, a file used as a directory, a symbolic link
// loop, or a name too long to exist. Other errors (permissions, I/O) are real failures and propagate.
const ABSENT = new Set(["ENOENT", "ENOTDIR", "ELOOP", "ENAMETOOLONG"]);

function isAbsent(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory ||
    ABSENT.has((error as { code?: unknown } | null)?.code as string);
}

/**
 * A stream of bytes `start` to `end` (exclusive) of `path`, one read of up to 64 KiB per pull. The file is
 * opened and positioned on the first pull and closed on the end, on cancel and on error; a fresh buffer per
 * chunk because the consumer may keep chunks.
 */
function readRange(path: string, start: number, end: number): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | null = null;
  let position = start;
  let done = false;
  const finish = (): void => {
    done = true;
    const f = file;
    file = null;
    // Closing while a read is pending makes that read reject; the pull below then sees `done`.
    if (f !== null) f.close();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (position >= end) {
          finish();
          controller.close();
          return;
        }
        if (file === null) {
          const opened = await Deno.open(path, { read: true });
          if (done) { // cancelled while opening
            opened.close();
            return;
          }
          file = opened;
          if (start > 0) await file.seek(start, Deno.SeekMode.Start);
        }
        const length = Math.min(CHUNK_BYTES, end - position);
        const buffer = new Uint8Array(length);
        const bytesRead = await file.read(buffer);
        if (done) return; // cancelled during the read
        if (bytesRead === null || bytesRead === 0) {
          throw new Error(
            `File ${JSON.stringify(path)} ended before byte ${end}: it shrank while read`,
          );
        }
        position += bytesRead;
        controller.enqueue(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
        if (position >= end) {
          finish();
          controller.close();
        }
      } catch (error) {
        if (done) return;
        try {
          finish();
        } catch {
          // The original error is the one worth reporting.
        }
        controller.error(error);
      }
    },
    cancel() {
      if (!done) finish();
    },
  });
}

/**
 * File access for the public folder and `sendFile` on Deno. `stat` and `realPath` answer `null` for a
 * missing path, a non-directory used as a directory (ENOTDIR), a symbolic link loop (ELOOP) and an
 * over-long name (ENAMETOOLONG); other errors reject. `readRange` streams 64 KiB chunks.
 */
export const denoFileSystem: FileSystem = {
  async stat(path: string): Promise<FileInfo | null> {
    try {
      const info = await Deno.stat(path);
      return {
        isFile: info.isFile,
        isDirectory: info.isDirectory,
        size: info.size,
        mtime: info.mtime,
      };
    } catch (error) {
      if (isAbsent(error)) return null;
      throw error;
    }
  },
  async realPath(path: string): Promise<string | null> {
    try {
      return await Deno.realPath(path);
    } catch (error) {
      if (isAbsent(error)) return null;
      throw error;
    }
  },
  readRange,
};
