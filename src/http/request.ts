/**
 * The request handed to `onRequest`.
 *
 * @module
 */

import type { HttpHeaders } from "./headers.ts";
import type { RequestHead } from "./parser.ts";
import { parseCookies } from "./cookies.ts";
import type { HttpResponse } from "./response.ts";

/** What a request needs from the connection it arrived on; implemented by the HTTP connection. */
export interface RequestOwner {
  /** The connection's id, shared with its Websocket after an upgrade. */
  readonly uuid: number;
  /** The server handle the connection belongs to. */
  readonly server: unknown;
  /** The peer's address, `""` when the transport has none. */
  readonly remoteAddress: string;
  /** Makes the response for `request`; throws `TypeError` when it has one already or was upgraded. */
  createResponse(request: HttpRequest): HttpResponse;
}

let ownerOfRequest: (request: HttpRequest) => RequestOwner;

/**
 * One HTTP request (the seed's `HttpRequest`). Valid until its response is finished: copy what you keep beyond
 * that, as with the seed.
 */
export class HttpRequest {
  /** The whole body, in memory (at most the server's `maxBodySize`); empty when none. */
  readonly body: Uint8Array;
  /** @internal The parsed head, for the Websocket handshake. */
  readonly head: RequestHead;
  #owner: RequestOwner;
  #cookies: Map<string, string> | undefined;

  static {
    ownerOfRequest = (request) => request.#owner;
  }

  // The head's fields are read through getters rather than copied: a request is made for every request,
  // and most handlers read two or three of them.

  /** @internal Requests are made by the server, never by applications. */
  constructor(head: RequestHead, body: Uint8Array, owner: RequestOwner) {
    this.body = body;
    this.head = head;
    this.#owner = owner;
  }

  /** The method as sent, e.g. `"GET"` (case-sensitive, RFC 9110 §9.1). */
  get method(): string {
    return this.head.method;
  }

  /** The raw path of the request target, without the query and not percent-decoded (`"/a%20b"`). */
  get path(): string {
    return this.head.path;
  }

  /** The raw query string after `?`, `""` when none. */
  get query(): string {
    return this.head.query;
  }

  /** `"HTTP/1.0"` or `"HTTP/1.1"`. */
  get version(): "HTTP/1.0" | "HTTP/1.1" {
    return this.head.version;
  }

  /** The `Host` header, `undefined` when absent (allowed only for HTTP/1.0). */
  get host(): string | undefined {
    return this.head.host;
  }

  /** All request headers, in arrival order, looked up case-insensitively. */
  get headers(): HttpHeaders {
    return this.head.headers;
  }

  /** The declared `Content-Length`, or the received body's length for a chunked body; 0 when none. */
  get contentLength(): number {
    const declared = this.head.contentLength;
    return declared >= 0 ? declared : this.body.length;
  }

  /** The `Upgrade` header lower-cased (`"websocket"`), `undefined` when absent: test it to accept upgrades. */
  get upgrade(): string | undefined {
    return this.head.upgrade;
  }

  /** Whether the client may send another request on this connection after this one. */
  get keepAlive(): boolean {
    return this.head.keepAlive;
  }

  /**
   * The `Content-Type` header, `undefined` when absent. Looked up when read: most handlers never ask, and a
   * lookup per request would cost them all.
   */
  get contentType(): string | undefined {
    return this.headers.get("content-type");
  }

  /** The connection's id; a Websocket upgraded from this request has the same one. */
  get uuid(): number {
    return this.#owner.uuid;
  }

  /** The server handle returned by `startHttpServer`. */
  get server(): unknown {
    return this.#owner.server;
  }

  /** The peer's IP address, `""` for in-memory transports. */
  get remoteAddress(): string {
    return this.#owner.remoteAddress;
  }

  /** Cookies sent with the request, parsed on first use (RFC 6265 §5.4; the first of a repeated name wins). */
  get cookies(): ReadonlyMap<string, string> {
    return this.#cookies ??= parseCookies(this.headers.get("cookie"));
  }

  /** The body decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(): string {
    return new TextDecoder().decode(this.body);
  }
}

/** @internal The connection a request arrived on. */
export function requestOwner(request: HttpRequest): RequestOwner {
  return ownerOfRequest(request);
}
