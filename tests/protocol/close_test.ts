import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CloseCode,
  encodeClosePayload,
  isValidReceivedCloseCode,
  isValidSentCloseCode,
  MAX_CLOSE_REASON_BYTES,
} from "../../src/protocol/close.ts";
import { hex } from "../_helpers/splits.ts";

describe("close codes", () => {
  test("the named codes of RFC 6455 §7.4.1", () => {
    assert.deepEqual(CloseCode, {
      Normal: 1000,
      GoingAway: 1001,
      ProtocolError: 1002,
      UnsupportedData: 1003,
      NoStatus: 1005,
      Abnormal: 1006,
      InvalidPayload: 1007,
      PolicyViolation: 1008,
      MessageTooBig: 1009,
      MandatoryExtension: 1010,
      InternalError: 1011,
    });
  });

  test("received codes: exactly 1000-1003, 1007-1011 and 3000-4999 are valid", () => {
    for (let code = 0; code < 70000; code++) {
      const expected = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
        (code >= 3000 && code <= 4999);
      assert.equal(isValidReceivedCloseCode(code), expected, `${code}`);
      assert.equal(isValidSentCloseCode(code), expected, `${code}`);
    }
  });

  test("sent codes must be integers", () => {
    for (const code of [1000.5, NaN, Infinity, -1000]) {
      assert.equal(isValidSentCloseCode(code), false);
    }
  });
});

describe("encodeClosePayload", () => {
  test("code in network order, then the UTF-8 reason", () => {
    assert.deepEqual(encodeClosePayload(), hex("03 e8"));
    assert.deepEqual(encodeClosePayload(4999, "é!"), hex("13 87 c3 a9 21"));
  });

  test("a reason of 123 bytes passes; 124 is a RangeError", () => {
    assert.equal(encodeClosePayload(1000, "x".repeat(MAX_CLOSE_REASON_BYTES)).length, 125);
    assert.equal(encodeClosePayload(1000, "€".repeat(41)).length, 125);
    assert.throws(() => encodeClosePayload(1000, "x".repeat(124)), RangeError);
    assert.throws(() => encodeClosePayload(1000, "x".repeat(122) + "é"), RangeError);
    assert.throws(() => encodeClosePayload(1000, "𝄞".repeat(31)), RangeError);
  });

  test("codes that may not be sent are a RangeError", () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, 1000.5]) {
      assert.throws(() => encodeClosePayload(code), RangeError, `${code}`);
    }
  });
});
