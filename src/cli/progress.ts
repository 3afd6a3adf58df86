import type { ProgressUpdate } from '../agent/index.js';

/** How a {@link ProgressDisplay} shows updates. */
export interface ProgressDisplayOptions {
  /** One line redrawn in place (stderr is a terminal). */
  readonly tty: boolean;
  /** Every update (at most one a second per phase), not only the long waits. */
  readonly verbose: boolean;
}

/** Plain-line mode stays quiet for waits shorter than this, then prints one line per interval. */
const QUIET_MS = 5000;
const PLAIN_INTERVAL_MS = 10_000;
const VERBOSE_INTERVAL_MS = 1000;

/**
 * Shows what a command is waiting for: on a terminal, one line redrawn in place and cleared at the
 * end; otherwise plain lines, throttled, so a backup program's log says why a hook takes long
 * without drowning in it. stdout is never touched: `--json` output stays one object.
 */
export class ProgressDisplay {
  readonly #write: (text: string) => void;
  readonly #options: ProgressDisplayOptions;
  readonly #lastPrinted = new Map<string, number>();
  #lineShown = false;

  constructor(write: (text: string) => void, options: ProgressDisplayOptions) {
    this.#write = write;
    this.#options = options;
  }

  update(progress: ProgressUpdate): void {
    const text = `pg-split-backup: ${progress.message}`;
    if (this.#options.tty) {
      this.#write(`\r\x1b[K${text}`);
      this.#lineShown = true;
      return;
    }
    const elapsed = progress.elapsedMs ?? 0;
    const interval = this.#options.verbose ? VERBOSE_INTERVAL_MS : PLAIN_INTERVAL_MS;
    if (!this.#options.verbose && elapsed < QUIET_MS && progress.phase !== 'sink-retry') return;
    const now = Date.now();
    const last = this.#lastPrinted.get(progress.phase);
    if (last !== undefined && now - last < interval && progress.phase !== 'sink-retry') return;
    this.#lastPrinted.set(progress.phase, now);
    this.#write(`${text}\n`);
  }

  /** A line that stays (verbose details); on a terminal it goes above the progress line. */
  note(message: string): void {
    this.end();
    this.#write(`pg-split-backup: ${message}\n`);
  }

  /** Clears the terminal line, if one is shown. */
  end(): void {
    if (this.#lineShown) this.#write('\r\x1b[K');
    this.#lineShown = false;
  }
}
