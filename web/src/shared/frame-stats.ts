// Frame-time measurement for the benchmark hook window.peyk.frameStats(). No DOM here.

export interface Distribution {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface FrameStatsSummary {
  /** Frames recorded since the last reset (the distributions cover the last `window`). */
  frames: number;
  window: number;
  /** Time this page's own code spent per frame (apply updates, move markers, list). */
  work: Distribution;
  /** Time between consecutive animation frames (includes layout/paint/GC): 16.7 ms at 60 Hz. */
  interval: Distribution;
  /** Frames whose interval exceeded 50 ms (a "long frame"). */
  longFrames: number;
  /** Frames whose own work exceeded 16 ms. */
  workOver16ms: number;
  /** Messages and locations applied since the last reset. */
  messages: number;
  locations: number;
}

function distribution(values: number[]): Distribution {
  if (values.length === 0) return { count: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const sum = sorted.reduce((a, b) => a + b, 0);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    count: sorted.length,
    mean: round(sum / sorted.length),
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1] ?? 0),
  };
}

/** Keeps the last `capacity` values. */
class Ring {
  values: number[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  push(v: number): void {
    if (this.values.length < this.capacity) {
      this.values.push(v);
    } else {
      this.values[this.next] = v;
      this.next = (this.next + 1) % this.capacity;
    }
  }
}

/** Ring buffers of the last `capacity` frames. */
export class FrameStats {
  private work: Ring;
  private interval: Ring;
  private frames = 0;
  private longFrames = 0;
  private workOver16 = 0;
  private messages = 0;
  private locations = 0;

  constructor(private readonly capacity = 1200) {
    this.work = new Ring(capacity);
    this.interval = new Ring(capacity);
  }

  /** @param intervalMs time since the previous frame, or null for the first frame */
  record(workMs: number, intervalMs: number | null): void {
    this.frames++;
    if (workMs > 16) this.workOver16++;
    if (intervalMs !== null && intervalMs > 50) this.longFrames++;
    this.work.push(workMs);
    if (intervalMs !== null) this.interval.push(intervalMs);
  }

  countMessages(messages: number, locations: number): void {
    this.messages += messages;
    this.locations += locations;
  }

  reset(): void {
    this.work = new Ring(this.capacity);
    this.interval = new Ring(this.capacity);
    this.frames = 0;
    this.longFrames = 0;
    this.workOver16 = 0;
    this.messages = 0;
    this.locations = 0;
  }

  summary(): FrameStatsSummary {
    return {
      frames: this.frames,
      window: this.work.values.length,
      work: distribution(this.work.values),
      interval: distribution(this.interval.values),
      longFrames: this.longFrames,
      workOver16ms: this.workOver16,
      messages: this.messages,
      locations: this.locations,
    };
  }
}
