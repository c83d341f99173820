import { describe, expect, it } from 'vitest';
import { parseServerValue, type Location } from './protocol';
import {
  formatDistance,
  formatDuration,
  formatSpeed,
  parseReplayPage,
  parseSummary,
  parseTrackPage,
  parseTrackPoint,
  pointFromLocation,
  timeUs,
} from './track';

const T = Date.UTC(2026, 10, 28, 12, 0, 0) * 1000; // µs

describe('track points', () => {
  it('a point is timed by recorded_at when it has one, else by ts', () => {
    const withRec = parseTrackPoint({ latitude: 35.7, longitude: 51.4, ts: T + 5_000_000, recorded_at: '2026-11-28T12:00:00.250Z' });
    expect(withRec).toMatchObject({ tUs: T + 250_000, tsUs: T + 5_000_000, lat: 35.7, lng: 51.4 });
    const noRec = parseTrackPoint({ latitude: 35.7, longitude: 51.4, ts: T, recorded_at: null });
    expect(noRec?.tUs).toBe(T);
  });
  it('times: RFC 3339, µs, or ms (a number too small to be µs)', () => {
    expect(timeUs('2026-11-28T12:00:00Z')).toBe(T);
    expect(timeUs(T)).toBe(T);
    expect(timeUs(T / 1000)).toBe(T);
    expect(timeUs('x')).toBeUndefined();
    expect(timeUs(0)).toBeUndefined();
  });
  it('keeps the optional fields, drops invalid points', () => {
    const p = parseTrackPoint({
      latitude: '35.1', longitude: 51, ts: T, speed: 8.2, heading: 270, accuracy: 6.5, battery: 80,
      fleet: 'store-7', orders: ['A1', 7, null],
    });
    expect(p).toEqual({ tUs: T, tsUs: T, lat: 35.1, lng: 51, speed: 8.2, heading: 270, accuracy: 6.5, battery: 80, fleet: 'store-7', orders: ['A1', '7'] });
    expect(parseTrackPoint({ latitude: 91, longitude: 0, ts: T })).toBeNull();
    expect(parseTrackPoint({ latitude: 1, longitude: 0 })).toBeNull(); // no time
    expect(parseTrackPoint(null)).toBeNull();
  });
  it('a live location and the same point from history get the same time', () => {
    const wire = { latitude: 35.7, longitude: 51.4, user: { id: 10 }, ts: T + 123_456, recorded_at: '2026-11-28T12:00:00.000001Z' };
    const loc = (parseServerValue({ type: 'locations', locations: [wire] }).message as { locations: Location[] }).locations[0]!;
    const live = pointFromLocation(loc, 0);
    const hist = parseTrackPoint({ latitude: 35.7, longitude: 51.4, ts: T + 123_456, recorded_at: '2026-11-28T12:00:00.000001Z' });
    expect(live.tUs).toBe(T + 1);
    expect(hist?.tUs).toBe(live.tUs);
    const bare = pointFromLocation({ latitude: 1, longitude: 2, user: { id: 1 }, ts: T }, 0);
    expect(bare.tUs).toBe(T);
    const none = pointFromLocation({ latitude: 1, longitude: 2, user: { id: 1 } }, 1234);
    expect(none.tUs).toBe(1_234_000);
  });
});

describe('answers', () => {
  it('a track page', () => {
    const p = parseTrackPage({
      courier: { id: 10, name: 'test_driver1' },
      points: [{ latitude: 1, longitude: 2, ts: T }, { latitude: 'x', longitude: 2, ts: T }],
      next: 'abc',
    });
    expect(p).toMatchObject({ courier: { id: '10', name: 'test_driver1' }, next: 'abc', dropped: 1 });
    expect(p?.points).toHaveLength(1);
    expect(parseTrackPage({ courier: null, points: [], next: null })).toEqual({ courier: null, points: [], next: null, dropped: 0 });
    expect(parseTrackPage('<html>')).toBeNull();
    expect(parseTrackPage({ points: 'no' })).toBeNull();
  });
  it('a replay page', () => {
    const p = parseReplayPage({
      couriers: [{ id: '7', name: '', points: [{ latitude: 1, longitude: 2, ts: T }] }, { name: 'no id' }],
      next: null,
    });
    expect(p).toMatchObject({ couriers: [{ id: '7', name: '7' }], next: null, dropped: 1 });
    expect(parseReplayPage({ next: null })).toBeNull();
  });
  it('a summary', () => {
    const s = parseSummary({ points: 3, distance_m: 1234.5, moving_s: 600, stopped_s: 60, max_speed_mps: 12.5,
      first: { latitude: 1, longitude: 2, ts: T }, last: null });
    expect(s).toMatchObject({ points: 3, distanceM: 1234.5, movingS: 600, stoppedS: 60, maxSpeedMps: 12.5, last: null });
    expect(s?.first?.tUs).toBe(T);
    expect(parseSummary({ points: 0, distance_m: 0, max_speed_mps: null, first: null, last: null })?.maxSpeedMps).toBeNull();
    expect(parseSummary({})).toBeNull();
  });
  it('formats distance, duration and speed', () => {
    expect(formatDistance(850.4)).toBe('850 m');
    expect(formatDistance(12_345)).toBe('12.3 km');
    expect(formatDistance(123_456)).toBe('123 km');
    expect(formatDuration(40)).toBe('40 s');
    expect(formatDuration(14 * 60 + 5)).toBe('14 min');
    expect(formatDuration(2 * 3600 + 5 * 60)).toBe('2 h 05 min');
    expect(formatSpeed(12.5)).toBe('45 km/h');
    expect(formatSpeed(null)).toBe('—');
  });
});
