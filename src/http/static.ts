/**
 * Static files: the public folder served before the app's handler, and the response logic for one file that
 * `HttpResponse.sendFile` shares. Validators (`Last-Modified`, `ETag`), conditional requests (RFC 9110 §13)
 * and single byte ranges (RFC 9110 §14) are supported; bodies are streamed from disk.
 *
 * Runtime-agnostic: all file access goes through the {@linkcode FileSystem} of the platform.
 *
 * @module
 */

import type { FileInfo, FileSystem } from "../platform.ts";
import { formatHttpDate, parseHttpDate } from "./date.ts";
import { contentTypeFor } from "./mime.ts";

/** Read access to request headers. `get` is called with lower-case names and must match any case. */
export interface RequestHeaders {
  /** The field value, with repeated fields joined by `", "`; `undefined` when absent. */
  get(name: string): string | undefined;
}

/** A response for a static file, to be written by the server. */
export interface StaticResponse {
  /**
   * 200 (the file), 206 (a byte range), 304 (not modified), 412 (an `If-Match` or `If-Unmodified-Since`
   * precondition failed) or 416 (range not satisfiable). Never 400, 403 or 404: the public folder answers
   * `null` instead and leaves those to the app.
   */
  status: number;
  /**
   * In this order where they apply: `Content-Type`, `Content-Length`, `Last-Modified`, `ETag`,
   * `Accept-Ranges`, `Content-Range`. No `Cache-Control`: that is the app's policy. A 304 carries only `ETag`
   * (RFC 9110 §15.4.5) and no `Content-Length`; 412 and 416 carry `Content-Length: 0`. A response to HEAD
   * carries the `Content-Length` a GET would get.
   */
  headers: [string, string][];
  /**
   * The bytes to send, read from disk as the stream is pulled; `null` for HEAD, 304, 412 and 416. If the
   * file shrinks while it is read the stream errors (the promised `Content-Length` cannot be met, so the
   * connection must be closed); growth after the `stat` is not sent.
   */
  body: ReadableStream<Uint8Array> | null;
}

/** The opaque-tag of a validator: size and mtime in hex, cheap and good enough for a weak ETag. */
function opaqueTag(info: FileInfo): string {
  const size = info.size.toString(16);
  return info.mtime === null
    ? `"${size}"`
    : `"${size}-${Math.floor(info.mtime.getTime()).toString(16)}"`;
}

function isOws(code: number): boolean {
  return code === 32 || code === 9;
}

function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.substring(start, end);
}

/**
 * Whether an `If-None-Match` list names `opaque` under the weak comparison of RFC 9110 §8.8.3.2 (`W/` is
 * ignored). A malformed element ends the scan: what came before it still counts.
 */
function noneMatchListHas(field: string, opaque: string): boolean {
  const length = field.length;
  let i = 0;
  while (i < length) {
    const c = field.charCodeAt(i);
    if (isOws(c) || c === 44) { // ','
      i++;
      continue;
    }
    if (c === 87 && field.charCodeAt(i + 1) === 47) i += 2; // "W/"
    if (field.charCodeAt(i) !== 34) return false; // '"'
    const close = field.indexOf('"', i + 1);
    if (close === -1) return false;
    if (close + 1 - i === opaque.length && field.startsWith(opaque, i)) return true;
    i = close + 1;
  }
  return false;
}

/** Seconds precision, as HTTP dates carry: the instant a `Last-Modified` of `mtime` stands for. */
function secondsOf(mtime: Date): number {
  return Math.floor(mtime.getTime() / 1000) * 1000;
}

/** Parses an unsigned decimal; -1 when empty or not all digits. Huge values lose precision, not order. */
function decimal(text: string, start: number, end: number): number {
  if (start >= end) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    value = value * 10 + d;
  }
  return value;
}

type RangeResult = { start: number; end: number } | "ignore" | "unsatisfiable";

/**
 * A `Range` field (RFC 9110 §14.1.1) against a file of `size` bytes: one range as `start` (inclusive) to
 * `end` (exclusive), `"unsatisfiable"`, or `"ignore"` for anything else, answered with the whole file (a
 * server MAY ignore Range, §14.2): an unknown unit, invalid syntax, and several ranges. Several ranges would
 * need a multipart/byteranges body; clients that ask for them accept the full file, and refusing them also
 * avoids the overlapping-range amplification §14.2 warns about.
 */
function parseRange(field: string, size: number): RangeResult {
  const eq = field.indexOf("=");
  if (eq === -1 || trimOws(field.substring(0, eq)).toLowerCase() !== "bytes") return "ignore";
  let spec = "";
  let count = 0;
  for (const element of field.substring(eq + 1).split(",")) {
    const trimmed = trimOws(element);
    // RFC 9110 §5.6.1: recipients accept and ignore empty list elements.
    if (trimmed.length === 0) continue;
    spec = trimmed;
    if (++count > 1) return "ignore";
  }
  if (count === 0) return "ignore";
  const dash = spec.indexOf("-");
  if (dash === -1) return "ignore";
  if (dash === 0) {
    // suffix-range: the last n bytes; n = 0 or an empty file cannot be satisfied (§14.1.1).
    const n = decimal(spec, 1, spec.length);
    if (n < 0) return "ignore";
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: n >= size ? 0 : size - n, end: size };
  }
  const first = decimal(spec, 0, dash);
  if (first < 0) return "ignore";
  let end = size;
  if (dash + 1 < spec.length) {
    const last = decimal(spec, dash + 1, spec.length);
    // §14.1.1: a last-pos below first-pos makes the range-spec invalid, not unsatisfiable.
    if (last < 0 || last < first) return "ignore";
    if (last + 1 < size) end = last + 1;
  }
  if (first >= size) return "unsatisfiable";
  return { start: first, end };
}

/**
 * Whether `If-Range` lets the range apply (RFC 9110 §13.1.5). An entity-tag needs the strong comparison,
 * which our weak ETags never pass, so only the date form can succeed: it must equal `Last-Modified`, and
 * that date counts as strong (§8.8.2.2) only once its second is over, because two changes within one second
 * would share it.
 */
function ifRangeHolds(field: string, info: FileInfo, now: number): boolean {
  const value = trimOws(field);
  if (value.charCodeAt(0) === 34 || value.startsWith("W/")) return false;
  if (info.mtime === null) return false;
  const date = parseHttpDate(value);
  const modified = secondsOf(info.mtime);
  return date !== null && date === modified && modified + 1000 <= now;
}

/**
 * The response for the file `path` whose facts are `info` (a regular file).
 *
 * @param fs Where to read the body from.
 * @param name The name the client asked for, for the content type: a symbolic link's own extension wins.
 * @param method The request method. GET and HEAD evaluate preconditions and GET also `Range`; any other
 * method gets the whole file (RFC 9110 §13.2.1 and §14.2 define them for GET/HEAD only here).
 */
function respond(
  fs: FileSystem,
  path: string,
  name: string,
  info: FileInfo,
  method: string,
  headers: RequestHeaders,
): StaticResponse {
  const size = info.size;
  const opaque = opaqueTag(info);
  const etag = "W/" + opaque;
  const lastModified = info.mtime === null ? null : formatHttpDate(info.mtime.getTime());
  const head = method === "HEAD";
  let range: RangeResult = "ignore";

  if (method === "GET" || head) {
    // RFC 9110 §13.2.2 gives the order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since,
    // If-Range.
    const ifMatch = headers.get("if-match");
    if (ifMatch !== undefined) {
      // Strong comparison (§13.1.1) never matches a weak ETag, so only "*" (the file exists) passes.
      if (trimOws(ifMatch) !== "*") {
        return { status: 412, headers: [["Content-Length", "0"]], body: null };
      }
    } else if (info.mtime !== null) {
      const ifUnmodifiedSince = headers.get("if-unmodified-since");
      const date = ifUnmodifiedSince === undefined ? null : parseHttpDate(ifUnmodifiedSince);
      if (date !== null && secondsOf(info.mtime) > date) {
        return { status: 412, headers: [["Content-Length", "0"]], body: null };
      }
    }
    const ifNoneMatch = headers.get("if-none-match");
    if (ifNoneMatch !== undefined) {
      // §13.1.2: "*" matches any current representation; otherwise the weak comparison.
      if (trimOws(ifNoneMatch) === "*" || noneMatchListHas(ifNoneMatch, opaque)) {
        return { status: 304, headers: [["ETag", etag]], body: null };
      }
    } else if (info.mtime !== null) {
      // §13.1.3: only without If-None-Match; an invalid date is ignored.
      const ifModifiedSince = headers.get("if-modified-since");
      const date = ifModifiedSince === undefined ? null : parseHttpDate(ifModifiedSince);
      if (date !== null && secondsOf(info.mtime) <= date) {
        return { status: 304, headers: [["ETag", etag]], body: null };
      }
    }
    // §14.2: GET is the only method with range handling; HEAD answers as the full GET would.
    const rangeField = method === "GET" ? headers.get("range") : undefined;
    if (rangeField !== undefined) {
      const ifRange = headers.get("if-range");
      if (ifRange === undefined || ifRangeHolds(ifRange, info, Date.now())) {
        range = parseRange(rangeField, size);
      }
    }
  }

  if (range === "unsatisfiable") {
    return {
      status: 416,
      headers: [["Content-Length", "0"], ["Content-Range", `bytes */${size}`]],
      body: null,
    };
  }
  const start = range === "ignore" ? 0 : range.start;
  const end = range === "ignore" ? size : range.end;
  const out: [string, string][] = [
    ["Content-Type", contentTypeFor(name)],
    ["Content-Length", String(end - start)],
  ];
  if (lastModified !== null) out.push(["Last-Modified", lastModified]);
  out.push(["ETag", etag], ["Accept-Ranges", "bytes"]);
  if (range !== "ignore") out.push(["Content-Range", `bytes ${start}-${end - 1}/${size}`]);
  return {
    status: range === "ignore" ? 200 : 206,
    headers: out,
    body: head ? null : fs.readRange(path, start, end),
  };
}

/**
 * The response for one known file, with the same validators, preconditions and ranges as the public folder.
 * `path` is trusted (the app chose it): no containment or dotfile checks are made.
 *
 * @param fs The platform's file system.
 * @param path The file, as `fs` understands it.
 * @param method The request method; methods other than GET and HEAD get the whole file with a body.
 * @param headers The request headers (for preconditions and `Range`).
 * @returns The response, or `null` when `path` does not exist or is not a regular file.
 * @throws Rejects with the file system's error for failures other than "not found" (e.g. permission denied).
 */
export async function fileResponse(
  fs: FileSystem,
  path: string,
  method: string,
  headers: RequestHeaders,
): Promise<StaticResponse | null> {
  const info = await fs.stat(path);
  if (info === null || !info.isFile) return null;
  return respond(fs, path, path, info, method, headers);
}

/** Whether `text` has `%2f` or `%5c` (an encoded `/` or `\`), in any case. */
function hasEncodedSeparator(text: string): boolean {
  for (let i = text.indexOf("%"); i !== -1; i = text.indexOf("%", i + 1)) {
    const hi = text.charCodeAt(i + 1);
    const lo = text.charCodeAt(i + 2) | 0x20;
    if ((hi === 50 && lo === 102) || (hi === 53 && lo === 99)) return true; // "2f", "5c"
  }
  return false;
}

/**
 * The request path as segments relative to the public folder, or `null` when it must not be looked up:
 * not origin-form, invalid percent-encoding or UTF-8, NUL, `\`, an encoded `/` or `\` (before or after
 * decoding, so double encoding cannot smuggle one), or a segment starting with `.` (which covers `.` and
 * `..` as well as dotfiles such as `.env` and `.git/`).
 */
function safeSegments(rawPath: string): string[] | null {
  let end = rawPath.length;
  const query = rawPath.indexOf("?");
  if (query !== -1) end = query;
  const fragment = rawPath.indexOf("#");
  if (fragment !== -1 && fragment < end) end = fragment;
  const raw = end === rawPath.length ? rawPath : rawPath.substring(0, end);
  if (raw.charCodeAt(0) !== 47) return null; // origin-form starts with '/'
  if (raw.includes("\\") || raw.includes("\0") || hasEncodedSeparator(raw)) return null;
  let path = raw;
  if (raw.includes("%")) {
    try {
      path = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (path.includes("\\") || path.includes("\0") || hasEncodedSeparator(path)) return null;
  }
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment.length === 0) continue;
    if (segment.charCodeAt(0) === 46) return null; // '.'
    segments.push(segment);
  }
  return segments;
}

function endsWithSeparator(path: string): boolean {
  const c = path.charCodeAt(path.length - 1);
  return c === 47 || c === 92;
}

/**
 * A folder whose files are served for GET and HEAD before the app's handler runs.
 *
 * What is served: regular files whose real path (symbolic links resolved) lies inside the real folder. A
 * directory serves its `index.html`, with or without a trailing slash. Anything else is "not here" and
 * {@linkcode PublicFolder.serve} answers `null` so the app decides, rather than a 403/404 that would end the
 * request: other methods, missing files, paths that would escape the folder (`..`, encoded separators, a
 * symbolic link pointing outside), and path segments starting with `.` (dotfiles such as `.env` or `.git`
 * are usually not meant to be public; serve `.well-known` from the app).
 *
 * @example
 * ```ts
 * const folder = new PublicFolder("/srv/www", platform.fs);
 * await folder.open();
 * const response = await folder.serve(request.method, request.target, request.headers);
 * ```
 */
export class PublicFolder {
  /** The folder as given. */
  readonly root: string;
  #fs: FileSystem;
  #realRoot: string | null = null;

  /**
   * @param root The folder, already `~`-expanded by the caller.
   * @param fs The platform's file system.
   */
  constructor(root: string, fs: FileSystem) {
    if (typeof root !== "string" || root.length === 0) {
      throw new TypeError("Public folder path must be a non-empty string");
    }
    this.root = root;
    this.#fs = fs;
  }

  /**
   * Resolves the real path of the folder once; call it before {@linkcode PublicFolder.serve}.
   *
   * @throws {Error} When the folder does not exist or is not a directory (or the file system's error, e.g.
   * permission denied).
   */
  async open(): Promise<void> {
    const real = await this.#fs.realPath(this.root);
    if (real === null) throw new Error(`Public folder ${JSON.stringify(this.root)} does not exist`);
    const info = await this.#fs.stat(real);
    if (info === null || !info.isDirectory) {
      throw new Error(`Public folder ${JSON.stringify(this.root)} is not a directory`);
    }
    this.#realRoot = real;
  }

  /**
   * The response for a request, or `null` when the app's handler should run instead: a method other than
   * GET or HEAD, no such file, or a path that is refused (see {@linkcode PublicFolder}).
   *
   * @param method The request method (case-sensitive, RFC 9110 §9.1).
   * @param rawPath The request target as received (origin-form, still percent-encoded); a query or fragment
   * is ignored.
   * @param headers The request headers.
   * @throws {Error} When {@linkcode PublicFolder.open} has not completed. Rejects with the file system's
   * error for failures other than "not found" (e.g. permission denied).
   */
  async serve(
    method: string,
    rawPath: string,
    headers: RequestHeaders,
  ): Promise<StaticResponse | null> {
    const root = this.#realRoot;
    if (root === null) throw new Error("PublicFolder.open() must complete before serve()");
    if (method !== "GET" && method !== "HEAD") return null;
    const segments = safeSegments(rawPath);
    if (segments === null) return null;
    const base = segments.length === 0
      ? root
      : (endsWithSeparator(root) ? root : root + "/") + segments.join("/");
    let name = base;
    let real = await this.#resolveInside(name);
    if (real === null) return null;
    let info = await this.#fs.stat(real);
    if (info !== null && info.isDirectory) {
      // The index may itself be a link, so it is resolved and checked again.
      name = (endsWithSeparator(base) ? base : base + "/") + "index.html";
      real = await this.#resolveInside(name);
      if (real === null) return null;
      info = await this.#fs.stat(real);
    }
    if (info === null || !info.isFile) return null;
    return respond(this.#fs, real, name, info, method, headers);
  }

  /**
   * The same response logic for one known file (used by `HttpResponse.sendFile`); see
   * {@linkcode fileResponse}. Works before {@linkcode PublicFolder.open}.
   */
  serveFile(
    filePath: string,
    method: string,
    headers: RequestHeaders,
  ): Promise<StaticResponse | null> {
    return fileResponse(this.#fs, filePath, method, headers);
  }

  /** The real path of `path` when it exists and lies inside the real root; otherwise `null`. */
  async #resolveInside(path: string): Promise<string | null> {
    const root = this.#realRoot!;
    const real = await this.#fs.realPath(path);
    if (real === null) return null;
    if (real === root) return real;
    if (!real.startsWith(root)) return null;
    // "/srv/www-private" starts with "/srv/www" too: require a separator right after the root.
    return endsWithSeparator(root) || real.charCodeAt(root.length) === 47 ||
        real.charCodeAt(root.length) === 92
      ? real
      : null;
  }
}
