/**
 * Spaces the starts of the prefetcher's downloads so that they land one after another.
 *
 * Started together, `parallel` downloads of equal size share the bandwidth (or, on a small host, the
 * CPU) and end together; their slots free at once, the next `parallel` start together, and the
 * pattern holds for the whole recovery: recovery replays the batch, then waits for the next whole
 * batch (row 9 saw every fourth segment missed). Started `estimate / parallel` apart, as many are
 * still in flight (the same throughput) but they end in turn, each soon after recovery needs it.
 * Until a first download has ended there is no estimate, and one runs alone: the first segment is
 * the one recovery waits for.
 */
export class FetchPacer {
  readonly #parallel: number;
  /** Recent downloads' duration, ms (a moving average): what `parallel` in flight take each. */
  #estimateMs: number | undefined;
  #lastStartAt = Number.NEGATIVE_INFINITY;

  constructor(parallel: number) {
    this.#parallel = Math.max(1, parallel);
  }

  /** Whether a download may start at `now` with `inFlight` running (the caller keeps the `parallel` bound too). */
  mayStart(now: number, inFlight: number): boolean {
    if (inFlight === 0) return true;
    if (this.#estimateMs === undefined) return false;
    return now - this.#lastStartAt >= this.#estimateMs / this.#parallel;
  }

  /** A download began at `now`. */
  started(now: number): void {
    this.#lastStartAt = now;
  }

  /** A download that brought a file took `ms` (looks that found nothing say nothing of a download's length). */
  downloaded(ms: number): void {
    this.#estimateMs = this.#estimateMs === undefined ? ms : 0.7 * this.#estimateMs + 0.3 * ms;
  }

  /** The spacing of starts now, ms (`undefined` before a first download ended). */
  get spacingMs(): number | undefined {
    return this.#estimateMs === undefined ? undefined : this.#estimateMs / this.#parallel;
  }
}
