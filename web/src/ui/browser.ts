// Browser glue shared by both pages: URL token, config fetch, auth probe, the socket.
import { parseConfig, DEFAULT_CONFIG, type PeykConfig } from '../shared/config';
import { Connection, type AuthCheck, type SocketLike } from '../shared/connection';
import { SUBPROTOCOL } from '../shared/protocol';
import { decodeClaims, isExpired, TokenKeeper, tokenFromHash, wsUrl } from '../shared/token';

function sessionStorageOrNull(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export function tokenKeeper(key: string): TokenKeeper {
  return new TokenKeeper(sessionStorageOrNull(), key);
}

/**
 * Moves `#token=...` from the address bar into sessionStorage, so it is neither
 * bookmarked nor shown over a shoulder. Returns true when the URL carried a token.
 */
export function takeTokenFromUrl(keeper: TokenKeeper): boolean {
  const { token, rest } = tokenFromHash(window.location.hash);
  if (!token) return false;
  keeper.set(token);
  const { pathname, search } = window.location;
  window.history.replaceState(window.history.state, '', `${pathname}${search}${rest}`);
  return true;
}

/** GET /api/v1/config; the defaults (OSM tiles, 60 s) when it fails or takes too long. */
export async function fetchConfig(token: string | null, timeoutMs = 3000): Promise<PeykConfig> {
  const ctrl = new AbortController();
  const timer = window.setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch('/api/v1/config', { headers, signal: ctrl.signal, cache: 'no-store' });
    if (!res.ok) return DEFAULT_CONFIG;
    return parseConfig(await res.json());
  } catch {
    return DEFAULT_CONFIG;
  } finally {
    window.clearTimeout(timer);
  }
}

/**
 * Whether the server still accepts the token, asked after repeated failures before open
 * (the browser cannot see the upgrade's 401). An expired `exp` settles it locally;
 * otherwise GET /api/v1/whoami: 401/403 → unauthorized; anything else (including a
 * server without that endpoint) → unknown, so the page keeps reconnecting.
 */
export async function probeAuth(token: string | null): Promise<AuthCheck> {
  if (!token) return 'unauthorized';
  if (isExpired(decodeClaims(token), Date.now())) return 'unauthorized';
  try {
    const res = await fetch('/api/v1/whoami', {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
      cache: 'no-store',
    });
    if (res.status === 401 || res.status === 403) return 'unauthorized';
    return res.ok ? 'ok' : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The viewer connection: `ws(s)://<host>/ws?token=…`, subprotocol peyk.v1. */
export function browserConnection(getToken: () => string | null): Connection {
  const conn = new Connection({
    url: () => wsUrl(window.location, getToken() ?? ''),
    protocols: [SUBPROTOCOL],
    createSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike,
    setTimer: (fn, ms) => window.setTimeout(fn, ms),
    clearTimer: (h) => window.clearTimeout(h as number),
    checkAuth: () => probeAuth(getToken()),
  });
  // Back online or back to a visible tab: do not wait out a 10 s backoff.
  window.addEventListener('online', () => conn.reconnectNow());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') conn.reconnectNow();
  });
  return conn;
}

/** The status indicator: #status[data-state]. */
export function renderStatus(el: HTMLElement, state: string, labels: Record<string, string>): void {
  el.dataset.state = state;
  el.textContent = labels[state] ?? state;
  el.title = labels[state] ?? state;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** The element with `id`, which the page's HTML must have. */
export function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing from ${location.pathname}`);
  return e as T;
}
