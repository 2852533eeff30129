import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FileSystem } from "../../src/platform.ts";
import { PublicFolder, type RequestHeaders, type StaticResponse } from "../../src/http/static.ts";
import { formatHttpDate, httpDate, parseHttpDate } from "../../src/http/date.ts";
import { contentTypeFor } from "../../src/http/mime.ts";
import { nodeFileSystem } from "../../adapters/_fs_node.ts";
import { denoFileSystem } from "../../adapters/_fs_deno.ts";

// ---- fixture: <base>/public is served; <base>/x and friends are the secrets an escape would reach ----

const base = mkdtempSync(join(tmpdir(), "wharf-static-"));
const pub = join(base, "public");
const MTIME = new Date("2020-01-02T03:04:05.678Z");
const BIG_BYTES = 5 * 1024 * 1024;

function file(path: string, content: string | Uint8Array): void {
  writeFileSync(path, content);
  utimesSync(path, MTIME, MTIME);
}

const big = new Uint8Array(BIG_BYTES);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >>> 11)) & 0xff;
const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 3]);

mkdirSync(join(pub, "a"), { recursive: true });
mkdirSync(join(pub, "docs"));
mkdirSync(join(pub, "empty"));
mkdirSync(join(pub, ".git"));
mkdirSync(join(base, "public-private"));
file(join(base, "x"), "SECRET x");
file(join(base, "x.txt"), "SECRET x.txt");
file(join(base, "public-private", "secret.txt"), "SECRET sibling");
file(join(pub, "index.html"), "<h1>home</h1>");
file(join(pub, "docs", "index.html"), "<h1>docs</h1>");
file(join(pub, "a", "page.txt"), "in a");
file(join(pub, "style.css"), "body { color: red }");
file(join(pub, "app.js"), "console.log(1);");
file(join(pub, "data.json"), '{"a":1}');
file(join(pub, "image.png"), png);
file(join(pub, "noext"), "plain bytes");
file(join(pub, "hello world.txt"), "hello world");
file(join(pub, "café.txt"), "café");
file(join(pub, "a..b.txt"), "dots inside a name");
file(join(pub, "digits.txt"), "0123456789");
file(join(pub, "empty.txt"), "");
file(join(pub, ".env"), "SECRET=1");
file(join(pub, ".git", "config"), "[core]");
file(join(pub, "big.bin"), big);
// Modified "now" (a little ahead, so the test cannot race the clock): its Last-Modified is not yet strong.
writeFileSync(join(pub, "fresh.txt"), "0123456789");
const FRESH = new Date(Math.floor(Date.now() / 1000) * 1000 + 600_000);
utimesSync(join(pub, "fresh.txt"), FRESH, FRESH);
// A file whose name holds the backslashes of an escape attempt: refused even though it exists.
file(join(pub, "a\\..\\x"), "backslash name");
symlinkSync(join(base, "x"), join(pub, "escape"));
symlinkSync(base, join(pub, "escdir"));
symlinkSync(join(base, "public-private", "secret.txt"), join(pub, "sibling"));
symlinkSync(join(pub, "digits.txt"), join(pub, "alias.html"));

after(() => rmSync(base, { recursive: true, force: true }));

// ---- helpers ----

function headers(fields: Record<string, string> = {}): RequestHeaders {
  const map = new Map(Object.entries(fields).map(([k, v]) => [k.toLowerCase(), v]));
  return { get: (name) => map.get(name.toLowerCase()) };
}

function field(response: StaticResponse, name: string): string | undefined {
  return response.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

async function readAll(
  stream: ReadableStream<Uint8Array> | null,
): Promise<{ bytes: Uint8Array; chunks: number }> {
  assert.ok(stream !== null, "expected a body");
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk);
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return { bytes, chunks: parts.length };
}

async function text(response: StaticResponse): Promise<string> {
  return new TextDecoder().decode((await readAll(response.body)).bytes);
}

const ETAG = (size: number) => `W/"${size.toString(16)}-${MTIME.getTime().toString(16)}"`;
const LAST_MODIFIED = "Thu, 02 Jan 2020 03:04:05 GMT";

// ---- the same cases for every file system this runtime has ----

const systems: [string, FileSystem][] = [["nodeFileSystem", nodeFileSystem]];
if ((globalThis as { Deno?: unknown }).Deno !== undefined) {
  systems.push(["denoFileSystem", denoFileSystem]);
}

for (const [fsName, fs] of systems) {
  describe(`PublicFolder with ${fsName}`, () => {
    const folder = new PublicFolder(pub, fs);
    const ready = folder.open();
    const get = async (path: string, fields?: Record<string, string>, method = "GET") => {
      await ready;
      return await folder.serve(method, path, headers(fields));
    };
    const must = async (path: string, fields?: Record<string, string>, method = "GET") => {
      const response = await get(path, fields, method);
      assert.ok(response !== null, `expected a response for ${path}`);
      return response;
    };

    test("serves files with the content type of their extension", async () => {
      const cases: [string, string, string][] = [
        ["/style.css", "text/css; charset=utf-8", "body { color: red }"],
        ["/app.js", "text/javascript; charset=utf-8", "console.log(1);"],
        ["/data.json", "application/json", '{"a":1}'],
        ["/noext", "application/octet-stream", "plain bytes"],
        ["/a/page.txt", "text/plain; charset=utf-8", "in a"],
      ];
      for (const [path, type, body] of cases) {
        const response = await must(path);
        assert.equal(response.status, 200);
        assert.equal(field(response, "content-type"), type);
        assert.equal(
          field(response, "content-length"),
          String(new TextEncoder().encode(body).length),
        );
        assert.equal(field(response, "accept-ranges"), "bytes");
        assert.equal(field(response, "content-range"), undefined);
        assert.equal(await text(response), body);
      }
      const image = await must("/image.png");
      assert.equal(field(image, "content-type"), "image/png");
      assert.deepEqual((await readAll(image.body)).bytes, png);
    });

    test("an empty file has an empty body", async () => {
      const response = await must("/empty.txt");
      assert.equal(field(response, "content-length"), "0");
      const { bytes, chunks } = await readAll(response.body);
      assert.equal(bytes.length, 0);
      assert.equal(chunks, 0);
    });

    test("a directory serves its index.html, with or without a trailing slash", async () => {
      for (
        const [path, body] of [["/", "<h1>home</h1>"], ["/docs/", "<h1>docs</h1>"], [
          "/docs",
          "<h1>docs</h1>",
        ]]
      ) {
        const response = await must(path);
        assert.equal(field(response, "content-type"), "text/html; charset=utf-8");
        assert.equal(await text(response), body);
      }
      assert.equal(await get("/empty/"), null);
      assert.equal(await get("/empty"), null);
    });

    test("decodes percent-encoding, keeps '..' inside names, ignores the query", async () => {
      assert.equal(await text(await must("/hello%20world.txt")), "hello world");
      assert.equal(await text(await must("/caf%C3%A9.txt")), "café");
      assert.equal(await text(await must("/a..b.txt")), "dots inside a name");
      assert.equal(await text(await must("/style.css?v=1&x=/../y")), "body { color: red }");
      assert.equal(await text(await must("/a//page.txt")), "in a");
    });

    test("a symbolic link inside the folder is served, typed by the link's name", async () => {
      const response = await must("/alias.html");
      assert.equal(field(response, "content-type"), "text/html; charset=utf-8");
      assert.equal(await text(response), "0123456789");
    });

    test("answers null for other methods, missing files and bad encoding", async () => {
      for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "get", "head"]) {
        assert.equal(await get("/style.css", {}, method), null, method);
      }
      for (const path of ["/nope.txt", "/a/nope", "/style.css/x", "/%zz", "/%C3", "/%", "*", ""]) {
        assert.equal(await get(path), null, path);
      }
    });

    test("never serves dotfiles", async () => {
      for (const path of ["/.env", "/.git/config", "/%2eenv", "/.git/", "/./style.css"]) {
        assert.equal(await get(path), null, path);
      }
    });

    test("every escape attempt is not found", async () => {
      // The targets exist, so an escape would be served rather than missed.
      assert.ok(existsSync(join(base, "x")) && existsSync(join(pub, "a\\..\\x")));
      const attempts = [
        "/../x",
        "/../x.txt",
        "/%2e%2e/x",
        "/%2E%2E/x",
        "/a/%2e%2e/%2e%2e/x",
        "/a/../../x",
        "/..%2fx",
        "/..%2Fx",
        "/%2fetc/passwd",
        "/a\\..\\x",
        "/%5c..%5cx",
        "/%5C..%5Cx",
        "/a%5c..%5cx",
        "/x%00.txt",
        "/%00",
        "/..%252fx",
        "/escape",
        "/escdir/x",
        "/sibling",
      ];
      for (const path of attempts) {
        assert.equal(await get(path), null, path);
        assert.equal(await get(path, {}, "HEAD"), null, path);
      }
    });

    test("sends Last-Modified and a weak ETag from size and mtime", async () => {
      const response = await must("/digits.txt");
      assert.equal(field(response, "last-modified"), LAST_MODIFIED);
      assert.equal(field(response, "etag"), ETAG(10));
      assert.deepEqual(response.headers.map(([name]) => name), [
        "Content-Type",
        "Content-Length",
        "Last-Modified",
        "ETag",
        "Accept-Ranges",
      ]);
      await response.body?.cancel();
    });

    test("If-None-Match answers 304 on a weak match, a list or *", async () => {
      const etag = ETAG(10);
      const strongForm = etag.substring(2);
      for (
        const value of [
          etag,
          strongForm,
          `"nope", ${etag}`,
          `W/"a",${strongForm} , "b"`,
          "*",
          " * ",
        ]
      ) {
        for (const method of ["GET", "HEAD"]) {
          const response = await must("/digits.txt", { "If-None-Match": value }, method);
          assert.equal(response.status, 304, value);
          assert.equal(response.body, null);
          assert.deepEqual(response.headers, [["ETag", etag]]);
        }
      }
      for (const value of ['"nope"', 'W/"a", "b"', "", "garbage", etag.slice(0, -2) + '"']) {
        const response = await must("/digits.txt", { "If-None-Match": value });
        assert.equal(response.status, 200, value);
        assert.equal(await text(response), "0123456789");
      }
    });

    test("If-Modified-Since answers 304 at second precision", async () => {
      const later = formatHttpDate(MTIME.getTime() + 60_000);
      const earlier = formatHttpDate(MTIME.getTime() - 1000);
      for (const value of [LAST_MODIFIED, later, "Thursday, 02-Jan-20 03:04:05 GMT"]) {
        const response = await must("/digits.txt", { "If-Modified-Since": value });
        assert.equal(response.status, 304, value);
        assert.equal(response.body, null);
      }
      for (const value of [earlier, "not a date", "Thu, 02 Jan 2020 03:04:05 UTC"]) {
        const response = await must("/digits.txt", { "If-Modified-Since": value });
        assert.equal(response.status, 200, value);
        await response.body?.cancel();
      }
    });

    test("If-None-Match takes precedence over If-Modified-Since", async () => {
      const response = await must("/digits.txt", {
        "If-None-Match": '"other"',
        "If-Modified-Since": LAST_MODIFIED,
      });
      assert.equal(response.status, 200);
      assert.equal(await text(response), "0123456789");
    });

    test("If-Match and If-Unmodified-Since answer 412 when they fail", async () => {
      assert.equal((await must("/digits.txt", { "If-Match": ETAG(10) })).status, 412);
      assert.equal((await must("/digits.txt", { "If-Match": '"x"' })).status, 412);
      const star = await must("/digits.txt", { "If-Match": "*" });
      assert.equal(star.status, 200);
      await star.body?.cancel();
      const failed = await must("/digits.txt", {
        "If-Unmodified-Since": formatHttpDate(MTIME.getTime() - 1000),
      });
      assert.equal(failed.status, 412);
      assert.equal(failed.body, null);
      assert.deepEqual(failed.headers, [["Content-Length", "0"]]);
      const held = await must("/digits.txt", { "If-Unmodified-Since": LAST_MODIFIED });
      assert.equal(held.status, 200);
      await held.body?.cancel();
    });

    test("Range answers 206 for a-b, a- and -n", async () => {
      const cases: [string, string, string][] = [
        ["bytes=0-4", "01234", "bytes 0-4/10"],
        ["bytes=3-3", "3", "bytes 3-3/10"],
        ["bytes=5-", "56789", "bytes 5-9/10"],
        ["bytes=-3", "789", "bytes 7-9/10"],
        ["bytes=7-100", "789", "bytes 7-9/10"],
        ["bytes=-100", "0123456789", "bytes 0-9/10"],
        ["BYTES = 2-3", "23", "bytes 2-3/10"],
        ["bytes=2-3, ", "23", "bytes 2-3/10"],
      ];
      for (const [range, body, contentRange] of cases) {
        const response = await must("/digits.txt", { Range: range });
        assert.equal(response.status, 206, range);
        assert.equal(field(response, "content-range"), contentRange);
        assert.equal(field(response, "content-length"), String(body.length));
        assert.equal(field(response, "content-type"), "text/plain; charset=utf-8");
        assert.equal(await text(response), body);
      }
    });

    test("an unsatisfiable Range answers 416 without a body", async () => {
      for (
        const [path, range, size] of [
          ["/digits.txt", "bytes=10-", 10],
          ["/digits.txt", "bytes=10-20", 10],
          ["/digits.txt", "bytes=-0", 10],
          ["/empty.txt", "bytes=0-", 0],
          ["/empty.txt", "bytes=-5", 0],
        ] as const
      ) {
        const response = await must(path, { Range: range });
        assert.equal(response.status, 416, range);
        assert.equal(response.body, null);
        assert.equal(field(response, "content-range"), `bytes */${size}`);
        assert.equal(field(response, "content-length"), "0");
      }
    });

    test("several, invalid or foreign ranges are ignored: the whole file", async () => {
      for (
        const range of [
          "bytes=0-1,3-4",
          "bytes=0-1, 5-",
          "bytes=5-2",
          "bytes=x-",
          "items=0-1",
          "bytes",
        ]
      ) {
        const response = await must("/digits.txt", { Range: range });
        assert.equal(response.status, 200, range);
        assert.equal(field(response, "content-range"), undefined);
        assert.equal(await text(response), "0123456789");
      }
    });

    test("If-Range honours the range only for the current Last-Modified", async () => {
      const ranged = await must("/digits.txt", { Range: "bytes=0-1", "If-Range": LAST_MODIFIED });
      assert.equal(ranged.status, 206);
      assert.equal(await text(ranged), "01");
      // Our ETags are weak and If-Range compares strongly (RFC 9110 §13.1.5), so they never match.
      for (
        const ifRange of [ETAG(10), formatHttpDate(MTIME.getTime() - 1000), '"other"', "junk"]
      ) {
        const response = await must("/digits.txt", { Range: "bytes=0-1", "If-Range": ifRange });
        assert.equal(response.status, 200, ifRange);
        assert.equal(await text(response), "0123456789");
      }
    });

    test("If-Range ignores a Last-Modified that is not yet over (RFC 9110 §8.8.2.2)", async () => {
      const lastModified = formatHttpDate(FRESH.getTime());
      const plain = await must("/fresh.txt", { Range: "bytes=0-1" });
      assert.equal(plain.status, 206);
      await plain.body?.cancel();
      const response = await must("/fresh.txt", { Range: "bytes=0-1", "If-Range": lastModified });
      assert.equal(field(response, "last-modified"), lastModified);
      assert.equal(response.status, 200);
      assert.equal(await text(response), "0123456789");
    });

    test("HEAD has the headers of GET and no body; Range is not applied", async () => {
      const response = await must("/digits.txt", {}, "HEAD");
      assert.equal(response.status, 200);
      assert.equal(response.body, null);
      assert.equal(field(response, "content-length"), "10");
      assert.equal(field(response, "etag"), ETAG(10));
      const ranged = await must("/digits.txt", { Range: "bytes=0-1" }, "HEAD");
      assert.equal(ranged.status, 200);
      assert.equal(ranged.body, null);
      assert.equal(field(ranged, "content-length"), "10");
      const index = await must("/", {}, "HEAD");
      assert.equal(field(index, "content-length"), "13");
      assert.equal(index.body, null);
    });

    test("a 5 MiB file streams in several chunks", async () => {
      const response = await must("/big.bin");
      assert.equal(field(response, "content-length"), String(BIG_BYTES));
      const { bytes, chunks } = await readAll(response.body);
      assert.ok(chunks > 1, `read in ${chunks} chunk(s)`);
      assert.ok(chunks >= BIG_BYTES / (64 * 1024), `chunks of at most 64 KiB: ${chunks}`);
      assert.equal(bytes.length, BIG_BYTES);
      assert.deepEqual(bytes, big);
    });

    test("a range across chunk boundaries of the big file", async () => {
      const response = await must("/big.bin", { Range: "bytes=65530-200000" });
      assert.equal(response.status, 206);
      const { bytes, chunks } = await readAll(response.body);
      assert.ok(chunks > 1);
      assert.deepEqual(bytes, big.subarray(65530, 200001));
    });

    test("cancelling a body stops reading", async () => {
      const response = await must("/big.bin");
      const reader = response.body!.getReader();
      const first = await reader.read();
      assert.equal(first.done, false);
      await reader.cancel();
      const after = await reader.read();
      assert.equal(after.done, true);
    });

    test("serveFile answers for one known file and any method", async () => {
      const path = join(pub, "digits.txt");
      const post = await folder.serveFile(path, "POST", headers({ Range: "bytes=0-1" }));
      assert.ok(post !== null);
      assert.equal(post.status, 200);
      assert.equal(await text(post), "0123456789");
      const ranged = await folder.serveFile(path, "GET", headers({ Range: "bytes=-2" }));
      assert.equal(ranged?.status, 206);
      assert.equal(await text(ranged!), "89");
      // Outside the folder is allowed here: the app chose the path.
      const outside = await folder.serveFile(join(base, "x.txt"), "GET", headers());
      assert.equal(await text(outside!), "SECRET x.txt");
      assert.equal(await folder.serveFile(join(pub, "nope"), "GET", headers()), null);
      assert.equal(await folder.serveFile(join(pub, "docs"), "GET", headers()), null);
    });

    test("open() rejects a missing folder or a file; serve() needs open()", async () => {
      await assert.rejects(new PublicFolder(join(base, "missing"), fs).open(), /does not exist/);
      await assert.rejects(new PublicFolder(join(base, "x"), fs).open(), /not a directory/);
      await assert.rejects(
        new PublicFolder(pub, fs).serve("GET", "/style.css", headers()),
        /open\(\) must complete/,
      );
      assert.throws(() => new PublicFolder("", fs), TypeError);
    });
  });

  describe(`${fsName} directly`, () => {
    test("stat and realPath answer null for missing paths and ENOTDIR", async () => {
      assert.equal(await fs.stat(join(base, "nope")), null);
      assert.equal(await fs.stat(join(base, "x", "child")), null);
      assert.equal(await fs.realPath(join(base, "nope")), null);
      assert.equal(await fs.realPath(join(base, "x", "child")), null);
      const info = await fs.stat(join(pub, "digits.txt"));
      assert.deepEqual(
        info && { ...info, mtime: info.mtime?.getTime() },
        { isFile: true, isDirectory: false, size: 10, mtime: MTIME.getTime() },
      );
      assert.equal((await fs.stat(pub))?.isDirectory, true);
      assert.equal(
        await fs.realPath(join(pub, "alias.html")),
        await fs.realPath(join(pub, "digits.txt")),
      );
    });

    test("readRange streams exactly the range, and errors when the file is shorter", async () => {
      const path = join(pub, "digits.txt");
      assert.equal(
        new TextDecoder().decode((await readAll(fs.readRange(path, 2, 6))).bytes),
        "2345",
      );
      assert.equal((await readAll(fs.readRange(path, 4, 4))).chunks, 0);
      await assert.rejects(readAll(fs.readRange(path, 0, 20)), /shrank/);
      await assert.rejects(readAll(fs.readRange(join(base, "nope"), 0, 1)));
    });
  });
}

// ---- dates and content types, which the static responses are built from ----

describe("httpDate and formatHttpDate", () => {
  test("format IMF-fixdate", () => {
    assert.equal(formatHttpDate(Date.UTC(1994, 10, 6, 8, 49, 37)), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert.equal(formatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert.equal(
      formatHttpDate(Date.UTC(2024, 1, 29, 23, 59, 59, 999)),
      "Thu, 29 Feb 2024 23:59:59 GMT",
    );
    assert.equal(formatHttpDate(-62135596800000), "Mon, 01 Jan 0001 00:00:00 GMT");
    assert.throws(() => formatHttpDate(Number.NaN), RangeError);
    assert.throws(() => formatHttpDate(Date.UTC(10000, 0, 1)), RangeError);
  });

  test("httpDate is recomputed only when the second changes", () => {
    const t = Date.UTC(2021, 5, 1, 12, 0, 0);
    const a = httpDate(t);
    assert.equal(a, "Tue, 01 Jun 2021 12:00:00 GMT");
    assert.equal(httpDate(t + 999), a);
    assert.equal(httpDate(t + 1000), "Tue, 01 Jun 2021 12:00:01 GMT");
    assert.equal(httpDate(t - 1), "Tue, 01 Jun 2021 11:59:59 GMT");
    assert.equal(typeof httpDate(), "string");
    assert.equal(parseHttpDate(httpDate()), Math.floor(Date.now() / 1000) * 1000);
  });
});

describe("parseHttpDate", () => {
  const expected = Date.UTC(1994, 10, 6, 8, 49, 37);
  test("accepts the three forms of RFC 9110 §5.6.7", () => {
    assert.equal(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
    assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
    assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), expected);
    assert.equal(parseHttpDate("Sun Nov 06 08:49:37 1994"), expected);
    assert.equal(parseHttpDate("  Sun, 06 Nov 1994 08:49:37 GMT\t"), expected);
    assert.equal(parseHttpDate("Sat, 31 Dec 2016 23:59:60 GMT"), Date.UTC(2017, 0, 1));
  });

  test("the two-digit year is at most 50 years ahead", () => {
    const now = Date.UTC(2025, 0, 1);
    assert.equal(parseHttpDate("Monday, 01-Jan-74 00:00:00 GMT", now), Date.UTC(2074, 0, 1));
    assert.equal(parseHttpDate("Monday, 01-Jan-76 00:00:00 GMT", now), Date.UTC(1976, 0, 1));
    assert.equal(parseHttpDate("Monday, 01-Jan-25 00:00:00 GMT", now), Date.UTC(2025, 0, 1));
  });

  test("rejects anything else without throwing", () => {
    for (
      const bad of [
        "",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMTX",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunnyday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov 6 08:49:37 1994",
        "1994-11-06T08:49:37Z",
        "784111777",
      ]
    ) {
      assert.equal(parseHttpDate(bad), null, bad);
    }
    assert.equal(parseHttpDate(undefined as unknown as string), null);
  });

  test("round-trips formatHttpDate", () => {
    for (const t of [0, 951782400000, 4102444799000, -2208988800000]) {
      assert.equal(parseHttpDate(formatHttpDate(t)), t);
    }
  });
});

describe("contentTypeFor", () => {
  test("maps extensions case-insensitively; text types carry a charset", () => {
    const cases: [string, string][] = [
      ["index.html", "text/html; charset=utf-8"],
      ["/a/B.HTM", "text/html; charset=utf-8"],
      ["x.css", "text/css; charset=utf-8"],
      ["x.js", "text/javascript; charset=utf-8"],
      ["x.mjs", "text/javascript; charset=utf-8"],
      ["x.json", "application/json"],
      ["x.js.map", "application/json"],
      ["x.txt", "text/plain; charset=utf-8"],
      ["x.md", "text/markdown; charset=utf-8"],
      ["x.csv", "text/csv; charset=utf-8"],
      ["x.xml", "application/xml"],
      ["x.svg", "image/svg+xml"],
      ["x.png", "image/png"],
      ["x.jpg", "image/jpeg"],
      ["x.jpeg", "image/jpeg"],
      ["x.gif", "image/gif"],
      ["x.webp", "image/webp"],
      ["x.avif", "image/avif"],
      ["favicon.ico", "image/x-icon"],
      ["x.wasm", "application/wasm"],
      ["x.pdf", "application/pdf"],
      ["x.zip", "application/zip"],
      ["x.tar.gz", "application/gzip"],
      ["x.mp3", "audio/mpeg"],
      ["x.mp4", "video/mp4"],
      ["x.webm", "video/webm"],
      ["x.ogg", "audio/ogg"],
      ["x.wav", "audio/wav"],
      ["x.woff", "font/woff"],
      ["x.woff2", "font/woff2"],
      ["x.ttf", "font/ttf"],
      ["x.otf", "font/otf"],
    ];
    for (const [path, type] of cases) assert.equal(contentTypeFor(path), type, path);
  });

  test("unknown, missing and dot-only extensions are application/octet-stream", () => {
    for (
      const path of ["x.unknown", "noext", ".env", "/a/.htaccess", "a.b/c", "a.html\\c", "x.", ""]
    ) {
      assert.equal(contentTypeFor(path), "application/octet-stream", path);
    }
  });
});
