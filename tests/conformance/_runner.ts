/**
 * Runs conformance cases against running servers with bounded concurrency and turns the outcomes into a
 * machine-readable {@linkcode Report} and a human summary (counts per section, Autobahn style).
 *
 * A case passes when its `run` resolves; it is NON-STRICT when it throws {@linkcode NonStrict} (the
 * server failed the connection by a TCP close where a close frame was expected) and FAILs on anything else
 * it throws, a timeout included. Every connection a case opens is destroyed when it ends.
 *
 * @module
 */

import { CaseFailure, type ConnectOptions, NonStrict, type Target, WsClient } from "./_client.ts";

/** The outcome of a case, as Autobahn's fuzzingclient reports it. */
export type Status = "PASS" | "NON-STRICT" | "FAIL";

/** The server started with a small `WS_MAX_MSG_SIZE` and `WS_TIMEOUT`, for section L. */
export interface LimitsTarget {
  target: Target;
  /** Its `WS_MAX_MSG_SIZE` in bytes. */
  maxMsgSize: number;
  /** Its `WS_TIMEOUT` in seconds. */
  timeoutS: number;
}

/** The servers a run talks to. */
export interface Targets {
  /** The echo server, started with `WS_MAX_MSG_SIZE` of at least 16 MiB for sections 1 and 9. */
  main: Target;
  /** Needed only by section L; without it those cases are not run. */
  limits?: LimitsTarget;
}

/** What a case gets to work with. */
export interface CaseContext {
  /** The server the case runs against. */
  readonly target: Target;
  /** The limits server's settings (section L only). */
  readonly limits: LimitsTarget | undefined;
  /** When the case times out (ms since the epoch). */
  readonly deadline: number;
  /** Opens a WebSocket to the case's server; closed when the case ends. */
  connect(options?: ConnectOptions): Promise<WsClient>;
  /** Adds a line to the case's report (timings, how the server fragmented, ...). */
  note(text: string): void;
}

/** One numbered case. */
export interface ConformanceCase {
  /** Autobahn-style number, e.g. `"5.19"` or `"6.12.3"`; sections H and L are Wharf's own. */
  id: string;
  /** What is sent and what must happen. */
  description: string;
  /** Default `"main"`. */
  server?: "main" | "limits";
  /** Default {@linkcode DEFAULT_CASE_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** A rough cost to schedule expensive cases first, so they overlap the many cheap ones. Default 1. */
  cost?: number;
  /**
   * Run alone, after the concurrent cases, so its time measures the server and not the other cases
   * (section 9). Default false.
   */
  exclusive?: boolean;
  run(context: CaseContext): Promise<void>;
}

/** A case that meets no expectation fails after this long. */
export const DEFAULT_CASE_TIMEOUT_MS = 5000;

/** Connections open at a time. */
export const DEFAULT_CONCURRENCY = 8;

/** One case's result. */
export interface CaseResult {
  id: string;
  section: string;
  description: string;
  status: Status;
  /** Why it failed, or notes such as timings. */
  detail: string;
  durationMs: number;
}

/** Counts of one section. */
export interface SectionSummary {
  section: string;
  title: string;
  pass: number;
  nonStrict: number;
  fail: number;
  total: number;
  /** Sum of the case durations (they overlap when run concurrently). */
  caseTimeMs: number;
}

/** The JSON report. */
export interface Report {
  /** `"deno"`, `"bun"` or `"node"`: the runtime of the client. */
  clientRuntime: string;
  targets: { main: string; limits?: string; maxMsgSize?: number; timeoutS?: number };
  startedAt: string;
  durationMs: number;
  concurrency: number;
  totals: { pass: number; nonStrict: number; fail: number; total: number };
  sections: SectionSummary[];
  cases: CaseResult[];
}

/** Section titles, Autobahn's where the number is Autobahn's. */
export const SECTION_TITLES: Record<string, string> = {
  "1": "Framing",
  "2": "Pings/Pongs",
  "3": "Reserved bits",
  "4": "Opcodes",
  "5": "Fragmentation",
  "6": "UTF-8 handling",
  "7": "Close handling",
  "9": "Limits/Performance",
  "10": "Auto-fragmentation",
  "H": "Opening handshake",
  "L": "Seed limits",
};

/** The section of a case id: its first component. */
export function sectionOf(id: string): string {
  const dot = id.indexOf(".");
  return dot === -1 ? id : id.substring(0, dot);
}

/**
 * Orders ids component by component, numbers numerically (`6.9.1` before `6.10.1`), a letter suffix after
 * the bare number (`6.5.1`, `6.5.1f`, `6.5.2`), and sections with letters (H, L) after the numbered ones.
 */
export function compareIds(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (pa[i] === undefined) return -1;
    if (pb[i] === undefined) return 1;
    const ma = /^(\d*)(.*)$/.exec(pa[i])!;
    const mb = /^(\d*)(.*)$/.exec(pb[i])!;
    const na = ma[1] === "" ? Infinity : Number(ma[1]);
    const nb = mb[1] === "" ? Infinity : Number(mb[1]);
    if (na !== nb) return na < nb ? -1 : 1;
    if (ma[2] !== mb[2]) return ma[2] < mb[2] ? -1 : 1;
  }
  return 0;
}

/** Checks that ids are unique; throws a `TypeError` naming the first repeat (a bug in the case files). */
export function checkIds(cases: readonly ConformanceCase[]): void {
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.id)) throw new TypeError(`Duplicate case id ${c.id}`);
    seen.add(c.id);
  }
}

/** The client runtime, for the report. */
function clientRuntime(): string {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

/** Runs one case to its outcome; never throws. */
export async function runCase(testCase: ConformanceCase, targets: Targets): Promise<CaseResult> {
  const started = performance.now();
  const timeoutMs = testCase.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const notes: string[] = [];
  const clients: WsClient[] = [];
  const useLimits = testCase.server === "limits";
  const result = (status: Status, detail: string): CaseResult => ({
    id: testCase.id,
    section: sectionOf(testCase.id),
    description: testCase.description,
    status,
    detail: [detail, ...notes].filter((line) => line !== "").join("; "),
    durationMs: Math.round((performance.now() - started) * 10) / 10,
  });
  if (useLimits && targets.limits === undefined) {
    return result("FAIL", "No limits server was given");
  }
  const target = useLimits ? targets.limits!.target : targets.main;
  const context: CaseContext = {
    target,
    limits: targets.limits,
    deadline,
    async connect(options) {
      const client = await WsClient.connect(target, deadline, options);
      clients.push(client);
      return client;
    },
    note(text) {
      notes.push(text);
    },
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  // A case stuck somewhere other than a client wait (a write that never completes) still ends on time.
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CaseFailure(`Case timed out after ${timeoutMs} ms`)),
      timeoutMs + 250,
    );
  });
  try {
    await Promise.race([testCase.run(context), expired]);
    return result("PASS", "");
  } catch (error) {
    if (error instanceof NonStrict) return result("NON-STRICT", error.message);
    if (error instanceof CaseFailure) return result("FAIL", error.message);
    return result("FAIL", `Client error: ${error instanceof Error ? error.stack : String(error)}`);
  } finally {
    clearTimeout(timer);
    for (const client of clients) client.destroy();
  }
}

/** Options of {@linkcode runSuite}. */
export interface RunOptions {
  /** Default {@linkcode DEFAULT_CONCURRENCY}. */
  concurrency?: number;
  /** Called after each case (progress output). */
  onResult?: (result: CaseResult) => void;
}

/**
 * Runs `cases` against `targets`, at most `concurrency` at a time, the costly ones first, then the
 * exclusive ones one by one. Cases for the limits server are left out when `targets.limits` is missing.
 */
export async function runSuite(
  cases: readonly ConformanceCase[],
  targets: Targets,
  options: RunOptions = {},
): Promise<Report> {
  checkIds(cases);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const runnable = cases.filter((c) => c.server !== "limits" || targets.limits !== undefined);
  const queue = runnable.filter((c) => !c.exclusive).sort((a, b) => (b.cost ?? 1) - (a.cost ?? 1));
  const startedAt = new Date();
  const started = performance.now();
  const results: CaseResult[] = [];
  const run = async (testCase: ConformanceCase) => {
    const result = await runCase(testCase, targets);
    results.push(result);
    options.onResult?.(result);
  };
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) await run(next);
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  for (const testCase of runnable.filter((c) => c.exclusive)) await run(testCase);
  results.sort((a, b) => compareIds(a.id, b.id));
  return buildReport(results, targets, startedAt, performance.now() - started, concurrency);
}

function buildReport(
  results: CaseResult[],
  targets: Targets,
  startedAt: Date,
  durationMs: number,
  concurrency: number,
): Report {
  const sections = new Map<string, SectionSummary>();
  for (const r of results) {
    let summary = sections.get(r.section);
    if (summary === undefined) {
      summary = {
        section: r.section,
        title: SECTION_TITLES[r.section] ?? "",
        pass: 0,
        nonStrict: 0,
        fail: 0,
        total: 0,
        caseTimeMs: 0,
      };
      sections.set(r.section, summary);
    }
    if (r.status === "PASS") summary.pass++;
    else if (r.status === "NON-STRICT") summary.nonStrict++;
    else summary.fail++;
    summary.total++;
    summary.caseTimeMs += r.durationMs;
  }
  const list = [...sections.values()].sort((a, b) => compareIds(a.section, b.section));
  for (const s of list) s.caseTimeMs = Math.round(s.caseTimeMs);
  const url = (t: Target) => `ws://${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`;
  return {
    clientRuntime: clientRuntime(),
    targets: {
      main: url(targets.main),
      ...(targets.limits === undefined ? {} : {
        limits: url(targets.limits.target),
        maxMsgSize: targets.limits.maxMsgSize,
        timeoutS: targets.limits.timeoutS,
      }),
    },
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(durationMs),
    concurrency,
    totals: {
      pass: list.reduce((n, s) => n + s.pass, 0),
      nonStrict: list.reduce((n, s) => n + s.nonStrict, 0),
      fail: list.reduce((n, s) => n + s.fail, 0),
      total: results.length,
    },
    sections: list,
    cases: results,
  };
}

function pad(text: string | number, width: number, left = false): string {
  const s = String(text);
  return left ? s.padEnd(width) : s.padStart(width);
}

/** The per-section table, the per-case times of section 9, and every case that did not pass. */
export function formatReport(report: Report, title = "WebSocket conformance"): string {
  const lines: string[] = [];
  const limits = report.targets.limits === undefined
    ? ""
    : `, limits ${report.targets.limits} (maxMsgSize ${report.targets.maxMsgSize}, timeout ${report.targets.timeoutS} s)`;
  lines.push(
    `${title}: client on ${report.clientRuntime}, server ${report.targets.main}${limits}`,
    `${report.cases.length} cases in ${(report.durationMs / 1000).toFixed(1)} s, ` +
      `${report.concurrency} at a time`,
    "",
    `${pad("Section", 8, true)} ${pad("Title", 20, true)} ${pad("PASS", 6)} ${
      pad("NON-STRICT", 10)
    } ` +
      `${pad("FAIL", 6)} ${pad("Total", 6)} ${pad("Case time", 10)}`,
  );
  for (const s of report.sections) {
    lines.push(
      `${pad(s.section, 8, true)} ${pad(s.title, 20, true)} ${pad(s.pass, 6)} ${
        pad(s.nonStrict, 10)
      } ` +
        `${pad(s.fail, 6)} ${pad(s.total, 6)} ${pad(`${(s.caseTimeMs / 1000).toFixed(2)} s`, 10)}`,
    );
  }
  const t = report.totals;
  lines.push(
    `${pad("All", 8, true)} ${pad("", 20, true)} ${pad(t.pass, 6)} ${pad(t.nonStrict, 10)} ` +
      `${pad(t.fail, 6)} ${pad(t.total, 6)}`,
  );
  const timed = report.cases.filter((c) => c.section === "9");
  if (timed.length > 0) {
    lines.push("", "Section 9 times (each case alone):");
    for (const c of timed) {
      lines.push(`  ${pad(c.id, 8, true)} ${pad(c.durationMs.toFixed(0), 7)} ms  ${c.description}`);
    }
  }
  const bad = report.cases.filter((c) => c.status !== "PASS");
  if (bad.length > 0) {
    lines.push("", "Not passed:");
    for (const c of bad) {
      lines.push(`  ${c.status} ${c.id}: ${c.description}`, `      ${c.detail}`);
    }
  }
  return lines.join("\n");
}

/** Compares results with expected statuses; the differences as lines (missing and extra ids too). */
export function diffExpected(report: Report, expected: Record<string, Status>): string[] {
  const differences: string[] = [];
  const actual = new Map(report.cases.map((c) => [c.id, c]));
  for (const [id, status] of Object.entries(expected)) {
    const result = actual.get(id);
    if (result === undefined) differences.push(`${id}: expected ${status}, not run`);
    else if (result.status !== status) {
      differences.push(`${id}: expected ${status}, got ${result.status}: ${result.detail}`);
    }
  }
  for (const id of actual.keys()) {
    if (!(id in expected)) differences.push(`${id}: not in the expected results`);
  }
  return differences;
}
