// What both pages share: a connection whose frames are parsed into a buffer, which the
// page's frame loop drains into the courier store once per animation frame.
import { UpdateBuffer, type Batch } from '../shared/buffer';
import type { Connection } from '../shared/connection';
import { parseServerMessage, parseServerValue, type ParseResult, type ServerMessage } from '../shared/protocol';
import { CourierStore, type ChangeSet } from '../shared/store';
import type { TokenKeeper } from '../shared/token';
import { browserConnection } from './browser';

export class Viewer {
  readonly store = new CourierStore();
  readonly buffer = new UpdateBuffer();
  readonly conn: Connection;
  /** Frames that were not valid JSON or not a known message. */
  badFrames = 0;
  /** Invalid locations left out of otherwise valid frames. */
  droppedItems = 0;
  frames = 0;
  lastFrameAt = 0;
  private messageListeners: Array<(msg: ServerMessage) => void> = [];

  constructor(readonly keeper: TokenKeeper) {
    this.conn = browserConnection(() => keeper.get());
    this.conn.onMessage((data) => this.accept(parseServerMessage(data)));
  }

  /**
   * Every valid message as it arrives, before the buffer keeps only the newest point per
   * courier: what needs every point (a trail) listens here.
   */
  onMessage(fn: (msg: ServerMessage) => void): void {
    this.messageListeners.push(fn);
  }

  /** Feeds a frame as if the server had sent it (tests and benchmarks: window.peyk.inject). */
  inject(frame: string | object): void {
    this.accept(typeof frame === 'string' ? parseServerMessage(frame) : parseServerValue(frame));
  }

  /** Applies what arrived since the last call; null when nothing did. */
  drain(now: number): { batch: Batch; changes: ChangeSet } | null {
    const batch = this.buffer.drain();
    if (!batch) return null;
    return { batch, changes: this.store.apply(batch, now) };
  }

  private accept(r: ParseResult): void {
    this.frames++;
    this.lastFrameAt = Date.now();
    this.droppedItems += r.dropped;
    if (r.message) {
      this.buffer.push(r.message);
      for (const fn of this.messageListeners) {
        try {
          fn(r.message);
        } catch (err) {
          console.error('peyk: message listener failed', err);
        }
      }
    } else {
      this.badFrames++;
      if (this.badFrames <= 10) console.warn('peyk: ignored frame:', r.error);
    }
  }
}
