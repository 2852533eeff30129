/**
 * Chromium uses the chat example the way people do: `examples/chat.ts` runs as its own process on the test's
 * runtime, two pages load it from the example's public folder, each joins with a nickname through the page's
 * form, and the page's own script talks to the server over a Websocket. Needs `/usr/bin/chromium` and the npm
 * `playwright-core` package; skipped, saying why, where either is missing.
 *
 * Every wait is on a condition of a page (`waitForFunction`) or of the process, under one deadline.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runtime } from "../../mod.ts";
import { CHROMIUM, CHROMIUM_ARGS, loadChromium } from "../_helpers/chromium.ts";
import { Deadline, ExampleProcess } from "../_helpers/example_process.ts";

/** The whole test, Chromium's launch and the example's start-up included. */
const TEST_LIMIT_MS = 60_000;
/** What the steps may use of it; the rest is for cleanup after a failure. */
const STEPS_LIMIT_MS = 50_000;
/** One page step (a navigation, a click, a condition to become true). */
const STEP_MS = 10_000;

/** Multi-byte UTF-8 (2, 3 and 4 bytes) and HTML special characters, which the page must show as text. */
const MESSAGE = "<b>héllo</b> & ✓ 🚀 <script>window.injected = 1</script>";
const ALICE = "alice";
/** Goes through the query string (`encodeURIComponent`) and comes back in JSON. */
const ZOE = "Zoë ✓";
const REPLY = "salut alice";

/** The part of playwright-core used here. */
interface Page {
  goto(url: string): Promise<unknown>;
  fill(selector: string, value: string): Promise<void>;
  click(selector: string): Promise<void>;
  evaluate<R, A>(fn: (arg: A) => R, arg: A): Promise<R>;
  waitForFunction<A>(
    fn: (arg: A) => unknown,
    arg: A,
    options: { timeout: number },
  ): Promise<unknown>;
  setDefaultTimeout(ms: number): void;
  on(event: "pageerror", listener: (error: Error) => void): void;
  on(event: "console", listener: (message: { type(): string; text(): string }) => void): void;
  on(event: "response", listener: (response: { status(): number; url(): string }) => void): void;
  close(): Promise<void>;
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Chromium {
  launch(options: { executablePath: string; args: string[]; timeout: number }): Promise<Browser>;
}

const { chromium, skip: cannotLoad } = await loadChromium<Chromium>();

/** One entry of the chat log (`#log li`) as the page renders it. */
interface LogEntry {
  className: string;
  /** The sender's name (`.name`), or `null` for a system line. */
  name: string | null;
  /** The entry's own text nodes, the name left out. */
  text: string;
  /** Tag names of every element inside the entry: only the name's `span` is expected. */
  elements: string[];
}

/** The log and the online status of a page; runs in the page, so it uses nothing from this module. */
function snapshot(): { status: string; log: LogEntry[] } {
  const items = Array.from(document.querySelectorAll("#log li"));
  return {
    status: document.getElementById("status")?.textContent ?? "",
    log: items.map((item) => ({
      className: item.className,
      name: item.querySelector(".name")?.textContent ?? null,
      text: Array.from(item.childNodes)
        .filter((node) => node.nodeType === 3)
        .map((node) => (node as Text).data)
        .join(""),
      elements: Array.from(item.querySelectorAll("*")).map((element) => element.localName),
    })),
  };
}

/** A chat page of one user, recording script errors and failed loads. */
class ChatPage {
  readonly page: Page;
  readonly who: string;
  readonly errors: string[] = [];

  constructor(page: Page, who: string) {
    this.page = page;
    this.who = who;
    page.setDefaultTimeout(STEP_MS);
    page.on("pageerror", (error) => this.errors.push(`pageerror: ${error.message}`));
    page.on("console", (message) => {
      // A failed load is reported by the "response" listener, which can tell the favicon apart.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        this.errors.push(`console: ${message.text()}`);
      }
    });
    page.on("response", (response) => {
      // The example has no favicon, which Chromium asks for on its own: a 404 there is expected.
      if (response.status() >= 400 && new URL(response.url()).pathname !== "/favicon.ico") {
        this.errors.push(`${response.status()} for ${response.url()}`);
      }
    });
  }

  /** What the page shows now. */
  state(deadline: Deadline): Promise<{ status: string; log: LogEntry[] }> {
    return deadline.wait(this.page.evaluate(snapshot, undefined), `${this.who}'s page state`);
  }

  /**
   * Waits until `condition(arg)` holds in the page. On failure the error names `what` and shows the page's
   * log, since Playwright's timeout message says neither.
   */
  async until<A>(
    what: string,
    condition: (arg: A) => unknown,
    arg: A,
    deadline: Deadline,
  ): Promise<void> {
    try {
      await deadline.wait(
        this.page.waitForFunction(condition, arg, {
          timeout: Math.min(STEP_MS, deadline.remainingMs),
        }),
        `${this.who}'s page: ${what}`,
      );
    } catch (error) {
      let shown = "(page state unavailable)";
      try {
        shown = JSON.stringify(await this.page.evaluate(snapshot, undefined));
      } catch {
        // The page is gone; the original error says enough.
      }
      throw new Error(`${this.who}'s page never showed ${what}: ${error}\n  page: ${shown}`);
    }
  }

  untilStatus(status: string, deadline: Deadline): Promise<void> {
    return this.until(
      `"${status}"`,
      (expected) => document.getElementById("status")?.textContent === expected,
      status,
      deadline,
    );
  }

  /** Waits for a log entry of `className` whose whole text (name included) is `text`. */
  untilLogged(className: string, text: string, deadline: Deadline): Promise<void> {
    return this.until(
      `a log entry .${className} "${text}"`,
      ([wanted, content]) =>
        Array.from(document.querySelectorAll(`#log li.${wanted}`)).some((item) =>
          item.textContent === content
        ),
      [className, text] as const,
      deadline,
    );
  }

  /** Fills in the nickname the page asks for and joins; resolves once the page shows the welcome. */
  async join(url: string, name: string, deadline: Deadline): Promise<void> {
    await deadline.wait(this.page.goto(url), `${this.who}'s page to load`);
    // The page asks for a nickname first: the join form shows, the message form does not.
    const forms = await deadline.wait(
      this.page.evaluate(() => ({
        join: (document.getElementById("join") as HTMLFormElement | null)?.hidden,
        say: (document.getElementById("say") as HTMLFormElement | null)?.hidden,
        status: document.getElementById("status")?.textContent,
      }), undefined),
      `${this.who}'s page forms`,
    );
    assert.deepEqual(forms, { join: false, say: true, status: "offline" });
    await deadline.wait(this.page.fill("#name", name), `${this.who} to type a nickname`);
    await deadline.wait(this.page.click("#join button"), `${this.who} to click Join`);
    await this.untilLogged("system", `You joined as ${name}`, deadline);
    await this.until(
      "the message form",
      () => (document.getElementById("say") as HTMLFormElement | null)?.hidden === false,
      undefined,
      deadline,
    );
  }

  /** Types `text` into the message box and clicks Send. */
  async say(text: string, deadline: Deadline): Promise<void> {
    await deadline.wait(this.page.fill("#text", text), `${this.who} to type a message`);
    await deadline.wait(this.page.click("#say button"), `${this.who} to click Send`);
  }
}

/** Runs `body`; afterwards the browser is closed and the example is gone, whatever happened. */
async function withBrowserAndExample(
  body: (
    browser: Browser,
    example: ExampleProcess,
    url: string,
    deadline: Deadline,
  ) => Promise<void>,
): Promise<void> {
  const deadline = new Deadline(STEPS_LIMIT_MS);
  let browser: Browser | undefined;
  let example: ExampleProcess | undefined;
  let failure: { error: unknown } | undefined;
  try {
    browser = await deadline.wait(
      chromium!.launch({
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        timeout: deadline.remainingMs,
      }),
      "Chromium to launch",
    );
    const started = await ExampleProcess.start("chat", deadline);
    example = started.example;
    await body(browser, example, started.url, deadline);
  } catch (error) {
    failure = { error };
  }
  // After a failure the browser and the process may still run: end both. Not ending is a failure too, but
  // the first failure is the one to report.
  const cleanup = new Deadline(TEST_LIMIT_MS - STEPS_LIMIT_MS);
  try {
    if (browser !== undefined) await cleanup.wait(browser.close(), "Chromium to close");
  } catch (error) {
    failure ??= { error };
  }
  if (example !== undefined) {
    example.kill();
    try {
      await cleanup.wait(example.exited, "the chat example to exit after SIGKILL");
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure !== undefined) throw failure.error;
}

describe(`examples/chat in Chromium (${runtime})`, { skip: cannotLoad }, () => {
  test("two pages chat: text arrives escaped and intact, online counts follow, SIGTERM exits 0", {
    timeout: TEST_LIMIT_MS,
  }, async () => {
    await withBrowserAndExample(async (browser, example, url, deadline) => {
      // ---- both join through the page's form; both then show 2 online ----
      const alice = new ChatPage(await deadline.wait(browser.newPage(), "a page"), "Alice");
      await alice.join(`${url}/`, ALICE, deadline);
      await alice.untilStatus("1 online", deadline);

      const zoe = new ChatPage(await deadline.wait(browser.newPage(), "a page"), "Zoë");
      await zoe.join(`${url}/`, ZOE, deadline);
      await zoe.untilStatus("2 online", deadline);
      await alice.untilStatus("2 online", deadline);
      await alice.untilLogged("system", `${ZOE} joined`, deadline);

      // ---- Alice's message reaches Zoë as text, byte for byte, and creates no element ----
      await alice.say(MESSAGE, deadline);
      await alice.untilLogged("mine", `${ALICE}${MESSAGE}`, deadline);
      await zoe.untilLogged("other", `${ALICE}${MESSAGE}`, deadline);
      const seenByZoe = await zoe.state(deadline);
      assert.deepEqual(seenByZoe.log.filter((entry) => entry.className === "other"), [{
        className: "other",
        name: ALICE,
        text: MESSAGE,
        elements: ["span"],
      }]);
      const injected = await deadline.wait(
        zoe.page.evaluate(() => ({
          bold: document.querySelectorAll("b").length,
          scripts: document.querySelectorAll("body script").length,
          injected: (window as unknown as { injected?: number }).injected ?? null,
        }), undefined),
        "Zoë's page to be inspected",
      );
      assert.deepEqual(injected, { bold: 0, scripts: 0, injected: null });

      // ---- Zoë answers; the first message Alice gets from the server is Zoë's, not her own ----
      // The server writes to each connection in order, so had it sent Alice her own message back, that
      // would have reached her page before this reply.
      await zoe.say(REPLY, deadline);
      await alice.untilLogged("other", `${ZOE}${REPLY}`, deadline);
      const seenByAlice = await alice.state(deadline);
      assert.deepEqual(
        seenByAlice.log.filter((entry) => entry.className !== "system"),
        [
          { className: "mine", name: ALICE, text: MESSAGE, elements: ["span"] },
          { className: "other", name: ZOE, text: REPLY, elements: ["span"] },
        ],
      );
      assert.equal(seenByAlice.status, "2 online");

      // ---- closing Zoë's page: Alice is alone ----
      await deadline.wait(zoe.page.close(), "Zoë's page to close");
      await alice.untilStatus("1 online", deadline);
      await alice.untilLogged("system", `${ZOE} left`, deadline);

      // ---- SIGTERM: a graceful stop, which closes Alice's Websocket with 1001 ----
      const exit = await example.stop(deadline);
      assert.deepEqual(exit, { code: 0, signal: null }, example.describe(exit));
      assert.match(example.stdout, /\nStopped\r?\n$/);
      await alice.untilStatus("offline", deadline);
      const closed = await alice.state(deadline);
      assert.match(closed.log.at(-1)?.text ?? "", /^Disconnected \(1001[):]/);

      assert.deepEqual(alice.errors, []);
      assert.deepEqual(zoe.errors, []);
    });
  });
});
