// Points of a courier's track: what the history API answers (PROTOCOL.md §7) and the
// same shape made from a live location (§4), so that both can be merged. No DOM here.
import { courierKey, type Location } from './protocol';
import { parseRfc3339Us } from './time';

/** One point of a track. */
export interface TrackPoint {
  /**
   * Its time in history, µs since the epoch: `recorded_at` when the app sent one (when it
   * was measured), else `ts` (when it entered peyk) — the server orders and windows by the
   * same time, so a point fetched and the same point received live get the same `tUs`.
   */
  tUs: number;
  lat: number;
  lng: number;
  tsUs?: number;
  recordedAt?: string;
  speed?: number;
  heading?: number;
  accuracy?: number;
  battery?: number;
  fleet?: string;
  orders?: string[];
}

export interface CourierRef {
  id: string;
  name: string;
}

export interface TrackPage {
  courier: CourierRef | null;
  points: TrackPoint[];
  next: string | null;
  /** Points of the answer that were not valid and were left out. */
  dropped: number;
}

export interface ReplayCourier extends CourierRef {
  points: TrackPoint[];
}

export interface ReplayPage {
  couriers: ReplayCourier[];
  next: string | null;
  dropped: number;
}

export interface TrackSummary {
  points: number;
  distanceM: number;
  movingS: number;
  stoppedS: number;
  maxSpeedMps: number | null;
  first: TrackPoint | null;
  last: TrackPoint | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/**
 * A time as the API may write it, in µs: an RFC 3339 string, or a number of µs (as `ts`
 * in §4). A number below 1e14 cannot be µs of any date after 1973, so it is read as ms.
 */
export function timeUs(v: unknown): number | undefined {
  if (typeof v === 'string') {
    const us = parseRfc3339Us(v);
    if (us !== null) return us;
  }
  const n = num(v);
  if (n === undefined || n <= 0) return undefined;
  return n < 1e14 ? Math.round(n * 1000) : Math.round(n);
}

/** One point of an API answer; null when its position or time is missing or invalid. */
export function parseTrackPoint(v: unknown): TrackPoint | null {
  if (!isObject(v)) return null;
  const lat = num(v.latitude);
  const lng = num(v.longitude);
  if (lat === undefined || lat < -90 || lat > 90 || lng === undefined || lng < -180 || lng > 180) return null;
  const tsUs = timeUs(v.ts);
  const recUs = v.recorded_at === null || v.recorded_at === undefined ? undefined : timeUs(v.recorded_at);
  const tUs = recUs ?? tsUs;
  if (tUs === undefined) return null;
  const p: TrackPoint = { tUs, lat, lng };
  if (tsUs !== undefined) p.tsUs = tsUs;
  if (typeof v.recorded_at === 'string') p.recordedAt = v.recorded_at;
  const speed = num(v.speed);
  if (speed !== undefined) p.speed = speed;
  const heading = num(v.heading);
  if (heading !== undefined) p.heading = heading;
  const accuracy = num(v.accuracy);
  if (accuracy !== undefined) p.accuracy = accuracy;
  const battery = num(v.battery);
  if (battery !== undefined) p.battery = battery;
  if (typeof v.fleet === 'string' && v.fleet !== '') p.fleet = v.fleet;
  if (Array.isArray(v.orders)) p.orders = v.orders.filter((o) => typeof o === 'string' || typeof o === 'number').map(String);
  return p;
}

/**
 * A live location (WebSocket, §4) as a track point, timed like history does. A location
 * with neither `recorded_at` nor `ts` gets `fallbackMs` (when this page received it).
 */
export function pointFromLocation(loc: Location, fallbackMs: number): TrackPoint {
  const recUs = loc.recorded_at !== undefined ? parseRfc3339Us(loc.recorded_at) : null;
  const tUs = recUs ?? (loc.ts !== undefined ? Math.round(loc.ts) : Math.round(fallbackMs * 1000));
  const p: TrackPoint = { tUs, lat: loc.latitude, lng: loc.longitude };
  if (loc.ts !== undefined) p.tsUs = loc.ts;
  if (loc.recorded_at !== undefined) p.recordedAt = loc.recorded_at;
  if (loc.speed !== undefined) p.speed = loc.speed;
  if (loc.heading !== undefined) p.heading = loc.heading;
  if (loc.accuracy !== undefined) p.accuracy = loc.accuracy;
  if (loc.fleet !== undefined) p.fleet = loc.fleet;
  if (loc.orders !== undefined) p.orders = loc.orders;
  return p;
}

function parsePoints(list: unknown): { points: TrackPoint[]; dropped: number } {
  const points: TrackPoint[] = [];
  let dropped = 0;
  if (!Array.isArray(list)) return { points, dropped };
  for (const item of list) {
    const p = parseTrackPoint(item);
    if (p) points.push(p);
    else dropped++;
  }
  return { points, dropped };
}

function parseNext(v: unknown): string | null {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

function parseRef(v: unknown): CourierRef | null {
  if (!isObject(v)) return null;
  const id = v.id;
  if ((typeof id !== 'string' || id === '') && (typeof id !== 'number' || !Number.isFinite(id))) return null;
  const key = courierKey(id);
  return { id: key, name: typeof v.name === 'string' && v.name !== '' ? v.name : key };
}

/** `{"courier", "points", "next"}`; null when the answer is not of that shape. */
export function parseTrackPage(v: unknown): TrackPage | null {
  if (!isObject(v) || !Array.isArray(v.points)) return null;
  const { points, dropped } = parsePoints(v.points);
  return { courier: parseRef(v.courier), points, next: parseNext(v.next), dropped };
}

/** `{"couriers": [{"id", "name", "points"}], "next"}`; null when not of that shape. */
export function parseReplayPage(v: unknown): ReplayPage | null {
  if (!isObject(v) || !Array.isArray(v.couriers)) return null;
  const couriers: ReplayCourier[] = [];
  let dropped = 0;
  for (const c of v.couriers) {
    const ref = parseRef(c);
    if (!ref || !isObject(c)) {
      dropped++;
      continue;
    }
    const pts = parsePoints(c.points);
    dropped += pts.dropped;
    couriers.push({ ...ref, points: pts.points });
  }
  return { couriers, next: parseNext(v.next), dropped };
}

/** The summary answer; null when not of that shape. */
export function parseSummary(v: unknown): TrackSummary | null {
  if (!isObject(v)) return null;
  const points = num(v.points);
  const distanceM = num(v.distance_m);
  if (points === undefined || distanceM === undefined) return null;
  return {
    points,
    distanceM,
    movingS: num(v.moving_s) ?? 0,
    stoppedS: num(v.stopped_s) ?? 0,
    maxSpeedMps: num(v.max_speed_mps) ?? null,
    first: parseTrackPoint(v.first),
    last: parseTrackPoint(v.last),
  };
}

/** "12.3 km" (or "850 m" below 1 km). */
export function formatDistance(m: number): string {
  if (!Number.isFinite(m) || m < 0) return '—';
  if (m < 1000) return `${Math.round(m)} m`;
  return `${(m / 1000).toFixed(m < 100_000 ? 1 : 0)} km`;
}

/** "2 h 05 min", "14 min", "40 s". */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '—';
  const total = Math.round(s);
  if (total < 60) return `${total} s`;
  const m = Math.floor(total / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** "43 km/h" from m/s. */
export function formatSpeed(mps: number | null): string {
  if (mps === null || !Number.isFinite(mps) || mps < 0) return '—';
  return `${Math.round(mps * 3.6)} km/h`;
}
