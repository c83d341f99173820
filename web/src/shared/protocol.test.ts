import { describe, expect, it } from 'vitest';
import { courierKey, parseLocation, parseServerMessage } from './protocol';

const loc = {
  latitude: 35.0001,
  longitude: 53.12111,
  user: { id: 10, username: 'test_driver1' },
  ts: 1764331200123456,
};

describe('parseLocation', () => {
  it('accepts the minimal broker format', () => {
    expect(parseLocation({ latitude: 1, longitude: 2, user: { id: 10 } })).toEqual({
      latitude: 1,
      longitude: 2,
      user: { id: 10 },
    });
  });

  it('keeps every optional field', () => {
    const full = {
      ...loc,
      recorded_at: '2026-11-28T12:00:00Z',
      accuracy: 6.5,
      speed: 8.2,
      heading: 270,
      fleet: 'store-7',
      orders: ['A123'],
      altitude: 1180.5,
      battery: 85,
      charging: true,
      source: 'osmand',
    };
    expect(parseLocation(full)).toEqual(full);
  });

  it('keeps the phone fields of §9 only when valid, never losing the point for them', () => {
    const l = parseLocation({ ...loc, battery: 120, charging: 'yes', source: 'x'.repeat(33), altitude: 'high' });
    expect(l).not.toBeNull();
    expect(l).not.toHaveProperty('battery');
    expect(l).not.toHaveProperty('charging');
    expect(l).not.toHaveProperty('source');
    expect(l).not.toHaveProperty('altitude');
    expect(parseLocation({ ...loc, battery: -0.5 })).not.toHaveProperty('battery');
    expect(parseLocation({ ...loc, battery: '42', charging: false, source: ' traccar ' })).toMatchObject({
      battery: 42,
      charging: false,
      source: 'traccar',
    });
    expect(parseLocation({ ...loc, battery: 0, source: '' })).toMatchObject({ battery: 0 });
    expect(parseLocation({ ...loc, source: '' })).not.toHaveProperty('source');
    expect(parseLocation({ ...loc, source: 7 })).not.toHaveProperty('source');
  });

  it('accepts string ids and numeric strings for coordinates', () => {
    const l = parseLocation({ latitude: '35.7', longitude: '51.4', user: { id: 'c-9' } });
    expect(l).toMatchObject({ latitude: 35.7, longitude: 51.4, user: { id: 'c-9' } });
  });

  it.each([
    ['missing latitude', { longitude: 1, user: { id: 1 } }],
    ['latitude out of range', { latitude: 91, longitude: 1, user: { id: 1 } }],
    ['longitude out of range', { latitude: 1, longitude: -180.5, user: { id: 1 } }],
    ['NaN coordinates', { latitude: 'abc', longitude: 1, user: { id: 1 } }],
    ['no user', { latitude: 1, longitude: 1 }],
    ['empty user id', { latitude: 1, longitude: 1, user: { id: '' } }],
    ['user id object', { latitude: 1, longitude: 1, user: { id: {} } }],
    ['not an object', [1, 2]],
    ['null', null],
  ])('rejects %s', (_name, v) => {
    expect(parseLocation(v)).toBeNull();
  });

  it('drops optional fields of the wrong type', () => {
    const l = parseLocation({ ...loc, accuracy: 'x', orders: ['A', 7, null], fleet: {} });
    expect(l?.accuracy).toBeUndefined();
    expect(l?.fleet).toBeUndefined();
    expect(l?.orders).toEqual(['A', '7']);
  });
});

describe('parseServerMessage', () => {
  it('parses a snapshot', () => {
    const r = parseServerMessage(JSON.stringify({ type: 'snapshot', locations: [loc] }));
    expect(r.message).toEqual({ type: 'snapshot', locations: [loc] });
    expect(r.dropped).toBe(0);
  });

  it('parses locations and counts invalid entries', () => {
    const r = parseServerMessage(
      JSON.stringify({ type: 'locations', locations: [loc, { latitude: 100 }, loc] }),
    );
    expect(r.message?.type).toBe('locations');
    expect(r.message && 'locations' in r.message ? r.message.locations.length : -1).toBe(2);
    expect(r.dropped).toBe(1);
  });

  it('parses status', () => {
    const r = parseServerMessage('{"type":"status","couriers":[{"id":10,"state":"stale"},{"id":1}]}');
    expect(r.message).toEqual({ type: 'status', couriers: [{ id: 10, state: 'stale' }] });
    expect(r.dropped).toBe(1);
  });

  it('treats a bare location as echo-protocol', () => {
    const r = parseServerMessage(JSON.stringify(loc));
    expect(r.message).toEqual({ type: 'locations', locations: [loc] });
  });

  it.each([
    ['invalid JSON', '{'],
    ['a number', '42'],
    ['unknown type', '{"type":"hello"}'],
    ['locations not an array', '{"type":"locations","locations":{}}'],
    ['status without couriers', '{"type":"status"}'],
  ])('ignores %s without throwing', (_n, text) => {
    const r = parseServerMessage(text);
    expect(r.message).toBeNull();
    expect(r.error).toBeTruthy();
  });
});

describe('courierKey', () => {
  it('makes 10 and "10" the same courier', () => {
    expect(courierKey(10)).toBe(courierKey('10'));
  });
});
