import { describe, expect, it } from 'vitest';
import { formatAge, isStale, staleAfterMs } from './staleness';

describe('staleness', () => {
  it('is twice the update interval', () => {
    expect(staleAfterMs(60)).toBe(120_000);
    expect(staleAfterMs(1)).toBe(2_000);
  });

  it('falls back to 60 s for a nonsense interval', () => {
    expect(staleAfterMs(0)).toBe(120_000);
    expect(staleAfterMs(Number.NaN)).toBe(120_000);
  });

  it('marks a courier stale only past the threshold', () => {
    expect(isStale(0, 120_000, 120_000)).toBe(false);
    expect(isStale(0, 120_001, 120_000)).toBe(true);
  });

  it('believes the server when it says stale', () => {
    expect(isStale(1000, 1000, 120_000, 'stale')).toBe(true);
    expect(isStale(1000, 1000, 120_000, 'live')).toBe(false);
  });
});

describe('formatAge', () => {
  it.each([
    [-5000, 'just now'],
    [0, 'just now'],
    [999, 'just now'],
    [5_000, '5 s ago'],
    [59_999, '59 s ago'],
    [60_000, '1 min ago'],
    [3_599_000, '59 min ago'],
    [3_600_000, '1 h ago'],
    [47 * 3_600_000, '47 h ago'],
    [72 * 3_600_000, '3 d ago'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});
