import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HttpHeaders } from "../../src/http/headers.ts";

function headers(fields: [string, string][]): HttpHeaders {
  const result = new HttpHeaders();
  for (const [name, value] of fields) result.append(name, value);
  return result;
}

describe("HttpHeaders", () => {
  test("looks names up case-insensitively", () => {
    const h = headers([["Content-Type", "text/plain"], ["X-Custom-ID", "7"]]);
    assert.strictEqual(h.get("content-type"), "text/plain");
    assert.strictEqual(h.get("CONTENT-TYPE"), "text/plain");
    assert.strictEqual(h.get("x-custom-id"), "7");
    assert.strictEqual(h.has("X-CUSTOM-ID"), true);
    assert.strictEqual(h.has("x-other"), false);
    assert.strictEqual(h.get("x-other"), undefined);
    assert.deepStrictEqual(h.getAll("x-other"), []);
  });

  test("joins repeated fields with a comma, cookies with a semicolon", () => {
    const h = headers([
      ["Accept", "text/html"],
      ["Cookie", "a=1"],
      ["accept", "application/json"],
      ["COOKIE", "b=2"],
      ["Accept", ""],
    ]);
    assert.strictEqual(h.get("Accept"), "text/html, application/json, ");
    assert.strictEqual(h.get("cookie"), "a=1; b=2");
    assert.deepStrictEqual(h.getAll("ACCEPT"), ["text/html", "application/json", ""]);
    assert.deepStrictEqual(h.getAll("Cookie"), ["a=1", "b=2"]);
    assert.strictEqual(h.size, 5);
  });

  test("iterates in arrival order with the original case", () => {
    const fields: [string, string][] = [["Host", "a"], ["x-B", "2"], ["X-a", "1"], ["host", "b"]];
    const h = headers(fields);
    assert.deepStrictEqual([...h], fields);
    assert.deepStrictEqual([...h.entries()], fields);
    assert.deepStrictEqual(Array.from(h.entries(), ([name]) => name), [
      "Host",
      "x-B",
      "X-a",
      "host",
    ]);
  });

  test("toObject has lower-cased names, joined values and no prototype", () => {
    const h = headers([
      ["Host", "a"],
      ["Cookie", "x=1"],
      ["X-List", "1"],
      ["cookie", "y=2"],
      ["x-list", "2"],
      ["__proto__", "p"],
    ]);
    const object = h.toObject();
    assert.strictEqual(Object.getPrototypeOf(object), null);
    assert.deepStrictEqual({ ...object }, {
      host: "a",
      cookie: "x=1; y=2",
      "x-list": "1, 2",
      ["__proto__"]: "p",
    });
    assert.deepStrictEqual(Object.keys(object), ["host", "cookie", "x-list", "__proto__"]);
  });

  test("uses the lower-cased name given by the parser", () => {
    const h = new HttpHeaders();
    h.append("Content-Length", "5", "content-length");
    assert.strictEqual(h.get("CONTENT-LENGTH"), "5");
    assert.deepStrictEqual([...h], [["Content-Length", "5"]]);
  });

  test("an empty set", () => {
    const h = new HttpHeaders();
    assert.strictEqual(h.size, 0);
    assert.deepStrictEqual([...h], []);
    assert.deepStrictEqual({ ...h.toObject() }, {});
    assert.strictEqual(h.get("host"), undefined);
  });
});
