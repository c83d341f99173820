import { describe, expect, it } from 'vitest';
import { positionAt, positionsAt, REPLAY_SPEEDS, ReplayBuilder, ReplayClock, tracksSpan, type ReplayTrack } from './replay';
import type { ReplayCourier } from './track';

const courier = (id: string, pts: Array<[number, number, number]>, name = `n${id}`): ReplayCourier => ({
  id, name, points: pts.map(([ms, lat, lng]) => ({ tUs: ms * 1000, lat, lng })),
});

function track(pts: Array<[number, number, number]>): ReplayTrack {
  const b = new ReplayBuilder();
  b.add([courier('x', pts)]);
  return b.build()[0]!;
}

describe('ReplayBuilder', () => {
  it('joins pages and windows per courier, sorted, one point per time', () => {
    const b = new ReplayBuilder();
    b.add([courier('2', [[3000, 3, 3]]), courier('10', [[1000, 1, 1], [2000, 2, 2]])]);
    b.add([courier('10', [[4000, 4, 4], [2000, 2, 2]]), courier('2', [[1000, 1, 1]])]);
    b.add([courier('3', [])]);
    expect(b.points).toBe(6);
    const tr = b.build();
    expect(tr.map((t) => t.id)).toEqual(['2', '10']); // numeric order; no points: left out
    expect([...tr[1]!.t]).toEqual([1000, 2000, 4000]);
    expect([...tr[1]!.lat]).toEqual([1, 2, 4]);
    expect([...tr[0]!.t]).toEqual([1000, 3000]);
    expect(tracksSpan(tr)).toEqual({ from: 1000, to: 4000 });
    expect(tracksSpan([])).toBeNull();
  });
});

describe('positionAt', () => {
  const tr = track([[1000, 35.0, 51.0], [3000, 35.2, 51.4], [4000, 35.2, 51.4]]);
  it('is hidden before the first point', () => {
    expect(positionAt(tr, 999)).toBeNull();
    expect(positionAt(tr, Number.NaN)).toBeNull();
  });
  it('is exact on a point and interpolated between two', () => {
    expect(positionAt(tr, 1000)).toEqual({ lat: 35.0, lng: 51.0, held: false });
    const mid = positionAt(tr, 2000)!;
    expect(mid.lat).toBeCloseTo(35.1, 10);
    expect(mid.lng).toBeCloseTo(51.2, 10);
    const q = positionAt(tr, 1500)!;
    expect(q.lat).toBeCloseTo(35.05, 10);
    expect(q.lng).toBeCloseTo(51.1, 10);
    expect(positionAt(tr, 3000)).toEqual({ lat: 35.2, lng: 51.4, held: false });
  });
  it('is held at the last point after it', () => {
    expect(positionAt(tr, 4000)).toEqual({ lat: 35.2, lng: 51.4, held: false });
    expect(positionAt(tr, 1e12)).toEqual({ lat: 35.2, lng: 51.4, held: true });
  });
  it('holds across a gap longer than maxGapMs', () => {
    const gap = track([[0, 1, 1], [600_000, 2, 2]]);
    expect(positionAt(gap, 300_000)!.lat).toBeCloseTo(1.5, 10);
    expect(positionAt(gap, 300_000, { maxGapMs: 120_000 })).toEqual({ lat: 1, lng: 1, held: true });
  });
  it('a single point: hidden before, there from its time on', () => {
    const one = track([[5000, 1, 2]]);
    expect(positionAt(one, 4999)).toBeNull();
    expect(positionAt(one, 5000)).toEqual({ lat: 1, lng: 2, held: false });
    expect(positionsAt([one, tr], 2000).map((p) => p && p.lat)).toEqual([null, expect.closeTo(35.1, 10)]);
  });
});

describe('ReplayClock', () => {
  it('starts paused at `from`; plays at speed × wall time', () => {
    const c = new ReplayClock(10_000, 100_000);
    expect(c.time(0)).toBe(10_000);
    expect(c.playing).toBe(false);
    c.play(1000);
    expect(c.time(1000)).toBe(10_000);
    expect(c.time(3000)).toBe(12_000);
    c.setSpeed(10, 3000);
    expect(c.time(4000)).toBe(22_000);
    c.pause(5000);
    expect(c.time(9000)).toBe(32_000);
    c.play(9000);
    expect(c.time(10_000)).toBe(42_000);
  });
  it('seek moves the time, clamped to the range, and keeps playing', () => {
    const c = new ReplayClock(0, 60_000);
    c.seek(30_000, 0);
    expect(c.time(500)).toBe(30_000);
    c.play(1000);
    c.seek(-5, 2000);
    expect(c.time(2000)).toBe(0);
    expect(c.time(3000)).toBe(1000);
    c.seek(1e9, 3000);
    expect(c.time(3000)).toBe(60_000);
  });
  it('stops at `to`; play from the end starts over', () => {
    const c = new ReplayClock(0, 10_000);
    c.setSpeed(60, 0);
    c.play(0);
    expect(c.tick(100)).toBe(6000);
    expect(c.playing).toBe(true);
    expect(c.tick(1000)).toBe(10_000);
    expect(c.playing).toBe(false);
    expect(c.time(5000)).toBe(10_000);
    c.play(6000);
    expect(c.time(6000)).toBe(0);
  });
  it('speeds are 1, 2, 5, 10, 30, 60; others must be positive', () => {
    expect([...REPLAY_SPEEDS]).toEqual([1, 2, 5, 10, 30, 60]);
    const c = new ReplayClock(0, 1);
    expect(() => c.setSpeed(0, 0)).toThrow(RangeError);
    expect(() => new ReplayClock(2, 1)).toThrow(RangeError);
  });
});
