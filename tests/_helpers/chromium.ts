/**
 * Headless Chromium for the browser tests: Debian's `chromium` (CI installs it) driven by `playwright-core`,
 * which never downloads a browser of its own.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { runtime } from "../../mod.ts";

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Flags for a root, offline, throwaway browser: no sandbox (root), no GPU, and no background networking,
 * whose connections this machine's closed network refuses.
 */
export const CHROMIUM_ARGS: string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Loads playwright-core's `chromium` launcher, typed as the caller's own narrow view `C` of it.
 *
 * @returns The launcher and `skip: false`, or why the browser tests cannot run here.
 */
export async function loadChromium<C>(): Promise<{ chromium?: C; skip: string | false }> {
  if (!existsSync(CHROMIUM)) return { skip: `${CHROMIUM} does not exist (CI installs Chromium)` };
  try {
    const playwright = await import("playwright-core") as unknown as { chromium: C };
    return { chromium: playwright.chromium, skip: false };
  } catch (error) {
    return { skip: `playwright-core does not load on ${runtime}: ${error}` };
  }
}
