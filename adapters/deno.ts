/**
 * Binds Wharf to `Deno.listen` / `Deno.listenTls`. Each `Deno.Conn` is served through the portable
 * stream-pair entry (`conn.readable` / `conn.writable`), so Deno runs exactly the path in-memory tests run.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Platform } from "../src/platform.ts";
import {
  type HttpServerOptions,
  type Listen,
  type RequestHandler,
  type Server,
  startServerWith,
} from "../src/server.ts";
import { serveStreams } from "../src/streams.ts";
import { denoFileSystem } from "./_fs_deno.ts";

/** Listens with `Deno.listen` (or `Deno.listenTls` when `tls` is given). */
export const listenDeno: Listen = (options, accept) => {
  const listener = options.tls === undefined
    ? Deno.listen({ hostname: options.hostname, port: options.port })
    : Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      cert: options.tls.cert,
      key: options.tls.key,
    });
  let closed = false;
  (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closed) return;
        // Too many open files and the like: keep accepting rather than dying.
        console.error("Wharf: accept failed:", error);
        continue;
      }
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      const remote = conn.remoteAddr as Deno.NetAddr;
      serveStreams(
        {
          readable: conn.readable,
          writable: conn.writable,
          remoteAddress: remote.hostname,
          remotePort: remote.port,
        },
        accept,
      ).catch(() => {});
    }
  })();
  const address = listener.addr as Deno.NetAddr;
  return Promise.resolve({
    port: address.port,
    address: address.hostname,
    close() {
      closed = true;
      listener.close();
    },
  });
};

/** The runtime services of Deno. */
export const denoPlatform: Platform = {
  name: "deno",
  fs: denoFileSystem,
  homeDir: () => Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE"),
  // Deno implements node:crypto natively; it hashes synchronously where crypto.subtle needs a round trip.
  sha1Base64: (text) => createHash("sha1").update(text, "latin1").digest("base64"),
  unrefTimer: (timer) => Deno.unrefTimer(timer as number),
  onShutdownSignal(listener) {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    for (const signal of signals) Deno.addSignalListener(signal, listener);
    return () => {
      for (const signal of signals) Deno.removeSignalListener(signal, listener);
    };
  },
};

/**
 * Starts an HTTP (and Websocket) server on Deno (the seed's `start_http_server`). Resolves once listening.
 *
 * @throws {RangeError} for invalid options. Rejects when the port cannot be bound.
 */
export function startHttpServer(
  onRequest: RequestHandler,
  options?: HttpServerOptions,
): Promise<Server> {
  return startServerWith(listenDeno, denoPlatform, onRequest, options);
}
