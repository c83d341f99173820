import { describe, expect, it } from 'vitest';
import { FrameStats } from './frame-stats';

describe('FrameStats', () => {
  it('summarises work and interval', () => {
    const s = new FrameStats(100);
    s.record(1, null);
    for (let i = 1; i <= 99; i++) s.record(i === 99 ? 20 : 2, i === 50 ? 80 : 16);
    const r = s.summary();
    expect(r.frames).toBe(100);
    expect(r.work.count).toBe(100);
    expect(r.work.max).toBe(20);
    expect(r.work.p50).toBe(2);
    expect(r.interval.count).toBe(99);
    expect(r.interval.p50).toBe(16);
    expect(r.interval.max).toBe(80);
    expect(r.longFrames).toBe(1);
    expect(r.workOver16ms).toBe(1);
  });

  it('keeps only the last window but counts all frames', () => {
    const s = new FrameStats(10);
    for (let i = 0; i < 25; i++) s.record(i, 16);
    const r = s.summary();
    expect(r.frames).toBe(25);
    expect(r.window).toBe(10);
    expect(r.work.max).toBe(24);
    expect(r.work.p50).toBeGreaterThanOrEqual(15);
  });

  it('resets', () => {
    const s = new FrameStats();
    s.record(5, 16);
    s.countMessages(3, 30);
    s.reset();
    expect(s.summary()).toMatchObject({ frames: 0, messages: 0, locations: 0, work: { count: 0 } });
  });
});
