/**
 * Micro-benchmarks of UTF-8 validation for text messages (RFC 6455 §8.1): Wharf's `isValidUtf8` against a
 * fatal `TextDecoder`, which also validates but builds a string.
 *
 * ```sh
 * deno bench bench/micro/utf8_bench.ts
 * ```
 *
 * @module
 */

import { isValidUtf8, Utf8Validator } from "../../src/protocol/utf8.ts";
import { asciiPayload, mixedPayload } from "./_frames.ts";

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

for (
  const [kind, bytes] of [["ASCII", asciiPayload(4096)], ["mixed", mixedPayload(4096)]] as const
) {
  if (!isValidUtf8(bytes)) throw new Error(`The ${kind} input is not valid UTF-8`);
  Deno.bench({
    name: `isValidUtf8, 4 KiB ${kind}`,
    group: kind,
    baseline: true,
    fn() {
      if (!isValidUtf8(bytes)) throw new Error("invalid");
    },
  });
  const validator = new Utf8Validator();
  Deno.bench({
    name: `Utf8Validator.feed in 4 pieces, 4 KiB ${kind}`,
    group: kind,
    fn() {
      validator.reset();
      for (let at = 0; at < 4096; at += 1024) validator.feed(bytes, at, at + 1024);
      if (!validator.complete) throw new Error("invalid");
    },
  });
  Deno.bench({
    name: `TextDecoder fatal decode, 4 KiB ${kind}`,
    group: kind,
    fn() {
      decoder.decode(bytes);
    },
  });
}

// The small message of the echo benchmark.
{
  const bytes = asciiPayload(32);
  Deno.bench({
    name: "isValidUtf8, 32 B ASCII",
    group: "32 B",
    baseline: true,
    fn() {
      if (!isValidUtf8(bytes)) throw new Error("invalid");
    },
  });
  Deno.bench({
    name: "TextDecoder fatal decode, 32 B ASCII",
    group: "32 B",
    fn() {
      decoder.decode(bytes);
    },
  });
}
