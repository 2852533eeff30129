import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { isValidUtf8, Utf8Validator } from "../../src/protocol/utf8.ts";
import { concat, hex, splits } from "../_helpers/splits.ts";

const reference = new TextDecoder("utf-8", { fatal: true });

function referenceValid(bytes: Uint8Array): boolean {
  try {
    reference.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The index of the first byte after which no continuation can make `bytes` valid, or -1. */
function firstProvenInvalid(bytes: Uint8Array): number {
  const validator = new Utf8Validator();
  for (let i = 0; i < bytes.length; i++) {
    if (!validator.feed(bytes, i, i + 1)) return i;
  }
  return -1;
}

describe("isValidUtf8", () => {
  test("agrees with a fatal TextDecoder on every 1- and 2-byte sequence", () => {
    const pair = new Uint8Array(2);
    for (let a = 0; a < 256; a++) {
      assert.equal(isValidUtf8(Uint8Array.of(a)), referenceValid(Uint8Array.of(a)), `${a}`);
      for (let b = 0; b < 256; b++) {
        pair[0] = a;
        pair[1] = b;
        assert.equal(isValidUtf8(pair), referenceValid(pair), `${a} ${b}`);
      }
    }
  });

  test("agrees on every 3-byte sequence with a lead byte E0-EF", () => {
    const triple = new Uint8Array(3);
    for (let a = 0xe0; a <= 0xef; a++) {
      for (let b = 0x70; b < 0xd0; b++) {
        for (let c = 0x70; c < 0xd0; c++) {
          triple[0] = a;
          triple[1] = b;
          triple[2] = c;
          assert.equal(isValidUtf8(triple), referenceValid(triple), `${a} ${b} ${c}`);
        }
      }
    }
  });

  test("agrees on 4-byte sequences with lead bytes F0-F7 at the range edges", () => {
    const edges = [0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0];
    const quad = new Uint8Array(4);
    for (let a = 0xf0; a <= 0xf7; a++) {
      for (const b of edges) {
        for (const c of edges) {
          for (const d of edges) {
            quad.set([a, b, c, d]);
            assert.equal(isValidUtf8(quad), referenceValid(quad), `${a} ${b} ${c} ${d}`);
          }
        }
      }
    }
  });

  test("boundary code points", () => {
    for (
      const valid of [
        "7f",
        "c2 80",
        "df bf",
        "e0 a0 80",
        "ed 9f bf",
        "ee 80 80",
        "ef bf bf",
        "f0 90 80 80",
        "f4 8f bf bf",
        "",
      ]
    ) {
      assert.equal(isValidUtf8(hex(valid)), true, valid);
    }
    // Overlong, surrogates U+D800 and U+DFFF, U+110000, truncated, stray continuation.
    for (
      const invalid of [
        "c0 80",
        "c1 bf",
        "e0 9f bf",
        "ed a0 80",
        "ed bf bf",
        "f0 8f bf bf",
        "f4 90 80 80",
        "f5 80 80 80",
        "ff",
        "c2",
        "e2 82",
        "f0 9d 84",
        "80",
        "61 bf",
      ]
    ) {
      assert.equal(isValidUtf8(hex(invalid)), false, invalid);
    }
  });

  test("long texts use the word scan: any offset, alignment and position of the bad byte", () => {
    const backing = new Uint8Array(4096 + 8).fill(0x61);
    for (let offset = 0; offset < 4; offset++) {
      for (const length of [1023, 1024, 1025, 3000]) {
        const text = backing.subarray(offset, offset + length);
        assert.equal(isValidUtf8(text), true);
        for (const at of [0, 1, 2, 3, 4, 511, length - 4, length - 2, length - 1]) {
          text[at] = 0xff;
          assert.equal(isValidUtf8(text), false, `offset ${offset} length ${length} at ${at}`);
          text[at] = 0xc3;
          if (at + 1 < length) {
            text[at + 1] = 0xa9;
            assert.equal(isValidUtf8(text), true, `é at ${at}`);
            text[at + 1] = 0x61;
          }
          text[at] = 0x61;
        }
      }
    }
  });

  test("mixed long text agrees with the reference", () => {
    const text = new TextEncoder().encode("héllo wörld €𝄞 ".repeat(200) + "a".repeat(2000) + "ü");
    assert.equal(isValidUtf8(text), true);
    assert.equal(isValidUtf8(text.subarray(0, text.length - 1)), false);
    assert.equal(isValidUtf8(text.subarray(1)), referenceValid(text.subarray(1)));
  });
});

describe("Utf8Validator", () => {
  test("gives the same verdict for every split of the input", () => {
    for (
      const sample of ["ce ba e1 bd b9 cf 83 ce bc ce b5", "f0 9d 84 9e 61", "ed a0 80 61", "e2 82"]
    ) {
      const bytes = hex(sample);
      const expected = referenceValid(bytes);
      for (const pieces of splits(bytes)) {
        const validator = new Utf8Validator();
        let ok = true;
        for (const piece of pieces) ok = validator.feed(piece, 0, piece.length) && ok;
        assert.equal(ok && validator.complete, expected, sample);
      }
    }
  });

  test("fails at the first byte that proves the input invalid", () => {
    assert.equal(firstProvenInvalid(hex("61 62 c0 80")), 2);
    assert.equal(firstProvenInvalid(hex("e0 80 80")), 1);
    assert.equal(firstProvenInvalid(hex("ed a0 80")), 1);
    assert.equal(firstProvenInvalid(hex("f4 90 80 80")), 1);
    assert.equal(firstProvenInvalid(hex("f0 80 80 80")), 1);
    assert.equal(firstProvenInvalid(hex("f5")), 0);
    assert.equal(firstProvenInvalid(hex("e2 82 61")), 2);
    assert.equal(firstProvenInvalid(hex("e2 82 ac f0 9f 98")), -1);
  });

  test("complete is false in the middle of a sequence; feed honours start and end", () => {
    const validator = new Utf8Validator();
    const bytes = concat([hex("ff e2 82"), hex("ac ff")]);
    assert.equal(validator.feed(bytes, 1, 3), true);
    assert.equal(validator.complete, false);
    assert.equal(validator.feed(bytes, 3, 4), true);
    assert.equal(validator.complete, true);
  });

  test("stays failed until reset", () => {
    const validator = new Utf8Validator();
    assert.equal(validator.feed(hex("ff"), 0, 1), false);
    assert.equal(validator.feed(hex("61"), 0, 1), false);
    assert.equal(validator.complete, false);
    validator.reset();
    assert.equal(validator.complete, true);
    assert.equal(validator.feed(hex("61"), 0, 1), true);
  });
});
