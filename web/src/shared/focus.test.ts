import { describe, expect, it } from 'vitest';
import { focusFrame, FocusSync, FOCUS_DEBOUNCE_MS } from './focus';

class Timers {
  now = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  set = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  };
  clear = (h: unknown): void => {
    this.timers.delete(h as number);
  };
  get pending(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
}

function setup(accept = true) {
  const timers = new Timers();
  const sent: string[] = [];
  let changes = 0;
  const ctl = { accept };
  const focus = new FocusSync({
    send: (t) => {
      if (!ctl.accept) return false;
      sent.push(t);
      return true;
    },
    setTimer: timers.set,
    clearTimer: timers.clear,
    onChange: () => changes++,
  });
  return { focus, timers, sent, ctl, changes: () => changes };
}

const F = (id: number | string) => JSON.stringify({ type: 'focus', courier: id });
const CLEAR = '{"type":"focus"}';

describe('focusFrame', () => {
  it('keeps the id as the server sent it (number or string)', () => {
    expect(focusFrame(10)).toBe('{"type":"focus","courier":10}');
    expect(focusFrame('c-9')).toBe('{"type":"focus","courier":"c-9"}');
    expect(focusFrame(null)).toBe(CLEAR);
  });
});

describe('FocusSync', () => {
  it('sends a selection after the debounce, once', () => {
    const { focus, timers, sent } = setup();
    focus.opened();
    expect(sent).toEqual([]); // nothing wanted: a new socket is unfocused already
    focus.set(7);
    expect(sent).toEqual([]);
    expect(focus.state().synced).toBe(false);
    timers.advance(FOCUS_DEBOUNCE_MS - 1);
    expect(sent).toEqual([]);
    timers.advance(1);
    expect(sent).toEqual([F(7)]);
    expect(focus.state()).toMatchObject({ wanted: 7, told: '7', open: true, synced: true, sent: 1 });
    focus.set(7); // the same again: nothing
    focus.set('7'); // ids 7 and "7" are the same courier
    timers.advance(1000);
    expect(sent).toEqual([F(7)]);
  });

  it('sends only the last of quick changes, and nothing for select-then-deselect', () => {
    const { focus, timers, sent } = setup();
    focus.opened();
    focus.set(1);
    timers.advance(50);
    focus.set(2);
    timers.advance(50);
    focus.set(3);
    timers.advance(FOCUS_DEBOUNCE_MS);
    expect(sent).toEqual([F(3)]);
    focus.set(4);
    focus.set(3); // back to what the server holds
    timers.advance(FOCUS_DEBOUNCE_MS);
    expect(sent).toEqual([F(3)]);
    focus.set(null);
    timers.advance(FOCUS_DEBOUNCE_MS);
    expect(sent).toEqual([F(3), CLEAR]);
    focus.set(5);
    focus.set(null);
    timers.advance(FOCUS_DEBOUNCE_MS);
    expect(sent).toEqual([F(3), CLEAR]);
  });

  it('sends nothing while closed and the wanted focus on every open', () => {
    const { focus, timers, sent } = setup();
    focus.set('c-9'); // before the first open
    timers.advance(1000);
    expect(sent).toEqual([]);
    expect(timers.pending).toBe(0);
    focus.opened();
    expect(sent).toEqual(['{"type":"focus","courier":"c-9"}']); // at once, no debounce
    focus.closed();
    expect(focus.state()).toMatchObject({ open: false, told: null, synced: false });
    focus.opened(); // reconnect: the new socket is told again
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBe(sent[0]);
  });

  it('a change pending when the socket closes is sent on the next open, once', () => {
    const { focus, timers, sent } = setup();
    focus.opened();
    focus.set(1);
    timers.advance(FOCUS_DEBOUNCE_MS);
    focus.set(2);
    focus.closed(); // before the debounce ends
    timers.advance(1000);
    expect(sent).toEqual([F(1)]);
    focus.opened();
    expect(sent).toEqual([F(1), F(2)]);
    timers.advance(1000);
    expect(sent).toEqual([F(1), F(2)]);
  });

  it('deselecting while disconnected sends nothing on the next open', () => {
    const { focus, timers, sent } = setup();
    focus.opened();
    focus.set(1);
    timers.advance(FOCUS_DEBOUNCE_MS);
    focus.closed();
    focus.set(null);
    focus.opened();
    timers.advance(1000);
    expect(sent).toEqual([F(1)]); // the new socket never knew courier 1
  });

  it('a send that fails is not counted as told', () => {
    const { focus, timers, sent, ctl } = setup(false);
    focus.opened();
    focus.set(1);
    timers.advance(FOCUS_DEBOUNCE_MS);
    expect(sent).toEqual([]);
    expect(focus.state()).toMatchObject({ told: null, synced: false, sent: 0 });
    ctl.accept = true;
    focus.opened();
    expect(sent).toEqual([F(1)]);
  });

  it('never sends a frame over 4 KiB', () => {
    const { focus, timers, sent } = setup();
    focus.opened();
    focus.set('x'.repeat(5000));
    timers.advance(FOCUS_DEBOUNCE_MS);
    expect(sent).toEqual([]);
  });

  it('is synced again, and says so, when a change is undone within the debounce', () => {
    const { focus, timers, sent, changes } = setup();
    focus.opened();
    focus.set(1);
    timers.advance(FOCUS_DEBOUNCE_MS);
    focus.set(2);
    focus.set(1);
    expect(focus.state().synced).toBe(false); // the debounce runs
    const before = changes();
    timers.advance(FOCUS_DEBOUNCE_MS);
    expect(focus.state().synced).toBe(true);
    expect(changes()).toBeGreaterThan(before);
    expect(sent).toEqual([F(1)]);
  });

  it('tells its listener about changes', () => {
    const { focus, timers, changes } = setup();
    const before = changes();
    focus.opened();
    focus.set(1);
    timers.advance(FOCUS_DEBOUNCE_MS);
    expect(changes()).toBeGreaterThanOrEqual(before + 3);
  });
});
