/**
 * Building blocks shared by the case files: how frames are written (whole, frame by frame, or in chops of
 * N bytes) and the two shapes most cases take: "the server answers this, then closes cleanly when we do"
 * and "the server answers this, then fails the connection with a code".
 *
 * @module
 */

import { CaseFailure, type FrameSpec, type WsClient } from "./_client.ts";
import type { ConformanceCase } from "./_runner.ts";

/** How frames are written: all in one write, one write per frame, or pieces of N bytes (1: octet-wise). */
export type Delivery = "whole" | "frame-wise" | number;

/** Something the server must send, in order. */
export type Expected =
  | { message: string | Uint8Array; isText?: boolean }
  | { pong: string | Uint8Array };

/** Frames built when the case runs, so large payloads live only while their case does. */
export type Frames = FrameSpec[] | (() => FrameSpec[]);

/** Expectations built when the case runs. */
export type Expectations = Expected[] | (() => Expected[]);

/** Writes `frames` the way `delivery` says. */
export async function deliver(
  client: WsClient,
  frames: readonly FrameSpec[],
  delivery: Delivery,
): Promise<void> {
  if (delivery === "frame-wise") await client.sendEach(frames);
  else await client.send(frames, delivery === "whole" ? 0 : delivery);
}

/** Words for a delivery, for descriptions. */
export function deliveryText(delivery: Delivery): string {
  if (delivery === "whole") return "in one write";
  if (delivery === "frame-wise") return "one write per frame";
  return delivery === 1 ? "in 1-byte writes" : `in ${delivery}-byte writes`;
}

/** Waits for each expected event in order. */
export async function expectAll(client: WsClient, expected: readonly Expected[]): Promise<void> {
  for (const e of expected) {
    if ("pong" in e) await client.expectPong(e.pong);
    else await client.expectMessage(e.message, e.isText ?? typeof e.message === "string");
  }
}

function resolve<T>(value: T[] | (() => T[])): T[] {
  return typeof value === "function" ? value() : value;
}

/** Optional settings of {@linkcode echoCase} and {@linkcode failCase}. */
export interface CaseOptions {
  delivery?: Delivery;
  timeoutMs?: number;
  cost?: number;
  server?: "main" | "limits";
  exclusive?: boolean;
}

/**
 * A case where the server must answer `frames` with exactly `expected`, and then complete the closing
 * handshake we start with 1000 (echoing it and closing TCP first).
 */
export function echoCase(
  id: string,
  description: string,
  frames: Frames,
  expected: Expectations,
  options: CaseOptions = {},
): ConformanceCase {
  const delivery = options.delivery ?? "whole";
  return {
    id,
    description,
    timeoutMs: options.timeoutMs,
    cost: options.cost,
    server: options.server,
    exclusive: options.exclusive,
    async run(context) {
      const client = await context.connect();
      await deliver(client, resolve(frames), delivery);
      await expectAll(client, resolve(expected));
      await client.closeHandshake(1000);
      // Section 10: a server may fragment what it sends; say so when it did.
      const messages = resolve(expected).filter((e) => "message" in e).length;
      if (client.dataFramesReceived > messages) {
        context.note(
          `server sent ${client.dataFramesReceived} data frames for ${messages} messages`,
        );
      }
    },
  };
}

/**
 * A case where the server must answer `frames` with `before` (echoes of what was valid), then fail the
 * connection with `code`: a close frame with that code and a TCP close, nothing else.
 */
export function failCase(
  id: string,
  description: string,
  frames: Frames,
  code: number,
  before: Expectations = [],
  options: CaseOptions = {},
): ConformanceCase {
  const delivery = options.delivery ?? "whole";
  return {
    id,
    description,
    timeoutMs: options.timeoutMs,
    cost: options.cost,
    server: options.server,
    async run(context) {
      const client = await context.connect();
      await deliver(client, resolve(frames), delivery);
      await expectAll(client, resolve(before));
      await client.expectFailure(code);
    },
  };
}

/** Throws a {@linkcode CaseFailure} with `message` unless `condition` holds. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CaseFailure(message);
}
