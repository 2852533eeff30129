/**
 * The header fields of one HTTP request, as received.
 *
 * Fields are kept in arrival order in one array of triples: the name as sent, a lower-cased copy computed
 * once per field, the value (one array, not three: a request allocates it and nothing else). A request has a
 * few dozen fields at most, so a lookup is a linear scan of the lower-cased names; the parser itself never
 * looks headers up here, it classifies each field once while appending it.
 *
 * @module
 */

/**
 * Header fields in arrival order, looked up case-insensitively (RFC 9110 §5.1).
 *
 * Several fields with the same name read as one value joined with `", "` (RFC 9110 §5.3), except `Cookie`,
 * whose fields are joined with `"; "` (RFC 6265 §5.4).
 */
export class HttpHeaders implements Iterable<[name: string, value: string]> {
  /** `name, lowerName, value` per field. */
  #fields: string[] = [];

  /**
   * Adds a field at the end. Meant for the request parser, which has validated `name` as a token and
   * `value` as field content; nothing is checked here.
   *
   * @param name The field name as sent.
   * @param value The field value without surrounding whitespace.
   * @param lowerName `name` lower-cased, when the caller already has it; computed otherwise.
   */
  append(name: string, value: string, lowerName: string = name.toLowerCase()): void {
    this.#fields.push(name, lowerName, value);
  }

  /**
   * The value of the fields named `name` (any case), joined with `", "` (`"; "` for `Cookie`) when there
   * are several; `undefined` when there is none.
   */
  get(name: string): string | undefined {
    const lower = lowerCase(name);
    const fields = this.#fields;
    let result: string | undefined;
    for (let i = 1; i < fields.length; i += 3) {
      if (fields[i] !== lower) continue;
      if (result === undefined) result = fields[i + 1];
      else result += (lower === "cookie" ? "; " : ", ") + fields[i + 1];
    }
    return result;
  }

  /** The values of every field named `name` (any case), in arrival order; empty when there is none. */
  getAll(name: string): string[] {
    const lower = lowerCase(name);
    const fields = this.#fields;
    const all: string[] = [];
    for (let i = 1; i < fields.length; i += 3) {
      if (fields[i] === lower) all.push(fields[i + 1]);
    }
    return all;
  }

  /** Whether at least one field is named `name` (any case). */
  has(name: string): boolean {
    const lower = lowerCase(name);
    const fields = this.#fields;
    for (let i = 1; i < fields.length; i += 3) if (fields[i] === lower) return true;
    return false;
  }

  /** The number of fields, counting repeated names once per field. */
  get size(): number {
    return this.#fields.length / 3;
  }

  /** Every field as `[name, value]`, in arrival order, names in their original case. */
  *entries(): IterableIterator<[name: string, value: string]> {
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i += 3) yield [fields[i], fields[i + 2]];
  }

  /** Same as {@linkcode HttpHeaders.entries}. */
  [Symbol.iterator](): IterableIterator<[name: string, value: string]> {
    return this.entries();
  }

  /**
   * One property per distinct name, lower-cased, holding the joined value as {@linkcode HttpHeaders.get}
   * returns it. The object has no prototype, so a field named `__proto__` is an ordinary property.
   */
  toObject(): Record<string, string> {
    const object: Record<string, string> = Object.create(null);
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i += 3) {
      const lower = fields[i + 1];
      const previous = object[lower];
      object[lower] = previous === undefined
        ? fields[i + 2]
        : previous + (lower === "cookie" ? "; " : ", ") + fields[i + 2];
    }
    return object;
  }
}

/**
 * `name` in lower case. Names are usually looked up in lower case already, and `toLowerCase` allocates a new
 * string even then, on every lookup of every request.
 */
function lowerCase(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c > 0x7f) return name.toLowerCase();
  }
  return name;
}
