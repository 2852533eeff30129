/**
 * The HTTP server over in-memory connections (`createStreamServer` + `server.serveStreams`): the response
 * writer, keep-alive and pipelining, `Expect: 100-continue`, hostile input, timeouts under an injected
 * clock, `maxConnections` and graceful stop. The same bytes a socket would carry, without sockets.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  createStreamServer,
  type HttpRequest,
  HttpResponse,
  type HttpServerOptions,
  type RequestHandler,
  type Server,
} from "../../mod.ts";
import { CLOCK_START, deferred, echoPath, fakeClock, get, pattern } from "../_helpers/fixtures.ts";
import type { FileSystem, Platform } from "../../src/platform.ts";
import { MemoryConnection } from "../_helpers/duplex_pair.ts";
import {
  HOSTILE_REQUESTS,
  type ParsedResponse,
  parseResponses,
  WAIT_MS,
} from "../_helpers/raw_http.ts";
import { ascii, splits } from "../_helpers/splits.ts";

/** IMF-fixdate (RFC 9110 §5.6.7), the only date format a server may send. */
const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Runs `body` against a fresh stream server and always stops it. */
async function withServer(
  handler: RequestHandler,
  options: HttpServerOptions,
  body: (server: Server) => Promise<void>,
): Promise<void> {
  const server = await createStreamServer(handler, { shutdownTimeout: 2, ...options });
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

/** Answers with the method, path and body. */
const echoAll: RequestHandler = (request) => {
  const response = HttpResponse.create(request);
  response.writeBody(`${request.method} ${request.path} ${request.text()}`);
  response.destroy();
};

function assertOneResponse(responses: ParsedResponse[]): ParsedResponse {
  assert.equal(
    responses.length,
    1,
    `one response, got ${responses.map((r) => r.head).join(" | ")}`,
  );
  return responses[0];
}

describe("response writer", () => {
  test("destroy() after writeBody sends the status line, Date and the exact Content-Length", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.writeBody("Hello, ");
        response.writeBody(new TextEncoder().encode("wörld"));
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const [response] = await connection.waitForResponses(1);
        assert.ok(connection.text.startsWith("HTTP/1.1 200 OK\r\n"), connection.text);
        assert.match(response.header("date") ?? "", IMF_FIXDATE);
        assert.equal(response.header("content-length"), "13");
        assert.equal(response.header("transfer-encoding"), undefined);
        assert.equal(response.header("connection"), undefined);
        assert.equal(response.text(), "Hello, wörld");
        assert.equal(response.framing, "length");
        // Keep-alive: the same connection answers again.
        connection.write(get("/again"));
        const responses = await connection.waitForResponses(2);
        assert.equal(responses[1].status, 200);
        assert.equal(connection.isEnded, false);
      },
    );
  });

  test("Date follows the clock into the next second for every status; an app's own Date replaces it", async () => {
    const realNow = Date.now;
    let now = Date.UTC(2030, 0, 2, 3, 4, 5, 900);
    Date.now = () => now;
    try {
      await withServer(
        (request) => {
          const response = HttpResponse.create(request);
          if (request.path === "/own") {
            response.writeHeader("Date", "Sun, 06 Nov 1994 08:49:37 GMT");
          } else response.status = Number(request.path.substring(1));
          response.writeHeader("X-App", "1");
          response.writeBody("x");
          response.destroy();
        },
        {},
        async (server) => {
          const connection = new MemoryConnection(server);
          const expected: [status: number, date: string][] = [];
          const ask = (path: string, status: number, date: string) => {
            connection.write(get(path));
            expected.push([status, date]);
          };
          ask("/200", 200, "Wed, 02 Jan 2030 03:04:05 GMT");
          ask("/404", 404, "Wed, 02 Jan 2030 03:04:05 GMT");
          let responses = await connection.waitForResponses(2);
          now += 200;
          ask("/200", 200, "Wed, 02 Jan 2030 03:04:06 GMT");
          ask("/404", 404, "Wed, 02 Jan 2030 03:04:06 GMT");
          ask("/own", 200, "Sun, 06 Nov 1994 08:49:37 GMT");
          responses = await connection.waitForResponses(5);
          for (const [i, response] of responses.entries()) {
            assert.equal(response.status, expected[i][0]);
            assert.deepEqual(response.headerAll("date"), [expected[i][1]], `response ${i}`);
            assert.equal(response.header("x-app"), "1");
          }
        },
      );
    } finally {
      Date.now = realNow;
    }
  });

  test("Content-Length is written exactly at every count of digits", async () => {
    const lengths = [1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 12345, 100000, 1048576];
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        const length = Number(request.path.substring(1));
        // Set, because bodies over 64 KiB written before the head would otherwise go chunked.
        response.contentLength = length;
        response.writeBody(new Uint8Array(length));
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        for (const length of lengths) connection.write(get(`/${length}`));
        const responses = await connection.waitForResponses(lengths.length);
        assert.deepEqual(responses.map((r) => r.header("content-length")), lengths.map(String));
        assert.deepEqual(responses.map((r) => r.body.length), lengths);
        const written = connection.text.match(/Content-Length: [^\r]*\r\n/g);
        assert.deepEqual(written, lengths.map((length) => `Content-Length: ${length}\r\n`));
      },
    );
  });

  test("text bodies go out as UTF-8 with their exact byte length, held or streamed", async () => {
    const texts = [
      "plain ASCII",
      "é and ß (2 bytes)",
      "€ and ✓ (3 bytes)",
      "😀 a pair (4 bytes)",
      "lone \ud800 high and \udc00 low surrogates, and one at the end \ud83d",
      "x".repeat(20_000) + "é".repeat(10_000), // above the slab copy threshold
    ];
    const encoder = new TextEncoder();
    for (const streamed of [false, true]) {
      await withServer(
        (request) => {
          const response = HttpResponse.create(request);
          if (streamed) response.send();
          for (const text of texts) response.writeBody(text);
          response.destroy();
        },
        {},
        async (server) => {
          const connection = new MemoryConnection(server);
          connection.write(get("/"));
          const [response] = await connection.waitForResponses(1);
          const expected = encoder.encode(texts.join(""));
          assert.deepEqual(response.body, expected);
          if (!streamed) assert.equal(response.header("content-length"), String(expected.length));
        },
      );
    }
  });

  test("a request in any chunking gets the same response", async () => {
    await withServer(echoAll, {}, async (server) => {
      const wire = ascii("POST /p?q=1 HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello");
      for (const pieces of splits(wire)) {
        const connection = new MemoryConnection(server);
        for (const piece of pieces) connection.write(piece);
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.text(), "POST /p hello");
        connection.end();
        await connection.ended;
      }
    });
  });

  test("status and custom headers are sent", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.status = 201;
        assert.equal(response.writeHeader("X-Id", 42), 0);
        assert.equal(response.writeHeader("Content-Type", "application/json"), 0);
        response.writeBody("{}");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const [response] = await connection.waitForResponses(1);
        assert.ok(connection.text.startsWith("HTTP/1.1 201 Created\r\n"), connection.text);
        assert.equal(response.header("x-id"), "42");
        assert.equal(response.header("content-type"), "application/json");
        assert.equal(response.header("content-length"), "2");
      },
    );
  });

  test("a body over 64 KiB is sent chunked on HTTP/1.1", async () => {
    const big = pattern(70_000);
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.writeBody(big.subarray(0, 40_000));
        response.writeBody(big.subarray(40_000));
        response.writeBody("tail");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/big"));
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.header("transfer-encoding"), "chunked");
        assert.equal(response.header("content-length"), undefined);
        assert.equal(response.framing, "chunked");
        assert.equal(response.body.length, 70_004);
        assert.deepEqual(response.body.subarray(0, 70_000), big);
        assert.equal(new TextDecoder().decode(response.body.subarray(70_000)), "tail");
        // The chunked body was terminated: the connection serves the next request.
        connection.write(get("/next"));
        const responses = await connection.waitForResponses(2);
        assert.deepEqual(responses[1].body, responses[0].body);
      },
    );
  });

  test("a body over 64 KiB is close-delimited on HTTP/1.0", async () => {
    const big = pattern(70_000, 13);
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.writeBody(big);
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/big", "Connection: keep-alive\r\n", "HTTP/1.0"));
        const bytes = await connection.waitForEnd();
        const response = assertOneResponse(parseResponses(bytes, ["GET"], true));
        assert.equal(response.framing, "close");
        assert.equal(response.header("transfer-encoding"), undefined);
        assert.equal(response.header("content-length"), undefined);
        assert.equal(response.header("connection"), "close");
        assert.deepEqual(response.body, big);
      },
    );
  });

  test("send() before the body streams it chunked on HTTP/1.1", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        assert.equal(response.send(), 0);
        assert.equal(response.headersSent, true);
        assert.equal(response.send(), -1);
        response.writeBody("abc");
        response.writeBody("defg");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.header("transfer-encoding"), "chunked");
        assert.equal(response.text(), "abcdefg");
        assert.equal(connection.isEnded, false);
      },
    );
  });

  test("send() before the body on HTTP/1.0 is close-delimited", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.send();
        response.writeBody("abc");
        response.writeBody("defg");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/", "", "HTTP/1.0"));
        const bytes = await connection.waitForEnd();
        const response = assertOneResponse(parseResponses(bytes, ["GET"], true));
        assert.equal(response.framing, "close");
        assert.equal(response.header("connection"), "close");
        assert.equal(response.text(), "abcdefg");
      },
    );
  });

  test("HEAD gets the headers a GET would get and no body", async () => {
    await withServer(echoPath, {}, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(`HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n${get("/after")}`);
      const [head, after] = await connection.waitForResponses(2, ["HEAD", "GET"]);
      assert.equal(head.status, 200);
      assert.equal(head.header("content-length"), "6");
      // Nothing between the HEAD response's blank line and the next status line.
      const firstEnd = connection.text.indexOf("\r\n\r\n") + 4;
      assert.ok(connection.text.startsWith("HTTP/1.1 200 OK\r\n", firstEnd), connection.text);
      assert.equal(after.text(), "/after");
    });
  });

  test("HEAD of a streamed body sends no chunks", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.send();
        response.writeBody("abc");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(`HEAD / HTTP/1.1\r\nHost: test\r\n\r\n${get("/")}`);
        const [, after] = await connection.waitForResponses(2, ["HEAD", "GET"]);
        const firstEnd = connection.text.indexOf("\r\n\r\n") + 4;
        assert.ok(connection.text.startsWith("HTTP/1.1 200 OK\r\n", firstEnd), connection.text);
        assert.equal(after.text(), "abc");
      },
    );
  });

  test("204 and 304 are sent without a body even when one was written", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.status = Number(request.path.substring(1));
        response.writeBody("must not be sent");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/204") + get("/304") + get("/200"));
        const [noContent, notModified, ok] = await connection.waitForResponses(3);
        assert.equal(noContent.status, 204);
        assert.equal(noContent.header("content-length"), undefined);
        assert.equal(noContent.header("transfer-encoding"), undefined);
        assert.equal(notModified.status, 304);
        assert.equal(notModified.header("transfer-encoding"), undefined);
        assert.equal(ok.status, 200);
        assert.equal(ok.text(), "must not be sent");
        assert.equal(connection.text.split("must not be sent").length, 2, connection.text);
      },
    );
  });

  test("writeHeader rejects CR/LF injection with TypeError and returns -1 once the head is sent", async () => {
    const seen: Record<string, unknown> = {};
    const errorName = (action: () => unknown): string => {
      try {
        action();
        return "no error";
      } catch (error) {
        return (error as Error).constructor.name;
      }
    };
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        seen.crlf = errorName(() => response.writeHeader("X-Evil", "a\r\nSet-Cookie: stolen=1"));
        seen.lf = errorName(() => response.writeHeader("X-Evil", "a\nb"));
        seen.cr = errorName(() => response.writeHeader("X-Evil", "a\rb"));
        seen.nul = errorName(() => response.writeHeader("X-Evil", "a\0b"));
        seen.name = errorName(() => response.writeHeader("X-Evil\r\nX-Other", "a"));
        seen.colon = errorName(() => response.writeHeader("X:Evil", "a"));
        seen.space = errorName(() => response.writeHeader("X Evil", "a"));
        seen.ok = response.writeHeader("X-Ok", "yes");
        seen.send = response.send();
        seen.late = response.writeHeader("X-Late", "no");
        seen.lateCookie = response.setCookie({ name: "late", value: "1" });
        seen.lateInjection = errorName(() => response.writeHeader("X-Late", "a\r\nb"));
        response.writeBody("x");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const [response] = await connection.waitForResponses(1);
        assert.deepEqual(seen, {
          crlf: "TypeError",
          lf: "TypeError",
          cr: "TypeError",
          nul: "TypeError",
          name: "TypeError",
          colon: "TypeError",
          space: "TypeError",
          ok: 0,
          send: 0,
          late: -1,
          lateCookie: -1,
          lateInjection: "TypeError",
        });
        assert.equal(response.header("x-ok"), "yes");
        assert.equal(response.header("x-late"), undefined);
        assert.equal(response.header("x-evil"), undefined);
        assert.equal(response.header("set-cookie"), undefined);
        assert.equal(response.text(), "x");
      },
    );
  });

  test("setCookie writes one Set-Cookie header per cookie", async () => {
    let invalid = "";
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.setCookie({
          name: "sid",
          value: "abc123",
          path: "/",
          maxAge: 3600,
          httpOnly: true,
          secure: true,
          sameSite: "Lax",
        });
        response.setCookie({ name: "old", path: "/" });
        try {
          response.setCookie({ name: "bad", value: "a;b\r\nX-Evil: 1" });
        } catch (error) {
          invalid = (error as Error).constructor.name;
        }
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const [response] = await connection.waitForResponses(1);
        assert.deepEqual(response.headerAll("set-cookie"), [
          "sid=abc123; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax",
          "old=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0",
        ]);
        assert.equal(invalid, "TypeError");
        assert.equal(response.header("x-evil"), undefined);
      },
    );
  });

  test("absolute-form and asterisk-form targets", async () => {
    const seen: string[] = [];
    await withServer(
      (request) => {
        seen.push(`${request.method} ${request.path} ${request.query} ${request.host}`);
        HttpResponse.create(request).destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(
          "GET http://example.com/p/q?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n" +
            "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        await connection.waitForResponses(2);
        assert.deepEqual(seen, ["GET /p/q x=1 example.com", "OPTIONS *  t"]);
      },
    );
  });

  test("header values are Latin-1: é is one byte, € is refused", async () => {
    let euro = "";
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.writeHeader("X-Latin", "caf\u00e9");
        try {
          response.writeHeader("X-Euro", "\u20ac");
        } catch (error) {
          euro = (error as Error).constructor.name;
        }
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.header("x-latin"), "caf\u00e9");
        assert.ok(connection.bytes.includes(0xe9));
        assert.equal(euro, "TypeError");
      },
    );
  });

  test("request cookies are parsed", async () => {
    let cookies: [string, string][] = [];
    await withServer(
      (request) => {
        cookies = [...request.cookies];
        HttpResponse.create(request).destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/", 'Cookie: a=1; b="two"\r\nCookie: c=3\r\n'));
        await connection.waitForResponses(1);
        assert.deepEqual(cookies, [["a", "1"], ["b", "two"], ["c", "3"]]);
      },
    );
  });

  test("request.contentType is the Content-Type header, undefined without one", async () => {
    const seen: (string | undefined)[] = [];
    await withServer(
      (request) => {
        seen.push(request.contentType);
        HttpResponse.create(request).destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/", "content-TYPE: application/json; charset=utf-8\r\n") + get("/"));
        await connection.waitForResponses(2);
        assert.deepEqual(seen, ["application/json; charset=utf-8", undefined]);
      },
    );
  });

  test("a handler that does nothing gets 404 and the connection stays open", async () => {
    await withServer(() => {}, {}, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(get("/nothing") + get("/nothing-again"));
      const responses = await connection.waitForResponses(2);
      for (const response of responses) {
        assert.equal(response.status, 404);
        assert.equal(response.text(), "Not Found");
        assert.equal(response.header("connection"), undefined);
      }
    });
  });

  test("a handler that writes but does not finish gets its response finished", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.writeBody("unfinished");
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.header("content-length"), "10");
        assert.equal(response.text(), "unfinished");
      },
    );
  });

  for (const kind of ["throws", "rejects"] as const) {
    test(`500 when the handler ${kind}: onError is called and the server keeps serving`, async () => {
      const failure = new Error(`handler ${kind}`);
      const errors: [unknown, HttpRequest | undefined][] = [];
      const handler: RequestHandler = kind === "throws"
        ? (request) => {
          if (request.path === "/fail") throw failure;
          echoPath(request);
        }
        : async (request) => {
          await Promise.resolve();
          if (request.path === "/fail") throw failure;
          echoPath(request);
        };
      await withServer(handler, {
        onError: (error, request) => errors.push([error, request]),
      }, async (server) => {
        // The same keep-alive connection, pipelined.
        const connection = new MemoryConnection(server);
        connection.write(get("/fail") + get("/ok"));
        const [failed, ok] = await connection.waitForResponses(2);
        assert.equal(failed.status, 500);
        assert.equal(failed.reason, "Internal Server Error");
        assert.equal(failed.header("connection"), undefined);
        assert.equal(ok.status, 200);
        assert.equal(ok.text(), "/ok");
        assert.equal(errors.length, 1);
        assert.equal(errors[0][0], failure);
        assert.equal(errors[0][1]?.path, "/fail");
        // A new connection.
        const other = new MemoryConnection(server);
        other.write(get("/fail") + get("/again"));
        const [failedAgain, again] = await other.waitForResponses(2);
        assert.equal(failedAgain.status, 500);
        assert.equal(again.text(), "/again");
        assert.equal(errors.length, 2);
      });
    });
  }

  test("an onError that throws does not stop the 500 or the server", async () => {
    await withServer(async (request) => {
      await Promise.resolve();
      if (request.path === "/fail") throw new Error("handler");
      echoPath(request);
    }, {
      onError: () => {
        throw new Error("onError itself fails");
      },
    }, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(get("/fail") + get("/ok"));
      const responses = await connection.waitForResponses(2, [], 2000);
      assert.deepEqual(responses.map((r) => r.status), [500, 200]);
    });
  });

  test("a handler that throws after sending the head gets its connection closed", async () => {
    const errors: unknown[] = [];
    await withServer(
      async (request) => {
        const response = HttpResponse.create(request);
        response.send();
        response.writeBody("partial");
        await Promise.resolve();
        throw new Error("late failure");
      },
      { onError: (error) => errors.push(error) },
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const bytes = await connection.waitForEnd();
        // The connection is cut: whatever part of the response got through, the client can tell it is
        // incomplete (an unterminated chunked body, or nothing at all).
        const responses = parseResponses(bytes, ["GET"], true);
        assert.ok(responses.every((r) => !r.complete), connection.text);
        assert.equal(errors.length, 1);
      },
    );
  });

  test("an async handler may answer later", async () => {
    const gate = deferred();
    const started = deferred();
    await withServer(
      async (request) => {
        started.resolve();
        await gate.promise;
        const response = HttpResponse.create(request);
        response.writeBody("later");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        await started.promise;
        assert.equal(connection.text, "");
        gate.resolve();
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.text(), "later");
      },
    );
  });

  test("a response can be created only once per request", async () => {
    let second = "";
    await withServer(
      (request) => {
        HttpResponse.create(request).destroy();
        try {
          HttpResponse.create(request);
        } catch (error) {
          second = (error as Error).constructor.name;
        }
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        await connection.waitForResponses(1);
        assert.equal(second, "TypeError");
      },
    );
  });
  test("the declared Content-Length is enforced", async () => {
    const seen: Record<string, unknown> = {};
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.writeHeader("Content-Length", 10);
        response.writeBody("12345");
        try {
          response.writeBody("678901");
        } catch (error) {
          seen.over = (error as Error).constructor.name;
        }
        response.destroy();
        seen.afterDestroy = response.writeBody("x");
        seen.finished = response.finished;
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const bytes = await connection.waitForEnd();
        const [response] = parseResponses(bytes, ["GET"], true);
        assert.equal(response.header("content-length"), "10");
        // Five bytes short: the server must close, or the client would wait for the rest forever.
        assert.equal(response.complete, false);
        assert.equal(response.text(), "12345");
        assert.deepEqual(seen, { over: "RangeError", afterDestroy: -1, finished: true });
      },
    );
  });

  test("contentLength = -1 omits Content-Length and closes after the body", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.contentLength = -1;
        response.writeBody("until close");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const bytes = await connection.waitForEnd();
        const response = assertOneResponse(parseResponses(bytes, ["GET"], true));
        assert.equal(response.framing, "close");
        assert.equal(response.header("connection"), "close");
        assert.equal(response.text(), "until close");
      },
    );
  });

  test("an invalid status is a 500 (RangeError from the handler)", async () => {
    const errors: unknown[] = [];
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.status = 1000;
        response.destroy();
      },
      { onError: (error) => errors.push(error) },
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.status, 500);
        assert.equal(errors.length, 1);
        assert.ok(errors[0] instanceof RangeError);
      },
    );
  });

  test("HEAD to a handler that throws: the 500 has no body, so the next response is intact", async () => {
    await withServer(
      (request) => {
        if (request.path === "/throw") throw new Error("boom");
        echoPath(request);
      },
      { onError: () => {} },
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(`HEAD /throw HTTP/1.1\r\nHost: test\r\n\r\n${get("/ok")}`);
        await connection.waitFor((text) => text.endsWith("/ok"), "the response to GET /ok");
        const [failed, ok] = parseResponses(connection.bytes, ["HEAD", "GET"]);
        assert.equal(failed.status, 500);
        assert.equal(ok.status, 200);
        assert.equal(ok.text(), "/ok");
      },
    );
  });

  test("HEAD to a handler that does nothing: 404 without a body", async () => {
    await withServer(() => {}, {}, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(`HEAD /none HTTP/1.1\r\nHost: test\r\n\r\n${get("/none")}`);
      const [head, full] = await connection.waitForResponses(2, ["HEAD", "GET"]);
      assert.equal(head.status, 404);
      assert.equal(head.header("content-length"), "9");
      assert.equal(full.text(), "Not Found");
    });
  });

  test("a handler that throws on a Connection: close request gets a 500 that says close", async () => {
    await withServer(
      () => {
        throw new Error("boom");
      },
      { onError: () => {} },
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/", "Connection: close\r\n"));
        const bytes = await connection.waitForEnd();
        const response = assertOneResponse(parseResponses(bytes, ["GET"], true));
        assert.equal(response.status, 500);
        assert.equal(response.header("connection"), "close");
      },
    );
  });

  test("sendFile returns -1 on a server without a file system", async () => {
    const results: number[] = [];
    await withServer(
      async (request) => {
        const response = HttpResponse.create(request);
        results.push(await response.sendFile("/etc/hostname"));
        response.writeBody("fallback");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.text(), "fallback");
        assert.deepEqual(results, [-1]);
      },
    );
  });
});

/** A file system in memory; reads are asynchronous and come in 64 KiB chunks, as real ones do. */
function memoryPlatform(files: Record<string, Uint8Array>): Platform {
  const fs: FileSystem = {
    stat(path) {
      const file = files[path];
      return Promise.resolve(
        file === undefined
          ? null
          : { isFile: true, isDirectory: false, size: file.length, mtime: new Date(CLOCK_START) },
      );
    },
    realPath: (path) => Promise.resolve(files[path] === undefined ? null : path),
    readRange(path, start, end) {
      const file = files[path];
      let position = start;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          await Promise.resolve();
          if (position >= end) {
            controller.close();
            return;
          }
          const length = Math.min(64 * 1024, end - position);
          controller.enqueue(file.slice(position, position + length));
          position += length;
        },
      }, { highWaterMark: 0 });
    },
  };
  return { name: "streams", homeDir: () => undefined, fs };
}

describe("sendFile over a stream server with a file system", () => {
  const small = pattern(1000, 3);
  const big = pattern(1024 * 1024, 5);
  const platform = memoryPlatform({ "/small.bin": small, "/big.bin": big });
  const sendFileHandler: RequestHandler = async (request) => {
    const response = HttpResponse.create(request);
    if (await response.sendFile(request.path) === -1) {
      response.status = 404;
      response.writeBody("no file");
      response.destroy();
    }
  };

  test("a small file, a range of it, HEAD, and -1 for a missing one", async () => {
    const server = await createStreamServer(sendFileHandler, { shutdownTimeout: 2 }, platform);
    try {
      const connection = new MemoryConnection(server);
      connection.write(
        get("/small.bin") + get("/small.bin", "Range: bytes=10-19\r\n") +
          "HEAD /small.bin HTTP/1.1\r\nHost: t\r\n\r\n" + get("/missing.bin"),
      );
      const [whole, range, head, missing] = await connection.waitForResponses(4, [
        "GET",
        "GET",
        "HEAD",
        "GET",
      ]);
      assert.equal(whole.status, 200);
      assert.equal(whole.header("content-length"), "1000");
      assert.deepEqual(whole.body, small);
      assert.equal(range.status, 206);
      assert.equal(range.header("content-range"), "bytes 10-19/1000");
      assert.deepEqual(range.body, small.subarray(10, 20));
      assert.equal(head.header("content-length"), "1000");
      assert.equal(missing.status, 404);
      assert.equal(missing.text(), "no file");
    } finally {
      await server.stop();
    }
  });

  test("a file larger than the output high-water mark is sent whole", async () => {
    const server = await createStreamServer(sendFileHandler, { shutdownTimeout: 1 }, platform);
    try {
      const connection = new MemoryConnection(server);
      connection.write(get("/big.bin"));
      const [response] = await connection.waitForResponses(1, ["GET"], 3000);
      assert.equal(response.body.length, big.length);
      assert.deepEqual(response.body, big);
    } finally {
      await server.stop();
    }
  });
});

describe("half-closed clients", () => {
  test("requests sent before the client's EOF are all answered, then the connection closes", async () => {
    for (
      const handler of [echoPath, async (request: HttpRequest) => {
        await Promise.resolve();
        echoPath(request);
      }]
    ) {
      await withServer(handler, {}, async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/a") + get("/b"));
        connection.end();
        const bytes = await connection.waitForEnd();
        const responses = parseResponses(bytes, ["GET", "GET"], true);
        assert.deepEqual(responses.map((r) => r.text()), ["/a", "/b"]);
      });
    }
  });

  test("half a request before EOF is dropped and the connection closes", async () => {
    await withServer(echoPath, {}, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(get("/a") + "GET /b HTTP/1.1\r\n");
      connection.end();
      const bytes = await connection.waitForEnd();
      assert.deepEqual(parseResponses(bytes, ["GET"], true).map((r) => r.text()), ["/a"]);
    });
  });

  test("a client reset while its handler runs is survived", async () => {
    const gate = deferred();
    const started = deferred();
    const results: number[] = [];
    await withServer(
      async (request) => {
        if (request.path === "/reset") {
          started.resolve();
          await gate.promise;
        }
        const response = HttpResponse.create(request);
        const result = response.writeBody(request.path);
        if (request.path === "/reset") results.push(result);
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/reset"));
        await started.promise;
        connection.abort();
        await connection.served;
        gate.resolve();
        // The server still serves others.
        const other = new MemoryConnection(server);
        other.write(get("/other"));
        const [response] = await other.waitForResponses(1);
        assert.equal(response.text(), "/other");
        assert.deepEqual(results, [-1]);
      },
    );
  });
});

describe("pipelining backpressure", () => {
  test("over 64 KiB of pipelined requests behind a slow handler are all answered in order", async () => {
    const gate = deferred();
    const started = deferred();
    const body = "x".repeat(40_000);
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
        const connection = new MemoryConnection(server);
        connection.write(get("/slow"));
        await started.promise;
        const post = (path: string) =>
          `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
        for (const path of ["/p1", "/p2", "/p3", "/p4"]) connection.write(post(path));
        gate.resolve();
        const responses = await connection.waitForResponses(5);
        assert.deepEqual(responses.map((r) => r.text()), [
          "/slow 0",
          "/p1 40000",
          "/p2 40000",
          "/p3 40000",
          "/p4 40000",
        ]);
      },
    );
  });
});

describe("keep-alive and pipelining", () => {
  test("three pipelined requests in one write get three responses in order", async () => {
    const uuids: number[] = [];
    await withServer(
      (request) => {
        uuids.push(request.uuid);
        echoPath(request);
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/one") + get("/two") + get("/three"));
        const responses = await connection.waitForResponses(3);
        assert.deepEqual(responses.map((r) => r.text()), ["/one", "/two", "/three"]);
        assert.equal(new Set(uuids).size, 1);
      },
    );
  });

  test("pipelined requests in any chunking get their responses in order", async () => {
    await withServer(echoAll, {}, async (server) => {
      const wire = ascii(
        "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi" +
          "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
          "GET /c HTTP/1.1\r\nHost: t\r\n\r\n",
      );
      for (const pieces of splits(wire)) {
        const connection = new MemoryConnection(server);
        for (const piece of pieces) connection.write(piece);
        const responses = await connection.waitForResponses(3);
        assert.deepEqual(responses.map((r) => r.text()), ["POST /a hi", "POST /b abc", "GET /c "]);
        connection.end();
        await connection.ended;
      }
    });
  });

  test("a slower async first handler still answers first; later requests wait their turn", async () => {
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
        const connection = new MemoryConnection(server);
        connection.write(get("/slow") + get("/fast") + get("/faster"));
        await started.promise;
        assert.deepEqual(handled, ["/slow"]);
        gate.resolve();
        const responses = await connection.waitForResponses(3);
        assert.deepEqual(responses.map((r) => r.text()), ["/slow", "/fast", "/faster"]);
        assert.deepEqual(handled, ["/slow", "/fast", "/faster"]);
      },
    );
  });

  test("HTTP/1.0 without keep-alive gets Connection: close and is closed", async () => {
    await withServer(echoPath, {}, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(get("/old", "", "HTTP/1.0") + get("/ignored"));
      const bytes = await connection.waitForEnd();
      const responses = parseResponses(bytes, ["GET"], true);
      const response = assertOneResponse(responses);
      assert.equal(response.header("connection"), "close");
      assert.equal(response.text(), "/old");
    });
  });

  test("HTTP/1.0 with Connection: keep-alive stays open", async () => {
    await withServer(echoPath, {}, async (server) => {
      const connection = new MemoryConnection(server);
      const keepAlive = "Connection: keep-alive\r\n";
      connection.write(get("/a", keepAlive, "HTTP/1.0") + get("/b", keepAlive, "HTTP/1.0"));
      const responses = await connection.waitForResponses(2);
      for (const response of responses) assert.equal(response.header("connection"), "keep-alive");
      assert.deepEqual(responses.map((r) => r.text()), ["/a", "/b"]);
      assert.equal(connection.isEnded, false);
    });
  });

  test("Connection: close closes after the response; pipelined requests after it are dropped", async () => {
    const handled: string[] = [];
    await withServer(
      (request) => {
        handled.push(request.path);
        echoPath(request);
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/last", "Connection: close\r\n") + get("/dropped"));
        const bytes = await connection.waitForEnd();
        const response = assertOneResponse(parseResponses(bytes, ["GET"], true));
        assert.equal(response.header("connection"), "close");
        assert.equal(response.text(), "/last");
        assert.deepEqual(handled, ["/last"]);
      },
    );
  });

  test("a response that sets Connection: close closes the connection", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.writeHeader("Connection", "close");
        response.writeBody("bye");
        response.destroy();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const bytes = await connection.waitForEnd();
        const response = assertOneResponse(parseResponses(bytes, ["GET"], true));
        assert.equal(response.header("connection"), "close");
        assert.equal(response.text(), "bye");
      },
    );
  });

  test("response.close() finishes the response and closes the connection", async () => {
    await withServer(
      (request) => {
        const response = HttpResponse.create(request);
        response.writeBody("closing");
        response.close();
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/"));
        const bytes = await connection.waitForEnd();
        const response = assertOneResponse(parseResponses(bytes, ["GET"], true));
        assert.equal(response.header("connection"), "close");
        assert.equal(response.text(), "closing");
      },
    );
  });
});

describe("Expect: 100-continue", () => {
  test("the server sends 100 Continue before the client sends the body", async () => {
    const bodies: string[] = [];
    await withServer(
      (request) => {
        bodies.push(request.text());
        echoAll(request);
      },
      {},
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(
          "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        );
        const text = await connection.waitFor((t) => t.includes("\r\n\r\n"), "100 Continue");
        assert.equal(text, "HTTP/1.1 100 Continue\r\n\r\n");
        assert.deepEqual(bodies, []);
        connection.write("hello");
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.text(), "POST /upload hello");
      },
    );
  });

  test("a body over maxBodySize is refused with 413 instead of 100 Continue", async () => {
    await withServer(echoAll, { maxBodySize: 100 }, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n",
      );
      const bytes = await connection.waitForEnd();
      const response = assertOneResponse(parseResponses(bytes, [], true));
      assert.equal(response.status, 413);
    });
  });

  test("a pipelined request's 100 Continue comes after the previous response", async () => {
    await withServer(echoAll, {}, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(
        get("/first") +
          "POST /second HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
      );
      await connection.waitFor((t) => t.includes("100 Continue\r\n\r\n"), "100 Continue");
      assert.ok(connection.text.startsWith("HTTP/1.1 200 OK\r\n"), connection.text);
      connection.write("abc");
      const responses = await connection.waitForResponses(2);
      assert.deepEqual(responses.map((r) => r.text()), ["GET /first ", "POST /second abc"]);
    });
  });

  test("HTTP/1.0 gets no 100 Continue", async () => {
    await withServer(echoAll, {}, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(
        "POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
      );
      const bytes = await connection.waitForEnd();
      assert.ok(!connection.text.includes("100 Continue"), connection.text);
      assert.equal(assertOneResponse(parseResponses(bytes, ["POST"], true)).text(), "POST / hi");
    });
  });
});

describe("hostile input", () => {
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
          const connection = new MemoryConnection(server);
          connection.write(wire + get("/smuggled"));
          const bytes = await connection.waitForEnd();
          const response = assertOneResponse(parseResponses(bytes, [], true));
          assert.equal(response.status, status, connection.text);
          assert.equal(response.header("connection"), "close");
          assert.equal(response.complete, true);
          assert.deepEqual(handled, []);
        },
      );
    });
  }

  test("a head just under maxHeaderSize is accepted", async () => {
    await withServer(echoPath, { maxHeaderSize: 1024 }, async (server) => {
      const head = get("/", `X-Big: ${"a".repeat(900)}\r\n`);
      assert.ok(head.length <= 1024);
      const connection = new MemoryConnection(server);
      connection.write(head);
      const [response] = await connection.waitForResponses(1);
      assert.equal(response.status, 200);
    });
  });

  test("a body of exactly maxBodySize is accepted", async () => {
    await withServer(echoAll, { maxBodySize: 10 }, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789");
      const [response] = await connection.waitForResponses(1);
      assert.equal(response.text(), "POST / 0123456789");
    });
  });
});

describe("timeouts with an injected clock", () => {
  test("half a head is answered 408 and closed after headerTimeout, not before", async () => {
    const clock = fakeClock();
    await withServer(
      echoPath,
      { clock: clock.now, timeout: 5, headerTimeout: 10 },
      async (server) => {
        const early = new MemoryConnection(server);
        await early.write("GET /early HTTP/1.1\r\nHo");
        const slow = new MemoryConnection(server);
        await slow.write("GET /slow HTTP/1.1\r\nHo");
        // Past the idle timeout but within the header timeout: a head in progress is not idle.
        clock.advance(6000);
        server.tick();
        early.write("st: test\r\n\r\n");
        const [response] = await early.waitForResponses(1);
        assert.equal(response.text(), "/early");
        clock.advance(5000);
        server.tick();
        const bytes = await slow.waitForEnd();
        const timedOut = assertOneResponse(parseResponses(bytes, [], true));
        assert.equal(timedOut.status, 408);
        assert.equal(timedOut.header("connection"), "close");
      },
    );
  });

  test("headerTimeout counts from the head's first byte, also on a kept-alive connection", async () => {
    const clock = fakeClock();
    await withServer(
      echoPath,
      { clock: clock.now, timeout: 60, headerTimeout: 2 },
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/first"));
        await connection.waitForResponses(1);
        clock.advance(10_000);
        server.tick();
        await connection.write("GET /second HTTP/1.1\r\n");
        clock.advance(3000);
        server.tick();
        const bytes = await connection.waitForEnd();
        const responses = parseResponses(bytes, [], true);
        assert.deepEqual(responses.map((r) => r.status), [200, 408]);
      },
    );
  });

  test("an idle keep-alive connection is closed after timeout", async () => {
    const clock = fakeClock();
    await withServer(echoPath, { clock: clock.now, timeout: 5 }, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(get("/"));
      await connection.waitForResponses(1);
      clock.advance(6000);
      server.tick();
      const bytes = await connection.waitForEnd();
      // Closed without another byte.
      assert.equal(parseResponses(bytes, [], true).length, 1);
    });
  });

  test("a connection that never sends anything is closed after timeout", async () => {
    const clock = fakeClock();
    await withServer(echoPath, { clock: clock.now, timeout: 3 }, async (server) => {
      const connection = new MemoryConnection(server);
      clock.advance(4000);
      server.tick();
      const bytes = await connection.waitForEnd();
      assert.equal(bytes.length, 0);
    });
  });

  test("a connection with traffic is not closed", async () => {
    const clock = fakeClock();
    await withServer(echoPath, { clock: clock.now, timeout: 5 }, async (server) => {
      const connection = new MemoryConnection(server);
      for (let i = 1; i <= 4; i++) {
        // Four requests 3 s apart: 12 s in all, never 5 s idle.
        clock.advance(3000);
        server.tick();
        connection.write(get(`/${i}`));
        const responses = await connection.waitForResponses(i);
        assert.equal(responses[i - 1].text(), `/${i}`);
      }
      clock.advance(6000);
      server.tick();
      await connection.waitForEnd();
    });
  });

  test("headerTimeout counts from the head's first byte: a slow drip does not extend it", async () => {
    const clock = fakeClock();
    await withServer(
      echoPath,
      { clock: clock.now, timeout: 5, headerTimeout: 10 },
      async (server) => {
        const connection = new MemoryConnection(server);
        const head = get("/drip");
        for (let i = 0; i < 4; i++) {
          // One byte every 3 s: never idle for the 5 s timeout, but 12 s for the head.
          await connection.write(head[i]);
          clock.advance(3000);
          server.tick();
        }
        const bytes = await connection.waitForEnd();
        assert.equal(assertOneResponse(parseResponses(bytes, [], true)).status, 408);
      },
    );
  });

  test("a client that stalls in the middle of a body is closed after timeout", async () => {
    const clock = fakeClock();
    await withServer(
      echoAll,
      { clock: clock.now, timeout: 5, headerTimeout: 10 },
      async (server) => {
        const connection = new MemoryConnection(server);
        await connection.write("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345");
        clock.advance(6000);
        server.tick();
        await connection.waitForEnd();
      },
    );
  });

  test("with timeout: 0, a body that stops arriving gets 408 after headerTimeout", async () => {
    const clock = fakeClock();
    await withServer(
      echoAll,
      { clock: clock.now, timeout: 0, headerTimeout: 10 },
      async (server) => {
        const connection = new MemoryConnection(server);
        await connection.write("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345");
        clock.advance(9000);
        server.tick();
        assert.equal(connection.isEnded, false, "cut before headerTimeout");
        clock.advance(2000);
        server.tick();
        const bytes = await connection.waitForEnd();
        const response = assertOneResponse(parseResponses(bytes, [], true));
        assert.equal(response.status, 408);
        assert.equal(response.header("connection"), "close");
      },
    );
  });

  test("a body that keeps arriving is not cut, however long it takes", async () => {
    const clock = fakeClock();
    await withServer(
      echoAll,
      { clock: clock.now, timeout: 0, headerTimeout: 5 },
      async (server) => {
        const connection = new MemoryConnection(server);
        await connection.write("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n");
        for (const byte of "abcdef") {
          // A byte every 3 s: 18 s in all, never 5 s without one.
          clock.advance(3000);
          server.tick();
          await connection.write(byte);
        }
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.status, 200);
        assert.equal(response.text(), "POST / abcdef");
      },
    );
  });

  test("timeout: 0 never closes an idle connection", async () => {
    const clock = fakeClock();
    await withServer(echoPath, { clock: clock.now, timeout: 0 }, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(get("/a"));
      await connection.waitForResponses(1);
      clock.advance(1000_000);
      server.tick();
      connection.write(get("/b"));
      const responses = await connection.waitForResponses(2);
      assert.equal(responses[1].text(), "/b");
    });
  });

  test("a handler that takes longer than timeout is not cut off", async () => {
    const clock = fakeClock();
    const gate = deferred();
    const started = deferred();
    await withServer(
      async (request) => {
        started.resolve();
        await gate.promise;
        echoPath(request);
      },
      { clock: clock.now, timeout: 5, headerTimeout: 2 },
      async (server) => {
        const connection = new MemoryConnection(server);
        connection.write(get("/slow"));
        await started.promise;
        clock.advance(30_000);
        server.tick();
        gate.resolve();
        const [response] = await connection.waitForResponses(1);
        assert.equal(response.text(), "/slow");
      },
    );
  });
});

describe("maxConnections", () => {
  test("the connection over the limit gets 503 Server Busy.", async () => {
    const handled: string[] = [];
    await withServer(
      (request) => {
        handled.push(request.path);
        echoPath(request);
      },
      { maxConnections: 1 },
      async (server) => {
        const first = new MemoryConnection(server);
        first.write(get("/first"));
        await first.waitForResponses(1);
        assert.equal(server.connectionCount, 1);
        const second = new MemoryConnection(server);
        second.write(get("/second"));
        const bytes = await second.waitForEnd();
        const busy = assertOneResponse(parseResponses(bytes, [], true));
        assert.equal(busy.status, 503);
        assert.equal(busy.text(), "Server Busy.");
        assert.equal(busy.header("connection"), "close");
        assert.deepEqual(handled, ["/first"]);
        // Once the first connection is gone there is room again.
        first.write(get("/bye", "Connection: close\r\n"));
        await first.served;
        assert.equal(server.connectionCount, 0);
        const third = new MemoryConnection(server);
        third.write(get("/third"));
        const [response] = await third.waitForResponses(1);
        assert.equal(response.text(), "/third");
      },
    );
  });

  test("a connection the client closes first is released without waiting", async () => {
    await withServer(echoPath, {}, async (server) => {
      const connection = new MemoryConnection(server);
      connection.write(get("/"));
      await connection.waitForResponses(1);
      connection.end();
      await connection.ended;
      await connection.served;
      // Both sides are closed; stop() has nothing to wait for.
      const started = Date.now();
      await server.stop();
      assert.ok(Date.now() - started < 1000, `stop() took ${Date.now() - started} ms`);
    });
  });
});

describe("graceful stop", () => {
  test("an in-flight request finishes, idle connections close, new ones are refused", async () => {
    const gate = deferred();
    const started = deferred();
    const calls: string[] = [];
    let initServer: Server | undefined;
    let finishServer: Server | undefined;
    const server = await createStreamServer(async (request) => {
      if (request.path === "/slow") {
        started.resolve();
        await gate.promise;
      }
      echoPath(request);
    }, {
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
    try {
      assert.deepEqual(calls, ["init"]);
      assert.equal(initServer, server);
      const idle = new MemoryConnection(server);
      idle.write(get("/idle"));
      await idle.waitForResponses(1);
      const busy = new MemoryConnection(server);
      busy.write(get("/slow"));
      await started.promise;
      let stopped = false;
      const stopping = server.stop().then(() => stopped = true);
      assert.equal(server.stop(), server.stop());
      // The idle keep-alive connection is closed without another response.
      const idleBytes = await idle.waitForEnd();
      assert.equal(parseResponses(idleBytes, [], true).length, 1);
      // New connections are refused.
      const late = new MemoryConnection(server);
      late.write(get("/late"));
      const lateBytes = await late.waitForEnd();
      assert.equal(assertOneResponse(parseResponses(lateBytes, [], true)).status, 503);
      assert.equal(stopped, false);
      // The in-flight request finishes, and its connection closes after it.
      gate.resolve();
      const busyBytes = await busy.waitForEnd();
      const response = assertOneResponse(parseResponses(busyBytes, ["GET"], true));
      assert.equal(response.text(), "/slow");
      assert.equal(response.header("connection"), "close");
      await stopping;
      await server.finished;
      assert.deepEqual(calls, ["init", "finish"]);
      assert.equal(finishServer, server);
      assert.equal(server.connectionCount, 0);
    } finally {
      gate.resolve();
      await server.stop();
    }
  });

  test("the in-flight response during stop() says Connection: close", async () => {
    const gate = deferred();
    const started = deferred();
    const server = await createStreamServer(async (request) => {
      started.resolve();
      await gate.promise;
      echoPath(request);
    }, { shutdownTimeout: 5 });
    try {
      const connection = new MemoryConnection(server);
      connection.write(get("/slow"));
      await started.promise;
      const stopping = server.stop();
      gate.resolve();
      const bytes = await connection.waitForEnd();
      const response = assertOneResponse(parseResponses(bytes, ["GET"], true));
      assert.equal(response.header("connection"), "close");
      await stopping;
    } finally {
      gate.resolve();
      await server.stop();
    }
  });

  test("a request that outlasts shutdownTimeout is cut", async () => {
    const started = deferred();
    const server = await createStreamServer(async () => {
      started.resolve();
      await new Promise(() => {});
    }, { shutdownTimeout: 0.05 });
    try {
      const connection = new MemoryConnection(server);
      connection.write(get("/forever"));
      await started.promise;
      const stopping = server.stop();
      await connection.waitForEnd();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        stopping,
        new Promise((_, reject) =>
          timer = setTimeout(() => reject(new Error("stop hung")), WAIT_MS)
        ),
      ]).finally(() => clearTimeout(timer));
      assert.equal(server.connectionCount, 0);
    } finally {
      await server.stop();
    }
  });
});
