import { describe, expect, it } from 'vitest';
import { decodeClaims, isExpired, normalizeToken, TokenKeeper, tokenFromHash, wsUrl, type KeyValueStore } from './token';

class MemStorage implements KeyValueStore {
  data = new Map<string, string>();
  getItem(k: string): string | null {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.data.set(k, v);
  }
  removeItem(k: string): void {
    this.data.delete(k);
  }
}

const b64url = (o: object): string =>
  Buffer.from(JSON.stringify(o)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const jwt = (claims: object): string => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.c2ln`;

describe('tokenFromHash', () => {
  it.each([
    ['', null, ''],
    ['#', null, ''],
    ['#token=abc.def.ghi', 'abc.def.ghi', ''],
    ['token=abc', 'abc', ''],
    ['#x=1&token=abc&y=2', 'abc', '#x=1&y=2'],
    ['#token=a%2Eb', 'a.b', ''],
    ['#token=', null, ''],
    ['#access_token=zzz', 'zzz', ''],
    ['#focus=10', null, '#focus=10'],
    ['#token=%E0%A4%A', '%E0%A4%A', ''],
  ])('%s', (hash, token, rest) => {
    expect(tokenFromHash(hash)).toEqual({ token, rest });
  });
});

describe('normalizeToken', () => {
  it('trims and strips a Bearer prefix and line breaks', () => {
    expect(normalizeToken('  Bearer abc.\n def.ghi ')).toBe('abc.def.ghi');
    expect(normalizeToken('   ')).toBeNull();
  });
});

describe('TokenKeeper', () => {
  it('stores, reads and clears', () => {
    const st = new MemStorage();
    const k = new TokenKeeper(st, 'peyk.token');
    expect(k.get()).toBeNull();
    k.set('t1');
    expect(st.getItem('peyk.token')).toBe('t1');
    expect(new TokenKeeper(st, 'peyk.token').get()).toBe('t1');
    k.clear();
    expect(k.get()).toBeNull();
  });

  it('falls back to memory when storage throws', () => {
    const broken: KeyValueStore = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('denied');
      },
      removeItem: () => {
        throw new Error('denied');
      },
    };
    const k = new TokenKeeper(broken, 'k');
    k.set('t');
    expect(k.get()).toBe('t');
    k.clear();
    expect(k.get()).toBeNull();
  });
});

describe('wsUrl', () => {
  it('uses ws on http and wss on https, same host, encoded token', () => {
    expect(wsUrl({ protocol: 'http:', host: '127.0.0.1:8082' }, 'a.b.c')).toBe('ws://127.0.0.1:8082/ws?token=a.b.c');
    expect(wsUrl({ protocol: 'https:', host: 'peyk.example' }, 'a+b/c')).toBe('wss://peyk.example/ws?token=a%2Bb%2Fc');
  });
});

describe('decodeClaims', () => {
  it('reads the payload of a JWT', () => {
    const c = decodeClaims(jwt({ sub: 1, role: 'admin', name: 'Sara', exp: 2000000000, fleets: ['a'] }));
    expect(c).toEqual({ sub: '1', role: 'admin', name: 'Sara', exp: 2000000000, fleets: ['a'] });
  });

  it('reads non-ASCII names', () => {
    expect(decodeClaims(jwt({ name: 'پیک' }))?.name).toBe('پیک');
  });

  it('returns null for garbage', () => {
    expect(decodeClaims('nope')).toBeNull();
    expect(decodeClaims('a.!!!.c')).toBeNull();
    expect(decodeClaims(`a.${b64url([1])}.c`)).toBeNull();
  });

  it('tells expiry with leeway', () => {
    expect(isExpired({ exp: 100 }, 104_000)).toBe(false);
    expect(isExpired({ exp: 100 }, 106_000)).toBe(true);
    expect(isExpired({}, 1e15)).toBe(false);
    expect(isExpired(null, 1e15)).toBe(false);
  });
});
