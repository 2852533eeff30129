/**
 * The {@linkcode FileSystem} of the Node and Bun adapters, over `node:fs/promises`.
 *
 * @module
 */

import { open, realpath, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import type { FileInfo, FileSystem } from "../src/platform.ts";

/** 64 KiB per read: large enough to amortise the system call, small enough to keep memory flat. */
const CHUNK_BYTES = 64 * 1024;

// "Nothing there" for a path a client may have chosen: missing, a file used as a directory, a symbolic link
// loop, or a name too long to exist. Other errors (permissions, I/O) are real failures and propagate.
const ABSENT = new Set(["ENOENT", "ENOTDIR", "ELOOP", "ENAMETOOLONG"]);

function isAbsent(error: unknown): boolean {
  return ABSENT.has((error as { code?: unknown } | null)?.code as string);
}

/**
 * A stream of bytes `start` to `end` (exclusive) of `path`, one read of up to 64 KiB per pull. The file is
 * opened on the first pull and closed on the end, on cancel and on error; a fresh buffer per chunk because
 * the consumer may keep chunks.
 */
function readRange(path: string, start: number, end: number): ReadableStream<Uint8Array> {
  let handle: FileHandle | null = null;
  let position = start;
  let done = false;
  const finish = async (): Promise<void> => {
    done = true;
    const h = handle;
    handle = null;
    if (h !== null) await h.close();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (position >= end) {
          await finish();
          controller.close();
          return;
        }
        if (handle === null) {
          const opened = await open(path, "r");
          if (done) { // cancelled while opening
            await opened.close();
            return;
          }
          handle = opened;
        }
        const length = Math.min(CHUNK_BYTES, end - position);
        const buffer = new Uint8Array(length);
        const { bytesRead } = await handle.read(buffer, 0, length, position);
        if (done) return; // cancelled during the read
        if (bytesRead === 0) {
          throw new Error(
            `File ${JSON.stringify(path)} ended before byte ${end}: it shrank while read`,
          );
        }
        position += bytesRead;
        controller.enqueue(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
        if (position >= end) {
          await finish();
          controller.close();
        }
      } catch (error) {
        if (done) return;
        await finish().catch(() => {});
        controller.error(error);
      }
    },
    async cancel() {
      await finish();
    },
  });
}

/**
 * File access for the public folder and `sendFile` on Node and Bun. `stat` and `realPath` answer `null`
 * for a missing path, a non-directory used as a directory (ENOTDIR), a symbolic link loop (ELOOP) and an
 * over-long name (ENAMETOOLONG); other errors reject. `readRange` streams 64 KiB chunks.
 */
export const nodeFileSystem: FileSystem = {
  async stat(path: string): Promise<FileInfo | null> {
    try {
      const info = await stat(path);
      return {
        isFile: info.isFile(),
        isDirectory: info.isDirectory(),
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
      return await realpath(path);
    } catch (error) {
      if (isAbsent(error)) return null;
      throw error;
    }
  },
  readRange,
};
