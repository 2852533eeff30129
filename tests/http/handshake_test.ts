import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { HttpError } from "../../src/http/errors.ts";
import { acceptKey, checkUpgrade, type UpgradeRequestLike } from "../../src/http/handshake.ts";

const RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
// RFC 6455 §1.3 (and §1.2). The brief quoted "s3pPLMBiTxaE9kYGsHzdUuF+wNQ=", which is not the SHA-1 of key + GUID.
const RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

function request(
  headers: Record<string, string | undefined>,
  method = "GET",
  version = "HTTP/1.1",
): UpgradeRequestLike {
  const base: Record<string, string | undefined> = {
    host: "example.com",
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": RFC_KEY,
    "sec-websocket-version": "13",
  };
  const all = { ...base, ...headers };
  return { method, version, headers: { get: (name) => all[name.toLowerCase()] } };
}

function refused(req: UpgradeRequestLike, status: number, message: string): void {
  assert.throws(() => checkUpgrade(req), (error: unknown) => {
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, status);
    assert.equal(error.message, message);
    return true;
  });
}

describe("checkUpgrade", () => {
  test("accepts RFC 6455's example request", () => {
    assert.deepEqual(checkUpgrade(request({})), { key: RFC_KEY, protocols: [] });
  });

  test("token lists: any case, commas and whitespace", () => {
    const req = request({
      upgrade: "h2c, WebSocket",
      connection: "keep-alive,\tUPGRADE ",
      "sec-websocket-key": ` ${RFC_KEY}\t`,
      "sec-websocket-version": " 13 ",
    });
    assert.deepEqual(checkUpgrade(req), { key: RFC_KEY, protocols: [] });
  });

  test("offered subprotocols in order, empty elements skipped", () => {
    const req = request({ "sec-websocket-protocol": "chat, superchat.v2 ,, mqtt" });
    assert.deepEqual(checkUpgrade(req).protocols, ["chat", "superchat.v2", "mqtt"]);
    refused(
      request({ "sec-websocket-protocol": "chat, bad name" }),
      400,
      "Sec-WebSocket-Protocol contains an invalid subprotocol name",
    );
    refused(
      request({ "sec-websocket-protocol": "a/b" }),
      400,
      "Sec-WebSocket-Protocol contains an invalid subprotocol name",
    );
  });

  test("method and version", () => {
    refused(request({}, "POST"), 400, "WebSocket upgrade requires the GET method");
    refused(request({}, "get"), 400, "WebSocket upgrade requires the GET method");
    refused(request({}, "GET", "HTTP/1.0"), 400, "WebSocket upgrade requires HTTP/1.1");
  });

  test("Upgrade and Connection must contain their tokens", () => {
    for (const upgrade of [undefined, "", "web socket", "websocket2", "h2c"]) {
      refused(request({ upgrade }), 400, "Upgrade header does not contain websocket");
    }
    for (const connection of [undefined, "", "keep-alive", "upgraded", "close"]) {
      refused(request({ connection }), 400, "Connection header does not contain upgrade");
    }
  });

  test("Sec-WebSocket-Key must be 16 bytes in base64", () => {
    const message = "Sec-WebSocket-Key must be 16 bytes in base64";
    for (
      const key of [
        undefined,
        "",
        "dGhlIHNhbXBsZSBub25jZQ", // no padding
        "dGhlIHNhbXBsZSBub25jZQ=", // short padding
        "dGhlIHNhbXBsZSBub25jZSE=", // 17 bytes
        "dGhlIHNhbXBsZSBub25j", // 15 bytes
        "dGhlIHNhbXBsZSBub25jZ!==", // not base64
        `${RFC_KEY}, ${RFC_KEY}`, // repeated header
      ]
    ) {
      refused(request({ "sec-websocket-key": key }), 400, message);
    }
    assert.equal(
      checkUpgrade(request({ "sec-websocket-key": "AAAAAAAAAAAAAAAAAAAA/+==" })).key.length,
      24,
    );
  });

  test("a missing or other Sec-WebSocket-Version is 426", () => {
    for (const version of [undefined, "", "8", "12", "14", "13, 8"]) {
      refused(
        request({ "sec-websocket-version": version }),
        426,
        "Sec-WebSocket-Version must be 13",
      );
    }
  });
});

describe("acceptKey", () => {
  test("RFC 6455 §1.3 example, with a synchronous hash", () => {
    const sha1 = (data: Uint8Array) => createHash("sha1").update(data).digest("base64");
    assert.equal(acceptKey(RFC_KEY, sha1), RFC_ACCEPT);
  });

  test("RFC 6455 §1.3 example, with crypto.subtle", async () => {
    const accept = acceptKey(RFC_KEY);
    assert.ok(accept instanceof Promise);
    assert.equal(await accept, RFC_ACCEPT);
  });

  test("both ways agree with a hash of key + GUID, for keys of any length, one after another", async () => {
    const sha1 = (data: Uint8Array) => createHash("sha1").update(data).digest("base64");
    const expected = (key: string) =>
      createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
    for (
      const key of [
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "x3JJHMbDL1EzLkh9GBhXDw==",
        "/////////////////////w==",
        "short",
        "a key longer than the usual twenty-four characters",
        "é is not ASCII".padEnd(24, "x"),
      ]
    ) {
      assert.equal(acceptKey(key, sha1), expected(key), key);
      assert.equal(await acceptKey(key), expected(key), key);
    }
  });
});
