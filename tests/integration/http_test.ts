/**
 * The HTTP server over real TCP on 127.0.0.1 (`startHttpServer`, the runtime's own adapter): real clients
 * (`fetch`, `node:http`, `curl`), raw sockets for hostile input and pipelining, `Expect: 100-continue`,
 * timeouts under an injected clock, `maxConnections`, the public folder, `sendFile` and graceful stop.
 *
 * @module
 */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  HttpResponse,
  type HttpServerOptions,
  type RequestHandler,
  type Server,
  startHttpServer,
} from "../../mod.ts";
import { deferred, echoPath, fakeClock, get, pattern } from "../_helpers/fixtures.ts";
import {
  HOSTILE_REQUESTS,
  parseResponses,
  RawConnection,
  rawRequest,
  WAIT_MS,
} from "../_helpers/raw_http.ts";

/** Rejects when `promise` does not settle within `ms`, naming `what`. */
function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Runs `body` against a fresh server on 127.0.0.1 and a free port, and always stops it. */
async function withServer(
  handler: RequestHandler,
  options: HttpServerOptions,
  body: (server: Server, url: string) => Promise<void>,
): Promise<void> {
  const server = await startHttpServer(handler, {
    port: 0,
    address: "127.0.0.1",
    handleSignals: false,
    shutdownTimeout: 2,
    ...options,
  });
  try {
    await body(server, `http://127.0.0.1:${server.port}`);
  } finally {
    await within(server.stop(), "server.stop()");
  }
}

/** Echoes method, path, query, body and the connection's id. */
const echoAll: RequestHandler = (request) => {
  const response = HttpResponse.create(request);
  response.writeHeader("Content-Type", "text/plain; charset=utf-8");
  response.writeHeader("X-Connection", request.uuid);
  response.writeHeader("X-Method", request.method);
  response.writeHeader("X-Query", request.query);
  response.writeHeader(
    "X-Request-Framing",
    request.headers.has("transfer-encoding") ? "chunked" : "length",
  );
  response.writeBody(request.body);
  response.destroy();
};

describe("real clients over TCP", () => {
  test("fetch GET", async () => {
    await withServer(echoAll, {}, async (_server, url) => {
      const response = await fetch(`${url}/hello?x=1&y=2`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("x-method"), "GET");
      assert.equal(response.headers.get("x-query"), "x=1&y=2");
      assert.equal(response.headers.get("content-length"), "0");
      assert.equal(await response.text(), "");
    });
  });

  test("fetch POST echoes the body", async () => {
    await withServer(echoAll, {}, async (_server, url) => {
      const body = "ping \u00e9\u{1f600}".repeat(100);
      const response = await fetch(`${url}/echo`, { method: "POST", body });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("x-method"), "POST");
      assert.equal(await response.text(), body);
    });
  });

  test("fetch with a ReadableStream body (chunked upload where the runtime streams it)", async () => {
    await withServer(echoAll, {}, async (_server, url) => {
      const parts = ["first part, ", "second part, ", "x".repeat(100_000), " end"];
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const part of parts) controller.enqueue(encoder.encode(part));
          controller.close();
        },
      });
      const response = await fetch(`${url}/stream`, {
        method: "POST",
        body,
        duplex: "half",
      } as RequestInit);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), parts.join(""));
    });
  });

  test("fetch receives a 1 MiB streamed body intact", async () => {
    const big = pattern(1024 * 1024);
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        for (let i = 0; i < big.length; i += 100_000) {
          response.writeBody(big.subarray(i, Math.min(big.length, i + 100_000)));
        }
        response.destroy();
      },
      {},
      async (_server, url) => {
        const response = await fetch(`${url}/big`);
        assert.equal(response.headers.get("transfer-encoding"), "chunked");
        assert.deepEqual(new Uint8Array(await response.arrayBuffer()), big);
      },
    );
  });

  test("fetch uploads 2 MiB and gets it echoed intact", async () => {
    await withServer(echoAll, {}, async (_server, url) => {
      const upload = pattern(2 * 1024 * 1024, 5);
      const echoed = await within(fetch(`${url}/up`, { method: "POST", body: upload }), "upload");
      assert.deepEqual(new Uint8Array(await within(echoed.arrayBuffer(), "echo")), upload);
    });
  });

  test(
    "fetch downloads a 3 MiB file sent with sendFile intact",
    async () => {
      const base = mkdtempSync(join(tmpdir(), "wharf-big-"));
      const bigFile = pattern(3 * 1024 * 1024, 11);
      writeFileSync(join(base, "big.bin"), bigFile);
      try {
        await withServer(
          async (request) => {
            const response = HttpResponse.create(request);
            await response.sendFile(join(base, "big.bin"));
          },
          {},
          async (_server, url) => {
            const download = await within(fetch(`${url}/down`), "download head");
            assert.equal(download.headers.get("content-length"), String(bigFile.length));
            const body = await within(download.arrayBuffer(), "download body");
            assert.deepEqual(new Uint8Array(body), bigFile);
          },
        );
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  );

  test("request.remoteAddress and request.server", async () => {
    let seen: [string, unknown] | undefined;
    await withServer(
      (request) => {
        seen = [request.remoteAddress, request.server];
        echoPath(request);
      },
      {},
      async (server, url) => {
        await (await fetch(`${url}/who`)).text();
        assert.deepEqual(seen, ["127.0.0.1", server]);
      },
    );
  });

  test("node:http with a keep-alive agent reuses one connection", async () => {
    await withServer(echoAll, {}, async (server) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const request = (path: string, method: string, body?: string) =>
        new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
          (resolve, reject) => {
            const req = http.request(
              { host: "127.0.0.1", port: server.port, path, method, agent },
              (res) => {
                const chunks: Uint8Array[] = [];
                res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
                res.on("end", () => {
                  const text = new TextDecoder().decode(
                    chunks.length === 0 ? new Uint8Array(0) : concatBytes(chunks),
                  );
                  resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
                });
                res.on("error", reject);
              },
            );
            req.on("error", reject);
            req.end(body);
          },
        );
      try {
        const first = await within(request("/a", "GET"), "first node:http request");
        const second = await within(request("/b", "POST", "posted"), "second node:http request");
        const third = await within(request("/c", "PUT", "put"), "third node:http request");
        assert.equal(first.status, 200);
        assert.equal(second.body, "posted");
        assert.equal(third.body, "put");
        assert.equal(second.headers["x-method"], "POST");
        assert.equal(first.headers["x-connection"], second.headers["x-connection"]);
        assert.equal(second.headers["x-connection"], third.headers["x-connection"]);
      } finally {
        agent.destroy();
      }
    });
  });

  const curlMissing = spawnSync("curl", ["--version"]).error !== undefined;
  test("curl GET, POST and two URLs on one connection", {
    skip: curlMissing ? "curl is not on PATH" : false,
  }, async () => {
    const curl = (args: string[]) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn("curl", ["-s", "-i", "--max-time", "5", ...args]);
        const chunks: Uint8Array[] = [];
        child.stdout.on("data", (chunk: Uint8Array) => chunks.push(chunk));
        child.on("error", reject);
        child.on("close", (code) => {
          if (code !== 0) reject(new Error(`curl exited with ${code}`));
          else resolve(new TextDecoder().decode(concatBytes(chunks)));
        });
      });
    await withServer(echoAll, {}, async (_server, url) => {
      const got = await within(curl([`${url}/curl?q=1`]), "curl GET");
      assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(got, /\r\nX-Query: q=1\r\n/i);
      const posted = await within(curl(["--data-binary", "curl body", `${url}/post`]), "curl POST");
      assert.match(posted, /\r\nX-Method: POST\r\n/i);
      assert.ok(posted.endsWith("\r\n\r\ncurl body"), posted);
      const both = await within(curl([`${url}/one`, `${url}/two`]), "curl keep-alive");
      const ids = [...both.matchAll(/\r\nX-Connection: (\d+)\r\n/gi)].map((m) => m[1]);
      assert.equal(ids.length, 2, both);
      assert.equal(ids[0], ids[1]);
      const old = await within(curl(["--http1.0", `${url}/old`]), "curl HTTP/1.0");
      assert.match(old, /\r\nConnection: close\r\n/i);
    });
  });
});

function concatBytes(chunks: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

describe("responses over raw sockets", () => {
  test("three pipelined requests in one write get three responses in order", async () => {
    await withServer(echoPath, {}, async (server) => {
      const connection = await RawConnection.connect(server.port);
      try {
        await connection.write(get("/one") + get("/two") + get("/three"));
        const responses = await connection.waitForResponses(3);
        assert.deepEqual(responses.map((r) => r.text()), ["/one", "/two", "/three"]);
      } finally {
        connection.destroy();
      }
    });
  });

  test("keep-alive requests of one length, then a larger one, each reach the handler as sent", async () => {
    // Adapters may hand the core the same view of their read buffer while reads repeat one length, and
    // switch to a larger buffer for a large read: every request must still be read from the right bytes.
    await withServer(echoPath, {}, async (server) => {
      const connection = await RawConnection.connect(server.port);
      try {
        const paths = ["/aa", "/bb", `/${"c".repeat(3000)}`, "/dd", "/ee"];
        for (const [i, path] of paths.entries()) {
          await connection.write(get(path));
          const responses = await connection.waitForResponses(i + 1);
          assert.equal(responses[i].text(), path);
        }
      } finally {
        connection.destroy();
      }
    });
  });

  test("a slower async first handler still answers first", async () => {
    const gate = deferred();
    const started = deferred();
    const handled: string[] = [];
    await withServer(
      async (request) => {
        handled.push(request.path);
        if (request.path === "/slow") {
          started.resolve();
          await gate.promise;
        }
        echoPath(request);
      },
      {},
      async (server) => {
        const connection = await RawConnection.connect(server.port);
        try {
          await connection.write(get("/slow") + get("/fast") + get("/faster"));
          await started.promise;
          assert.deepEqual(handled, ["/slow"]);
          gate.resolve();
          const responses = await connection.waitForResponses(3);
          assert.deepEqual(responses.map((r) => r.text()), ["/slow", "/fast", "/faster"]);
        } finally {
          gate.resolve();
          connection.destroy();
        }
      },
    );
  });

  test("500 on throw and on reject; the same keep-alive connection and new ones keep serving", async () => {
    const errors: unknown[] = [];
    await withServer(
      async (request) => {
        if (request.path === "/throw") throw new Error("thrown");
        if (request.path === "/reject") {
          await Promise.resolve();
          throw new Error("rejected");
        }
        echoPath(request);
      },
      { onError: (error) => errors.push(error) },
      async (server) => {
        const connection = await RawConnection.connect(server.port);
        try {
          await connection.write(get("/throw") + get("/reject") + get("/ok"));
          const responses = await connection.waitForResponses(3);
          assert.deepEqual(responses.map((r) => r.status), [500, 500, 200]);
          assert.equal(responses[2].text(), "/ok");
          assert.deepEqual(errors.map((e) => (e as Error).message), ["thrown", "rejected"]);
        } finally {
          connection.destroy();
        }
        const fresh = await rawRequest(server.port, get("/fresh", "Connection: close\r\n"));
        assert.equal(parseResponses(fresh.bytes, ["GET"], true)[0].text(), "/fresh");
      },
    );
  });

  test("404 when the handler does nothing", async () => {
    await withServer(() => {}, {}, async (_server, url) => {
      const response = await fetch(`${url}/missing`);
      assert.equal(response.status, 404);
      assert.equal(await response.text(), "Not Found");
    });
  });

  test("HTTP/1.0 without keep-alive and Connection: close are closed after the response", async () => {
    await withServer(echoPath, {}, async (server) => {
      for (const wire of [get("/old", "", "HTTP/1.0"), get("/close", "Connection: close\r\n")]) {
        const result = await rawRequest(server.port, wire + get("/dropped"));
        assert.equal(result.closedByServer, true);
        const responses = parseResponses(result.bytes, ["GET"], true);
        assert.equal(responses.length, 1, result.text);
        assert.equal(responses[0].header("connection"), "close");
      }
    });
  });

  test("a body over 64 KiB is close-delimited for HTTP/1.0", async () => {
    const big = pattern(100_000);
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.writeBody(big);
        response.destroy();
      },
      {},
      async (server) => {
        const result = await rawRequest(server.port, get("/", "", "HTTP/1.0"));
        assert.equal(result.closedByServer, true);
        const [response] = parseResponses(result.bytes, ["GET"], true);
        assert.equal(response.framing, "close");
        assert.deepEqual(response.body, big);
      },
    );
  });

  test("over 64 KiB of pipelined requests behind a slow handler are all answered in order", async () => {
    const gate = deferred();
    const started = deferred();
    const body = "y".repeat(50_000);
    await withServer(
      async (request) => {
        if (request.path === "/slow") {
          started.resolve();
          await gate.promise;
        }
        const response = HttpResponse.create(request);
        response.writeBody(`${request.path} ${request.body.length}`);
        response.destroy();
      },
      {},
      async (server) => {
        const connection = await RawConnection.connect(server.port);
        try {
          await connection.write(get("/slow"));
          await started.promise;
          const post = (path: string) =>
            `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
          const writes = ["/p1", "/p2", "/p3", "/p4", "/p5"].map((path) =>
            connection.write(post(path))
          );
          gate.resolve();
          await Promise.all(writes);
          const responses = await connection.waitForResponses(6);
          assert.deepEqual(responses.map((r) => r.text()), [
            "/slow 0",
            "/p1 50000",
            "/p2 50000",
            "/p3 50000",
            "/p4 50000",
            "/p5 50000",
          ]);
        } finally {
          gate.resolve();
          connection.destroy();
        }
      },
    );
  });

  test("requests sent before the client's EOF are answered (half-close)", async () => {
    await withServer(
      async (request) => {
        await Promise.resolve();
        echoPath(request);
      },
      {},
      async (server) => {
        const connection = await RawConnection.connect(server.port);
        try {
          await connection.write(get("/a") + get("/b"));
          connection.end();
          const bytes = await connection.waitForEnd();
          assert.deepEqual(parseResponses(bytes, ["GET", "GET"], true).map((r) => r.text()), [
            "/a",
            "/b",
          ]);
        } finally {
          connection.destroy();
        }
      },
    );
  });

  test("Expect: 100-continue gets 100 Continue before the body is sent", async () => {
    await withServer(echoAll, {}, async (server) => {
      const connection = await RawConnection.connect(server.port);
      try {
        await connection.write(
          "PUT /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
        );
        const interim = await connection.waitFor((t) => t.includes("\r\n\r\n"), "100 Continue");
        assert.equal(interim, "HTTP/1.1 100 Continue\r\n\r\n");
        await connection.write("hello world");
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.status, 200);
        assert.equal(response.text(), "hello world");
      } finally {
        connection.destroy();
      }
    });
  });
});

describe("hostile input over real sockets", () => {
  for (const { name, wire, status, options } of HOSTILE_REQUESTS) {
    test(`${name}: ${status} and the connection is closed`, async () => {
      const handled: string[] = [];
      await withServer(
        (request) => {
          handled.push(request.path);
          echoPath(request);
        },
        options ?? {},
        async (server) => {
          const result = await rawRequest(server.port, wire + get("/smuggled"));
          assert.equal(
            result.closedByServer,
            true,
            `not closed; received ${JSON.stringify(result.text)}`,
          );
          const responses = parseResponses(result.bytes, [], true);
          assert.equal(responses.length, 1, result.text);
          assert.equal(responses[0].status, status, result.text);
          assert.equal(responses[0].header("connection"), "close");
          assert.deepEqual(handled, []);
        },
      );
    });
  }

  test("a 64 KiB head is refused with 431 while the client is still sending", async () => {
    await withServer(echoPath, {}, async (server) => {
      const result = await rawRequest(
        server.port,
        `GET / HTTP/1.1\r\nHost: a\r\n${`X-Filler: ${"f".repeat(1000)}\r\n`.repeat(64)}\r\n`,
      );
      assert.equal(result.closedByServer, true);
      assert.equal(parseResponses(result.bytes, [], true)[0]?.status, 431, result.text);
    });
  });
});

describe("timeouts with an injected clock over TCP", () => {
  test("half a head is answered 408 after headerTimeout, not before", async () => {
    const clock = fakeClock();
    await withServer(
      echoPath,
      { clock: clock.now, timeout: 5, headerTimeout: 10 },
      async (server) => {
        const early = await RawConnection.connect(server.port);
        const slow = await RawConnection.connect(server.port);
        try {
          // A complete request first: once its response arrives, the server has also read the half head
          // that came in the same write.
          await early.write(get("/first") + "GET /early HTTP/1.1\r\nHo");
          await slow.write(get("/first") + "GET /slow HTTP/1.1\r\nHo");
          await early.waitForResponses(1);
          await slow.waitForResponses(1);
          clock.advance(6000);
          server.tick();
          await early.write("st: test\r\n\r\n");
          const responses = await early.waitForResponses(2);
          assert.equal(responses[1].text(), "/early");
          clock.advance(5000);
          server.tick();
          const bytes = await slow.waitForEnd();
          const statuses = parseResponses(bytes, [], true).map((r) => r.status);
          assert.deepEqual(statuses, [200, 408]);
        } finally {
          early.destroy();
          slow.destroy();
        }
      },
    );
  });

  test("an idle keep-alive connection is closed after timeout; one with traffic is not", async () => {
    const clock = fakeClock();
    await withServer(echoPath, { clock: clock.now, timeout: 5 }, async (server) => {
      const idle = await RawConnection.connect(server.port);
      const busy = await RawConnection.connect(server.port);
      try {
        await idle.write(get("/idle"));
        await idle.waitForResponses(1);
        for (let i = 1; i <= 3; i++) {
          clock.advance(3000);
          server.tick();
          await busy.write(get(`/${i}`));
          await busy.waitForResponses(i);
        }
        // The idle connection went quiet 9 s ago and is closed; the busy one talked 0 s ago.
        const idleBytes = await idle.waitForEnd();
        assert.equal(parseResponses(idleBytes, [], true).length, 1);
        assert.equal(busy.isEnded, false);
        clock.advance(6000);
        server.tick();
        await busy.waitForEnd();
      } finally {
        idle.destroy();
        busy.destroy();
      }
    });
  });
});

describe("maxConnections over TCP", () => {
  test("the connection over the limit gets 503 with body Server Busy.", async () => {
    await withServer(echoPath, { maxConnections: 2 }, async (server) => {
      const first = await RawConnection.connect(server.port);
      const second = await RawConnection.connect(server.port);
      try {
        await first.write(get("/1"));
        await second.write(get("/2"));
        await first.waitForResponses(1);
        await second.waitForResponses(1);
        assert.equal(server.connectionCount, 2);
        const result = await rawRequest(server.port, get("/3"));
        assert.equal(result.closedByServer, true);
        const [busy] = parseResponses(result.bytes, [], true);
        assert.equal(busy.status, 503);
        assert.equal(busy.reason, "Service Unavailable");
        assert.equal(busy.text(), "Server Busy.");
      } finally {
        first.destroy();
        second.destroy();
      }
    });
  });
});

describe("public folder and sendFile", () => {
  const base = mkdtempSync(join(tmpdir(), "wharf-http-"));
  const folder = join(base, "public");
  mkdirSync(join(folder, "sub"), { recursive: true });
  writeFileSync(join(folder, "index.html"), "<h1>home</h1>");
  writeFileSync(join(folder, "file.txt"), "0123456789abcdef");
  writeFileSync(join(folder, "sub", "index.html"), "<p>sub</p>");
  writeFileSync(join(base, "secret.txt"), "top secret");
  after(() => rmSync(base, { recursive: true, force: true }));

  const fallback: RequestHandler = (request) => {
    const response = HttpResponse.create(request);
    response.status = 404;
    response.writeBody(`handler ${request.method} ${request.path}`);
    response.destroy();
  };

  test("GET / serves index.html, files are served, Range works", async () => {
    await withServer(fallback, { publicFolder: folder }, async (_server, url) => {
      const home = await fetch(`${url}/`);
      assert.equal(home.status, 200);
      assert.match(home.headers.get("content-type") ?? "", /^text\/html/);
      assert.equal(await home.text(), "<h1>home</h1>");
      const sub = await fetch(`${url}/sub/`);
      assert.equal(await sub.text(), "<p>sub</p>");
      const file = await fetch(`${url}/file.txt`);
      assert.equal(file.headers.get("accept-ranges"), "bytes");
      assert.equal(await file.text(), "0123456789abcdef");
      const range = await fetch(`${url}/file.txt`, { headers: { Range: "bytes=2-5" } });
      assert.equal(range.status, 206);
      assert.equal(range.headers.get("content-range"), "bytes 2-5/16");
      assert.equal(await range.text(), "2345");
      const suffix = await fetch(`${url}/file.txt`, { headers: { Range: "bytes=-3" } });
      assert.equal(await suffix.text(), "def");
      const beyond = await fetch(`${url}/file.txt`, { headers: { Range: "bytes=99-" } });
      assert.equal(beyond.status, 416);
      await beyond.arrayBuffer();
      const etag = file.headers.get("etag");
      assert.ok(etag !== null);
      const cached = await fetch(`${url}/file.txt`, { headers: { "If-None-Match": etag } });
      assert.equal(cached.status, 304);
      await cached.arrayBuffer();
    });
  });

  test("HEAD gets the file's headers and no body", async () => {
    await withServer(fallback, { publicFolder: folder }, async (server) => {
      const result = await rawRequest(
        server.port,
        "HEAD /file.txt HTTP/1.1\r\nHost: t\r\n\r\n" + get("/file.txt", "Connection: close\r\n"),
      );
      const [head, full] = parseResponses(result.bytes, ["HEAD", "GET"], true);
      assert.equal(head.status, 200);
      assert.equal(head.header("content-length"), "16");
      assert.equal(head.body.length, 0);
      assert.equal(full.text(), "0123456789abcdef");
    });
  });

  test("escapes with .. are not served from the folder: they reach the handler", async () => {
    await withServer(fallback, { publicFolder: folder }, async (server) => {
      for (
        const path of [
          "/../secret.txt",
          "/sub/../../secret.txt",
          "/%2e%2e/secret.txt",
          "/sub/..%2f..%2fsecret.txt",
          "/..%5csecret.txt",
        ]
      ) {
        const result = await rawRequest(server.port, get(path, "Connection: close\r\n"));
        const [response] = parseResponses(result.bytes, ["GET"], true);
        assert.ok(!result.text.includes("top secret"), `${path}: ${result.text}`);
        assert.equal(response.status, 404, `${path}: ${result.text}`);
        assert.equal(response.text(), `handler GET ${path}`);
      }
    });
  });

  test("missing files and other methods reach the handler", async () => {
    await withServer(fallback, { publicFolder: folder }, async (_server, url) => {
      const missing = await fetch(`${url}/nope.txt`);
      assert.equal(await missing.text(), "handler GET /nope.txt");
      const post = await fetch(`${url}/file.txt`, { method: "POST", body: "x" });
      assert.equal(await post.text(), "handler POST /file.txt");
    });
  });

  test("response.sendFile sends a file, and returns -1 for a missing one", async () => {
    const results: number[] = [];
    await withServer(
      async (request) => {
        const response = HttpResponse.create(request);
        response.writeHeader("X-From", "handler");
        const name = request.path === "/send" ? "file.txt" : "missing.txt";
        const result = await response.sendFile(join(folder, name));
        results.push(result);
        if (result === -1) {
          response.status = 404;
          response.writeBody("no such file");
          response.destroy();
        }
      },
      {},
      async (_server, url) => {
        const sent = await fetch(`${url}/send`);
        assert.equal(sent.status, 200);
        assert.equal(sent.headers.get("x-from"), "handler");
        assert.match(sent.headers.get("content-type") ?? "", /^text\/plain/);
        assert.equal(await sent.text(), "0123456789abcdef");
        const ranged = await fetch(`${url}/send`, { headers: { Range: "bytes=10-" } });
        assert.equal(ranged.status, 206);
        assert.equal(await ranged.text(), "abcdef");
        const missing = await fetch(`${url}/other`);
        assert.equal(missing.status, 404);
        assert.equal(await missing.text(), "no such file");
        assert.deepEqual(results, [0, 0, -1]);
      },
    );
  });
});

describe("graceful stop over TCP", () => {
  test(
    "in-flight request finishes, idle connections close, new ones are refused, finished resolves",
    async () => {
      const gate = deferred();
      const started = deferred();
      const calls: string[] = [];
      let initServer: Server | undefined;
      let finishServer: Server | undefined;
      const server = await startHttpServer(async (request) => {
        if (request.path === "/slow") {
          started.resolve();
          await gate.promise;
        }
        echoPath(request);
      }, {
        port: 0,
        address: "127.0.0.1",
        handleSignals: false,
        shutdownTimeout: 5,
        onInit: (s) => {
          calls.push("init");
          initServer = s;
        },
        onFinish: (s) => {
          calls.push("finish");
          finishServer = s;
        },
      });
      const idle = await RawConnection.connect(server.port);
      const busy = await RawConnection.connect(server.port);
      try {
        assert.deepEqual(calls, ["init"]);
        assert.equal(initServer, server);
        await idle.write(get("/idle"));
        await idle.waitForResponses(1);
        await busy.write(get("/slow"));
        await started.promise;
        let stopped = false;
        const stopping = server.stop().then(() => stopped = true);
        const idleBytes = await idle.waitForEnd();
        assert.equal(parseResponses(idleBytes, [], true).length, 1);
        await assert.rejects(RawConnection.connect(server.port, "127.0.0.1", 2000));
        assert.equal(stopped, false);
        gate.resolve();
        const [response] = await busy.waitForResponses(1, ["GET"]);
        assert.equal(response.text(), "/slow");
        assert.equal(response.header("connection"), "close");
        await busy.waitForEnd();
        await within(stopping, "stop()");
        await within(server.finished, "server.finished");
        assert.deepEqual(calls, ["init", "finish"]);
        assert.equal(finishServer, server);
        assert.equal(server.connectionCount, 0);
      } finally {
        gate.resolve();
        idle.destroy();
        busy.destroy();
        await within(server.stop(), "server.stop()");
      }
    },
  );

  test("stop() closes an idle keep-alive connection at once, even with timeout: 0", async () => {
    const server = await startHttpServer(echoPath, {
      port: 0,
      address: "127.0.0.1",
      handleSignals: false,
      timeout: 0,
    });
    const idle = await RawConnection.connect(server.port);
    try {
      await idle.write(get("/idle"));
      await idle.waitForResponses(1);
      const stopping = server.stop();
      await idle.waitForEnd(2000);
      await within(stopping, "stop()", 2000);
    } finally {
      idle.destroy();
      await within(server.stop(), "server.stop()");
    }
  });

  test(
    "a connection the client closed is released at once",
    async () => {
      await withServer(echoPath, {}, async (server) => {
        const connection = await RawConnection.connect(server.port);
        try {
          await connection.write(get("/"));
          await connection.waitForResponses(1);
          // The client closes first; the server answers the EOF by closing its side too.
          connection.end();
          await connection.waitForEnd();
        } finally {
          connection.destroy();
        }
        // Both sides are closed: nothing is left for stop() to wait for.
        const started = Date.now();
        await within(server.stop(), "stop()", 1000);
        assert.ok(Date.now() - started < 1000);
      });
    },
  );

  test("stop() with no connections resolves at once", async () => {
    const server = await startHttpServer(echoPath, {
      port: 0,
      address: "127.0.0.1",
      handleSignals: false,
    });
    const port = server.port;
    assert.ok(port > 0);
    assert.equal(server.address, "127.0.0.1");
    await within(server.stop(), "stop()", 1000);
    await server.finished;
    await assert.rejects(RawConnection.connect(port, "127.0.0.1", 2000));
  });
});
