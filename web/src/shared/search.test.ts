import { describe, expect, it } from 'vitest';
import { compareCouriers, matches, parseQuery } from './search';
import type { Courier } from './store';

const c = (key: string, name: string, extra: Partial<Courier> = {}): Courier => ({
  key,
  id: key,
  name,
  lat: 0,
  lng: 0,
  tsMs: null,
  receivedAt: 0,
  ...extra,
});

describe('search', () => {
  it('matches id, name, fleet and orders, case-insensitively, all terms', () => {
    const x = c('10', 'Test_Driver1', { fleet: 'store-7', orders: ['A123'] });
    expect(matches(x, parseQuery(''))).toBe(true);
    expect(matches(x, parseQuery('driver'))).toBe(true);
    expect(matches(x, parseQuery('10'))).toBe(true);
    expect(matches(x, parseQuery('STORE-7 a123'))).toBe(true);
    expect(matches(x, parseQuery('driver store-8'))).toBe(false);
  });

  it('matches the app a courier reports from', () => {
    expect(matches(c('1', 'a', { source: 'osmand' }), parseQuery('OsmAnd'))).toBe(true);
    expect(matches(c('2', 'b'), parseQuery('osmand'))).toBe(false);
  });

  it('sorts by name numerically, then id', () => {
    const list = [c('3', 'driver10'), c('2', 'driver2'), c('1', 'driver2'), c('4', 'Ali')];
    expect(list.sort(compareCouriers).map((x) => x.key)).toEqual(['4', '1', '2', '3']);
  });
});
