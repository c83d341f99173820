// One requestAnimationFrame loop per page: incoming messages are buffered and applied
// here, once per frame, so a burst of frames never blocks the page; the loop also
// measures itself for window.peyk.frameStats().
import { FrameStats } from '../shared/frame-stats';

export class FrameLoop {
  readonly stats = new FrameStats();
  private last: number | null = null;
  private running = false;

  constructor(private readonly tick: (now: number) => void) {
    document.addEventListener('visibilitychange', () => {
      // rAF pauses in a hidden tab; the gap is not a slow frame.
      this.last = null;
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    requestAnimationFrame(this.frame);
  }

  private frame = (now: number): void => {
    const t0 = performance.now();
    try {
      this.tick(now);
    } catch (err) {
      console.error('peyk: frame failed', err);
    }
    const work = performance.now() - t0;
    this.stats.record(work, this.last === null ? null : now - this.last);
    this.last = now;
    requestAnimationFrame(this.frame);
  };
}
