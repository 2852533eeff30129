import { test } from "node:test";
import assert from "node:assert/strict";
import * as wharf from "../mod.ts";

test("mod.ts exports exactly the public API", () => {
  assert.deepEqual(Object.keys(wharf).sort(), [
    "CloseCode",
    "HttpError",
    "HttpHeaders",
    "HttpRequest",
    "HttpResponse",
    "Websocket",
    "WebsocketConnection",
    "createStreamServer",
    "runtime",
    "startHttpServer",
    "websocketUpgrade",
  ]);
});

test("the seed's defaults", () => {
  assert.equal(wharf.Websocket.maxMsgSize, 262144);
  assert.equal(wharf.Websocket.timeout, 40);
});

test("runtime names the runtime running the tests", () => {
  const expected = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
  assert.equal(wharf.runtime, expected);
});
