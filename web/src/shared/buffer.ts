// Collects parsed messages between two animation frames so that a burst of frames costs
// one store update and one render. Keeps only the newest location per courier (the page
// would draw only that one anyway), so a hidden tab — where requestAnimationFrame does
// not run — holds at most one entry per courier, not an unbounded backlog.
import { courierKey, type CourierStatus, type Location, type ServerMessage } from './protocol';

export interface Batch {
  /** Set when a snapshot arrived: the store is replaced by these before `updates` apply. */
  snapshot: Location[] | null;
  /** Newest location per courier, received after the snapshot (if any). */
  updates: Location[];
  statuses: CourierStatus[];
  /** Number of messages folded into this batch. */
  messages: number;
}

export class UpdateBuffer {
  private snapshot: Location[] | null = null;
  private updates = new Map<string, Location>();
  private statuses = new Map<string, CourierStatus>();
  private messages = 0;

  push(msg: ServerMessage): void {
    this.messages++;
    switch (msg.type) {
      case 'snapshot':
        // A snapshot replaces everything: what was buffered before it is obsolete.
        this.snapshot = msg.locations;
        this.updates.clear();
        this.statuses.clear();
        break;
      case 'locations':
        for (const loc of msg.locations) {
          const key = courierKey(loc.user.id);
          const prev = this.updates.get(key);
          if (prev && prev.ts !== undefined && loc.ts !== undefined && loc.ts < prev.ts) continue;
          // Delete first so that the Map keeps arrival order of the newest point.
          this.updates.delete(key);
          this.updates.set(key, loc);
        }
        break;
      case 'status':
        for (const s of msg.couriers) this.statuses.set(courierKey(s.id), s);
        break;
    }
  }

  get pending(): number {
    return this.messages;
  }

  /** Hands over what was collected and empties the buffer; null when nothing arrived. */
  drain(): Batch | null {
    if (this.messages === 0) return null;
    const batch: Batch = {
      snapshot: this.snapshot,
      updates: [...this.updates.values()],
      statuses: [...this.statuses.values()],
      messages: this.messages,
    };
    this.snapshot = null;
    this.updates = new Map();
    this.statuses = new Map();
    this.messages = 0;
    return batch;
  }

  clear(): void {
    this.drain();
  }
}
