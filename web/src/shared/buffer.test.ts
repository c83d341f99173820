import { describe, expect, it } from 'vitest';
import { UpdateBuffer } from './buffer';
import type { Location } from './protocol';

const at = (id: number | string, lat: number, ts?: number): Location => ({
  latitude: lat,
  longitude: 51,
  user: { id },
  ...(ts !== undefined ? { ts } : {}),
});

describe('UpdateBuffer', () => {
  it('returns null when nothing arrived', () => {
    expect(new UpdateBuffer().drain()).toBeNull();
  });

  it('keeps only the newest location per courier', () => {
    const b = new UpdateBuffer();
    b.push({ type: 'locations', locations: [at(1, 1, 100), at(2, 2, 100)] });
    b.push({ type: 'locations', locations: [at(1, 3, 200)] });
    const batch = b.drain();
    expect(batch?.messages).toBe(2);
    expect(batch?.updates.map((l) => [l.user.id, l.latitude])).toEqual([
      [2, 2],
      [1, 3],
    ]);
    expect(b.drain()).toBeNull();
  });

  it('does not let an older ts replace a newer one', () => {
    const b = new UpdateBuffer();
    b.push({ type: 'locations', locations: [at(1, 5, 200), at(1, 4, 100)] });
    expect(b.drain()?.updates.map((l) => l.latitude)).toEqual([5]);
  });

  it('treats ids 7 and "7" as one courier', () => {
    const b = new UpdateBuffer();
    b.push({ type: 'locations', locations: [at(7, 1), at('7', 2)] });
    expect(b.drain()?.updates.map((l) => l.latitude)).toEqual([2]);
  });

  it('drops what was buffered before a snapshot', () => {
    const b = new UpdateBuffer();
    b.push({ type: 'locations', locations: [at(1, 1)] });
    b.push({ type: 'status', couriers: [{ id: 1, state: 'stale' }] });
    b.push({ type: 'snapshot', locations: [at(2, 2)] });
    b.push({ type: 'locations', locations: [at(3, 3)] });
    const batch = b.drain();
    expect(batch?.snapshot?.map((l) => l.user.id)).toEqual([2]);
    expect(batch?.updates.map((l) => l.user.id)).toEqual([3]);
    expect(batch?.statuses).toEqual([]);
  });

  it('stays bounded by the number of couriers under a flood', () => {
    const b = new UpdateBuffer();
    for (let i = 0; i < 10_000; i++) b.push({ type: 'locations', locations: [at(i % 50, i)] });
    const batch = b.drain();
    expect(batch?.updates.length).toBe(50);
    expect(batch?.messages).toBe(10_000);
  });
});
