import { describe, expect, it } from 'vitest';
import type { TrackPoint } from './track';
import { LiveTrail, mergePoints, Trail } from './trail';

const S = 1_000_000; // µs per second
const pt = (sec: number, lat = sec, tag?: string): TrackPoint => ({ tUs: sec * S, lat, lng: 51, ...(tag ? { fleet: tag } : {}) });
const secs = (pts: readonly TrackPoint[]) => pts.map((p) => p.tUs / S);

describe('mergePoints', () => {
  it('orders by time and keeps one point per time (the held one)', () => {
    const held = [pt(1, 1, 'held'), pt(3, 3, 'held'), pt(5, 5, 'held')];
    const merged = mergePoints(held, [pt(6), pt(3, 3, 'fetched'), pt(2), pt(2), pt(4), pt(0)]);
    expect(secs(merged)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(merged.find((p) => p.tUs === 3 * S)?.fleet).toBe('held');
    expect(mergePoints([], [pt(2), pt(1), pt(2)]).map((p) => p.tUs)).toEqual([S, 2 * S]);
    expect(mergePoints(held, [])).toEqual(held);
  });
});

describe('Trail', () => {
  it('adds live points, also late ones, never twice', () => {
    const t = new Trail();
    expect(t.add(pt(1))).toBe(true);
    expect(t.add(pt(3))).toBe(true);
    expect(t.add(pt(2))).toBe(true); // a buffered point sent late goes in its place
    expect(t.add(pt(3))).toBe(false);
    expect(secs(t.points)).toEqual([1, 2, 3]);
    expect(t.lastUs()).toBe(3 * S);
    const v = t.version;
    expect(t.merge([pt(2), pt(3)])).toBe(0);
    expect(t.version).toBe(v); // nothing new: no redraw
    expect(t.merge([pt(4), pt(0)])).toBe(2);
    expect(secs(t.points)).toEqual([0, 1, 2, 3, 4]);
  });
  it('trims what is older than a time', () => {
    const t = new Trail();
    t.merge([pt(1), pt(2), pt(3), pt(4)]);
    expect(t.trimBefore(3 * S)).toBe(2);
    expect(secs(t.points)).toEqual([3, 4]);
    expect(t.trimBefore(0)).toBe(0);
  });
});

/** A fake history: every point the "server" has; load() answers [from, to) like the API. */
function fakeHistory() {
  const server: TrackPoint[] = [];
  const calls: Array<{ from: number; to: number }> = [];
  let fail: (Error & { retryable?: boolean }) | null = null;
  const pending: Array<() => void> = [];
  let hold = false;
  const load = (from: number, to: number): Promise<TrackPoint[]> => {
    calls.push({ from, to });
    const answer = () => {
      if (fail) throw fail;
      return server.filter((p) => p.tUs >= from && p.tUs < to).map((p) => ({ ...p }));
    };
    if (!hold) return Promise.resolve().then(answer);
    return new Promise((resolve, reject) => pending.push(() => { try { resolve(answer()); } catch (e) { reject(e); } }));
  };
  return {
    server, calls, load,
    failWith: (e: (Error & { retryable?: boolean }) | null) => { fail = e; },
    hold: (h: boolean) => { hold = h; },
    release: () => { for (const f of pending.splice(0)) f(); },
  };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

/** No two consecutive points of the trail further apart than maxSec. */
function maxGapSec(pts: readonly TrackPoint[]): number {
  let g = 0;
  for (let i = 1; i < pts.length; i++) g = Math.max(g, (pts[i]!.tUs - pts[i - 1]!.tUs) / S);
  return g;
}

describe('LiveTrail', () => {
  it('loads the last window, then grows with live points', async () => {
    const h = fakeHistory();
    let now = 1000_000; // ms
    for (let s = 0; s <= 1000; s += 10) h.server.push(pt(s)); // a point every 10 s, 0..1000 s
    const lt = new LiveTrail({ load: h.load, nowMs: () => now, windowMs: 300_000 }); // 5 min
    await lt.start();
    expect(h.calls[0]!.from).toBe(700 * S); // now - 5 min
    expect(secs(lt.trail.points)[0]).toBe(700);
    expect(lt.trail.size).toBe(31);
    expect(lt.loaded).toBe(true);
    now += 1000;
    lt.live(pt(1001));
    expect(lt.trail.lastUs()).toBe(1001 * S);
    lt.live(pt(1001)); // the same point again (snapshot after a reconnect)
    // 1001 in, 700 out (now - 5 min = 701 s)
    expect(secs(lt.trail.points).slice(0, 1)).toEqual([710]);
    expect(lt.trail.size).toBe(31);
    // time passes: the window moves on, old points go
    now += 60_000;
    lt.trim();
    expect(secs(lt.trail.points)[0]).toBeGreaterThanOrEqual(761);
    // a live point older than the window is not drawn
    lt.live(pt(100));
    expect(secs(lt.trail.points)).not.toContain(100);
  });

  it('fills the gap after a reconnect, without duplicates', async () => {
    const h = fakeHistory();
    let now = 100_000;
    for (let s = 0; s <= 100; s++) h.server.push(pt(s));
    const lt = new LiveTrail({ load: h.load, nowMs: () => now, windowMs: 900_000 });
    await lt.start();
    expect(lt.trail.size).toBe(101);
    // Live for 10 s: the server records each point, the socket delivers it.
    for (let s = 101; s <= 110; s++) {
      h.server.push(pt(s));
      lt.live(pt(s));
    }
    now = 110_000;
    // The socket goes down; the server keeps recording 111..140.
    lt.disconnected();
    for (let s = 111; s <= 140; s++) h.server.push(pt(s));
    now = 140_500;
    // Back: the snapshot brings the newest point, and the refetch the ones in between.
    lt.live(pt(140));
    const calls = h.calls.length;
    await lt.reconnected();
    expect(h.calls.length).toBe(calls + 1);
    expect(h.calls.at(-1)!.from).toBe(110 * S); // from the last point held before the drop
    expect(lt.trail.size).toBe(141);
    expect(secs(lt.trail.points)).toEqual(Array.from({ length: 141 }, (_, i) => i));
    expect(maxGapSec(lt.trail.points)).toBe(1);
    expect(new Set(lt.trail.points.map((p) => p.tUs)).size).toBe(lt.trail.size);
  });

  it('live points that arrive while the first load is in flight are kept', async () => {
    const h = fakeHistory();
    const now = 50_000;
    for (let s = 0; s <= 50; s++) h.server.push(pt(s));
    h.hold(true);
    const lt = new LiveTrail({ load: h.load, nowMs: () => now, windowMs: 900_000 });
    const started = lt.start();
    lt.live(pt(50)); // also on the server
    lt.live(pt(51)); // newer than the load
    h.release();
    await started;
    expect(secs(lt.trail.points)).toEqual(Array.from({ length: 52 }, (_, i) => i));
  });

  it('a failed load is retried (503, network) and the gap stays marked until filled', async () => {
    const h = fakeHistory();
    let now = 20_000;
    for (let s = 0; s <= 10; s++) h.server.push(pt(s));
    const timers: Array<{ fn: () => void; ms: number }> = [];
    const errors: unknown[] = [];
    const lt = new LiveTrail({
      load: h.load, nowMs: () => now, windowMs: 900_000,
      setTimer: (fn, ms) => timers.push({ fn, ms }), clearTimer: () => undefined,
      retryMs: 1000, onError: (e) => errors.push(e),
    });
    await lt.start();
    lt.disconnected();
    for (let s = 11; s <= 20; s++) h.server.push(pt(s));
    h.failWith(Object.assign(new Error('history_unavailable'), { retryable: true }));
    await lt.reconnected();
    expect(errors).toHaveLength(1);
    expect(timers.map((t) => t.ms)).toEqual([1000]);
    // The retry fails again: the delay doubles.
    timers.shift()!.fn();
    await flush();
    expect(timers.map((t) => t.ms)).toEqual([2000]);
    // The store is back.
    h.failWith(null);
    now = 21_000;
    timers.shift()!.fn();
    await flush();
    await flush();
    expect(secs(lt.trail.points)).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(lt.lastError).toBeNull();
  });

  it('a refusal (403, 404) is not retried', async () => {
    const h = fakeHistory();
    const timers: unknown[] = [];
    const lt = new LiveTrail({ load: h.load, nowMs: () => 1000, windowMs: 900_000, setTimer: (fn) => timers.push(fn) });
    h.failWith(Object.assign(new Error('forbidden'), { retryable: false }));
    await lt.start();
    expect(timers).toEqual([]);
    expect(lt.loaded).toBe(false);
    // live points still draw
    lt.live(pt(1));
    expect(lt.trail.size).toBe(1);
  });

  it('after stop(), a late answer changes nothing', async () => {
    const h = fakeHistory();
    h.server.push(pt(1), pt(2));
    h.hold(true);
    let changes = 0;
    const lt = new LiveTrail({ load: h.load, nowMs: () => 10_000, windowMs: null, startMs: 0, onChange: () => changes++ });
    const p = lt.start();
    lt.stop();
    h.release();
    await p;
    expect(lt.trail.size).toBe(0);
    expect(changes).toBe(0);
    lt.live(pt(3));
    expect(lt.trail.size).toBe(0);
  });

  it('without a window (an order\'s route) it loads from startMs and keeps everything', async () => {
    const h = fakeHistory();
    for (let s = 0; s <= 5000; s += 1000) h.server.push(pt(s));
    let now = 5_000_000;
    const lt = new LiveTrail({ load: h.load, nowMs: () => now, windowMs: null, startMs: 2_000_000 });
    await lt.start();
    expect(secs(lt.trail.points)).toEqual([2000, 3000, 4000, 5000]);
    now = 100_000_000;
    lt.trim();
    expect(lt.trail.size).toBe(4);
  });

  it('never asks for more than maxSpanMs at once', async () => {
    const h = fakeHistory();
    let now = 10_000;
    const lt = new LiveTrail({ load: h.load, nowMs: () => now, windowMs: null, startMs: 0, aheadMs: 0, maxSpanMs: 5_000 });
    await lt.start();
    expect(h.calls[0]).toEqual({ from: 5000 * 1000, to: 10_000 * 1000 });
    now = 100_000; // nothing held, long after: the gap is from the start, but capped
    lt.disconnected();
    await lt.reconnected();
    expect(h.calls[1]).toEqual({ from: 95_000 * 1000, to: 100_000 * 1000 });
  });
});
