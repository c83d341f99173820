import { describe, expect, it } from 'vitest';
import { Connection, type AuthCheck, type ConnState, type SocketLike } from './connection';

class FakeSocket implements SocketLike {
  protocol = '';
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  closedWith: number | undefined;
  /** Frames the client sent. */
  sent: string[] = [];
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  close(code?: number): void {
    this.closedWith = code ?? 1005;
  }
  send(data: string): void {
    this.sent.push(data);
  }
  // server side
  open(protocol = 'peyk.v1'): void {
    this.protocol = protocol;
    this.onopen?.({});
  }
  deliver(data: unknown): void {
    this.onmessage?.({ data });
  }
  drop(code = 1006, reason = ''): void {
    this.onerror?.({});
    this.onclose?.({ code, reason });
  }
}

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

function setup(opts: { checkAuth?: () => Promise<AuthCheck>; token?: () => string } = {}) {
  const timers = new Timers();
  const sockets: FakeSocket[] = [];
  const states: ConnState[] = [];
  const messages: string[] = [];
  const conn = new Connection({
    url: () => `ws://h/ws?token=${opts.token ? opts.token() : 't'}`,
    protocols: ['peyk.v1'],
    createSocket: (url, protocols) => {
      const s = new FakeSocket(url, protocols);
      sockets.push(s);
      return s;
    },
    setTimer: timers.set,
    clearTimer: timers.clear,
    random: () => 1, // no jitter: delays are 500, 1000, 2000, ...
    connectTimeoutMs: 5000,
    ...(opts.checkAuth ? { checkAuth: opts.checkAuth } : {}),
  });
  conn.onState((s) => states.push(s));
  conn.onMessage((m) => messages.push(m));
  const last = (): FakeSocket => sockets[sockets.length - 1]!;
  return { conn, timers, sockets, states, messages, last };
}

const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('Connection', () => {
  it('connects with the subprotocol and goes live', () => {
    const { conn, sockets, states, last } = setup();
    conn.start();
    expect(sockets).toHaveLength(1);
    expect(last().url).toBe('ws://h/ws?token=t');
    expect(last().protocols).toEqual(['peyk.v1']);
    expect(states).toEqual(['connecting']);
    last().open();
    expect(conn.state).toBe('live');
    expect(conn.protocol).toBe('peyk.v1');
  });

  it('passes text frames on and ignores binary ones', () => {
    const { conn, messages, last } = setup();
    conn.start();
    last().open();
    last().deliver('{"type":"snapshot","locations":[]}');
    last().deliver(new ArrayBuffer(4));
    expect(messages).toEqual(['{"type":"snapshot","locations":[]}']);
  });

  it('reconnects with capped exponential backoff after drops', () => {
    const { conn, timers, sockets, last } = setup();
    conn.start();
    last().open();
    last().drop(1006);
    expect(conn.state).toBe('reconnecting');
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      delays.push(conn.nextRetryMs!);
      const before = sockets.length;
      timers.advance(conn.nextRetryMs! - 1);
      expect(sockets.length).toBe(before);
      timers.advance(1);
      expect(sockets.length).toBe(before + 1);
      last().drop(1006); // fails before open
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });

  it('resets the backoff after a successful open', () => {
    const { conn, timers, last } = setup();
    conn.start();
    last().drop();
    timers.advance(500);
    last().drop();
    expect(conn.nextRetryMs).toBe(1000);
    timers.advance(1000);
    last().open();
    expect(conn.state).toBe('live');
    last().drop(1001);
    expect(conn.nextRetryMs).toBe(500);
  });

  it('is signed out on close code 4001 and does not retry', () => {
    const { conn, timers, sockets, last } = setup();
    conn.start();
    last().open();
    last().drop(4001, 'token expired');
    expect(conn.state).toBe('signed-out');
    timers.advance(60_000);
    expect(sockets).toHaveLength(1);
  });

  it('start() leaves signed-out with the new token', () => {
    let token = 'old';
    const { conn, last } = setup({ token: () => token });
    conn.start();
    last().open();
    last().drop(4001);
    token = 'new';
    conn.start();
    expect(conn.state).toBe('connecting');
    expect(last().url).toBe('ws://h/ws?token=new');
  });

  it('asks checkAuth after repeated failures before open, and signs out on unauthorized', async () => {
    let probes = 0;
    const { conn, timers, last } = setup({
      checkAuth: () => {
        probes++;
        return Promise.resolve('unauthorized');
      },
    });
    conn.start();
    last().drop();
    timers.advance(500);
    last().drop();
    expect(probes).toBe(0);
    timers.advance(1000);
    last().drop();
    expect(probes).toBe(1);
    await flush();
    expect(conn.state).toBe('signed-out');
    const n = timers.pending;
    expect(n).toBe(0);
  });

  it('keeps reconnecting when the probe cannot tell', async () => {
    const { conn, timers, sockets, last } = setup({ checkAuth: () => Promise.resolve('unknown') });
    conn.start();
    for (let i = 0; i < 4; i++) {
      last().drop();
      await flush();
      timers.advance(conn.nextRetryMs ?? 0);
    }
    expect(conn.state).toBe('reconnecting');
    expect(sockets.length).toBe(5);
  });

  it('does not probe after a drop of an open connection', () => {
    let probes = 0;
    const { conn, timers, last } = setup({
      checkAuth: () => {
        probes++;
        return Promise.resolve('unauthorized');
      },
    });
    conn.start();
    for (let i = 0; i < 5; i++) {
      last().open();
      last().drop();
      timers.advance(conn.nextRetryMs!);
    }
    expect(probes).toBe(0);
  });

  it('abandons an attempt that never opens', () => {
    const { conn, timers, sockets, last } = setup();
    conn.start();
    const first = last();
    timers.advance(5000);
    expect(first.closedWith).toBeDefined();
    expect(conn.state).toBe('reconnecting');
    timers.advance(500);
    expect(sockets.length).toBe(2);
  });

  it('stop() closes the socket and cancels the retry', () => {
    const { conn, timers, sockets, last } = setup();
    conn.start();
    last().open();
    const s = last();
    conn.stop();
    expect(s.closedWith).toBe(1000);
    expect(conn.state).toBe('stopped');
    s.drop(1000); // late events of the old socket are ignored
    timers.advance(60_000);
    expect(sockets).toHaveLength(1);
    expect(conn.state).toBe('stopped');
  });

  it('reconnectNow() skips the wait', () => {
    const { conn, timers, sockets, last } = setup();
    conn.start();
    last().open();
    last().drop();
    timers.advance(100);
    conn.reconnectNow();
    expect(sockets).toHaveLength(2);
    expect(timers.pending).toBe(1); // only the connect timeout
  });

  it('treats a socket constructor that throws as a failed attempt', () => {
    const timers = new Timers();
    let calls = 0;
    const conn = new Connection({
      url: () => 'bad',
      protocols: [],
      createSocket: () => {
        calls++;
        throw new Error('SyntaxError');
      },
      setTimer: timers.set,
      clearTimer: timers.clear,
      random: () => 1,
    });
    conn.start();
    expect(conn.state).toBe('reconnecting');
    timers.advance(500);
    expect(calls).toBe(2);
  });

  it('send() writes to the open socket only, and onOpen fires on every open', () => {
    const { conn, timers, sockets, last } = setup();
    let opens = 0;
    conn.onOpen(() => opens++);
    expect(conn.send('x')).toBe(false); // stopped
    conn.start();
    expect(conn.send('x')).toBe(false); // connecting: nothing queued
    last().open();
    expect(opens).toBe(1);
    expect(conn.send('{"type":"focus"}')).toBe(true);
    expect(last().sent).toEqual(['{"type":"focus"}']);
    last().drop();
    expect(conn.send('y')).toBe(false); // reconnecting
    timers.advance(500);
    last().open();
    expect(opens).toBe(2);
    expect(conn.send('z')).toBe(true);
    expect(sockets[0]!.sent).toEqual(['{"type":"focus"}']);
    expect(sockets[1]!.sent).toEqual(['z']);
    conn.stop();
    expect(conn.send('w')).toBe(false);
  });

  it('send() reports a socket that throws as not sent', () => {
    const { conn, last } = setup();
    conn.start();
    last().open();
    last().send = () => {
      throw new Error('InvalidStateError');
    };
    expect(conn.send('x')).toBe(false);
  });
});
