// Short position animations for moving markers. No DOM here; times are performance.now() ms.

export const TWEEN_MS = 600;

export interface LatLng {
  lat: number;
  lng: number;
}

interface Tween {
  from: LatLng;
  to: LatLng;
  start: number;
  duration: number;
}

export function easeOutCubic(t: number): number {
  const u = 1 - Math.min(1, Math.max(0, t));
  return 1 - u * u * u;
}

export function interpolate(from: LatLng, to: LatLng, t: number): LatLng {
  const k = easeOutCubic(t);
  return { lat: from.lat + (to.lat - from.lat) * k, lng: from.lng + (to.lng - from.lng) * k };
}

/** The running animations, keyed by courier. */
export class Tweens {
  private tweens = new Map<string, Tween>();

  get size(): number {
    return this.tweens.size;
  }

  has(id: string): boolean {
    return this.tweens.has(id);
  }

  target(id: string): LatLng | undefined {
    return this.tweens.get(id)?.to;
  }

  /** Where the marker is drawn at `now` (its target when not animating). */
  position(id: string, now: number): LatLng | undefined {
    const t = this.tweens.get(id);
    if (!t) return undefined;
    return interpolate(t.from, t.to, (now - t.start) / t.duration);
  }

  /**
   * Starts (or retargets) a move. A retarget starts from where the marker is drawn now,
   * so a courier that reports twice within one tween never jumps.
   */
  start(id: string, from: LatLng, to: LatLng, now: number, duration = TWEEN_MS): void {
    const running = this.position(id, now);
    this.tweens.set(id, { from: running ?? from, to, start: now, duration });
  }

  cancel(id: string): void {
    this.tweens.delete(id);
  }

  clear(): void {
    this.tweens.clear();
  }

  /** Calls `draw` for every running tween; finished tweens get done=true and are removed. */
  step(now: number, draw: (id: string, pos: LatLng, done: boolean) => void): void {
    for (const [id, t] of this.tweens) {
      const f = (now - t.start) / t.duration;
      if (f >= 1) {
        this.tweens.delete(id);
        draw(id, t.to, true);
      } else {
        draw(id, interpolate(t.from, t.to, f), false);
      }
    }
  }

  /** Ends every tween at once (e.g. before a zoom): calls `draw` with each target. */
  finishAll(draw: (id: string, pos: LatLng) => void): void {
    const all = [...this.tweens];
    this.tweens.clear();
    for (const [id, t] of all) draw(id, t.to);
  }
}
