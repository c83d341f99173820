// Replay: every courier's movement over a past time range, played together. No DOM here.
//   ReplayBuilder  collects the pages of /api/v1/tracks into one compact track per courier
//   positionAt     where a courier was at time t (interpolated between its two points)
//   ReplayClock    maps wall time × speed to replay time, with play/pause/seek
import type { ReplayCourier } from './track';

/** One courier's points, sorted by time, one per time; times in ms since the epoch. */
export interface ReplayTrack {
  id: string;
  name: string;
  t: Float64Array;
  lat: Float64Array;
  lng: Float64Array;
}

interface Pending {
  name: string;
  t: number[];
  lat: number[];
  lng: number[];
  sorted: boolean;
}

/** Collects pages (a courier comes back in many pages and windows) into ReplayTracks. */
export class ReplayBuilder {
  private readonly byId = new Map<string, Pending>();
  points = 0;

  add(couriers: readonly ReplayCourier[]): void {
    for (const c of couriers) {
      let p = this.byId.get(c.id);
      if (!p) {
        p = { name: c.name, t: [], lat: [], lng: [], sorted: true };
        this.byId.set(c.id, p);
      } else if (c.name !== c.id) {
        p.name = c.name; // the newest name
      }
      for (const pt of c.points) {
        const t = pt.tUs / 1000;
        if (p.t.length && t < p.t[p.t.length - 1]!) p.sorted = false;
        p.t.push(t);
        p.lat.push(pt.lat);
        p.lng.push(pt.lng);
        this.points++;
      }
    }
  }

  get couriers(): number {
    return this.byId.size;
  }

  /** The tracks, by courier id; couriers without points are left out. */
  build(): ReplayTrack[] {
    const out: ReplayTrack[] = [];
    const ids = [...this.byId.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    for (const id of ids) {
      const p = this.byId.get(id)!;
      const n = p.t.length;
      if (n === 0) continue;
      let order: number[] | null = null;
      if (!p.sorted) {
        order = Array.from({ length: n }, (_, i) => i);
        order.sort((a, b) => p.t[a]! - p.t[b]! || a - b);
      }
      const t: number[] = [];
      const lat: number[] = [];
      const lng: number[] = [];
      for (let k = 0; k < n; k++) {
        const i = order ? order[k]! : k;
        const ti = p.t[i]!;
        if (t.length && t[t.length - 1] === ti) continue; // the same point twice
        t.push(ti);
        lat.push(p.lat[i]!);
        lng.push(p.lng[i]!);
      }
      out.push({ id, name: p.name, t: Float64Array.from(t), lat: Float64Array.from(lat), lng: Float64Array.from(lng) });
    }
    return out;
  }
}

export interface ReplayPosition {
  lat: number;
  lng: number;
  /**
   * Held rather than moving: after the courier's last point, or inside a gap between two
   * points longer than maxGapMs (the courier was not reporting).
   */
  held: boolean;
}

export interface PositionOptions {
  /**
   * Across a gap longer than this the courier is held at the earlier point instead of
   * gliding over a path it never reported. Default: no limit (always interpolate).
   */
  maxGapMs?: number;
}

/** Index of the last point at or before t; -1 when t is before the first point. */
export function indexAt(times: Float64Array, t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * Where the courier was at `t` (ms): interpolated linearly between the two points around
 * t, the last point once t is past it (held), null before its first point (hidden).
 */
export function positionAt(track: ReplayTrack, t: number, opts: PositionOptions = {}): ReplayPosition | null {
  const n = track.t.length;
  if (n === 0 || !(t >= track.t[0]!)) return null;
  const i = indexAt(track.t, t);
  if (i >= n - 1) return { lat: track.lat[n - 1]!, lng: track.lng[n - 1]!, held: t > track.t[n - 1]! };
  const t0 = track.t[i]!;
  const t1 = track.t[i + 1]!;
  const gap = t1 - t0;
  if (t === t0) return { lat: track.lat[i]!, lng: track.lng[i]!, held: false };
  if (gap > (opts.maxGapMs ?? Infinity)) return { lat: track.lat[i]!, lng: track.lng[i]!, held: true };
  const f = (t - t0) / gap;
  return {
    lat: track.lat[i]! + (track.lat[i + 1]! - track.lat[i]!) * f,
    lng: track.lng[i]! + (track.lng[i + 1]! - track.lng[i]!) * f,
    held: false,
  };
}

/** Every track's position at t (null: not shown), in the order of `tracks`. */
export function positionsAt(tracks: readonly ReplayTrack[], t: number, opts: PositionOptions = {}): Array<ReplayPosition | null> {
  return tracks.map((tr) => positionAt(tr, t, opts));
}

/** The span [first point, last point] over all tracks, or null when there are none. */
export function tracksSpan(tracks: readonly ReplayTrack[]): { from: number; to: number } | null {
  let from = Infinity;
  let to = -Infinity;
  for (const tr of tracks) {
    if (tr.t.length === 0) continue;
    from = Math.min(from, tr.t[0]!);
    to = Math.max(to, tr.t[tr.t.length - 1]!);
  }
  return from <= to ? { from, to } : null;
}

export const REPLAY_SPEEDS = [1, 2, 5, 10, 30, 60] as const;

/**
 * Replay time as a function of wall time: t = anchor + (wall − anchorWall) × speed while
 * playing, clamped to [from, to]; reaching `to` pauses there. Every method takes the wall
 * time (ms, e.g. performance.now()) so that it is a pure function of its inputs.
 */
export class ReplayClock {
  private anchorT: number;
  private anchorWall = 0;
  private _playing = false;
  private _speed = 1;

  constructor(
    readonly from: number,
    readonly to: number,
  ) {
    if (!(to >= from)) throw new RangeError('replay range: to must not be before from');
    this.anchorT = from;
  }

  get playing(): boolean {
    return this._playing;
  }

  get speed(): number {
    return this._speed;
  }

  /** Replay time at wall time `wall`. Does not change the clock (see tick). */
  time(wall: number): number {
    if (!this._playing) return this.anchorT;
    const t = this.anchorT + Math.max(0, wall - this.anchorWall) * this._speed;
    return Math.min(this.to, Math.max(this.from, t));
  }

  /** Like time(), and pauses the clock at `to` once it got there. */
  tick(wall: number): number {
    const t = this.time(wall);
    if (this._playing && t >= this.to) {
      this._playing = false;
      this.anchorT = this.to;
      this.anchorWall = wall;
    }
    return t;
  }

  play(wall: number): void {
    if (this._playing) return;
    if (this.anchorT >= this.to) this.anchorT = this.from; // at the end: from the start
    this.anchorWall = wall;
    this._playing = true;
  }

  pause(wall: number): void {
    if (!this._playing) return;
    this.anchorT = this.time(wall);
    this.anchorWall = wall;
    this._playing = false;
  }

  toggle(wall: number): void {
    if (this._playing) this.pause(wall);
    else this.play(wall);
  }

  setSpeed(speed: number, wall: number): void {
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError('speed must be a positive number');
    this.anchorT = this.time(wall);
    this.anchorWall = wall;
    this._speed = speed;
  }

  /** Jumps to t (clamped); keeps playing if it was. */
  seek(t: number, wall: number): void {
    this.anchorT = Math.min(this.to, Math.max(this.from, t));
    this.anchorWall = wall;
  }
}
