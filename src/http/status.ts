/**
 * HTTP status codes: reason phrases and validity.
 *
 * @module
 */

// The IANA "HTTP Status Code Registry" (RFC 9110 §16.2.1), permanent entries. 306 and 418 are registered as
// "(Unused)": 306 gets "Unused" and 418 the phrase of RFC 2324 that clients know it by. 413 and 422 use the
// RFC 9110 names ("Content Too Large", "Unprocessable Content"), not the older RFC 7231/4918 ones.
const REASONS: ReadonlyMap<number, string> = new Map([
  [100, "Continue"],
  [101, "Switching Protocols"],
  [102, "Processing"],
  [103, "Early Hints"],
  [200, "OK"],
  [201, "Created"],
  [202, "Accepted"],
  [203, "Non-Authoritative Information"],
  [204, "No Content"],
  [205, "Reset Content"],
  [206, "Partial Content"],
  [207, "Multi-Status"],
  [208, "Already Reported"],
  [226, "IM Used"],
  [300, "Multiple Choices"],
  [301, "Moved Permanently"],
  [302, "Found"],
  [303, "See Other"],
  [304, "Not Modified"],
  [305, "Use Proxy"],
  [306, "Unused"],
  [307, "Temporary Redirect"],
  [308, "Permanent Redirect"],
  [400, "Bad Request"],
  [401, "Unauthorized"],
  [402, "Payment Required"],
  [403, "Forbidden"],
  [404, "Not Found"],
  [405, "Method Not Allowed"],
  [406, "Not Acceptable"],
  [407, "Proxy Authentication Required"],
  [408, "Request Timeout"],
  [409, "Conflict"],
  [410, "Gone"],
  [411, "Length Required"],
  [412, "Precondition Failed"],
  [413, "Content Too Large"],
  [414, "URI Too Long"],
  [415, "Unsupported Media Type"],
  [416, "Range Not Satisfiable"],
  [417, "Expectation Failed"],
  [418, "I'm a Teapot"],
  [421, "Misdirected Request"],
  [422, "Unprocessable Content"],
  [423, "Locked"],
  [424, "Failed Dependency"],
  [425, "Too Early"],
  [426, "Upgrade Required"],
  [428, "Precondition Required"],
  [429, "Too Many Requests"],
  [431, "Request Header Fields Too Large"],
  [451, "Unavailable For Legal Reasons"],
  [500, "Internal Server Error"],
  [501, "Not Implemented"],
  [502, "Bad Gateway"],
  [503, "Service Unavailable"],
  [504, "Gateway Timeout"],
  [505, "HTTP Version Not Supported"],
  [506, "Variant Also Negotiates"],
  [507, "Insufficient Storage"],
  [508, "Loop Detected"],
  [510, "Not Extended"],
  [511, "Network Authentication Required"],
]);

/**
 * The reason phrase of `status` from the IANA registry (RFC 9110 §15), e.g. `statusText(404)` is
 * `"Not Found"`. Never throws.
 *
 * @returns The phrase, or `"Unknown"` for a code that is not registered (including non-integers). RFC 9110
 * §15 lets clients ignore the phrase, so an unregistered but valid code may still be sent with it.
 */
export function statusText(status: number): string {
  return REASONS.get(status) ?? "Unknown";
}

/**
 * Whether `status` may be sent as a response status: an integer from 100 to 599. RFC 9110 §15 allows three
 * digits (100–999), but only the classes 1xx–5xx are defined and clients treat anything else as an error, so
 * this is stricter on purpose. Never throws.
 */
export function isValidStatus(status: unknown): status is number {
  return typeof status === "number" && Number.isInteger(status) && status >= 100 && status <= 599;
}
