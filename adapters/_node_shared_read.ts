/**
 * Reads every accepted plain-TCP socket of the process into one shared buffer, as `net.Socket`'s `onread`
 * option does for sockets an app constructs itself.
 *
 * Why: by default Node allocates a fresh 64 KiB buffer for every read. On hosts where page faults are dear
 * (virtual machines) that costs more than everything Wharf does with the bytes: on 2026-12-02's VM, reading
 * 2 GiB over loopback took 2.6 s of CPU through `data` events and 0.4 s through `onread` (an ad-hoc script:
 * one process, a server writing 1 MiB buffers, a client reading either way), and the 1 MiB echo
 * (`bench/ws.ts node --scenarios=large`, one build run with this switched off and on) went from 398 to
 * 1055 MB/s.
 *
 * How: Node offers `onread` only to the `net.Socket` constructor, and a server constructs its sockets
 * itself. The constructor's `onread` stores the buffer and the callback in two fields keyed by module-private
 * symbols (`kBuffer`, `kBufferCb`, read by Node's `onStreamRead` on every read) and hands the buffer to the
 * handle (`useUserBuffer`). This module does the same on a socket just accepted, before its first read,
 * finding the symbols by their descriptions. Where Node's internals do not look like that (another Node
 * version, or another runtime's `node:net`), nothing is changed and the socket keeps its `data` events.
 *
 * @module
 */

import type * as net from "node:net";

/**
 * Bytes per read. A 1 MiB message arrives in four reads instead of sixteen; the buffer is one per process,
 * and its pages are only touched as far as reads fill them.
 */
const SHARED_READ_BYTES = 256 * 1024;

/** Called with the bytes of one read, `buffer[0, length)`, valid only during the call. */
export type SharedReadCallback = (this: net.Socket, length: number, buffer: Uint8Array) => void;

/** The internals `onread` uses, as found on the first socket; `null` when they are not there. */
interface OnreadFields {
  readonly buffer: symbol;
  readonly callback: symbol;
}

type Internals = net.Socket & {
  _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null;
  [key: symbol]: unknown;
};

let fields: OnreadFields | null | undefined;
let sharedBuffer: Uint8Array | null = null;

function findFields(socket: Internals): OnreadFields | null {
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  for (const key of Object.getOwnPropertySymbols(socket)) {
    if (key.description === "kBuffer") buffer = key;
    else if (key.description === "kBufferCb") callback = key;
  }
  // The constructor sets both to null when no onread was given: anything else is not the shape we know.
  if (buffer === undefined || callback === undefined) return null;
  if (socket[buffer] !== null || socket[callback] !== null) return null;
  return { buffer, callback };
}

/**
 * Makes `socket` (accepted, not yet read from) deliver its reads to `onRead` from the shared buffer instead
 * of `data` events. `pause()`, `resume()`, `end` and `close` behave as before.
 *
 * @returns `false`, changing nothing, when this Node does not offer the internals; the caller then listens
 * for `data`.
 */
export function readIntoSharedBuffer(socket: net.Socket, onRead: SharedReadCallback): boolean {
  const internals = socket as Internals;
  const handle = internals._handle;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== "function") {
    return false;
  }
  if (fields === undefined) fields = findFields(internals);
  if (fields === null) return false;
  const buffer = sharedBuffer ??= new Uint8Array(SHARED_READ_BYTES);
  internals[fields.buffer] = buffer;
  internals[fields.callback] = onRead;
  handle.useUserBuffer(buffer);
  return true;
}

/**
 * Whether `buffer` backs the shared read buffer. A view of it handed to `write` must be copied first: the
 * next read into the buffer, on any socket, may come before the write completes.
 */
export function isSharedReadBuffer(buffer: ArrayBufferLike): boolean {
  return sharedBuffer !== null && buffer === sharedBuffer.buffer;
}
