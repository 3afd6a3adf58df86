/** Seconds for a progress line: `12 s`. */
export function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
