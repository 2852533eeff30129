/**
 * The statistics `bench/ws.ts` and `bench/http.ts` report over their rounds.
 *
 * @module
 */

/** The middle value of `values` (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * The median of the rounds' own ratios, `a[i] / b[i]`. Round i's two runs ran back to back, so a machine
 * that speeds up or slows down between rounds moves both sides of each ratio alike; the ratio of the two
 * medians can pair a fast round of one side with a slow round of the other.
 */
export function pairedRatio(a: number[], b: number[]): number {
  const rounds = Math.min(a.length, b.length);
  return median(Array.from({ length: rounds }, (_, round) => a[round] / b[round]));
}
