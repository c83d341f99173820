// A courier's (or an order's) trail: points fetched from the history API merged with the
// points received live, ordered by time, without duplicates, gap-free across reconnects.
// No DOM here: loading and timers are passed in, so it is unit-tested with fakes.
import type { TrackPoint } from './track';

/** Index of the first point whose time is >= tUs (points sorted by tUs). */
export function lowerBound(points: readonly TrackPoint[], tUs: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]!.tUs < tUs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `held` and `incoming` as one list ordered by time, one point per time: a point is a
 * courier's position at an instant, so two with the same time are the same point (fetched
 * and received live, or fetched twice across a window boundary); the one held is kept.
 * `held` must be sorted and unique; `incoming` may come in any order.
 */
export function mergePoints(held: readonly TrackPoint[], incoming: readonly TrackPoint[]): TrackPoint[] {
  if (incoming.length === 0) return held.slice();
  const add = incoming.slice().sort((a, b) => a.tUs - b.tUs);
  const out: TrackPoint[] = [];
  let i = 0;
  let j = 0;
  let lastT = -Infinity;
  while (i < held.length || j < add.length) {
    const h = held[i];
    const a = add[j];
    let next: TrackPoint;
    if (h && (!a || h.tUs <= a.tUs)) {
      next = h;
      i++;
    } else {
      next = a!;
      j++;
    }
    if (next.tUs === lastT) continue; // same time: already have it (held ones come first)
    out.push(next);
    lastT = next.tUs;
  }
  return out;
}

export class Trail {
  private pts: TrackPoint[] = [];
  /** Bumped on every change, so that a drawing knows when to redraw. */
  version = 0;

  get points(): readonly TrackPoint[] {
    return this.pts;
  }

  get size(): number {
    return this.pts.length;
  }

  /** Time (µs) of the newest point, or null. */
  lastUs(): number | null {
    return this.pts.length ? this.pts[this.pts.length - 1]!.tUs : null;
  }

  firstUs(): number | null {
    return this.pts.length ? this.pts[0]!.tUs : null;
  }

  /** Adds one point (a live one); false when a point of that time is already held. */
  add(p: TrackPoint): boolean {
    const n = this.pts.length;
    if (n === 0 || p.tUs > this.pts[n - 1]!.tUs) {
      this.pts.push(p); // the common case: newer than everything
    } else {
      const at = lowerBound(this.pts, p.tUs);
      if (this.pts[at]?.tUs === p.tUs) return false;
      this.pts.splice(at, 0, p); // a buffered point the app sent late
    }
    this.version++;
    return true;
  }

  /** Merges a fetched list; returns how many points were new. */
  merge(list: readonly TrackPoint[]): number {
    const before = this.pts.length;
    if (list.length === 0) return 0;
    this.pts = mergePoints(this.pts, list);
    const added = this.pts.length - before;
    if (added) this.version++;
    return added;
  }

  /** Drops the points older than `tUs`; returns how many. */
  trimBefore(tUs: number): number {
    const at = lowerBound(this.pts, tUs);
    if (at === 0) return 0;
    this.pts.splice(0, at);
    this.version++;
    return at;
  }

  clear(): void {
    if (this.pts.length === 0) return;
    this.pts = [];
    this.version++;
  }
}

/** An error of a history request, as far as the trail needs to know. */
export interface LoadError {
  /** Worth trying again later (503, network), unlike 403 or 404. */
  retryable?: boolean;
}

export interface LiveTrailOptions {
  /** Every point in [fromUs, toUs), all pages. Rejects on failure. */
  load: (fromUs: number, toUs: number) => Promise<TrackPoint[]>;
  /** The server's "now" in ms, as well as the page can tell. */
  nowMs: () => number;
  /** Keep the points of the last windowMs only (the panel's 15 min); null: keep all. */
  windowMs: number | null;
  /** With windowMs null: where the first load starts (ms). */
  startMs?: number;
  /** How far past "now" a load asks for, to cover clock skew (ms). */
  aheadMs?: number;
  /** The longest window one load may ask for (the API's: 24 h); older parts are given up. */
  maxSpanMs?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (h: unknown) => void;
  /** First retry delay after a retryable failure, doubled up to 30 s. */
  retryMs?: number;
  onChange?: () => void;
  onError?: (err: unknown) => void;
  onLoaded?: () => void;
}

/**
 * A trail that follows one courier or order live:
 *   start()        loads the window (last 15 min, or from startMs) from history;
 *   live(p)        adds a point received over the socket;
 *   disconnected() notes the last point held when the socket went down;
 *   reconnected()  loads from that point to now and merges: the points that arrived at
 *                  the server while the socket was down fill the gap, the ones already
 *                  held are not doubled.
 * A load that fails is retried (retryable errors) and the gap stays marked until a load
 * covers it; live points keep growing the trail meanwhile.
 */
export class LiveTrail {
  readonly trail = new Trail();
  /** Loads answered (for tests and the debug hook). */
  loads = 0;
  /** Points that loads brought and that were not held yet. */
  loadedPoints = 0;
  lastError: unknown = null;
  private loadedOnce = false;
  /** Start (µs) of a span not covered yet by a load, or null. */
  private gapFromUs: number | null = null;
  private stopped = false;
  private inFlight = false;
  private again = false;
  private retryTimer: unknown = null;
  private retryDelay: number;

  constructor(private readonly o: LiveTrailOptions) {
    this.retryDelay = o.retryMs ?? 2000;
  }

  private windowStartUs(): number {
    if (this.o.windowMs !== null) return (this.o.nowMs() - this.o.windowMs) * 1000;
    return (this.o.startMs ?? this.o.nowMs() - 86_400_000) * 1000;
  }

  start(): Promise<void> {
    this.gapFromUs = this.windowStartUs();
    return this.fill();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) this.o.clearTimer?.(this.retryTimer);
    this.retryTimer = null;
  }

  get loaded(): boolean {
    return this.loadedOnce;
  }

  live(p: TrackPoint): void {
    if (this.stopped) return;
    if (this.o.windowMs !== null && p.tUs < this.windowStartUs()) return;
    if (this.trail.add(p)) {
      this.trim();
      this.o.onChange?.();
    }
  }

  disconnected(): void {
    if (this.stopped || this.gapFromUs !== null) return;
    this.gapFromUs = this.trail.lastUs() ?? this.windowStartUs();
  }

  reconnected(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.gapFromUs === null) this.gapFromUs = this.trail.lastUs() ?? this.windowStartUs();
    return this.fill();
  }

  /** Drops what fell out of the window (called as time passes, too). */
  trim(): void {
    if (this.o.windowMs === null) return;
    if (this.trail.trimBefore(this.windowStartUs()) > 0) this.o.onChange?.();
  }

  private async fill(): Promise<void> {
    if (this.stopped || this.gapFromUs === null) return;
    if (this.inFlight) {
      this.again = true; // one more pass when the current load ends
      return;
    }
    if (this.retryTimer !== null) {
      this.o.clearTimer?.(this.retryTimer);
      this.retryTimer = null;
    }
    this.inFlight = true;
    // From the gap's start, never before the window; the load is inclusive of fromUs, so
    // the last point held comes back and is recognised as held.
    const toUs = (this.o.nowMs() + (this.o.aheadMs ?? 60_000)) * 1000;
    const fromUs = Math.max(
      this.gapFromUs,
      this.o.windowMs !== null ? this.windowStartUs() : -Infinity,
      this.o.maxSpanMs !== undefined ? toUs - this.o.maxSpanMs * 1000 : -Infinity,
    );
    const covered = this.gapFromUs;
    try {
      const pts = await this.o.load(Math.floor(fromUs), Math.ceil(toUs));
      if (this.stopped) return;
      this.loads++;
      this.lastError = null;
      this.retryDelay = this.o.retryMs ?? 2000;
      const added = this.trail.merge(pts);
      this.loadedPoints += added;
      // Covered, unless a disconnect during the load marked a newer gap.
      if (this.gapFromUs === covered) this.gapFromUs = null;
      this.loadedOnce = true;
      this.trim();
      this.o.onLoaded?.();
      if (added) this.o.onChange?.();
    } catch (err) {
      if (this.stopped) return;
      this.lastError = err;
      this.o.onError?.(err);
      if ((err as LoadError | null)?.retryable && this.o.setTimer) {
        const delay = this.retryDelay;
        this.retryDelay = Math.min(this.retryDelay * 2, 30_000);
        this.retryTimer = this.o.setTimer(() => {
          this.retryTimer = null;
          void this.fill();
        }, delay);
      }
    } finally {
      this.inFlight = false;
    }
    if (this.again && !this.stopped) {
      this.again = false;
      await this.fill();
    }
  }
}
