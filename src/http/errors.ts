/**
 * Errors of the HTTP layer.
 *
 * @module
 */

/** A request the server refuses; `status` is the HTTP status to answer with before closing. */
export class HttpError extends Error {
  /** The HTTP status code to answer with, e.g. 400 or 431. */
  readonly status: number;

  /**
   * @param status The status to answer with.
   * @param message Why, in sentence case without a final period: "Header name contains an invalid character".
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
  }
}
