/**
 * The benchmark lock: a directory under /tmp that `bench/ws.ts` and `bench/http.ts` hold for their whole
 * run, so two benchmarks never load the machine at once. A lock left by a process that no longer exists is
 * taken over.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";

/** The lock directory; it holds a `pid` file naming its owner. */
export const LOCK_DIR = "/tmp/wharf-bench.lock";
/** How long to wait for another benchmark before giving up, in milliseconds. */
const LOCK_WAIT_MS = 30 * 60_000;

/**
 * Takes the lock, waiting (synchronously, a second at a time) while another live process holds it.
 *
 * @throws {Error} when the lock is still held after 30 minutes, or the directory cannot be made.
 */
export function acquireLock(): void {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let warned = false;
  while (true) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(`${LOCK_DIR}/pid`, String(process.pid));
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(`${LOCK_DIR}/pid`, "utf8"));
    } catch {
      // Being created right now, or left without a pid file.
    }
    if (Number.isInteger(owner) && !existsSync(`/proc/${owner}`)) {
      rmSync(LOCK_DIR, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${LOCK_DIR} is still held by process ${owner}`);
    if (!warned) {
      console.error(`Waiting for another benchmark to finish (${LOCK_DIR}, process ${owner}) ...`);
      warned = true;
    }
    spawnSync("sleep", ["1"]);
  }
}

/** Gives the lock back if this process holds it. */
export function releaseLock(): void {
  try {
    if (Number(readFileSync(`${LOCK_DIR}/pid`, "utf8")) === process.pid) {
      rmSync(LOCK_DIR, { recursive: true, force: true });
    }
  } catch {
    // Not ours or already gone.
  }
}
