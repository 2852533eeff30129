/**
 * Runs `Deno.bench` micro-benchmark files on Bun, whose JavaScriptCore optimizes the hot loops differently
 * from V8: it stands in a minimal `Deno.bench` (name, group, baseline, fn; synchronous benchmarks only), then
 * times each benchmark over fixed windows and prints the median time per call, grouped as `deno bench`
 * groups them.
 *
 * ```sh
 * node_modules/.bin/bun bench/micro/bun_run.ts bench/micro/frame_bench.ts --filter=unmask
 * node_modules/.bin/bun bench/micro/bun_run.ts bench/micro/frame_bench.ts bench/micro/utf8_bench.ts
 * ```
 *
 * `server_bench.ts` listens with `Deno.listen` and stays Deno-only.
 *
 * @module
 */

import process from "node:process";
import { pathToFileURL } from "node:url";

/** What a bench file passes to `Deno.bench`; other options are not supported here. */
interface BenchDefinition {
  name: string;
  group?: string;
  baseline?: boolean;
  fn(): unknown;
}

/** Calls before timing starts, so the loop is compiled by the optimizing tier. */
const WARM_UP_MS = 300;
/** Each timed window; the median of {@linkcode WINDOWS} of them is printed. */
const WINDOW_MS = 200;
const WINDOWS = 5;

const benches: BenchDefinition[] = [];

function usage(message: string): never {
  console.error(`${message}\nusage: bun bench/micro/bun_run.ts FILE... [--filter=TEXT]`);
  process.exit(2);
}

/** Nanoseconds per call of `fn`, calling it in batches that grow until one batch takes a millisecond. */
function nanosecondsPerCall(fn: () => unknown): number {
  const warmUntil = performance.now() + WARM_UP_MS;
  let batch = 1;
  while (performance.now() < warmUntil) {
    const started = performance.now();
    for (let i = 0; i < batch; i++) fn();
    if (performance.now() - started < 1) batch *= 2;
  }
  const perWindow: number[] = [];
  for (let w = 0; w < WINDOWS; w++) {
    let calls = 0;
    const started = performance.now();
    let elapsed = 0;
    while (elapsed < WINDOW_MS) {
      for (let i = 0; i < batch; i++) fn();
      calls += batch;
      elapsed = performance.now() - started;
    }
    perWindow.push((elapsed * 1e6) / calls);
  }
  perWindow.sort((a, b) => a - b);
  return perWindow[WINDOWS >> 1];
}

function formatTime(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

async function main(): Promise<void> {
  const files: string[] = [];
  let filter = "";
  for (const arg of process.argv.slice(2)) {
    if (arg.startsWith("--filter=")) filter = arg.slice("--filter=".length);
    else if (arg.startsWith("--")) usage(`unknown option ${arg}`);
    else files.push(arg);
  }
  if (files.length === 0) usage("no bench file given");
  (globalThis as Record<string, unknown>).Deno = {
    bench(definition: BenchDefinition) {
      benches.push(definition);
    },
  };
  for (const file of files) await import(pathToFileURL(file).href);
  const matching = benches.filter((bench) => bench.name.includes(filter));
  // As `deno bench` does: each group together, in the order groups first appear, its members in file order.
  const groupOrder = [...new Set(matching.map((bench) => bench.group))];
  const selected = groupOrder.flatMap((name) => matching.filter((bench) => bench.group === name));
  if (selected.length === 0) usage(`no benchmark matches "${filter}"`);
  const versions = process.versions as Record<string, string | undefined>;
  console.log(
    `Bun ${versions.bun ?? "(not Bun)"}, ${selected.length} benchmark(s), median of ${WINDOWS}`,
  );
  let group: string | undefined;
  let baselineNs = 0;
  for (const bench of selected) {
    if (bench.group !== group) {
      group = bench.group;
      baselineNs = 0;
      if (group !== undefined) console.log(`group ${group}`);
    }
    const ns = nanosecondsPerCall(bench.fn);
    if (bench.baseline === true) baselineNs = ns;
    const relative = baselineNs > 0 && !bench.baseline
      ? `  ${(ns / baselineNs).toFixed(2)}x the baseline`
      : "";
    console.log(`  ${bench.name.padEnd(64)} ${formatTime(ns).padStart(10)}/call${relative}`);
  }
}

await main();
