import { describe, expect, it } from 'vitest';
import type { Batch } from './buffer';
import type { Location } from './protocol';
import { CourierStore } from './store';

const at = (id: number | string, lat: number, tsMs?: number, name?: string): Location => ({
  latitude: lat,
  longitude: 51,
  user: { id, ...(name ? { username: name } : {}) },
  ...(tsMs !== undefined ? { ts: tsMs * 1000 } : {}),
});

const batch = (p: Partial<Batch>): Batch => ({ snapshot: null, updates: [], statuses: [], messages: 1, ...p });

describe('CourierStore', () => {
  it('adds, then moves a courier', () => {
    const s = new CourierStore();
    const c1 = s.apply(batch({ updates: [at(10, 35, 1000, 'test_driver1')] }), 1000);
    expect(c1.added.map((c) => c.key)).toEqual(['10']);
    expect(s.get('10')).toMatchObject({ name: 'test_driver1', lat: 35, tsMs: 1000 });
    const c2 = s.apply(batch({ updates: [at(10, 36, 2000)] }), 2000);
    expect(c2.added).toEqual([]);
    expect(c2.moved.map((c) => c.lat)).toEqual([36]);
    expect(s.size).toBe(1);
  });

  it("shows the last point's battery and app: a point without them clears them", () => {
    const s = new CourierStore();
    s.apply(batch({ updates: [{ ...at(3, 1, 1000), battery: 55, charging: true, altitude: 12, source: 'owntracks' }] }), 1000);
    expect(s.get('3')).toMatchObject({ battery: 55, charging: true, altitude: 12, source: 'owntracks' });
    s.apply(batch({ updates: [{ ...at(3, 1, 2000), battery: 54 }] }), 2000);
    const c = s.get('3')!;
    expect(c.battery).toBe(54);
    expect(c).not.toHaveProperty('charging');
    expect(c).not.toHaveProperty('source');
    s.apply(batch({ snapshot: [at(3, 1, 3000)] }), 3000);
    expect(s.get('3')).not.toHaveProperty('battery');
  });

  it('names a courier by its id when there is no username', () => {
    const s = new CourierStore();
    s.apply(batch({ updates: [at('c-9', 1)] }), 0);
    expect(s.get('c-9')?.name).toBe('c-9');
  });

  it('ignores a point older than the one held', () => {
    const s = new CourierStore();
    s.apply(batch({ updates: [at(1, 5, 2000)] }), 2000);
    const c = s.apply(batch({ updates: [at(1, 4, 1000)] }), 2100);
    expect(c.ignored).toBe(1);
    expect(s.get('1')?.lat).toBe(5);
  });

  it('replaces the state on a snapshot', () => {
    const s = new CourierStore();
    s.apply(batch({ updates: [at(1, 1), at(2, 2)] }), 0);
    const v = s.membershipVersion;
    const c = s.apply(batch({ snapshot: [at(2, 20), at(3, 30)] }), 10);
    expect(c.reset).toBe(true);
    expect(c.removed).toEqual(['1']);
    expect(c.moved.map((x) => x.key)).toEqual(['2']);
    expect(c.added.map((x) => x.key)).toEqual(['3']);
    expect([...s.values()].map((x) => x.key).sort()).toEqual(['2', '3']);
    expect(s.membershipVersion).toBeGreaterThan(v);
  });

  it('takes an older snapshot point over a newer held one (the snapshot is the truth)', () => {
    const s = new CourierStore();
    s.apply(batch({ updates: [at(1, 1, 5000)] }), 5000);
    s.apply(batch({ snapshot: [at(1, 2, 4000)] }), 6000);
    expect(s.get('1')?.lat).toBe(2);
  });

  it('applies status and clears it with the next location', () => {
    const s = new CourierStore();
    s.apply(batch({ updates: [at(1, 1)] }), 0);
    const c = s.apply(batch({ statuses: [{ id: 1, state: 'stale' }, { id: 99, state: 'stale' }] }), 1);
    expect(c.statusChanged).toEqual(['1']);
    expect(s.get('1')?.serverState).toBe('stale');
    s.apply(batch({ updates: [at(1, 2)] }), 2);
    expect(s.get('1')?.serverState).toBeUndefined();
  });

  it('estimates the clock offset from live updates for lastSeen', () => {
    const s = new CourierStore();
    // Local clock 5 s ahead of the server, 100 ms delivery latency.
    s.apply(batch({ updates: [at(1, 1, 1_000_000)] }), 1_005_100);
    expect(s.clockOffsetMs).toBe(5100);
    const c = s.get('1')!;
    expect(s.lastSeen(c)).toBe(1_005_100);
    // A snapshot point from 60 s earlier is 60 s old on the local clock too.
    s.apply(batch({ snapshot: [at(2, 1, 940_000)] }), 1_005_200);
    expect(s.lastSeen(s.get('2')!)).toBe(945_100);
  });

  it('uses the receive time when a point has no ts', () => {
    const s = new CourierStore();
    s.apply(batch({ updates: [at(1, 1)] }), 1234);
    expect(s.lastSeen(s.get('1')!)).toBe(1234);
  });
});
