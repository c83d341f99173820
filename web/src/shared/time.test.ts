import { describe, expect, it } from 'vitest';
import {
  formatRfc3339Us,
  HOUR_MS,
  localDateString,
  localDayRange,
  localTimeString,
  parseRfc3339Us,
  splitWindows,
  startOfLocalDay,
} from './time';

describe('parseRfc3339Us', () => {
  const base = Date.UTC(2026, 10, 28, 12, 0, 0) * 1000;
  it('reads UTC times with any number of fraction digits, to the microsecond', () => {
    expect(parseRfc3339Us('2026-11-28T12:00:00Z')).toBe(base);
    expect(parseRfc3339Us('2026-11-28T12:00:00.5Z')).toBe(base + 500_000);
    expect(parseRfc3339Us('2026-11-28T12:00:00.123Z')).toBe(base + 123_000);
    expect(parseRfc3339Us('2026-11-28T12:00:00.123456Z')).toBe(base + 123_456);
    // beyond µs: cut, as the server does
    expect(parseRfc3339Us('2026-11-28T12:00:00.1234569Z')).toBe(base + 123_456);
  });
  it('applies offsets', () => {
    expect(parseRfc3339Us('2026-11-28T15:30:00+03:30')).toBe(base);
    expect(parseRfc3339Us('2026-11-28T07:00:00-05:00')).toBe(base);
  });
  it('refuses what is not a time', () => {
    for (const s of ['', 'now', '2026-11-28', '2026-11-28T12:00Z', '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z',
      '2026-11-28T24:00:00Z', '2026-11-28T12:00:00', '2026-11-28T12:00:00.Z']) {
      expect(parseRfc3339Us(s), s).toBeNull();
    }
  });
  it('round-trips through formatRfc3339Us', () => {
    for (const us of [base, base + 1, base + 123_456, base + 999_999]) {
      expect(parseRfc3339Us(formatRfc3339Us(us))).toBe(us);
    }
    expect(formatRfc3339Us(base)).toBe('2026-11-28T12:00:00.000Z');
    expect(formatRfc3339Us(base + 123_456)).toBe('2026-11-28T12:00:00.123456Z');
  });
});

describe('splitWindows', () => {
  it('cuts a range into windows of at most maxMs, consecutive and covering it', () => {
    const from = Date.UTC(2026, 10, 28, 9, 0);
    const w = splitWindows(from, from + 2.5 * HOUR_MS, HOUR_MS);
    expect(w).toEqual([
      { from, to: from + HOUR_MS },
      { from: from + HOUR_MS, to: from + 2 * HOUR_MS },
      { from: from + 2 * HOUR_MS, to: from + 2.5 * HOUR_MS },
    ]);
  });
  it('exact multiples give whole windows; a short range one window', () => {
    expect(splitWindows(0, 3 * HOUR_MS, HOUR_MS)).toHaveLength(3);
    expect(splitWindows(0, 3 * HOUR_MS, HOUR_MS).every((x) => x.to - x.from === HOUR_MS)).toBe(true);
    expect(splitWindows(10, 20, HOUR_MS)).toEqual([{ from: 10, to: 20 }]);
  });
  it('a whole day is 24 windows, none longer than the maximum', () => {
    const w = splitWindows(0, 24 * HOUR_MS, HOUR_MS);
    expect(w).toHaveLength(24);
    for (let i = 1; i < w.length; i++) expect(w[i]!.from).toBe(w[i - 1]!.to);
    expect(Math.max(...w.map((x) => x.to - x.from))).toBeLessThanOrEqual(HOUR_MS);
  });
  it('an empty or reversed range has no windows; maxMs must be positive', () => {
    expect(splitWindows(5, 5, HOUR_MS)).toEqual([]);
    expect(splitWindows(6, 5, HOUR_MS)).toEqual([]);
    expect(() => splitWindows(0, 10, 0)).toThrow(RangeError);
  });
});

describe('local days', () => {
  it('localDayRange: a day and two times, local time', () => {
    const r = localDayRange('2026-11-28', '09:30', '11:00');
    expect(r).toEqual({ ok: true, from: new Date(2026, 10, 28, 9, 30).getTime(), to: new Date(2026, 10, 28, 11, 0).getTime() });
    const s = localDayRange('2026-11-28', '09:30:15', '24:00');
    expect(s).toEqual({ ok: true, from: new Date(2026, 10, 28, 9, 30, 15).getTime(), to: new Date(2026, 10, 29).getTime() });
  });
  it('localDayRange: refuses a bad day, bad times and an empty range', () => {
    expect(localDayRange('', '09:00', '10:00').ok).toBe(false);
    expect(localDayRange('2026-02-30', '09:00', '10:00').ok).toBe(false);
    expect(localDayRange('2026-11-28', '9h', '10:00').ok).toBe(false);
    expect(localDayRange('2026-11-28', '09:00', '25:00').ok).toBe(false);
    expect(localDayRange('2026-11-28', '24:00', '24:00').ok).toBe(false);
    const r = localDayRange('2026-11-28', '10:00', '09:00');
    expect(r).toEqual({ ok: false, error: 'The end must be after the start.' });
  });
  it('strings for date and time inputs, and the local midnight', () => {
    const t = new Date(2026, 0, 5, 7, 4, 9).getTime();
    expect(localDateString(t)).toBe('2026-01-05');
    expect(localTimeString(t)).toBe('07:04');
    expect(localTimeString(t, true)).toBe('07:04:09');
    expect(startOfLocalDay(t)).toBe(new Date(2026, 0, 5).getTime());
  });
});
