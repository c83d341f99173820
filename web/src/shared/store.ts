// The page's state: the last known location of every courier it was sent. No DOM here.
//
// Ordering: within a connection the server sends locations oldest first; a location
// whose `ts` is older than the one already held for that courier is ignored, so a
// reordered or replayed point never moves a marker backwards. A snapshot replaces the
// whole state (used on every (re)connect).
import type { Batch } from './buffer';
import { courierKey, type CourierId, type Location } from './protocol';

export interface Courier {
  key: string;
  id: CourierId;
  /** `user.username`, or the id when the server sent none. */
  name: string;
  lat: number;
  lng: number;
  /** Server time of the point (ms since epoch), from `ts`; null when the frame had none. */
  tsMs: number | null;
  /** Local time (ms since epoch) when this page received the point. */
  receivedAt: number;
  recordedAt?: string;
  accuracy?: number;
  speed?: number;
  heading?: number;
  fleet?: string;
  orders?: string[];
  altitude?: number;
  /** 0–100, from the last point; absent when that point carried none. */
  battery?: number;
  charging?: boolean;
  /** The app the last point came from (PROTOCOL.md §9), absent for the JSON API. */
  source?: string;
  /** `state` from the last `status` message about this courier, cleared by a new location. */
  serverState?: string;
}

export interface ChangeSet {
  /** True when a snapshot replaced the state. */
  reset: boolean;
  /** Couriers seen for the first time (after a reset: every courier not held before). */
  added: Courier[];
  /** Couriers already held whose position or data changed. */
  moved: Courier[];
  /** Keys of couriers that are gone (only a snapshot removes couriers). */
  removed: string[];
  /** Keys whose serverState changed. */
  statusChanged: string[];
  /** Locations ignored because they were older than the one held. */
  ignored: number;
}

function toCourier(loc: Location, now: number): Courier {
  const c: Courier = {
    key: courierKey(loc.user.id),
    id: loc.user.id,
    name: loc.user.username ?? String(loc.user.id),
    lat: loc.latitude,
    lng: loc.longitude,
    tsMs: loc.ts !== undefined ? loc.ts / 1000 : null,
    receivedAt: now,
  };
  if (loc.recorded_at !== undefined) c.recordedAt = loc.recorded_at;
  if (loc.accuracy !== undefined) c.accuracy = loc.accuracy;
  if (loc.speed !== undefined) c.speed = loc.speed;
  if (loc.heading !== undefined) c.heading = loc.heading;
  if (loc.fleet !== undefined) c.fleet = loc.fleet;
  if (loc.orders !== undefined) c.orders = loc.orders;
  if (loc.altitude !== undefined) c.altitude = loc.altitude;
  if (loc.battery !== undefined) c.battery = loc.battery;
  if (loc.charging !== undefined) c.charging = loc.charging;
  if (loc.source !== undefined) c.source = loc.source;
  return c;
}

function isOlder(incoming: Courier, held: Courier): boolean {
  return incoming.tsMs !== null && held.tsMs !== null && incoming.tsMs < held.tsMs;
}

export class CourierStore {
  private couriers = new Map<string, Courier>();
  /**
   * Estimated (local clock − server clock + minimum delivery latency), in ms, from live
   * updates. Lets the page compute "last update" ages from server `ts` values without
   * trusting the two clocks to agree.
   */
  private offsetMs: number | null = null;
  /** Bumped whenever couriers are added or removed or renamed (for cached sort orders). */
  membershipVersion = 0;
  /** Bumped on every applied change. */
  version = 0;

  get size(): number {
    return this.couriers.size;
  }

  get(key: string): Courier | undefined {
    return this.couriers.get(key);
  }

  values(): IterableIterator<Courier> {
    return this.couriers.values();
  }

  get clockOffsetMs(): number {
    return this.offsetMs ?? 0;
  }

  /** Local time (ms since epoch) at which the courier's last point reached the system. */
  lastSeen(c: Courier): number {
    return c.tsMs !== null ? c.tsMs + this.clockOffsetMs : c.receivedAt;
  }

  clear(): void {
    if (this.couriers.size > 0) this.membershipVersion++;
    this.couriers.clear();
    this.version++;
  }

  apply(batch: Batch, now: number): ChangeSet {
    const changes: ChangeSet = {
      reset: false,
      added: [],
      moved: [],
      removed: [],
      statusChanged: [],
      ignored: 0,
    };
    if (batch.snapshot) this.applySnapshot(batch.snapshot, now, changes);
    for (const loc of batch.updates) this.applyUpdate(loc, now, changes);
    for (const s of batch.statuses) {
      const c = this.couriers.get(courierKey(s.id));
      if (c && c.serverState !== s.state) {
        c.serverState = s.state;
        changes.statusChanged.push(c.key);
      }
    }
    if (changes.reset || changes.added.length || changes.removed.length) this.membershipVersion++;
    this.version++;
    return changes;
  }

  private applySnapshot(locations: Location[], now: number, changes: ChangeSet): void {
    changes.reset = true;
    const next = new Map<string, Courier>();
    for (const loc of locations) {
      const c = toCourier(loc, now);
      const dup = next.get(c.key);
      if (dup && isOlder(c, dup)) continue;
      next.set(c.key, c);
    }
    for (const key of this.couriers.keys()) {
      if (!next.has(key)) changes.removed.push(key);
    }
    for (const c of next.values()) {
      if (this.couriers.has(c.key)) changes.moved.push(c);
      else changes.added.push(c);
    }
    this.couriers = next;
  }

  private applyUpdate(loc: Location, now: number, changes: ChangeSet): void {
    const c = toCourier(loc, now);
    if (c.tsMs !== null) this.observeLatency(now - c.tsMs);
    const held = this.couriers.get(c.key);
    if (held && isOlder(c, held)) {
      changes.ignored++;
      return;
    }
    this.couriers.set(c.key, c);
    if (held) {
      if (held.name !== c.name) this.membershipVersion++;
      changes.moved.push(c);
    } else {
      changes.added.push(c);
    }
  }

  private observeLatency(sample: number): void {
    if (this.offsetMs === null || sample < this.offsetMs) {
      this.offsetMs = sample;
    } else {
      // Creep up slowly so that one early outlier (or a clock step) does not stick forever.
      this.offsetMs += (sample - this.offsetMs) * 0.01;
    }
  }
}
