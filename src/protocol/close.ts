/**
 * Close status codes (RFC 6455 §7.4) and the rules for which ones may travel on the wire.
 *
 * @module
 */

/** The close codes of RFC 6455 §7.4.1 the server uses or reports. */
export const CloseCode = {
  /** The purpose of the connection has been fulfilled. */
  Normal: 1000,
  /** The endpoint is going away: server shutdown, or a browser leaving the page. */
  GoingAway: 1001,
  /** The peer broke the protocol. */
  ProtocolError: 1002,
  /** A message of a type the endpoint cannot accept. */
  UnsupportedData: 1003,
  /** Reported, never sent: the close frame carried no status code. */
  NoStatus: 1005,
  /** Reported, never sent: the transport ended without a close frame. */
  Abnormal: 1006,
  /** A text message or close reason that is not valid UTF-8. */
  InvalidPayload: 1007,
  /** A message that violates the endpoint's policy. */
  PolicyViolation: 1008,
  /** A message too big to process. */
  MessageTooBig: 1009,
  /** The client expected an extension the server did not negotiate (sent by clients only). */
  MandatoryExtension: 1010,
  /** The server met a condition that prevented it from fulfilling the request. */
  InternalError: 1011,
} as const;

/** RFC 6455 §5.5.1: a close frame's payload is at most 125 bytes, two of them the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Whether a code in a received close frame is acceptable: 1000–1003, 1007–1011 (defined by RFC 6455
 * §7.4.1) and 3000–4999 (registered and private use, §7.4.2). Everything else, including 1005, 1006 and
 * 1015 which must never be sent, and the unassigned 1012–2999, fails the connection with 1002.
 */
export function isValidReceivedCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
    (code >= 3000 && code <= 4999);
}

/**
 * Whether the application may send `code` in a close frame: the same set as
 * {@linkcode isValidReceivedCloseCode}, integers only. 1005, 1006 and 1015 are reserved for reporting
 * (RFC 6455 §7.4.1).
 */
export function isValidSentCloseCode(code: number): boolean {
  return Number.isInteger(code) && isValidReceivedCloseCode(code);
}

const encoder = new TextEncoder();

/**
 * The payload of a close frame the application asked for: the code in network order, then the reason.
 *
 * @param code Default 1000 (normal closure).
 * @param reason Default empty.
 * @throws {RangeError} When `code` is not allowed by {@linkcode isValidSentCloseCode}, or `reason` is
 * longer than {@linkcode MAX_CLOSE_REASON_BYTES} bytes in UTF-8.
 */
export function encodeClosePayload(code: number = CloseCode.Normal, reason = ""): Uint8Array {
  if (!isValidSentCloseCode(code)) {
    throw new RangeError(`Invalid close code: ${code} (allowed: 1000-1003, 1007-1011, 3000-4999)`);
  }
  // Each UTF-16 code unit takes 1 to 3 bytes in UTF-8: more units than bytes allowed is always too long,
  // and three bytes per unit always fit.
  if (reason.length <= MAX_CLOSE_REASON_BYTES) {
    const payload = new Uint8Array(2 + reason.length * 3);
    const { written } = encoder.encodeInto(reason, payload.subarray(2));
    if (written <= MAX_CLOSE_REASON_BYTES) {
      payload[0] = code >>> 8;
      payload[1] = code & 0xff;
      return payload.subarray(0, 2 + written);
    }
  }
  throw new RangeError(`Close reason is more than ${MAX_CLOSE_REASON_BYTES} bytes in UTF-8`);
}
