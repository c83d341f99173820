// The viewer's focus (PROTOCOL.md §10, §11): the courier the panel has selected is sent
// to the server as `{"type":"focus","courier":ID}`, a deselect as `{"type":"focus"}`, so
// that the server may ask that courier's app for more frequent points. No DOM here.
//
// - One frame per change at most: changes are debounced (a quick A → B → C sends only
//   C; select then deselect within the debounce sends nothing) and a frame is sent only
//   when the wanted focus differs from what this socket was last told.
// - A new socket starts unfocused (the server keeps no focus across connections): on
//   open the wanted focus, if any, is sent again.
// - Nothing waits for an answer: a server that ignores client frames is fine.
import type { CourierId } from './protocol';

/** Client → server frames are at most 4 KiB (PROTOCOL.md §11). */
export const MAX_CLIENT_FRAME_BYTES = 4096;
export const FOCUS_DEBOUNCE_MS = 150;

export interface FocusOptions {
  /** Sends one text frame on the open socket; false when there is none (nothing sent). */
  send: (text: string) => boolean;
  setTimer: (fn: () => void, ms: number) => unknown;
  clearTimer: (handle: unknown) => void;
  debounceMs?: number;
  /** Told whenever `state()` may have changed. */
  onChange?: () => void;
}

/** The focus frame for `id`, or the clearing frame for null. */
export function focusFrame(id: CourierId | null): string {
  return id === null ? JSON.stringify({ type: 'focus' }) : JSON.stringify({ type: 'focus', courier: id });
}

const keyOf = (id: CourierId | null): string | null => (id === null ? null : String(id));

export interface FocusState {
  /** The courier the page wants focused (its id as the server sent it), or null. */
  wanted: CourierId | null;
  /** What the current socket was last told: a courier key, or null (nothing / cleared). */
  told: string | null;
  /** Whether a socket is open. */
  open: boolean;
  /** True when the open socket has been told the wanted focus. */
  synced: boolean;
  /** Focus frames sent since the page started. */
  sent: number;
}

export class FocusSync {
  private wanted: CourierId | null = null;
  private told: string | null = null;
  private open = false;
  private timer: unknown = null;
  private sent = 0;

  constructor(private readonly opts: FocusOptions) {}

  /** The page selected courier `id` (null: deselected). Sent after the debounce. */
  set(id: CourierId | null): void {
    if (keyOf(id) === keyOf(this.wanted)) {
      this.wanted = id;
      return;
    }
    this.wanted = id;
    this.cancel();
    if (this.open) {
      this.timer = this.opts.setTimer(() => {
        this.timer = null;
        this.flush();
        this.changed();
      }, this.opts.debounceMs ?? FOCUS_DEBOUNCE_MS);
    }
    this.changed();
  }

  /** A socket opened: it knows no focus yet; tell it the wanted one now. */
  opened(): void {
    this.cancel();
    this.open = true;
    this.told = null;
    this.flush();
    this.changed();
  }

  /** The socket closed: nothing can be sent until the next one opens. */
  closed(): void {
    this.cancel();
    this.open = false;
    this.told = null;
    this.changed();
  }

  state(): FocusState {
    const wanted = keyOf(this.wanted);
    return {
      wanted: this.wanted,
      told: this.told,
      open: this.open,
      synced: this.open && this.told === wanted && this.timer === null,
      sent: this.sent,
    };
  }

  private flush(): void {
    if (!this.open) return;
    const want = keyOf(this.wanted);
    if (want === this.told) return;
    const text = focusFrame(this.wanted);
    if (new TextEncoder().encode(text).length > MAX_CLIENT_FRAME_BYTES) return; // an id no server would take
    if (this.opts.send(text)) {
      this.told = want;
      this.sent++;
    }
  }

  private cancel(): void {
    if (this.timer !== null) this.opts.clearTimer(this.timer);
    this.timer = null;
  }

  private changed(): void {
    this.opts.onChange?.();
  }
}
