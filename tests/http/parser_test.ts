import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HttpError } from "../../src/http/errors.ts";
import {
  DEFAULT_MAX_HEADER_BYTES,
  MAX_CHUNK_LINE_BYTES,
  MAX_LEADING_EMPTY_LINES,
  type ParserLimits,
  type RequestHead,
  RequestParser,
} from "../../src/http/parser.ts";
import { ascii, concat, splits } from "../_helpers/splits.ts";

const LIMITS: ParserLimits = {
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxBodyBytes: 1024 * 1024,
};

/** A head as plain data, so results of different chunkings compare with deepStrictEqual. */
interface Parsed {
  method: string;
  target: string;
  path: string;
  query: string;
  version: string;
  headers: [string, string][];
  host: string | undefined;
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
  expectContinue: boolean;
  upgrade: string | undefined;
  connectionUpgrade: boolean;
  body: string;
}

interface Outcome {
  requests: Parsed[];
  error?: { status: number; message: string };
  /** Bytes left unconsumed after an upgrade request, as text. */
  rest: string;
  /** Whether an unfinished request was pending when the input ended. */
  pending: boolean;
}

function text(bytes: Uint8Array): string {
  let result = "";
  for (const byte of bytes) result += String.fromCharCode(byte);
  return result;
}

function snapshot(head: RequestHead, body: Uint8Array): Parsed {
  return {
    method: head.method,
    target: head.target,
    path: head.path,
    query: head.query,
    version: head.version,
    headers: [...head.headers],
    host: head.host,
    contentLength: head.contentLength,
    chunked: head.chunked,
    keepAlive: head.keepAlive,
    expectContinue: head.expectContinue,
    upgrade: head.upgrade,
    connectionUpgrade: head.connectionUpgrade,
    body: text(body),
  };
}

/**
 * Feeds `pieces` like a connection would: pipelined requests one after the other, stopping at an upgrade.
 * Each piece is overwritten after use, as a transport reusing its read buffer would, so anything the
 * parser kept by reference shows up as corrupted output.
 */
function drive(pieces: Uint8Array[], limits: ParserLimits): Outcome {
  const parser = new RequestParser({ ...limits });
  const requests: Parsed[] = [];
  const rest: Uint8Array[] = [];
  let error: Outcome["error"];
  let upgraded = false;
  for (const piece of pieces) {
    if (error !== undefined) break;
    if (upgraded) {
      rest.push(piece.slice());
      continue;
    }
    let offset = 0;
    while (offset < piece.length) {
      const before = offset;
      try {
        offset = parser.execute(piece, offset);
      } catch (caught) {
        if (!(caught instanceof HttpError)) throw caught;
        error = { status: caught.status, message: caught.message };
        break;
      }
      assert.ok(offset >= before && offset <= piece.length);
      if (parser.complete) {
        const head = parser.head!;
        requests.push(snapshot(head, parser.body));
        if (head.upgrade !== undefined && head.connectionUpgrade) {
          upgraded = true;
          rest.push(piece.slice(offset));
          break;
        }
        parser.reset();
      } else if (offset === before) {
        throw new Error("execute made no progress on an incomplete request");
      }
    }
    piece.fill(0x7e);
  }
  return { requests, error, rest: text(concat(rest)), pending: parser.inProgress && !upgraded };
}

/** Parses `wire` at every chunking, asserts all give the same outcome, and returns it. */
function parse(wire: string | Uint8Array, limits: ParserLimits = LIMITS): Outcome {
  const bytes = typeof wire === "string" ? ascii(wire) : wire;
  let first: Outcome | undefined;
  for (const pieces of splits(bytes)) {
    const outcome = drive(pieces, limits);
    if (first === undefined) first = outcome;
    else {assert.deepStrictEqual(
        outcome,
        first,
        `chunking ${pieces.map((p) => p.length).join("+")}`,
      );}
  }
  return first!;
}

/** Parses one complete request at every chunking and returns it. */
function parseOne(wire: string | Uint8Array, limits: ParserLimits = LIMITS): Parsed {
  const outcome = parse(wire, limits);
  assert.strictEqual(outcome.error, undefined, outcome.error?.message);
  assert.strictEqual(outcome.requests.length, 1);
  assert.strictEqual(outcome.pending, false);
  return outcome.requests[0];
}

/** Parses `wire` at every chunking and asserts it fails with `status`; returns the message. */
function parseError(
  wire: string | Uint8Array,
  status: number,
  limits: ParserLimits = LIMITS,
): string {
  const outcome = parse(wire, limits);
  assert.ok(outcome.error, "expected an error");
  assert.strictEqual(outcome.error.status, status, outcome.error.message);
  assert.strictEqual(outcome.requests.length, 0);
  // Sentence case without a final period.
  const message = outcome.error.message;
  assert.match(message, /^[A-Z*][^\n]*[^.]$/);
  return message;
}

const GET_DEFAULTS = {
  method: "GET",
  version: "HTTP/1.1",
  contentLength: -1,
  chunked: false,
  keepAlive: true,
  expectContinue: false,
  upgrade: undefined,
  connectionUpgrade: false,
  body: "",
} as const;

describe("RequestParser: valid requests", () => {
  test("GET with headers", () => {
    const request = parseOne(
      "GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n",
    );
    assert.deepStrictEqual(request, {
      ...GET_DEFAULTS,
      target: "/index.html",
      path: "/index.html",
      query: "",
      headers: [["Host", "example.com"], ["User-Agent", "t/1"], ["Accept", "*/*"]],
      host: "example.com",
    });
  });

  test("query is split off raw, at the first question mark", () => {
    const request = parseOne("GET /a%20b/c?x=1&y=%2F?z HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.strictEqual(request.path, "/a%20b/c");
    assert.strictEqual(request.query, "x=1&y=%2F?z");
    assert.strictEqual(parseOne("GET /p? HTTP/1.1\r\nHost: h\r\n\r\n").query, "");
  });

  test("POST with Content-Length", () => {
    const request = parseOne(
      "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
    );
    assert.strictEqual(request.method, "POST");
    assert.strictEqual(request.contentLength, 11);
    assert.strictEqual(request.chunked, false);
    assert.strictEqual(request.body, "hello world");
  });

  test("Content-Length 0 and a GET with a body", () => {
    assert.strictEqual(
      parseOne("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").contentLength,
      0,
    );
    assert.strictEqual(
      parseOne("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab").body,
      "ab",
    );
  });

  test("identical Content-Length repeats are one length", () => {
    const list = parseOne("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nabcde");
    assert.strictEqual(list.contentLength, 5);
    assert.strictEqual(list.body, "abcde");
    const fields = parseOne(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length:5\r\n\r\nabcde",
    );
    assert.strictEqual(fields.contentLength, 5);
    assert.strictEqual(fields.body, "abcde");
  });

  test("chunked body with extensions and trailers", () => {
    const request = parseOne(
      "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5;name=value\r\nhello\r\n" +
        '1 ; q="a;b\\"c" \r\n \r\n' +
        "A\r\n0123456789\r\n" +
        "000\r\nExpires: never\r\nX-Checksum:  abc \r\n\r\n",
    );
    assert.strictEqual(request.chunked, true);
    assert.strictEqual(request.contentLength, -1);
    assert.strictEqual(request.body, "hello 0123456789");
    // Trailers are checked and discarded.
    assert.deepStrictEqual(request.headers, [["Host", "h"], ["Transfer-Encoding", "chunked"]]);
  });

  test("chunked body without data, and case-insensitive chunked with whitespace", () => {
    const empty = parseOne(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert.strictEqual(empty.body, "");
    assert.strictEqual(empty.chunked, true);
    const upper = parseOne(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  CHUNKED \r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert.strictEqual(upper.body, "abc");
  });

  test("a large chunked body made of many chunks", () => {
    const parts: string[] = ["POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"];
    let expected = "";
    for (let i = 1; i <= 40; i++) {
      const data = String.fromCharCode(0x41 + (i % 26)).repeat(i * 7);
      expected += data;
      parts.push(`${data.length.toString(16)}\r\n${data}\r\n`);
    }
    parts.push("0\r\n\r\n");
    const wire = ascii(parts.join(""));
    // Whole and byte by byte; every split would be slow for no extra coverage.
    for (const pieces of [[wire.slice()], Array.from(wire, (b) => Uint8Array.of(b))]) {
      const outcome = drive(pieces, LIMITS);
      assert.strictEqual(outcome.error, undefined);
      assert.strictEqual(outcome.requests[0].body, expected);
    }
  });

  test("HTTP/1.0 closes unless keep-alive is asked for", () => {
    const plain = parseOne("GET / HTTP/1.0\r\n\r\n");
    assert.strictEqual(plain.version, "HTTP/1.0");
    assert.strictEqual(plain.keepAlive, false);
    assert.strictEqual(plain.host, undefined);
    const kept = parseOne("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert.strictEqual(kept.keepAlive, true);
    const both = parseOne("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
    assert.strictEqual(both.keepAlive, false);
  });

  test("HTTP/1.1 keeps alive unless Connection lists close", () => {
    assert.strictEqual(parseOne("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keepAlive, true);
    assert.strictEqual(
      parseOne("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo ,CLOSE\r\n\r\n").keepAlive,
      false,
    );
    assert.strictEqual(
      parseOne("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: close\r\n\r\n")
        .keepAlive,
      false,
    );
    assert.strictEqual(
      parseOne("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed, xclose\r\n\r\n").keepAlive,
      true,
    );
  });

  test("HEAD", () => {
    const request = parseOne("HEAD /r HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.strictEqual(request.method, "HEAD");
    assert.strictEqual(request.body, "");
  });

  test("methods are case-sensitive tokens kept as sent", () => {
    assert.strictEqual(parseOne("get / HTTP/1.1\r\nHost: h\r\n\r\n").method, "get");
    assert.strictEqual(parseOne("M-SEARCH / HTTP/1.1\r\nHost: h\r\n\r\n").method, "M-SEARCH");
  });

  test("absolute-form target", () => {
    const request = parseOne(
      "GET http://example.com:8080/a/b%2Fc?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    );
    assert.strictEqual(request.target, "http://example.com:8080/a/b%2Fc?x=1");
    assert.strictEqual(request.path, "/a/b%2Fc");
    assert.strictEqual(request.query, "x=1");
    const bare = parseOne("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert.strictEqual(bare.path, "/");
    assert.strictEqual(bare.query, "");
    const query = parseOne("GET http://example.com?q=/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert.strictEqual(query.path, "/");
    assert.strictEqual(query.query, "q=/x");
  });

  test("asterisk-form and authority-form targets", () => {
    const options = parseOne("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.strictEqual(options.path, "*");
    assert.strictEqual(options.query, "");
    const connect = parseOne("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert.strictEqual(connect.target, "example.com:443");
    assert.strictEqual(connect.path, "");
  });

  test("field values: whitespace trimmed, empty values, obs-text kept byte for byte", () => {
    const wire = concat([
      ascii("GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\nX-Spaces: \t a \t b \t\r\nX-Latin: "),
      Uint8Array.of(0xe9, 0xff, 0x80),
      ascii("\r\n\r\n"),
    ]);
    const request = parseOne(wire);
    assert.deepStrictEqual(request.headers, [
      ["Host", "h"],
      ["X-Empty", ""],
      ["X-Spaces", "a \t b"],
      ["X-Latin", "\u00e9\u00ff\u0080"],
    ]);
  });

  test("names in any case are classified, and keep the case they were sent in", () => {
    const request = parseOne(
      "POST / HTTP/1.1\r\nHOST: h\r\ncontent-length: 1\r\nCoNnEcTiOn: Close\r\nx-a: 1\r\nX-A: 2\r\n\r\nz",
    );
    assert.strictEqual(request.host, "h");
    assert.strictEqual(request.body, "z");
    assert.strictEqual(request.keepAlive, false);
    assert.deepStrictEqual(request.headers.map(([name]) => name), [
      "HOST",
      "content-length",
      "CoNnEcTiOn",
      "x-a",
      "X-A",
    ]);
  });

  test("repeated and colliding names and values are never mixed up", () => {
    // "Aa" and "BB" have the same 31-multiplier hash, as do their concatenations.
    const values = ["Aa", "BB", "AaAa", "BBBB", "AaBB", "BBAa", "Aa"];
    const wire = values.map((v) =>
      `GET /${v} HTTP/1.1\r\nHost: ${v}\r\nUser-Agent: ${v}\r\nX-${v}: ${v}\r\n${v}: x\r\n\r\n`
    ).join("");
    const outcome = parse(wire);
    assert.strictEqual(outcome.error, undefined);
    assert.deepStrictEqual(
      outcome.requests.map((r) => r.headers),
      values.map((v) => [["Host", v], ["User-Agent", v], [`X-${v}`, v], [v, "x"]]),
    );
    assert.deepStrictEqual(outcome.requests.map((r) => r.host), values);
  });

  test("obs-text in a commonly repeated field is not confused with ASCII", () => {
    const wire = (byte: number): Uint8Array =>
      concat([
        ascii("GET / HTTP/1.1\r\nHost: h\r\nAccept: a"),
        Uint8Array.of(byte),
        ascii("\r\n\r\n"),
      ]);
    assert.strictEqual(parseOne(wire(0x62)).headers[1][1], "ab");
    assert.strictEqual(parseOne(wire(0xe2)).headers[1][1], "a\u00e2");
  });

  test("long header values decode intact", () => {
    const value = "v".repeat(5000) + "\u00e9".repeat(3);
    const wire = concat([
      ascii(`GET / HTTP/1.1\r\nHost: h\r\nX-Long: `),
      Uint8Array.from(value, (c) => c.charCodeAt(0)),
      ascii("\r\n\r\n"),
    ]);
    for (const pieces of [[wire.slice()], [wire.slice(0, 3000), wire.slice(3000)]]) {
      const outcome = drive(pieces, LIMITS);
      assert.strictEqual(outcome.requests[0].headers[1][1], value);
    }
  });

  test("lines around the length scanned byte by byte, and far beyond it, parse alike in any chunking", () => {
    // The parser looks for a line's LF in JavaScript over its first 64 bytes and with indexOf after that.
    const names = [62, 63, 64, 65, 66, 130].map((length) => `X-${"n".repeat(length - 2)}`);
    const wire = "GET / HTTP/1.1\r\nHost: h\r\n" +
      names.map((name) => `${name}: ${name.length}\r\n`).join("") + "X-Long: " + "v".repeat(300) +
      "\r\n\r\n";
    const request = parseOne(wire);
    assert.deepEqual(request.headers, [
      ["Host", "h"],
      ...names.map((name) => [name, String(name.length)]),
      ["X-Long", "v".repeat(300)],
    ]);
  });

  test("empty lines before the request line are skipped", () => {
    const outcome = parse(
      `${"\r\n".repeat(MAX_LEADING_EMPTY_LINES)}GET / HTTP/1.1\r\nHost: h\r\n\r\n`,
    );
    assert.strictEqual(outcome.requests.length, 1);
    assert.strictEqual(outcome.requests[0].target, "/");
  });

  test("a stray CRLF after a request leaves the parser idle", () => {
    const parser = new RequestParser({ ...LIMITS });
    const wire = ascii("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx\r\n");
    let offset = parser.execute(wire);
    offset = parser.execute(wire, offset);
    assert.strictEqual(parser.complete, true);
    parser.reset();
    assert.strictEqual(parser.inProgress, false);
    assert.strictEqual(parser.execute(wire, offset), wire.length);
    assert.strictEqual(parser.inProgress, false);
    assert.strictEqual(parser.execute(ascii("G")), 1);
    assert.strictEqual(parser.inProgress, true);
  });
});

describe("RequestParser: where execute stops", () => {
  test("Expect: 100-continue returns at the end of the head, before the body", () => {
    const head = "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
    const wire = ascii(`${head}data`);
    const parser = new RequestParser({ ...LIMITS });
    assert.strictEqual(parser.execute(wire), head.length);
    assert.strictEqual(parser.head?.expectContinue, true);
    assert.strictEqual(parser.complete, false);
    assert.strictEqual(parser.body.length, 0);
    assert.strictEqual(parser.execute(wire, head.length), wire.length);
    assert.strictEqual(parser.complete, true);
    assert.strictEqual(text(parser.body), "data");
    assert.strictEqual(parseOne(wire).expectContinue, true);
  });

  test("Expect: 100-continue is ignored in HTTP/1.0", () => {
    const request = parseOne(
      "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    );
    assert.strictEqual(request.expectContinue, false);
  });

  test("a chunked head also returns before the body", () => {
    const head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    const wire = ascii(`${head}1\r\na\r\n0\r\n\r\nGET`);
    const parser = new RequestParser({ ...LIMITS });
    assert.strictEqual(parser.execute(wire), head.length);
    assert.strictEqual(parser.head?.chunked, true);
    assert.strictEqual(parser.execute(wire, head.length), wire.length - 3);
    assert.strictEqual(text(parser.body), "a");
  });

  test("the bytes after a bodiless Upgrade request stay unconsumed", () => {
    const head = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n" +
      "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    const frame = "\x81\x85\x01\x02\x03\x04IgopR";
    const outcome = parse(head + frame);
    assert.strictEqual(outcome.error, undefined);
    assert.strictEqual(outcome.requests.length, 1);
    assert.strictEqual(outcome.requests[0].upgrade, "websocket");
    assert.strictEqual(outcome.requests[0].connectionUpgrade, true);
    assert.strictEqual(outcome.rest, frame);

    const parser = new RequestParser({ ...LIMITS });
    const wire = ascii(head + frame);
    assert.strictEqual(parser.execute(wire), head.length);
    assert.strictEqual(parser.complete, true);
    assert.strictEqual(parser.execute(wire, head.length), head.length);
  });

  test("Upgrade without Connection: upgrade, and several Upgrade fields", () => {
    const request = parseOne(
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: H2C\r\nUpgrade: WebSocket/13\r\n\r\n",
    );
    assert.strictEqual(request.upgrade, "h2c, websocket/13");
    assert.strictEqual(request.connectionUpgrade, false);
  });

  test("Upgrade is ignored in HTTP/1.0", () => {
    const outcome = parse("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nGET");
    assert.strictEqual(outcome.requests.length, 1);
    assert.strictEqual(outcome.requests[0].upgrade, undefined);
    assert.deepStrictEqual(outcome.requests[0].headers[0], ["Upgrade", "websocket"]);
    assert.strictEqual(outcome.pending, true);
  });

  test("two pipelined requests in one chunk", () => {
    const first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    const second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    const wire = ascii(first + second);
    const parser = new RequestParser({ ...LIMITS });
    let offset = parser.execute(wire);
    offset = parser.execute(wire, offset);
    assert.strictEqual(offset, first.length);
    assert.strictEqual(parser.complete, true);
    // Complete: nothing more is consumed until reset.
    assert.strictEqual(parser.execute(wire, offset), offset);
    parser.reset();
    assert.strictEqual(parser.execute(wire, offset), wire.length);
    assert.strictEqual(parser.head?.path, "/b");

    const outcome = parse(wire);
    assert.deepStrictEqual(outcome.requests.map((r) => [r.method, r.path, r.body]), [
      ["POST", "/a", "abc"],
      ["GET", "/b", ""],
    ]);
  });

  test("three pipelined requests in one chunk, chunked in the middle", () => {
    const outcome = parse(
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
        "POST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
        "GET /3?x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert.strictEqual(outcome.error, undefined);
    assert.deepStrictEqual(outcome.requests.map((r) => [r.path, r.query, r.body, r.keepAlive]), [
      ["/1", "", "", true],
      ["/2", "", "hi", true],
      ["/3", "x", "", false],
    ]);
    assert.strictEqual(outcome.pending, false);
  });

  test("an unfinished request is pending", () => {
    const outcome = parse("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next HT");
    assert.strictEqual(outcome.requests.length, 1);
    assert.strictEqual(outcome.pending, true);
  });

  test("execute starts at the offset and returns past what it consumed", () => {
    const wire = ascii("xxxGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    const parser = new RequestParser({ ...LIMITS });
    assert.strictEqual(parser.execute(wire, 3), wire.length);
    assert.strictEqual(parser.head?.method, "GET");
    assert.strictEqual(new RequestParser({ ...LIMITS }).execute(wire, wire.length), wire.length);
  });

  test("the body is a copy that outlives the chunk", () => {
    const wire = ascii("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    const parser = new RequestParser({ ...LIMITS });
    const offset = parser.execute(wire);
    parser.execute(wire, offset);
    wire.fill(0);
    assert.strictEqual(text(parser.body), "abc");
    assert.strictEqual(parser.head?.headers.get("host"), "h");
    parser.reset();
    assert.strictEqual(parser.head, undefined);
    assert.strictEqual(parser.complete, false);
    assert.strictEqual(parser.inProgress, false);
  });
});

/** An error case: the wire and the status it must produce, whatever the chunking. */
type ErrorCase = [name: string, wire: string, status: number];

const H = "Host: h\r\n";

const ERROR_CASES: ErrorCase[] = [
  // Request line.
  ["CR CR before the request line", "\r\r\n", 400],
  ["method with a non-token character", "G(T / HTTP/1.1\r\n" + H + "\r\n", 400],
  ["request line starting with a space", " GET / HTTP/1.1\r\n" + H + "\r\n", 400],
  ["request line starting with a tab", "\tGET / HTTP/1.1\r\n" + H + "\r\n", 400],
  ["two spaces after the method", "GET  / HTTP/1.1\r\n" + H + "\r\n", 400],
  ["two spaces after the target", "GET /  HTTP/1.1\r\n" + H + "\r\n", 400],
  ["tab as a separator", "GET\t/ HTTP/1.1\r\n" + H + "\r\n", 400],
  ["no target", "GET\r\n" + H + "\r\n", 400],
  ["no version", "GET /\r\n" + H + "\r\n", 400],
  ["trailing space after the version", "GET / HTTP/1.1 \r\n" + H + "\r\n", 400],
  ["control character in the target", "GET /a\x01b HTTP/1.1\r\n" + H + "\r\n", 400],
  ["DEL in the target", "GET /a\x7f HTTP/1.1\r\n" + H + "\r\n", 400],
  ["non-ASCII in the target", "GET /\xe9 HTTP/1.1\r\n" + H + "\r\n", 400],
  ["target in no known form", "GET index.html HTTP/1.1\r\n" + H + "\r\n", 400],
  ["asterisk with GET", "GET * HTTP/1.1\r\n" + H + "\r\n", 400],
  ["lower-case version", "GET / http/1.1\r\n" + H + "\r\n", 400],
  ["garbage version", "GET / HTTP/1.1x\r\n" + H + "\r\n", 400],
  ["version without minor", "GET / HTTP/2\r\n" + H + "\r\n", 400],
  ["two-digit version", "GET / HTTP/1.10\r\n" + H + "\r\n", 400],
  ["HTTP/2.0", "GET / HTTP/2.0\r\n" + H + "\r\n", 505],
  ["HTTP/1.2", "GET / HTTP/1.2\r\n" + H + "\r\n", 505],
  ["HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505],
  // Line endings.
  ["bare LF ending the request line", "GET / HTTP/1.1\n" + H + "\r\n", 400],
  ["bare LF ending a header line", "GET / HTTP/1.1\r\nHost: h\n\r\n", 400],
  ["bare LF ending the head", "GET / HTTP/1.1\r\n" + H + "\n", 400],
  ["bare CR in the request line", "GET /\r HTTP/1.1\r\n" + H + "\r\n", 400],
  ["bare CR in a header value", "GET / HTTP/1.1\r\n" + H + "X: a\rb\r\n\r\n", 400],
  ["bare CR in a header name", "GET / HTTP/1.1\r\n" + H + "X\r: a\r\n\r\n", 400],
  ["bare LF before the request line", "\nGET / HTTP/1.1\r\n" + H + "\r\n", 400],
  ["bare CR before the request line", "\rGET / HTTP/1.1\r\n" + H + "\r\n", 400],
  [
    "too many empty lines before the request line",
    "\r\n".repeat(MAX_LEADING_EMPTY_LINES + 1) + "GET / HTTP/1.1\r\n" + H + "\r\n",
    400,
  ],
  // Header lines.
  ["empty header name", "GET / HTTP/1.1\r\n" + H + ": x\r\n\r\n", 400],
  ["whitespace before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400],
  ["tab before the colon", "GET / HTTP/1.1\r\n" + H + "X\t: a\r\n\r\n", 400],
  ["non-token header name", "GET / HTTP/1.1\r\n" + H + "X(y): a\r\n\r\n", 400],
  ["header line without a colon", "GET / HTTP/1.1\r\n" + H + "X-No-Colon\r\n\r\n", 400],
  ["control character in a value", "GET / HTTP/1.1\r\n" + H + "X: a\x01b\r\n\r\n", 400],
  ["NUL in a value", "GET / HTTP/1.1\r\n" + H + "X: a\x00b\r\n\r\n", 400],
  ["DEL in a value", "GET / HTTP/1.1\r\n" + H + "X: a\x7f\r\n\r\n", 400],
  ["obs-fold", "GET / HTTP/1.1\r\n" + H + "X: a\r\n b\r\n\r\n", 400],
  ["obs-fold with a tab", "GET / HTTP/1.1\r\n" + H + "X: a\r\n\tb\r\n\r\n", 400],
  ["whitespace before the first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400],
  // Host.
  ["missing Host in HTTP/1.1", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400],
  ["several Host fields", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400],
  ["several Host fields in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400],
  // Framing.
  [
    "Content-Length and Transfer-Encoding",
    "POST / HTTP/1.1\r\n" + H + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
  ],
  [
    "Transfer-Encoding and Content-Length",
    "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    400,
  ],
  [
    "different Content-Length list",
    "POST / HTTP/1.1\r\n" + H + "Content-Length: 5, 6\r\n\r\n",
    400,
  ],
  [
    "different Content-Length fields",
    "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
    400,
  ],
  ["non-digit Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length: abc\r\n\r\n", 400],
  ["negative Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length: -1\r\n\r\n", 400],
  ["signed Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length: +1\r\n\r\n", 400],
  ["Content-Length with a suffix", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5x\r\n\r\n", 400],
  ["Content-Length in hex", "POST / HTTP/1.1\r\n" + H + "Content-Length: 0x5\r\n\r\n", 400],
  [
    "Content-Length with a space inside",
    "POST / HTTP/1.1\r\n" + H + "Content-Length: 1 2\r\n\r\n",
    400,
  ],
  ["empty Content-Length", "POST / HTTP/1.1\r\n" + H + "Content-Length:\r\n\r\n", 400],
  [
    "Transfer-Encoding in HTTP/1.0",
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400,
  ],
  ["Transfer-Encoding gzip", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\n", 501],
  [
    "Transfer-Encoding gzip, chunked",
    "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip, chunked\r\n\r\n",
    501,
  ],
  [
    "Transfer-Encoding chunked twice",
    "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    501,
  ],
  ["empty Transfer-Encoding", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding:\r\n\r\n", 501],
];

const CHUNKED = "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n";

const CHUNK_ERROR_CASES: ErrorCase[] = [
  ["non-hex chunk size", CHUNKED + "x\r\n", 400],
  ["empty chunk size", CHUNKED + "\r\n", 400],
  ["chunk size with a sign", CHUNKED + "+5\r\nhello\r\n0\r\n\r\n", 400],
  ["chunk size with a 0x prefix", CHUNKED + "0x5\r\nhello\r\n0\r\n\r\n", 400],
  ["chunk size followed by garbage", CHUNKED + "5 x\r\nhello\r\n0\r\n\r\n", 400],
  ["whitespace then CRLF after the size", CHUNKED + "5 \r\nhello\r\n0\r\n\r\n", 400],
  ["chunk size with a bare LF", CHUNKED + "5\nhello\r\n0\r\n\r\n", 400],
  ["chunk size with a bare CR", CHUNKED + "5\rhello\r\n0\r\n\r\n", 400],
  ["chunk extension with a bare LF", CHUNKED + "5;a=b\nhello\r\n0\r\n\r\n", 400],
  ["chunk extension with a control character", CHUNKED + "5;a\x01\r\nhello\r\n0\r\n\r\n", 400],
  [
    "chunk extension too long",
    CHUNKED + "5;" + "e".repeat(MAX_CHUNK_LINE_BYTES) + "\r\nhello\r\n0\r\n\r\n",
    400,
  ],
  ["chunk data longer than its size", CHUNKED + "3\r\nhello\r\n0\r\n\r\n", 400],
  ["chunk data followed by a bare LF", CHUNKED + "5\r\nhello\n0\r\n\r\n", 400],
  ["last chunk followed by a bare LF", CHUNKED + "0\r\n\n", 400],
  ["trailer without a colon", CHUNKED + "0\r\nbad trailer\r\n\r\n", 400],
  ["trailer with obs-fold", CHUNKED + "0\r\nX: a\r\n b\r\n\r\n", 400],
  ["trailer with a bare LF", CHUNKED + "0\r\nX: a\n\r\n", 400],
  ["trailer with a control character", CHUNKED + "0\r\nX: \x02\r\n\r\n", 400],
];

describe("RequestParser: errors", () => {
  for (const [name, wire, status] of [...ERROR_CASES, ...CHUNK_ERROR_CASES]) {
    test(`${status} for ${name}`, () => {
      parseError(wire, status);
    });
  }

  test("messages say what was wrong", () => {
    assert.strictEqual(
      parseError(
        "POST / HTTP/1.1\r\n" + H + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
      ),
      "Content-Length and Transfer-Encoding must not both be present",
    );
    assert.strictEqual(
      parseError("GET / HTTP/2.0\r\n" + H + "\r\n", 505),
      "HTTP version 2.0 is not supported",
    );
    assert.strictEqual(
      parseError("GET / HTTP/1.1\r\n\r\n", 400),
      "Host header is required in HTTP/1.1",
    );
    assert.strictEqual(
      parseError("GET / HTTP/1.1\r\n" + H + "X: a\r\n b\r\n\r\n", 400),
      "Obsolete line folding is not allowed",
    );
    assert.strictEqual(
      parseError("GET / HTTP/1.1\r\n" + H + "\n", 400),
      "Request head contains a bare LF",
    );
  });

  test("Host must be host[:port] (RFC 9110 §7.2); an empty Host is valid", () => {
    for (
      const host of [
        "exa mple.com",
        "example.com:80a",
        "user@example.com",
        "example.com/path",
        "[::1",
        "[]",
        "[::1]x",
        "example.com:8080:1",
        "bad%zz.com",
        "bad%4",
        "é.example",
      ]
    ) {
      assert.strictEqual(
        parseError(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 400),
        "Host header is not a valid host[:port]",
        host,
      );
    }
    for (
      const host of [
        "",
        "example.com",
        "example.com:8080",
        "example.com:",
        "127.0.0.1:3000",
        "[::1]:80",
        "[v1.fe80::a+en1]",
        "xn--bcher-kva.example",
        "%41.example",
        "a-b_c~d!$&'()*+,;=",
      ]
    ) {
      assert.strictEqual(parseOne(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`).host, host);
    }
  });

  test("a Host value is checked even when cached from another field or from a valid request", () => {
    // Values of common fields share one cache, which also remembers whether a value is a valid Host.
    assert.equal(parseOne("GET / HTTP/1.1\r\nHost: good.example\r\n\r\n").host, "good.example");
    assert.equal(parseOne("GET / HTTP/1.1\r\nHost: good.example\r\n\r\n").host, "good.example");
    for (const field of ["User-Agent", "Accept", "Origin"]) {
      assert.equal(parseOne(`GET / HTTP/1.1\r\nHost: h\r\n${field}: a b\r\n\r\n`).host, "h");
      assert.equal(
        parseError(`GET / HTTP/1.1\r\n${field}: a b\r\nHost: a b\r\n\r\n`, 400),
        "Host header is not a valid host[:port]",
      );
    }
  });

  test("an error is detected before the rest of the head arrives", () => {
    const parser = new RequestParser({ ...LIMITS });
    assert.throws(() => parser.execute(ascii("GET / HTTP/7.0\r\n")), { status: 505 });
  });

  test("after an error the parser throws the same error until reset", () => {
    const parser = new RequestParser({ ...LIMITS });
    let first: unknown;
    try {
      parser.execute(ascii("GET / HTTP/1.1\r\nHost : h\r\n"));
    } catch (error) {
      first = error;
    }
    assert.ok(first instanceof HttpError);
    assert.strictEqual(first.status, 400);
    assert.throws(() => parser.execute(ascii("GET / HTTP/1.1\r\n")), (error) => error === first);
    parser.reset();
    const wire = ascii("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.strictEqual(parser.execute(wire), wire.length);
    assert.strictEqual(parser.complete, true);
  });

  test("misuse throws RangeError", () => {
    assert.throws(() => new RequestParser({ maxHeaderBytes: -1, maxBodyBytes: 0 }), RangeError);
    assert.throws(() => new RequestParser({ maxHeaderBytes: 1, maxBodyBytes: NaN }), RangeError);
    assert.throws(() => new RequestParser({ maxHeaderBytes: 1.5, maxBodyBytes: 1 }), RangeError);
    assert.throws(
      () => new RequestParser({ maxHeaderBytes: 1, maxBodyBytes: Infinity }),
      RangeError,
    );
    const parser = new RequestParser({ ...LIMITS });
    assert.throws(() => parser.execute(ascii("GET"), 4), RangeError);
    assert.throws(() => parser.execute(ascii("GET"), -1), RangeError);
    assert.throws(() => parser.execute(ascii("GET"), 0.5), RangeError);
    // Misuse is not a peer error: the parser still works.
    assert.strictEqual(parser.execute(ascii("GET")), 3);
  });
});

/** A head of exactly `size` bytes, padded in a header value. */
function headOfSize(size: number): string {
  const start = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
  const end = "\r\n\r\n";
  const padding = size - start.length - end.length;
  assert.ok(padding >= 0);
  return start + "p".repeat(padding) + end;
}

describe("RequestParser: head size limit (431)", () => {
  const small: ParserLimits = { maxHeaderBytes: 64, maxBodyBytes: 100 };

  test("a head of exactly maxHeaderBytes passes, one byte more fails", () => {
    const exact = headOfSize(64);
    assert.strictEqual(exact.length, 64);
    assert.strictEqual(parseOne(exact, small).headers[1][1].length, 64 - 36);
    assert.strictEqual(
      parseError(headOfSize(65), 431, small),
      "Request head is larger than 64 bytes",
    );
  });

  test("the default limit at its exact boundary, whole and byte by byte", () => {
    const pass = ascii(headOfSize(DEFAULT_MAX_HEADER_BYTES));
    const fail = ascii(headOfSize(DEFAULT_MAX_HEADER_BYTES + 1));
    for (
      const chunking of [
        (b: Uint8Array) => [b.slice()],
        (b: Uint8Array) => Array.from(b, (x) => Uint8Array.of(x)),
      ]
    ) {
      const passed = drive(chunking(pass), LIMITS);
      assert.strictEqual(passed.error, undefined);
      assert.strictEqual(passed.requests.length, 1);
      assert.strictEqual(drive(chunking(fail), LIMITS).error?.status, 431);
    }
  });

  test("the limit counts the request line too", () => {
    parseError(`GET /${"a".repeat(64)} HTTP/1.1\r\n\r\n`, 431, small);
  });

  test("an endless header fed byte by byte fails as soon as it passes the limit", () => {
    const parser = new RequestParser({ ...LIMITS });
    const start = ascii("GET / HTTP/1.1\r\nHost: h\r\nX-Endless: ");
    let fed = 0;
    for (const byte of start) {
      assert.strictEqual(parser.execute(Uint8Array.of(byte)), 1);
      fed++;
    }
    const byte = ascii("a");
    let status = 0;
    while (fed < 10 * DEFAULT_MAX_HEADER_BYTES) {
      try {
        parser.execute(byte);
      } catch (error) {
        status = (error as HttpError).status;
        break;
      }
      fed++;
    }
    assert.strictEqual(status, 431);
    assert.strictEqual(fed, DEFAULT_MAX_HEADER_BYTES);
  });

  test("an endless head in one big chunk fails at once", () => {
    const parser = new RequestParser({ ...LIMITS });
    const wire = ascii(`GET / HTTP/1.1\r\nX: ${"a".repeat(4 * DEFAULT_MAX_HEADER_BYTES)}`);
    assert.throws(() => parser.execute(wire), { status: 431 });
  });

  test("chunked trailers count against the same limit as the head", () => {
    const head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    const limits = { maxHeaderBytes: head.length + 10, maxBodyBytes: 100 };
    // "0\r\n" is framing; the trailer section "X: abcd\r\n\r\n" is 11 bytes, one too many.
    const fits = parseOne(`${head}1\r\nz\r\n0\r\nX: abc\r\n\r\n`, limits);
    assert.strictEqual(fits.body, "z");
    parseError(`${head}1\r\nz\r\n0\r\nX: abcd\r\n\r\n`, 431, limits);
  });

  test("a changed limit applies to the next request", () => {
    const limits = { maxHeaderBytes: 64, maxBodyBytes: 100 };
    const parser = new RequestParser(limits);
    const wire = ascii(headOfSize(80));
    assert.throws(() => parser.execute(wire), { status: 431 });
    limits.maxHeaderBytes = 80;
    parser.reset();
    assert.strictEqual(parser.execute(wire), wire.length);
    assert.strictEqual(parser.complete, true);
  });
});

describe("RequestParser: body size limit (413)", () => {
  const limits: ParserLimits = { maxHeaderBytes: 1024, maxBodyBytes: 10 };

  test("Content-Length of exactly maxBodyBytes passes, one more fails before any body byte", () => {
    const head = (length: number): string =>
      `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${length}\r\n\r\n`;
    assert.strictEqual(parseOne(head(10) + "0123456789", limits).body, "0123456789");
    // No body byte was sent: the head alone must fail.
    assert.strictEqual(parseError(head(11), 413, limits), "Request body is larger than 10 bytes");
    const huge = `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${"9".repeat(40)}\r\n\r\n`;
    parseError(huge, 413, limits);
  });

  test("a chunked body of exactly maxBodyBytes passes, one more fails at the chunk size", () => {
    const wire = (sizes: number[]) =>
      CHUNKED + sizes.map((n) => `${n.toString(16)}\r\n${"x".repeat(n)}\r\n`).join("") +
      "0\r\n\r\n";
    assert.strictEqual(parseOne(wire([4, 6]), limits).body, "x".repeat(10));
    parseError(wire([4, 7]), 413, limits);
    // The size line alone is enough to refuse, before its data.
    parseError(CHUNKED + "4\r\nxxxx\r\n7\r\n", 413, limits);
  });

  test("a huge chunk size is refused without overflowing", () => {
    parseError(CHUNKED + "ffffffffffffffffffffffffffff\r\n", 413, limits);
    const padded = CHUNKED + "00000000000000000000000a\r\n0123456789\r\n0\r\n\r\n";
    assert.strictEqual(parseOne(padded, limits).body, "0123456789");
    parseError(padded, 413, { ...limits, maxBodyBytes: 9 });
  });
});
