/**
 * Every conformance case, in one list: Autobahn's sections 1-7, 9 and 10 (same numbers, same intent per
 * case), then Wharf's own H (opening handshake) and L (the seed's limits).
 *
 * @module
 */

import type { ConformanceCase } from "./_runner.ts";
import { closeCases } from "./_cases_close.ts";
import { fragmentationCases } from "./_cases_fragmentation.ts";
import { framingCases } from "./_cases_framing.ts";
import { handshakeCases } from "./_cases_handshake.ts";
import { largeCases } from "./_cases_large.ts";
import { limitsCases } from "./_cases_limits.ts";
import { utf8Cases } from "./_cases_utf8.ts";

/** All cases, in id order. Payloads are built when a case runs, so this is cheap. */
export function allCases(): ConformanceCase[] {
  return [
    ...framingCases(),
    ...fragmentationCases(),
    ...utf8Cases(),
    ...closeCases(),
    ...largeCases(),
    ...handshakeCases(),
    ...limitsCases(),
  ];
}
