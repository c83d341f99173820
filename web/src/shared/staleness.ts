// When a courier counts as stale, and how ages are written. No DOM here.

/** Default when /api/v1/config cannot be read; the server's default is "1/m". */
export const DEFAULT_UPDATE_INTERVAL_SECONDS = 60;

/** A courier is stale after this many update intervals without a point. */
export const STALE_FACTOR = 2;

export function staleAfterMs(updateIntervalSeconds: number): number {
  const interval =
    Number.isFinite(updateIntervalSeconds) && updateIntervalSeconds > 0
      ? updateIntervalSeconds
      : DEFAULT_UPDATE_INTERVAL_SECONDS;
  return STALE_FACTOR * interval * 1000;
}

/**
 * @param lastSeen local time (ms) of the courier's last point
 * @param serverState the last `status` the server sent about it, if any
 */
export function isStale(
  lastSeen: number,
  now: number,
  thresholdMs: number,
  serverState?: string,
): boolean {
  if (serverState === 'stale') return true;
  return now - lastSeen > thresholdMs;
}

/** "just now", "5 s ago", "3 min ago", "2 h ago", "4 d ago". Negative ages are clock skew: 0. */
export function formatAge(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 1) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}
