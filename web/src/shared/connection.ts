// The viewer's WebSocket connection: connect, reconnect with backoff, tell "signed out"
// apart from "server unreachable". No DOM here: the socket factory and timers are passed
// in, so the state machine is unit-tested with a fake socket.
//
// States:
//   connecting   — first attempt, nothing received yet
//   live         — socket open
//   reconnecting — closed or failed; the next attempt is scheduled
//   signed-out   — the server refused the token (close code 4001 at `exp`, or an auth
//                  probe answered 401/403 after repeated failures before open); no retry
//                  until start() is called again (with a new token)
//   stopped      — stop() was called
//
// A browser cannot see the HTTP 401 of a refused upgrade: it only sees a close (1006)
// before open. So failures before open are retried like any outage, and after
// `authProbeAfter` such failures in a row the optional `checkAuth` probe decides.
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';

export type ConnState = 'connecting' | 'live' | 'reconnecting' | 'signed-out' | 'stopped';

/** Close code the server uses when the viewer's token expires (PROTOCOL.md §5). */
export const CLOSE_TOKEN_EXPIRED = 4001;

/** The part of the browser WebSocket this module uses. */
export interface SocketLike {
  readonly protocol: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number, reason?: string): void;
  send(data: string): void;
}

export type AuthCheck = 'ok' | 'unauthorized' | 'unknown';

export interface ConnectionOptions {
  /** Built for every attempt, so a new token is picked up. */
  url: () => string;
  protocols: string[];
  createSocket: (url: string, protocols: string[]) => SocketLike;
  setTimer: (fn: () => void, ms: number) => unknown;
  clearTimer: (handle: unknown) => void;
  random?: () => number;
  backoff?: BackoffOptions;
  /** An attempt that has not opened after this long is abandoned and retried. */
  connectTimeoutMs?: number;
  /** Asked after this many failures before open in a row (and every time after). */
  authProbeAfter?: number;
  checkAuth?: () => Promise<AuthCheck>;
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** Whether the socket had opened before it closed. */
  opened: boolean;
}

export class Connection {
  private socket: SocketLike | null = null;
  private timer: unknown = null;
  private connectTimer: unknown = null;
  private _state: ConnState = 'stopped';
  private attempt = 0;
  private failuresBeforeOpen = 0;
  private generation = 0;
  /** Bumped by start() and stop(): tells a late auth probe answer that it is obsolete. */
  private run = 0;
  private stateListeners: Array<(s: ConnState) => void> = [];
  private messageListeners: Array<(data: string, protocol: string) => void> = [];
  private closeListeners: Array<(info: CloseInfo) => void> = [];
  private openListeners: Array<() => void> = [];
  /** Delay of the currently scheduled retry, for display and tests. */
  nextRetryMs: number | null = null;
  /** Connections opened since start (1 after the first open). */
  opens = 0;

  constructor(private readonly opts: ConnectionOptions) {}

  get state(): ConnState {
    return this._state;
  }

  /** Subprotocol the server chose ('' when none) on the current socket. */
  get protocol(): string {
    return this.socket?.protocol ?? '';
  }

  onState(fn: (s: ConnState) => void): void {
    this.stateListeners.push(fn);
  }

  onMessage(fn: (data: string, protocol: string) => void): void {
    this.messageListeners.push(fn);
  }

  onClose(fn: (info: CloseInfo) => void): void {
    this.closeListeners.push(fn);
  }

  /** Every open of a socket (the first and each reconnect), after the state is 'live'. */
  onOpen(fn: () => void): void {
    this.openListeners.push(fn);
  }

  /**
   * Sends one text frame on the open socket. False when there is none (connecting,
   * reconnecting, stopped) or the browser refused: nothing is queued for later.
   */
  send(text: string): boolean {
    const s = this.socket;
    if (s === null || this._state !== 'live') return false;
    try {
      s.send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** Connects (again). Also the way out of 'signed-out' once there is a new token. */
  start(): void {
    this.run++;
    this.teardown();
    this.attempt = 0;
    this.failuresBeforeOpen = 0;
    this.setState('connecting');
    this.open();
  }

  stop(): void {
    this.run++;
    this.teardown();
    this.setState('stopped');
  }

  /** Skips the wait of a scheduled retry (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this._state !== 'reconnecting') return;
    this.clearRetry();
    this.open();
  }

  private setState(s: ConnState): void {
    if (s === this._state) return;
    this._state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private clearRetry(): void {
    if (this.timer !== null) this.opts.clearTimer(this.timer);
    this.timer = null;
    this.nextRetryMs = null;
  }

  private teardown(): void {
    this.generation++;
    this.clearRetry();
    if (this.connectTimer !== null) this.opts.clearTimer(this.connectTimer);
    this.connectTimer = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      try {
        s.close(1000, 'client closing');
      } catch {
        // already closed
      }
    }
  }

  private open(): void {
    const gen = ++this.generation;
    let opened = false;
    let socket: SocketLike;
    try {
      socket = this.opts.createSocket(this.opts.url(), this.opts.protocols);
    } catch {
      // e.g. a malformed URL: treat like a failed attempt
      this.failed(gen, { code: 1006, reason: 'could not create socket', opened: false });
      return;
    }
    this.socket = socket;
    const timeout = this.opts.connectTimeoutMs ?? 10_000;
    this.connectTimer = this.opts.setTimer(() => {
      this.connectTimer = null;
      if (gen !== this.generation || opened) return;
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch {
        // ignore
      }
      this.failed(gen, { code: 1006, reason: 'connect timeout', opened: false });
    }, timeout);

    socket.onopen = () => {
      if (gen !== this.generation) return;
      opened = true;
      if (this.connectTimer !== null) this.opts.clearTimer(this.connectTimer);
      this.connectTimer = null;
      this.attempt = 0;
      this.failuresBeforeOpen = 0;
      this.opens++;
      this.setState('live');
      if (gen !== this.generation) return; // a state listener stopped or restarted us
      for (const fn of this.openListeners) fn();
    };
    socket.onmessage = (ev) => {
      if (gen !== this.generation) return;
      if (typeof ev.data !== 'string') return; // the protocol has text frames only
      for (const fn of this.messageListeners) fn(ev.data, socket.protocol);
    };
    socket.onerror = () => {
      // Always followed by onclose, which does the work.
    };
    socket.onclose = (ev) => {
      if (gen !== this.generation) return;
      if (this.connectTimer !== null) this.opts.clearTimer(this.connectTimer);
      this.connectTimer = null;
      this.failed(gen, { code: ev.code, reason: ev.reason, opened });
    };
  }

  private failed(gen: number, info: CloseInfo): void {
    this.socket = null;
    for (const fn of this.closeListeners) fn(info);
    if (gen !== this.generation) return; // a listener restarted or stopped us
    if (info.code === CLOSE_TOKEN_EXPIRED) {
      this.setState('signed-out');
      return;
    }
    if (!info.opened) this.failuresBeforeOpen++;
    this.setState('reconnecting');
    this.scheduleRetry();
    const probeAfter = this.opts.authProbeAfter ?? 3;
    if (!info.opened && this.opts.checkAuth && this.failuresBeforeOpen >= probeAfter) {
      const run = this.run;
      this.opts
        .checkAuth()
        .then((r) => {
          // Ignore the answer if start()/stop() happened meanwhile or a retry got through.
          if (r === 'unauthorized' && run === this.run && this._state === 'reconnecting') {
            this.teardown();
            this.setState('signed-out');
          }
        })
        .catch(() => undefined);
    }
  }

  private scheduleRetry(): void {
    const delay = backoffDelay(this.attempt++, this.opts.backoff ?? DEFAULT_BACKOFF, this.opts.random);
    this.nextRetryMs = delay;
    this.timer = this.opts.setTimer(() => {
      this.timer = null;
      this.nextRetryMs = null;
      this.open();
    }, delay);
  }
}
