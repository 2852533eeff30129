/**
 * HTTP dates (RFC 9110 §5.6.7): formatting as IMF-fixdate and parsing all three accepted forms.
 *
 * @module
 */

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;
const LONG_DAYS = [
  "Sunday",
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
] as const;
const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
] as const;

function pad2(n: number): string {
  return n < 10 ? "0" + n : "" + n;
}

/**
 * `time` (milliseconds since the epoch) as an IMF-fixdate, e.g. `"Sun, 06 Nov 1994 08:49:37 GMT"`. Not
 * cached: use it for `Last-Modified` and cookie `Expires`, and {@linkcode httpDate} for the `Date` header.
 * Milliseconds are dropped (HTTP dates have one-second precision).
 *
 * @throws {RangeError} When `time` is not finite or its year is outside 0–9999 (IMF-fixdate has four year
 * digits).
 */
export function formatHttpDate(time: number): string {
  const date = new Date(time);
  const year = date.getUTCFullYear();
  if (!Number.isFinite(time) || !(year >= 0 && year <= 9999)) {
    throw new RangeError(`Cannot format HTTP date: ${time} is outside years 0 to 9999`);
  }
  const y = year < 10
    ? "000" + year
    : year < 100
    ? "00" + year
    : year < 1000
    ? "0" + year
    : "" + year;
  return `${DAYS[date.getUTCDay()]}, ${pad2(date.getUTCDate())} ${
    MONTHS[date.getUTCMonth()]
  } ${y} ${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${
    pad2(date.getUTCSeconds())
  } GMT`;
}

let cachedSecond = Number.NaN;
let cachedText = "";
let cachedLine = new Uint8Array(0);

/**
 * The `Date` header value (RFC 9110 §6.6.1) for `now`, as an IMF-fixdate. The text is cached and recomputed
 * only when the second changes, so calling it for every response costs a comparison.
 *
 * @param now Milliseconds since the epoch; default `Date.now()`.
 * @throws {RangeError} When `now` is not a representable date (see {@linkcode formatHttpDate}).
 */
export function httpDate(now: number = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedText = formatHttpDate(second * 1000);
    cachedLine = Uint8Array.from(`Date: ${cachedText}\r\n`, (c) => c.charCodeAt(0));
    cachedSecond = second;
  }
  return cachedText;
}

/**
 * `"Date: <now>\r\n"` as bytes, the header line every response carries; cached like {@linkcode httpDate}.
 * The array is shared: never modify it.
 */
export function httpDateLine(): Uint8Array {
  httpDate();
  return cachedLine;
}

/** `count` ASCII digits at `start` as a number, or -1 when any of them is not a digit. */
function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const c = text.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1;
    value = value * 10 + c;
  }
  return value;
}

function monthAt(text: string, start: number): number {
  const name = text.substring(start, start + 3);
  for (let m = 0; m < 12; m++) if (MONTHS[m] === name) return m;
  return -1;
}

/** `time-of-day` (RFC 9110 §5.6.7) at `start` as seconds since midnight, or -1. */
function timeAt(text: string, start: number): number {
  if (text.charCodeAt(start + 2) !== 58 || text.charCodeAt(start + 5) !== 58) return -1; // ':'
  const h = digits(text, start, 2);
  const m = digits(text, start + 3, 2);
  const s = digits(text, start + 6, 2);
  // Second 60 is allowed for leap seconds; Date.UTC rolls it into the next minute.
  if (h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 60) return -1;
  return h * 3600 + m * 60 + s;
}

/** Milliseconds for a calendar date and time, or null when the day does not exist in that month. */
function toTime(year: number, month: number, day: number, seconds: number): number | null {
  if (day < 1 || day > 31) return null;
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  if (date.getUTCDate() !== day) return null;
  return date.getTime() + seconds * 1000;
}

function isSpace(text: string, index: number): boolean {
  return text.charCodeAt(index) === 32;
}

/**
 * Parses an HTTP date in any of the three forms RFC 9110 §5.6.7 requires recipients to accept: IMF-fixdate
 * (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) and
 * ANSI C's asctime() form (`Sun Nov  6 08:49:37 1994`). Names are case-sensitive, as the RFC says; spaces
 * and tabs around the value are ignored. The day name is checked to be a day name, not to match the date.
 * Never throws.
 *
 * @param now Milliseconds since the epoch, for the RFC 850 two-digit year: a year that would be more than
 * 50 years in the future is taken from the previous century (RFC 9110 §5.6.7). Default `Date.now()`.
 * @returns Milliseconds since the epoch, or `null` when `text` is not a valid HTTP date.
 */
export function parseHttpDate(text: string, now: number = Date.now()): number | null {
  if (typeof text !== "string") return null;
  let start = 0;
  let end = text.length;
  while (start < end && (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9)) start++;
  while (end > start && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
  const s = start === 0 && end === text.length ? text : text.substring(start, end);
  const comma = s.indexOf(",");
  if (comma === 3) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", exactly 29 characters.
    if (s.length !== 29 || !DAYS.includes(s.substring(0, 3) as typeof DAYS[number])) return null;
    if (!isSpace(s, 4) || !isSpace(s, 7) || !isSpace(s, 11) || !isSpace(s, 16) || !isSpace(s, 25)) {
      return null;
    }
    if (s.substring(26) !== "GMT") return null;
    const day = digits(s, 5, 2);
    const month = monthAt(s, 8);
    const year = digits(s, 12, 4);
    const seconds = timeAt(s, 17);
    if (day < 0 || month < 0 || year < 0 || seconds < 0) return null;
    return toTime(year, month, day, seconds);
  }
  if (comma > 3) {
    // rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT".
    if (!LONG_DAYS.includes(s.substring(0, comma) as typeof LONG_DAYS[number])) return null;
    const p = comma + 1;
    if (s.length !== p + 23 || !isSpace(s, p) || !isSpace(s, p + 10) || !isSpace(s, p + 19)) {
      return null;
    }
    if (s.charCodeAt(p + 3) !== 45 || s.charCodeAt(p + 7) !== 45) return null; // '-'
    if (s.substring(p + 20) !== "GMT") return null;
    const day = digits(s, p + 1, 2);
    const month = monthAt(s, p + 4);
    const yy = digits(s, p + 8, 2);
    const seconds = timeAt(s, p + 11);
    if (day < 0 || month < 0 || yy < 0 || seconds < 0) return null;
    const thisYear = new Date(now).getUTCFullYear();
    let year = thisYear - (thisYear % 100) + yy;
    if (year > thisYear + 50) year -= 100;
    return toTime(year, month, day, seconds);
  }
  if (comma === -1) {
    // asctime-date: "Sun Nov  6 08:49:37 1994" (the day is two digits or a space and a digit).
    if (s.length !== 24 || !DAYS.includes(s.substring(0, 3) as typeof DAYS[number])) return null;
    if (!isSpace(s, 3) || !isSpace(s, 7) || !isSpace(s, 10) || !isSpace(s, 19)) return null;
    const month = monthAt(s, 4);
    const day = isSpace(s, 8) ? digits(s, 9, 1) : digits(s, 8, 2);
    const seconds = timeAt(s, 11);
    const year = digits(s, 20, 4);
    if (day < 0 || month < 0 || year < 0 || seconds < 0) return null;
    return toTime(year, month, day, seconds);
  }
  return null;
}
