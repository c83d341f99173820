import { describe, expect, it } from 'vitest';
import { easeOutCubic, interpolate, Tweens } from './tween';

describe('tween', () => {
  it('eases from 0 to 1 and clamps', () => {
    expect(easeOutCubic(0)).toBe(0);
    expect(easeOutCubic(1)).toBe(1);
    expect(easeOutCubic(2)).toBe(1);
    expect(easeOutCubic(-1)).toBe(0);
    expect(easeOutCubic(0.5)).toBeGreaterThan(0.5);
  });

  it('interpolates positions', () => {
    expect(interpolate({ lat: 0, lng: 0 }, { lat: 10, lng: 20 }, 1)).toEqual({ lat: 10, lng: 20 });
    expect(interpolate({ lat: 0, lng: 0 }, { lat: 10, lng: 20 }, 0)).toEqual({ lat: 0, lng: 0 });
  });

  it('steps a tween to its end and removes it', () => {
    const t = new Tweens();
    t.start('a', { lat: 0, lng: 0 }, { lat: 1, lng: 1 }, 0, 100);
    const seen: Array<[number, boolean]> = [];
    t.step(50, (_id, p, done) => seen.push([p.lat, done]));
    t.step(100, (_id, p, done) => seen.push([p.lat, done]));
    expect(seen[0]![1]).toBe(false);
    expect(seen[0]![0]).toBeGreaterThan(0);
    expect(seen[0]![0]).toBeLessThan(1);
    expect(seen[1]).toEqual([1, true]);
    expect(t.size).toBe(0);
  });

  it('retargets from the current position, without a jump', () => {
    const t = new Tweens();
    t.start('a', { lat: 0, lng: 0 }, { lat: 10, lng: 0 }, 0, 100);
    const mid = t.position('a', 50)!;
    t.start('a', { lat: 999, lng: 999 }, { lat: 20, lng: 0 }, 50, 100);
    expect(t.position('a', 50)).toEqual(mid);
    expect(t.target('a')).toEqual({ lat: 20, lng: 0 });
  });

  it('finishes everything at once', () => {
    const t = new Tweens();
    t.start('a', { lat: 0, lng: 0 }, { lat: 1, lng: 1 }, 0);
    t.start('b', { lat: 0, lng: 0 }, { lat: 2, lng: 2 }, 0);
    const ends: string[] = [];
    t.finishAll((id, p) => ends.push(`${id}:${p.lat}`));
    expect(ends).toEqual(['a:1', 'b:2']);
    expect(t.size).toBe(0);
  });
});
