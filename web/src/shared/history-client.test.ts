import { describe, expect, it } from 'vitest';
import {
  describeHistoryError,
  exportFileName,
  HistoryClient,
  HistoryError,
  joinCsv,
  joinGpx,
  nextFromLink,
  retryAfterMs,
  type FetchLike,
  type ResponseLike,
} from './history-client';
import { HOUR_MS, parseRfc3339Us } from './time';
import type { ReplayCourier } from './track';

function response(status: number, body: unknown, headers: Record<string, string> = {}): ResponseLike {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: { get: (n) => h.get(n.toLowerCase()) ?? null },
    json: async () => JSON.parse(text),
    text: async () => text,
  };
}

interface Call { url: URL; headers: Record<string, string> }

/** A fake fetch: `route(url)` answers each request; every call is recorded. */
function fakeFetch(route: (u: URL, n: number) => ResponseLike | Promise<ResponseLike>) {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const u = new URL(url, 'http://peyk.test');
    calls.push({ url: u, headers: init.headers });
    return route(u, calls.length);
  };
  return { fetch, calls };
}

const T0 = Date.UTC(2026, 10, 28, 9, 0); // ms
const point = (ms: number, lat = 35.7) => ({ latitude: lat, longitude: 51.4, ts: ms * 1000, recorded_at: null });
const client = (fetch: FetchLike, token: string | null = 'tok') => new HistoryClient({ fetch, token: () => token });
const usOf = (u: URL, k: string) => parseRfc3339Us(u.searchParams.get(k)!);

describe('HistoryClient: tracks and paging', () => {
  it('follows `next` until null, with the token in the header only', async () => {
    const { fetch, calls } = fakeFetch((u) => {
      const c = u.searchParams.get('cursor');
      if (c === null) return response(200, { courier: { id: 10, name: 'd1' }, points: [point(T0), point(T0 + 1000)], next: 'p2' });
      if (c === 'p2') return response(200, { courier: { id: 10, name: 'd1' }, points: [point(T0 + 2000)], next: 'p3' });
      return response(200, { courier: { id: 10, name: 'd1' }, points: [point(T0 + 3000)], next: null });
    });
    const r = await client(fetch).courierTrack('10', T0 * 1000, (T0 + 900_000) * 1000);
    expect(r.courier).toEqual({ id: '10', name: 'd1' });
    expect(r.points.map((p) => p.tUs / 1000 - T0)).toEqual([0, 1000, 2000, 3000]);
    expect(calls.map((c) => c.url.searchParams.get('cursor'))).toEqual([null, 'p2', 'p3']);
    for (const c of calls) {
      expect(c.url.pathname).toBe('/api/v1/couriers/10/track');
      expect(usOf(c.url, 'from')).toBe(T0 * 1000);
      expect(usOf(c.url, 'to')).toBe((T0 + 900_000) * 1000);
      expect(c.headers.Authorization).toBe('Bearer tok');
      expect(c.url.searchParams.has('token')).toBe(false);
    }
  });

  it('escapes ids in the path; orders have their own route', async () => {
    const { fetch, calls } = fakeFetch(() => response(200, { courier: null, points: [], next: null }));
    await client(fetch).orderTrack('A 1/2', 0, 1000);
    expect(calls[0]!.url.pathname).toBe('/api/v1/orders/A%201%2F2/track');
  });

  it('a cursor the server repeats ends the loop with an error', async () => {
    const { fetch, calls } = fakeFetch(() => response(200, { courier: null, points: [point(T0)], next: 'same' }));
    await expect(client(fetch).courierTrack('1', 0, 1000)).rejects.toMatchObject({ kind: 'bad-request' });
    expect(calls.length).toBe(2);
  });

  it('a summary', async () => {
    const { fetch, calls } = fakeFetch(() => response(200, { points: 5, distance_m: 2500, moving_s: 300, stopped_s: 60, max_speed_mps: 10, first: point(T0), last: point(T0 + 4000) }));
    const s = await client(fetch).summary('10', T0, T0 + HOUR_MS);
    expect(s).toMatchObject({ points: 5, distanceM: 2500, movingS: 300, stoppedS: 60, maxSpeedMps: 10 });
    expect(calls[0]!.url.pathname).toBe('/api/v1/couriers/10/summary');
    expect(usOf(calls[0]!.url, 'to')).toBe((T0 + HOUR_MS) * 1000);
  });
});

describe('HistoryClient: replay windows', () => {
  it('cuts the range into ≤ 1 h windows and pages each one', async () => {
    const { fetch, calls } = fakeFetch((u) => {
      const from = usOf(u, 'from')! / 1000;
      const c = u.searchParams.get('cursor');
      // every window has two pages: courier 1 then courier 2
      if (c === null) return response(200, { couriers: [{ id: 1, name: 'one', points: [point(from), point(from + 60_000)] }], next: `w${from}` });
      return response(200, { couriers: [{ id: '2', name: 'two', points: [point(from + 1000)] }], next: null });
    });
    const got: ReplayCourier[] = [];
    const progress: number[] = [];
    await client(fetch).replay(T0, T0 + 2.5 * HOUR_MS, (cs) => got.push(...cs), {
      fleet: 'store-7',
      onProgress: (p) => progress.push(p.window * 100 + p.windows),
    });
    const windows = calls.filter((c) => !c.url.searchParams.has('cursor'));
    expect(windows.map((c) => [usOf(c.url, 'from')! / 1000 - T0, usOf(c.url, 'to')! / 1000 - T0])).toEqual([
      [0, HOUR_MS], [HOUR_MS, 2 * HOUR_MS], [2 * HOUR_MS, 2.5 * HOUR_MS],
    ]);
    for (const c of calls) {
      expect(c.url.pathname).toBe('/api/v1/tracks');
      expect(c.url.searchParams.get('fleet')).toBe('store-7');
      expect(usOf(c.url, 'to')! - usOf(c.url, 'from')!).toBeLessThanOrEqual(HOUR_MS * 1000);
    }
    // the second page of each window asked with its window's cursor and its window's times
    const pages = calls.filter((c) => c.url.searchParams.has('cursor'));
    expect(pages.map((c) => c.url.searchParams.get('cursor'))).toEqual(windows.map((c) => `w${usOf(c.url, 'from')! / 1000}`));
    expect(got.map((c) => c.id)).toEqual(['1', '2', '1', '2', '1', '2']);
    expect(progress).toEqual([103, 103, 203, 203, 303, 303]);
  });

  it('stops when aborted', async () => {
    const ctrl = new AbortController();
    const { fetch, calls } = fakeFetch(() => {
      ctrl.abort();
      return response(200, { couriers: [], next: 'more' });
    });
    await expect(client(fetch).replay(T0, T0 + 3 * HOUR_MS, () => undefined, { signal: ctrl.signal })).rejects.toMatchObject({ kind: 'aborted' });
    expect(calls.length).toBe(1);
  });
});

describe('HistoryClient: errors', () => {
  const cases: Array<[number, unknown, Record<string, string>, string, boolean]> = [
    [403, { error: 'forbidden', message: 'a customer may read the track of its own orders only' }, {}, 'forbidden', false],
    [404, { error: 'not_found', message: 'this process keeps no history' }, {}, 'absent', false],
    [405, '', {}, 'absent', false],
    [503, { error: 'history_unavailable', message: 'history cannot be read now; retry' }, { 'Retry-After': '3' }, 'unavailable', true],
    [503, { error: 'history_busy' }, {}, 'unavailable', true],
    [401, { error: 'expired_token' }, {}, 'unauthorized', false],
    [400, { error: 'window_too_long', message: 'the window (to - from) may be at most 24 h' }, {}, 'bad-request', false],
  ];
  for (const [status, body, headers, kind, retryable] of cases) {
    it(`${status} ${JSON.stringify(body).slice(0, 30)} → ${kind}`, async () => {
      const { fetch } = fakeFetch(() => response(status, body, headers));
      const err = await client(fetch).courierTrack('1', 0, 1000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HistoryError);
      const h = err as HistoryError;
      expect(h.kind).toBe(kind);
      expect(h.status).toBe(status);
      expect(h.retryable).toBe(retryable);
      if (typeof body === 'object' && body && 'error' in body) expect(h.code).toBe((body as { error: string }).error);
      if (headers['Retry-After']) expect(h.retryAfterMs).toBe(3000);
      expect(describeHistoryError(h)).toMatch(/\w/);
    });
  }

  it('a network failure is retryable; an answer that is not JSON means no history', async () => {
    const down = fakeFetch(() => Promise.reject(new TypeError('Failed to fetch')));
    await expect(client(down.fetch).summary('1', 0, 1000)).rejects.toMatchObject({ kind: 'network', retryable: true });
    const html = fakeFetch(() => response(200, '<!doctype html><title>peyk</title>'));
    await expect(client(html.fetch).probe(T0)).rejects.toMatchObject({ kind: 'absent' });
    const wrong = fakeFetch(() => response(200, { hello: 1 }));
    await expect(client(wrong.fetch).courierTrack('1', 0, 1000)).rejects.toMatchObject({ kind: 'absent' });
  });

  it('probe: the last second of /api/v1/tracks', async () => {
    const { fetch, calls } = fakeFetch(() => response(200, { couriers: [], next: null }));
    await client(fetch).probe(T0);
    expect(calls[0]!.url.pathname).toBe('/api/v1/tracks');
    expect(usOf(calls[0]!.url, 'to')! - usOf(calls[0]!.url, 'from')!).toBe(1_000_000);
  });

  it('without a token no Authorization header is sent', async () => {
    const { fetch, calls } = fakeFetch(() => response(200, { couriers: [], next: null }));
    await client(fetch, null).probe(T0);
    expect(calls[0]!.headers.Authorization).toBeUndefined();
  });

  it('Retry-After in seconds or as a date', () => {
    expect(retryAfterMs('5')).toBe(5000);
    expect(retryAfterMs(new Date(T0 + 7000).toUTCString(), T0)).toBe(7000);
    expect(retryAfterMs(null)).toBeNull();
    expect(retryAfterMs('soon')).toBeNull();
  });
});

describe('exports', () => {
  it('GPX and CSV: every page joined, with the header', async () => {
    const csvPages = ['time,latitude,longitude\n1,35,51\n2,35,51\n', 'time,latitude,longitude\n3,35,51\n'];
    const { fetch, calls } = fakeFetch((u) => {
      const page = Number(u.searchParams.get('cursor') ?? 0);
      const next: Record<string, string> = page + 1 < csvPages.length ? { Link: `</api/v1/couriers/10/track?format=csv&cursor=${page + 1}>; rel="next"` } : {};
      return response(200, csvPages[page]!, { 'Content-Type': 'text/csv', ...next });
    });
    const csv = await client(fetch).exportTrack('10', 'csv', T0, T0 + HOUR_MS);
    expect(csv).toBe('time,latitude,longitude\n1,35,51\n2,35,51\n3,35,51\n');
    expect(calls[0]!.url.searchParams.get('format')).toBe('csv');
    expect(calls.every((c) => c.headers.Authorization === 'Bearer tok' && !c.url.searchParams.has('token'))).toBe(true);
  });

  it('joinGpx puts the later pages\' points in the first page\'s segment', () => {
    const doc = (pts: string) => `<?xml version="1.0"?><gpx version="1.1"><trk><trkseg>${pts}</trkseg></trk></gpx>`;
    const a = doc('<trkpt lat="1" lon="2"><time>t1</time></trkpt>');
    const b = doc('<trkpt lat="3" lon="4"><time>t2</time></trkpt><trkpt lat="5" lon="6"/>');
    const j = joinGpx([a, b]);
    expect(j.match(/<trkpt/g)).toHaveLength(3);
    expect(j.match(/<gpx/g)).toHaveLength(1);
    expect(j.indexOf('lat="1"')).toBeLessThan(j.indexOf('lat="3"'));
    expect(j.indexOf('lat="5"')).toBeLessThan(j.indexOf('</trkseg>'));
    expect(joinGpx([a])).toBe(a);
    expect(joinCsv(['h\n1\n', 'h\n', 'h\n2'])).toBe('h\n1\n2');
  });

  it('Link header and file names', () => {
    expect(nextFromLink('</api/v1/tracks?cursor=abc>; rel="next"')).toBe('/api/v1/tracks?cursor=abc');
    expect(nextFromLink('<a>; rel="prev", <b>; rel=next')).toBe('b');
    expect(nextFromLink(null)).toBeNull();
    expect(exportFileName('10', '2026-11-28', 'gpx')).toBe('courier-10-2026-11-28.gpx');
    expect(exportFileName('../x y', '2026-11-28', 'csv')).toBe('courier-.._x_y-2026-11-28.csv');
  });
});
