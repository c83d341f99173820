// Reconnect delays: capped exponential backoff with jitter. No DOM here.

export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  baseMs: number;
  /** Upper bound of any delay. */
  capMs: number;
  factor: number;
  /** Fraction of the delay that is random: 0.5 → uniformly in [delay/2, delay]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 10_000, factor: 2, jitter: 0.5 };

/**
 * Delay before retry number `attempt` (0 = first retry). Jitter spreads the reconnects of
 * many pages after a server restart so they do not all arrive in the same instant.
 */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const n = Math.max(0, Math.floor(attempt));
  // Cap the exponent too: factor ** 1000 is Infinity.
  const exp = Math.min(opts.capMs, opts.baseMs * Math.pow(opts.factor, Math.min(n, 64)));
  const jitter = Math.min(1, Math.max(0, opts.jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(exp * (1 - jitter) + exp * jitter * r);
}
