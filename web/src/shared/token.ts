// Token handling: reading it from the URL fragment, keeping it, building the socket URL.
// No DOM here: storage and location are passed in.
//
// The token travels in the fragment (`/#token=...`, `/track#token=...`) because a
// fragment never reaches the server or its logs; the page moves it to sessionStorage
// and removes it from the address bar.

export interface HashToken {
  token: string | null;
  /** The fragment without the token parameter: '' or '#a=b'. */
  rest: string;
}

/** Reads `token=` from a fragment such as `#token=abc` or `#x=1&token=abc`. */
export function tokenFromHash(hash: string): HashToken {
  const body = hash.startsWith('#') ? hash.slice(1) : hash;
  if (body === '') return { token: null, rest: '' };
  let token: string | null = null;
  const kept: string[] = [];
  for (const part of body.split('&')) {
    const eq = part.indexOf('=');
    const name = eq >= 0 ? part.slice(0, eq) : part;
    if (name === 'token' || name === 'access_token') {
      const raw = eq >= 0 ? part.slice(eq + 1) : '';
      let value = raw;
      try {
        value = decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        // keep the raw text: a JWT never needs decoding anyway
      }
      value = value.trim();
      if (value !== '') token = value;
    } else if (part !== '') {
      kept.push(part);
    }
  }
  return { token, rest: kept.length ? `#${kept.join('&')}` : '' };
}

/** Trims a pasted token; accepts "Bearer xxx" as pasted from a curl command. */
export function normalizeToken(input: string): string | null {
  let t = input.trim();
  if (/^bearer\s+/i.test(t)) t = t.replace(/^bearer\s+/i, '');
  t = t.replace(/\s+/g, '');
  return t === '' ? null : t;
}

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Keeps the token in sessionStorage (per tab; gone when the tab closes). */
export class TokenKeeper {
  private memory: string | null = null;

  constructor(
    private readonly storage: KeyValueStore | null,
    private readonly key: string,
  ) {}

  get(): string | null {
    try {
      const v = this.storage?.getItem(this.key);
      if (v) return v;
    } catch {
      // storage can be disabled (private mode, sandboxed frame): fall back to memory
    }
    return this.memory;
  }

  set(token: string): void {
    this.memory = token;
    try {
      this.storage?.setItem(this.key, token);
    } catch {
      // memory only
    }
  }

  clear(): void {
    this.memory = null;
    try {
      this.storage?.removeItem(this.key);
    } catch {
      // nothing to do
    }
  }
}

/** `ws(s)://<same host>/ws?token=<token>`; wss on an https page. */
export function wsUrl(
  loc: { protocol: string; host: string },
  token: string,
  path = '/ws',
): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}${path}?token=${encodeURIComponent(token)}`;
}

export interface TokenClaims {
  sub?: string;
  role?: string;
  name?: string;
  exp?: number;
  fleets?: string[];
  orders?: string[];
}

function base64UrlDecode(s: string): string {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bin = atob(padded);
  const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * Reads a JWT's claims WITHOUT verifying it — for display ("signed in as …") and to tell
 * an expired token from a server that is down. The server is the only authority.
 */
export function decodeClaims(token: string): TokenClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const v: unknown = JSON.parse(base64UrlDecode(parts[1]));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
    const o = v as Record<string, unknown>;
    const claims: TokenClaims = {};
    if (typeof o.sub === 'string' || typeof o.sub === 'number') claims.sub = String(o.sub);
    if (typeof o.role === 'string') claims.role = o.role;
    if (typeof o.name === 'string') claims.name = o.name;
    if (typeof o.exp === 'number' && Number.isFinite(o.exp)) claims.exp = o.exp;
    if (Array.isArray(o.fleets)) claims.fleets = o.fleets.map(String);
    if (Array.isArray(o.orders)) claims.orders = o.orders.map(String);
    return claims;
  } catch {
    return null;
  }
}

/** True when the token carries an `exp` that lies more than `leewayMs` in the past. */
export function isExpired(claims: TokenClaims | null, now: number, leewayMs = 5_000): boolean {
  return claims?.exp !== undefined && claims.exp * 1000 + leewayMs < now;
}
