import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type CookieOptions, parseCookies, serializeSetCookie } from "../../src/http/cookies.ts";

function entries(header: string | undefined): [string, string][] {
  return [...parseCookies(header)];
}

describe("parseCookies", () => {
  test("reads name=value pairs separated by '; '", () => {
    assert.deepEqual(entries("a=1; b=two; c=3"), [["a", "1"], ["b", "two"], ["c", "3"]]);
    assert.deepEqual(entries("a=1"), [["a", "1"]]);
  });

  test("no header, an empty header and blanks give no cookies", () => {
    assert.deepEqual(entries(undefined), []);
    assert.deepEqual(entries(""), []);
    assert.deepEqual(entries(" ;; ; "), []);
  });

  test("is lenient about spaces and tabs and missing spaces", () => {
    assert.deepEqual(entries("a=1;b=2"), [["a", "1"], ["b", "2"]]);
    assert.deepEqual(entries("  a = 1 ;\tb\t=\t2\t;  "), [["a", "1"], ["b", "2"]]);
  });

  test("the first occurrence of a name wins", () => {
    assert.deepEqual(entries("a=1; b=2; a=3"), [["a", "1"], ["b", "2"]]);
    assert.deepEqual(entries("a=; a=2"), [["a", ""]]);
  });

  test("removes one pair of surrounding double quotes", () => {
    assert.deepEqual(entries('a="quoted"; b=""; c="""x"""'), [["a", "quoted"], ["b", ""], [
      "c",
      '""x""',
    ]]);
    assert.deepEqual(entries('a="open; b=close"; c="'), [["a", '"open'], ["b", 'close"'], [
      "c",
      '"',
    ]]);
  });

  test("keeps '=' inside values and does not percent-decode", () => {
    assert.deepEqual(entries("t=a=b==; p=%20x%3B"), [["t", "a=b=="], ["p", "%20x%3B"]]);
  });

  test("skips pairs without '=' or with an empty name", () => {
    assert.deepEqual(entries("flag; a=1; =2; =; b"), [["a", "1"]]);
  });

  test("never throws, even on odd input", () => {
    const odd = [
      "\u0000=\u0001",
      "a=\uD800",
      "é=ü",
      "__proto__=x; constructor=y",
      "=".repeat(1000),
    ];
    for (const header of odd) assert.doesNotThrow(() => parseCookies(header));
    assert.equal(parseCookies("__proto__=x").get("__proto__"), "x");
    assert.equal(parseCookies("é=ü").get("é"), "ü");
    assert.deepEqual(entries(123 as unknown as string), []);
  });
});

describe("serializeSetCookie", () => {
  test("writes name=value alone by default", () => {
    assert.equal(serializeSetCookie({ name: "id", value: "42" }), "id=42");
    assert.equal(serializeSetCookie({ name: "id", value: "" }), "id=");
    assert.equal(serializeSetCookie({ name: "id", value: '"quoted"' }), 'id="quoted"');
    assert.equal(serializeSetCookie({ name: "id", value: '""' }), 'id=""');
  });

  test("writes every attribute in a fixed order", () => {
    const expires = new Date(Date.UTC(2030, 0, 2, 3, 4, 5));
    assert.equal(
      serializeSetCookie({
        name: "sid",
        value: "abc",
        domain: "example.com",
        path: "/app",
        expires,
        maxAge: 3600,
        secure: true,
        httpOnly: true,
        sameSite: "None",
      }),
      "sid=abc; Domain=example.com; Path=/app; Expires=Wed, 02 Jan 2030 03:04:05 GMT; " +
        "Max-Age=3600; Secure; HttpOnly; SameSite=None",
    );
    assert.equal(
      serializeSetCookie({ name: "a", value: "b", sameSite: "Strict" }),
      "a=b; SameSite=Strict",
    );
    assert.equal(
      serializeSetCookie({ name: "a", value: "b", sameSite: "Lax" }),
      "a=b; SameSite=Lax",
    );
    assert.equal(serializeSetCookie({ name: "a", value: "b", maxAge: 0 }), "a=b; Max-Age=0");
    assert.equal(serializeSetCookie({ name: "a", value: "b", maxAge: -1 }), "a=b; Max-Age=-1");
    assert.equal(
      serializeSetCookie({ name: "a", value: "b", secure: false, httpOnly: false }),
      "a=b",
    );
  });

  test("accepts every token character in names and every cookie-octet in values", () => {
    const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let octets = "";
    for (let c = 0x21; c <= 0x7e; c++) {
      if (c !== 0x22 && c !== 0x2c && c !== 0x3b && c !== 0x5c) octets += String.fromCharCode(c);
    }
    assert.equal(serializeSetCookie({ name: tchars, value: octets }), `${tchars}=${octets}`);
  });

  test("accepts host names and IPv4 addresses as domains, a leading dot too", () => {
    for (
      const domain of ["example.com", ".example.com", "a-b.c1.example", "127.0.0.1", "localhost"]
    ) {
      assert.equal(serializeSetCookie({ name: "a", value: "b", domain }), `a=b; Domain=${domain}`);
    }
  });

  test("a missing value deletes the cookie", () => {
    assert.equal(
      serializeSetCookie({ name: "sid" }),
      "sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0",
    );
    assert.equal(
      serializeSetCookie({
        name: "sid",
        value: undefined,
        path: "/app",
        domain: "example.com",
        maxAge: 3600,
        expires: new Date(Date.UTC(2030, 0, 1)),
        secure: true,
        httpOnly: true,
      }),
      "sid=; Domain=example.com; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; " +
        "Secure; HttpOnly",
    );
  });

  test("cookie name prefixes are enforced as browsers do", () => {
    assert.equal(
      serializeSetCookie({ name: "__Secure-id", value: "1", secure: true }),
      "__Secure-id=1; Secure",
    );
    assert.equal(
      serializeSetCookie({ name: "__Host-id", value: "1", secure: true, path: "/" }),
      "__Host-id=1; Path=/; Secure",
    );
    const bad: CookieOptions[] = [
      { name: "__Secure-id", value: "1" },
      { name: "__secure-id", value: "1" },
      { name: "__Host-id", value: "1", path: "/" },
      { name: "__Host-id", value: "1", secure: true },
      { name: "__Host-id", value: "1", secure: true, path: "/app" },
      { name: "__HOST-id", value: "1", secure: true, path: "/", domain: "example.com" },
      { name: "__Host-id", path: "/" },
    ];
    for (const options of bad) {
      assert.throws(() => serializeSetCookie(options), TypeError, JSON.stringify(options));
    }
  });

  test("every invalid input throws a TypeError that says what is wrong", () => {
    const cases: [CookieOptions, RegExp][] = [
      [{ name: "", value: "x" }, /name "" is not a token/],
      [{ name: "a b", value: "x" }, /name "a b" is not a token/],
      [{ name: "a=b", value: "x" }, /not a token/],
      [{ name: "a;b", value: "x" }, /not a token/],
      [{ name: "a\tb", value: "x" }, /not a token/],
      [{ name: "a\u0000", value: "x" }, /not a token/],
      [{ name: "é", value: "x" }, /not a token/],
      [{ name: "a(b)", value: "x" }, /not a token/],
      [{ name: 'a"', value: "x" }, /not a token/],
      [{ name: 5 as unknown as string, value: "x" }, /name 5 is not a token/],
      [{ name: "a", value: "x y" }, /value "x y" has characters other than cookie-octets/],
      [{ name: "a", value: "x;y" }, /cookie-octets/],
      [{ name: "a", value: "x,y" }, /cookie-octets/],
      [{ name: "a", value: "x\\y" }, /cookie-octets/],
      [{ name: "a", value: 'x"y' }, /cookie-octets/],
      [{ name: "a", value: '"' }, /cookie-octets/],
      [{ name: "a", value: '"x' }, /cookie-octets/],
      [{ name: "a", value: '"x y"' }, /cookie-octets/],
      [{ name: "a", value: "x\r\nSet-Cookie: evil=1" }, /cookie-octets/],
      [{ name: "a", value: "\u007f" }, /cookie-octets/],
      [{ name: "a", value: "é" }, /cookie-octets/],
      [{ name: "a", value: 1 as unknown as string }, /cookie-octets/],
      [{ name: "a", value: null as unknown as string }, /cookie-octets/],
      [{ name: "a", value: "b", domain: "" }, /domain "" is not a host name/],
      [{ name: "a", value: "b", domain: "." }, /not a host name/],
      [{ name: "a", value: "b", domain: "a..b" }, /not a host name/],
      [{ name: "a", value: "b", domain: "a.b." }, /not a host name/],
      [{ name: "a", value: "b", domain: "a;b" }, /not a host name/],
      [{ name: "a", value: "b", domain: "a b" }, /not a host name/],
      [{ name: "a", value: "b", domain: "a\r\nb" }, /not a host name/],
      [{ name: "a", value: "b", domain: "exämple.com" }, /not a host name/],
      [{ name: "a", value: "b", domain: "x".repeat(64) + ".com" }, /not a host name/],
      [{ name: "a", value: "b", path: "" }, /path "" is empty or has/],
      [{ name: "a", value: "b", path: "/a;b" }, /path "\/a;b" is empty or has/],
      [{ name: "a", value: "b", path: "/a\nb" }, /path/],
      [{ name: "a", value: "b", path: "/a\u0000" }, /path/],
      [{ name: "a", value: "b", path: "/a\u007f" }, /path/],
      [{ name: "a", value: "b", path: "/é" }, /path/],
      [{ name: "a", value: "b", maxAge: 1.5 }, /maxAge 1.5 is not an integer/],
      [{ name: "a", value: "b", maxAge: Number.NaN }, /maxAge NaN is not an integer/],
      [{ name: "a", value: "b", maxAge: Infinity }, /maxAge Infinity is not an integer/],
      [{ name: "a", value: "b", maxAge: "60" as unknown as number }, /maxAge 60 is not an integer/],
      [{ name: "a", value: "b", expires: new Date(Number.NaN) }, /expires must be a valid Date/],
      [{ name: "a", value: "b", expires: new Date(Date.UTC(10000, 0)) }, /expires must be/],
      [{ name: "a", value: "b", expires: "tomorrow" as unknown as Date }, /expires must be/],
      [{ name: "a", value: "b", sameSite: "lax" as "Lax" }, /sameSite "lax" is not/],
      [{ name: "a", value: "b", sameSite: "None" }, /"None" requires secure/],
      [{ name: "a", sameSite: "None" }, /"None" requires secure/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => serializeSetCookie(options), (error: unknown) => {
        assert.ok(error instanceof TypeError, `TypeError for ${JSON.stringify(options)}`);
        assert.match(error.message, message);
        return true;
      });
    }
    assert.throws(() => serializeSetCookie(null as unknown as CookieOptions), TypeError);
  });
});
