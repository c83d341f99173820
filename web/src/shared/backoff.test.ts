import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff';

describe('backoffDelay', () => {
  it('doubles from 0.5 s up to the 10 s cap (no jitter at random()=1)', () => {
    const d = [0, 1, 2, 3, 4, 5, 6, 10, 100].map((n) => backoffDelay(n, DEFAULT_BACKOFF, () => 1));
    expect(d).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000, 10000, 10000]);
  });

  it('jitters within [delay/2, delay]', () => {
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(250);
    expect(backoffDelay(20, DEFAULT_BACKOFF, () => 0)).toBe(5000);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('never exceeds the cap, even for huge attempts', () => {
    expect(backoffDelay(1e9, DEFAULT_BACKOFF, () => 1)).toBe(10_000);
    expect(backoffDelay(-3, DEFAULT_BACKOFF, () => 1)).toBe(500);
  });
});
