// What the bench rows share. For now: the shape of one row, the median and the timer.

/** One row of the bench table. */
export interface BenchRow {
  readonly name: string;
  readonly unit: string;
  readonly ours: number[];
  /** Measured side by side; the row's figure is then the ratio of medians. */
  readonly baseline?: number[];
  /** Ratio target (with a baseline) or an absolute maximum (without). */
  readonly target: number;
  readonly note?: string;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Milliseconds `fn` takes. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
