/**
 * Small pieces the HTTP and Websocket suites share: promises resolved by hand, a hand-moved clock, request
 * text, a path-echoing handler, and pattern bytes.
 *
 * @module
 */

import { HttpResponse, type RequestHandler } from "../../mod.ts";

/** A whole second, so the server's one-second timer buckets line up with the steps of a test. */
export const CLOCK_START = 1_700_000_000_000;

/** A promise and the function that resolves it. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => resolve = done);
  return { promise, resolve };
}

/** A fake clock the tests move by hand, starting at {@linkcode CLOCK_START}. */
export function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let now = CLOCK_START;
  return { now: () => now, advance: (ms) => now += ms };
}

/** The text of a GET request for `path`, with `extra` header lines (each ending in CRLF). */
export function get(path: string, extra = "", version = "HTTP/1.1"): string {
  return `GET ${path} ${version}\r\nHost: test\r\n${extra}\r\n`;
}

/** Answers with the request path as the body. */
export const echoPath: RequestHandler = (request) => {
  const response = HttpResponse.create(request);
  response.writeBody(request.path);
  response.destroy();
};

/** Pattern bytes that a misplaced or dropped chunk would not reproduce. */
export function pattern(length: number, seed = 7): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * seed + (i >>> 8)) & 0xff;
  return bytes;
}
