/**
 * The header fields of one HTTP request, as received.
 *
 * Fields are kept in arrival order with their original-case names, in parallel arrays: one string for the
 * name as sent, one lower-cased copy computed once per field, one for the value. A request has a few dozen
 * fields at most, so a lookup is a linear scan of the lower-cased names; the parser itself never looks
 * headers up here, it classifies each field once while appending it.
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
  #names: string[] = [];
  #lowerNames: string[] = [];
  #values: string[] = [];

  /**
   * Adds a field at the end. Meant for the request parser, which has validated `name` as a token and
   * `value` as field content; nothing is checked here.
   *
   * @param name The field name as sent.
   * @param value The field value without surrounding whitespace.
   * @param lowerName `name` lower-cased, when the caller already has it; computed otherwise.
   */
  append(name: string, value: string, lowerName: string = name.toLowerCase()): void {
    this.#names.push(name);
    this.#lowerNames.push(lowerName);
    this.#values.push(value);
  }

  /**
   * The value of the fields named `name` (any case), joined with `", "` (`"; "` for `Cookie`) when there
   * are several; `undefined` when there is none.
   */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    const lowerNames = this.#lowerNames;
    let result: string | undefined;
    for (let i = 0; i < lowerNames.length; i++) {
      if (lowerNames[i] !== lower) continue;
      if (result === undefined) result = this.#values[i];
      else result += (lower === "cookie" ? "; " : ", ") + this.#values[i];
    }
    return result;
  }

  /** The values of every field named `name` (any case), in arrival order; empty when there is none. */
  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    const lowerNames = this.#lowerNames;
    const all: string[] = [];
    for (let i = 0; i < lowerNames.length; i++) {
      if (lowerNames[i] === lower) all.push(this.#values[i]);
    }
    return all;
  }

  /** Whether at least one field is named `name` (any case). */
  has(name: string): boolean {
    return this.#lowerNames.indexOf(name.toLowerCase()) !== -1;
  }

  /** The number of fields, counting repeated names once per field. */
  get size(): number {
    return this.#names.length;
  }

  /** Every field as `[name, value]`, in arrival order, names in their original case. */
  *entries(): IterableIterator<[name: string, value: string]> {
    const names = this.#names;
    const values = this.#values;
    for (let i = 0; i < names.length; i++) yield [names[i], values[i]];
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
    const lowerNames = this.#lowerNames;
    const values = this.#values;
    for (let i = 0; i < lowerNames.length; i++) {
      const lower = lowerNames[i];
      const previous = object[lower];
      object[lower] = previous === undefined
        ? values[i]
        : previous + (lower === "cookie" ? "; " : ", ") + values[i];
    }
    return object;
  }
}
