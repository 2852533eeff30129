/**
 * Cookies (RFC 6265): reading the `Cookie` request header and writing `Set-Cookie` response headers.
 *
 * @module
 */

import { formatHttpDate } from "./date.ts";

function isOws(code: number): boolean {
  return code === 32 || code === 9;
}

/**
 * The cookies of a `Cookie` request header, name to value, in the lenient way RFC 6265 §5.4 user agents
 * produce them: pairs are split at `;`, spaces and tabs around names and values are dropped, a pair
 * without `=` or with an empty name is skipped, the first pair of a name wins (user agents send the most
 * specific path first, RFC 6265 §5.4 step 2), and one pair of surrounding double quotes is removed from a
 * value (RFC 6265 §4.1.1 allows them). Values are not percent-decoded. Never throws.
 *
 * @param header The header value; `undefined` (no header) gives an empty map.
 */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (typeof header !== "string") return cookies;
  const length = header.length;
  let start = 0;
  while (start < length) {
    let end = header.indexOf(";", start);
    if (end === -1) end = length;
    const eq = header.indexOf("=", start);
    if (eq !== -1 && eq < end) {
      let nameStart = start;
      let nameEnd = eq;
      while (nameStart < nameEnd && isOws(header.charCodeAt(nameStart))) nameStart++;
      while (nameEnd > nameStart && isOws(header.charCodeAt(nameEnd - 1))) nameEnd--;
      if (nameEnd > nameStart) {
        const name = header.substring(nameStart, nameEnd);
        if (!cookies.has(name)) {
          let valueStart = eq + 1;
          let valueEnd = end;
          while (valueStart < valueEnd && isOws(header.charCodeAt(valueStart))) valueStart++;
          while (valueEnd > valueStart && isOws(header.charCodeAt(valueEnd - 1))) valueEnd--;
          if (
            valueEnd - valueStart >= 2 && header.charCodeAt(valueStart) === 34 &&
            header.charCodeAt(valueEnd - 1) === 34
          ) {
            valueStart++;
            valueEnd--;
          }
          cookies.set(name, header.substring(valueStart, valueEnd));
        }
      }
    }
    start = end + 1;
  }
  return cookies;
}

/** What {@linkcode serializeSetCookie} writes: one cookie and its attributes (RFC 6265 §4.1). */
export interface CookieOptions {
  /** The cookie name: an RFC 9110 token (letters, digits and ``!#$%&'*+-.^_`|~``). */
  name: string;
  /**
   * The value: cookie-octets only (printable ASCII except space, `"`, `,`, `;` and `\`), optionally wrapped
   * in one pair of double quotes. Encode anything else yourself (e.g. `encodeURIComponent`).
   * `undefined` deletes the cookie.
   */
  value?: string;
  /** `Domain`: the host and its subdomains receive the cookie. Default: absent (this host only). */
  domain?: string;
  /** `Path`: the URL path prefix the cookie is sent for. Default: absent (the request's directory). */
  path?: string;
  /** `Max-Age` in seconds, an integer; zero or negative expires it at once. Default: absent (session). */
  maxAge?: number;
  /** `Expires`: when the cookie expires; `Max-Age` wins where both are given. Default: absent. */
  expires?: Date;
  /** `Secure`: sent over HTTPS only. Default `false`. */
  secure?: boolean;
  /** `HttpOnly`: hidden from scripts. Default `false`. */
  httpOnly?: boolean;
  /** `SameSite` (RFC 6265bis §4.1.2.7): `"None"` requires `secure`. Default: absent (browsers use Lax). */
  sameSite?: "Strict" | "Lax" | "None";
}

// RFC 9110 §5.6.2 tchar, by character code.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = TCHAR[c + 32] = 1;

function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

// RFC 6265 §4.1.1: cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
function isCookieOctet(c: number): boolean {
  return c >= 0x21 && c <= 0x7e && c !== 0x22 && c !== 0x2c && c !== 0x3b && c !== 0x5c;
}

function isCookieValue(text: string): boolean {
  let start = 0;
  let end = text.length;
  if (end >= 2 && text.charCodeAt(0) === 34 && text.charCodeAt(end - 1) === 34) {
    start = 1;
    end--;
  }
  for (let i = start; i < end; i++) if (!isCookieOctet(text.charCodeAt(i))) return false;
  return true;
}

// RFC 6265 §4.1.1 domain-value: a <subdomain> of RFC 1034 §3.5 as relaxed by RFC 1123 §2.1 (labels of
// letters, digits and hyphens, so IPv4 addresses fit). A leading dot is tolerated: user agents drop it
// (RFC 6265 §5.2.3).
function isDomain(text: string): boolean {
  const start = text.charCodeAt(0) === 46 ? 1 : 0;
  if (text.length === start) return false;
  let labelLength = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (labelLength === 0) return false;
      labelLength = 0;
    } else if (
      (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45
    ) {
      if (++labelLength > 63) return false;
    } else {
      return false;
    }
  }
  return labelLength > 0;
}

// RFC 6265 §4.1.1 path-value: any CHAR (US-ASCII) except CTLs or ";".
function isPath(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x3b) return false;
  }
  return true;
}

/** `Expires` of a deletion: the epoch, long past for every clock (RFC 6265 §3.1 example). */
const EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT";

/**
 * One `Set-Cookie` header value (RFC 6265 §4.1), attributes in the order `Domain`, `Path`, `Expires`,
 * `Max-Age`, `Secure`, `HttpOnly`, `SameSite`:
 * `serializeSetCookie({ name: "id", value: "42", path: "/", httpOnly: true })` is
 * `"id=42; Path=/; HttpOnly"`.
 *
 * When `value` is `undefined` the cookie is deleted: the value is empty, and `Max-Age=0` plus an `Expires`
 * in the past (for user agents without `Max-Age`) replace any `maxAge` and `expires` given. The deletion
 * only reaches the cookie with the same name, domain and path, so pass those as they were set.
 *
 * @throws {TypeError} When the name is not a token; the value has characters outside cookie-octets; the
 * domain is not a host name; the path is empty or has a control character, a `;` or non-ASCII; `maxAge` is
 * not an integer; `expires` is not a valid `Date` in years 0–9999; `sameSite` is not one of its three
 * values; or `sameSite: "None"` comes without `secure`, a `__Secure-` name without `secure`, or a `__Host-`
 * name without `secure`, with a domain, or with a path other than `/` (browsers reject those cookies,
 * RFC 6265bis §4.1.3).
 */
export function serializeSetCookie(options: CookieOptions): string {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cookie options must be an object");
  }
  const { name, value, domain, path, maxAge, expires, secure, httpOnly, sameSite } = options;
  if (typeof name !== "string" || !isToken(name)) {
    throw new TypeError(`Cookie name ${JSON.stringify(name)} is not a token (RFC 6265 §4.1.1)`);
  }
  const deleting = value === undefined;
  if (!deleting && (typeof value !== "string" || !isCookieValue(value))) {
    throw new TypeError(
      `Cookie value ${
        JSON.stringify(value)
      } has characters other than cookie-octets (RFC 6265 §4.1.1)`,
    );
  }
  let text = name + "=" + (deleting ? "" : value);
  if (domain !== undefined) {
    if (typeof domain !== "string" || !isDomain(domain)) {
      throw new TypeError(`Cookie domain ${JSON.stringify(domain)} is not a host name`);
    }
    text += "; Domain=" + domain;
  }
  if (path !== undefined) {
    if (typeof path !== "string" || !isPath(path)) {
      throw new TypeError(
        `Cookie path ${JSON.stringify(path)} is empty or has a control character, ";" or non-ASCII`,
      );
    }
    text += "; Path=" + path;
  }
  if (deleting) {
    text += "; Expires=" + EXPIRED + "; Max-Age=0";
  } else {
    if (expires !== undefined) {
      const time = expires instanceof Date ? expires.getTime() : Number.NaN;
      const year = expires instanceof Date ? expires.getUTCFullYear() : Number.NaN;
      if (!(year >= 0 && year <= 9999) || !Number.isFinite(time)) {
        throw new TypeError("Cookie expires must be a valid Date in years 0 to 9999");
      }
      text += "; Expires=" + formatHttpDate(time);
    }
    if (maxAge !== undefined) {
      if (typeof maxAge !== "number" || !Number.isSafeInteger(maxAge)) {
        throw new TypeError(`Cookie maxAge ${String(maxAge)} is not an integer`);
      }
      text += "; Max-Age=" + maxAge;
    }
  }
  if (secure) text += "; Secure";
  if (httpOnly) text += "; HttpOnly";
  if (sameSite !== undefined) {
    if (sameSite !== "Strict" && sameSite !== "Lax" && sameSite !== "None") {
      throw new TypeError(
        `Cookie sameSite ${JSON.stringify(sameSite)} is not "Strict", "Lax" or "None"`,
      );
    }
    if (sameSite === "None" && !secure) {
      throw new TypeError('Cookie sameSite "None" requires secure: browsers reject it otherwise');
    }
    text += "; SameSite=" + sameSite;
  }
  // RFC 6265bis §4.1.3: cookie name prefixes, compared case-insensitively by current browsers.
  const lower = name.length >= 7 ? name.substring(0, 9).toLowerCase() : "";
  if (lower.startsWith("__secure-") && !secure) {
    throw new TypeError(
      `Cookie name ${JSON.stringify(name)} has the __Secure- prefix: it requires secure`,
    );
  }
  if (lower.startsWith("__host-") && (!secure || domain !== undefined || path !== "/")) {
    throw new TypeError(
      `Cookie name ${
        JSON.stringify(name)
      } has the __Host- prefix: it requires secure, path "/" and no domain`,
    );
  }
  return text;
}
