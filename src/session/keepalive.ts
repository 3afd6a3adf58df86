import type pg from 'pg';
import { ping } from '../postgres/held-backup.js';

/** What {@link Keepalive} reports. */
export interface KeepaliveHandlers {
  /** A heartbeat came back after `latencyMs`. */
  readonly onBeat: (latencyMs: number) => void;
  /** The session must be given up: a heartbeat failed, or the backup was held too long. */
  readonly onLost: (reason: string, cause?: unknown) => void;
}

/**
 * The timers of a held backup: a heartbeat every `intervalMs` (a reply slower than one interval
 * means the path is dead: a silent drop shows no error) and the max-hold deadline.
 */
export class Keepalive {
  #heartbeat: NodeJS.Timeout | undefined;
  #maxHold: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(
    private readonly client: pg.Client,
    private readonly intervalMs: number,
    private readonly maxHoldMs: number,
    private readonly handlers: KeepaliveHandlers,
  ) {}

  /** The heartbeat query under way, if any: stop waits for it before using the connection. */
  get inFlight(): Promise<void> | undefined {
    return this.#inFlight;
  }

  /** Arms both timers (neither keeps the process alive). */
  arm(): void {
    this.#heartbeat = setInterval(() => {
      this.#inFlight ??= this.#beat().finally(() => (this.#inFlight = undefined));
    }, this.intervalMs);
    this.#heartbeat.unref();
    if (this.maxHoldMs > 0) {
      this.#maxHold = setTimeout(() => this.handlers.onLost(`it was held longer than the maximum of ${Math.round(this.maxHoldMs / 1000)} s (maxHold)`), this.maxHoldMs);
      this.#maxHold.unref();
    }
  }

  /** Stops both timers; a heartbeat in flight still settles. */
  disarm(): void {
    clearInterval(this.#heartbeat);
    clearTimeout(this.#maxHold);
    this.#heartbeat = undefined;
    this.#maxHold = undefined;
  }

  async #beat(): Promise<void> {
    if (this.#heartbeat === undefined) return;
    const began = performance.now();
    try {
      await ping(this.client, this.intervalMs);
      if (this.#heartbeat !== undefined) this.handlers.onBeat(Math.round(performance.now() - began));
    } catch (error) {
      this.handlers.onLost(`the heartbeat failed: ${(error as Error).message}`, error);
    }
  }
}
