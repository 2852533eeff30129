import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { isValidStatus, statusText } from "../../src/http/status.ts";

// The permanent entries of the IANA HTTP Status Code Registry, with RFC 9110 wording.
const REGISTERED: [number, string][] = [
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
];

describe("statusText", () => {
  test("gives the registered reason phrase of every registered code", () => {
    for (const [status, text] of REGISTERED) assert.equal(statusText(status), text, String(status));
  });

  test("gives Unknown for every other code and non-integer", () => {
    const registered = new Set(REGISTERED.map(([status]) => status));
    for (let status = 0; status < 1000; status++) {
      if (!registered.has(status)) assert.equal(statusText(status), "Unknown", String(status));
    }
    for (const odd of [200.5, -200, Number.NaN, Infinity, 1e9]) {
      assert.equal(statusText(odd), "Unknown", String(odd));
    }
  });
});

describe("isValidStatus", () => {
  test("accepts integers 100 to 599", () => {
    for (let status = 100; status <= 599; status++) assert.equal(isValidStatus(status), true);
  });

  test("rejects anything else", () => {
    for (
      const odd of [
        0,
        99,
        600,
        999,
        1000,
        -200,
        200.5,
        Number.NaN,
        Infinity,
        "200",
        null,
        undefined,
      ]
    ) {
      assert.equal(isValidStatus(odd), false, String(odd));
    }
  });
});
