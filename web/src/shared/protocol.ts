// Wire format of the peyk WebSocket gateway (PROTOCOL.md §4, §5). No DOM here.

/** `user.id` is a JSON number when it is a decimal integer, otherwise a string. */
export type CourierId = number | string;

/** One location in the broker format (§4). Only latitude, longitude, user.id are required. */
export interface Location {
  latitude: number;
  longitude: number;
  user: { id: CourierId; username?: string };
  /** Microseconds since the Unix epoch when the point entered the system. */
  ts?: number;
  recorded_at?: string;
  accuracy?: number;
  speed?: number;
  heading?: number;
  fleet?: string;
  orders?: string[];
  /** Metres above sea level, as the courier's app reports it (§9). */
  altitude?: number;
  /** The phone's battery, 0–100 (§9). */
  battery?: number;
  /** Whether the phone is charging (§9). */
  charging?: boolean;
  /** The app the point came from: "osmand", "traccar", "owntracks"; absent for the JSON API. */
  source?: string;
}

/** Longest `source` kept (the broker refuses longer ones, §4/§9). */
export const MAX_SOURCE_LENGTH = 32;

export interface CourierStatus {
  id: CourierId;
  state: string;
}

export type ServerMessage =
  | { type: 'snapshot'; locations: Location[] }
  | { type: 'locations'; locations: Location[] }
  | { type: 'status'; couriers: CourierStatus[] };

export interface ParseResult {
  message: ServerMessage | null;
  /** Why the whole frame was ignored (message is null). */
  error?: string;
  /** Locations or statuses inside the frame that were invalid and left out. */
  dropped: number;
}

/** The subprotocol the pages ask for. */
export const SUBPROTOCOL = 'peyk.v1';

/** The key under which a courier is stored: ids 10 and "10" are the same courier. */
export function courierKey(id: CourierId): string {
  return String(id);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A finite number, or a string of one (the ingest API accepts digit strings too). */
function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function parseId(v: unknown): CourierId | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v !== '') return v;
  return undefined;
}

/** Validates one location; returns null when a required field is missing or out of range. */
export function parseLocation(v: unknown): Location | null {
  if (!isObject(v)) return null;
  const latitude = toNumber(v.latitude);
  const longitude = toNumber(v.longitude);
  if (latitude === undefined || latitude < -90 || latitude > 90) return null;
  if (longitude === undefined || longitude < -180 || longitude > 180) return null;
  if (!isObject(v.user)) return null;
  const id = parseId(v.user.id);
  if (id === undefined) return null;

  const user: Location['user'] = { id };
  const name = v.user.username;
  if (typeof name === 'string') user.username = name;
  else if (typeof name === 'number') user.username = String(name);

  const loc: Location = { latitude, longitude, user };
  const ts = toNumber(v.ts);
  if (ts !== undefined && ts > 0) loc.ts = ts;
  if (typeof v.recorded_at === 'string') loc.recorded_at = v.recorded_at;
  const accuracy = toNumber(v.accuracy);
  if (accuracy !== undefined) loc.accuracy = accuracy;
  const speed = toNumber(v.speed);
  if (speed !== undefined) loc.speed = speed;
  const heading = toNumber(v.heading);
  if (heading !== undefined) loc.heading = heading;
  if (typeof v.fleet === 'string') loc.fleet = v.fleet;
  else if (typeof v.fleet === 'number') loc.fleet = String(v.fleet);
  const altitude = toNumber(v.altitude);
  if (altitude !== undefined) loc.altitude = altitude;
  // A battery outside 0..100 is left out, not the whole point.
  const battery = toNumber(v.battery);
  if (battery !== undefined && battery >= 0 && battery <= 100) loc.battery = battery;
  if (typeof v.charging === 'boolean') loc.charging = v.charging;
  if (typeof v.source === 'string') {
    const source = v.source.trim();
    if (source !== '' && source.length <= MAX_SOURCE_LENGTH) loc.source = source;
  }
  if (Array.isArray(v.orders)) {
    loc.orders = v.orders
      .filter((o) => typeof o === 'string' || typeof o === 'number')
      .map((o) => String(o));
  }
  return loc;
}

function parseLocations(list: unknown): { locations: Location[]; dropped: number } {
  if (!Array.isArray(list)) return { locations: [], dropped: 0 };
  const locations: Location[] = [];
  let dropped = 0;
  for (const item of list) {
    const loc = parseLocation(item);
    if (loc) locations.push(loc);
    else dropped++;
  }
  return { locations, dropped };
}

/** Parses an already decoded JSON value. */
export function parseServerValue(v: unknown): ParseResult {
  if (!isObject(v)) return { message: null, error: 'not a JSON object', dropped: 0 };
  switch (v.type) {
    case 'snapshot':
    case 'locations': {
      if (!Array.isArray(v.locations)) {
        return { message: null, error: `${v.type}: "locations" is not an array`, dropped: 0 };
      }
      const { locations, dropped } = parseLocations(v.locations);
      return { message: { type: v.type, locations }, dropped };
    }
    case 'status': {
      if (!Array.isArray(v.couriers)) {
        return { message: null, error: 'status: "couriers" is not an array', dropped: 0 };
      }
      const couriers: CourierStatus[] = [];
      let dropped = 0;
      for (const c of v.couriers) {
        const id = isObject(c) ? parseId(c.id) : undefined;
        if (isObject(c) && id !== undefined && typeof c.state === 'string') {
          couriers.push({ id, state: c.state });
        } else {
          dropped++;
        }
      }
      return { message: { type: 'status', couriers }, dropped };
    }
    case undefined: {
      // echo-protocol (no subprotocol): every frame is one bare location.
      const loc = parseLocation(v);
      if (loc) return { message: { type: 'locations', locations: [loc] }, dropped: 0 };
      return { message: null, error: 'no "type" and not a valid location', dropped: 1 };
    }
    default:
      return { message: null, error: `unknown message type ${JSON.stringify(v.type)}`, dropped: 0 };
  }
}

/** Parses one text frame. Never throws: a bad frame is reported and ignored. */
export function parseServerMessage(text: string): ParseResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { message: null, error: 'invalid JSON', dropped: 0 };
  }
  return parseServerValue(v);
}
