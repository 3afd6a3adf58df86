// What every bench row is, and how it is timed (bench/run.ts prints the rows).

/** One measurement row. */
export interface Row {
  readonly name: string;
  readonly unit: string;
  readonly ours: number[];
  /** Measured side by side; the row's figure is then the ratio of medians. */
  readonly baseline?: number[];
  /** Ratio target (with a baseline) or an absolute maximum (without). */
  readonly target: number;
  readonly note?: string;
}

/** Milliseconds `fn` takes. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
