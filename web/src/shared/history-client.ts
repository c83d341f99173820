// The history API's client (PROTOCOL.md §7): tracks, summaries, the replay window and
// exports, every page followed through `next`, errors sorted into what the page does
// about them. No DOM here: `fetch` is passed in (the browser's, or a fake in tests).
import { formatRfc3339Us, HOUR_MS, splitWindows } from './time';
import {
  parseReplayPage,
  parseSummary,
  parseTrackPage,
  type CourierRef,
  type ReplayCourier,
  type TrackPoint,
  type TrackSummary,
} from './track';

/** The part of a fetch Response used here. */
export interface ResponseLike {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  json(): Promise<unknown>;
  text(): Promise<string>;
}

export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; signal?: AbortSignal; cache?: RequestCache },
) => Promise<ResponseLike>;

/**
 * What went wrong, as the page acts on it:
 *   absent       — no history on this server (404, a route it does not have): hide the features
 *   unavailable  — 503 history_unavailable / history_busy, 429, 5xx: say so, retry later
 *   forbidden    — 403: this token may not read that
 *   unauthorized — 401: the token is no longer accepted
 *   bad-request  — 400: a window or cursor the server refused
 *   network      — no answer at all
 *   aborted      — the caller gave up (signal)
 */
export type HistoryErrorKind =
  | 'absent'
  | 'unavailable'
  | 'forbidden'
  | 'unauthorized'
  | 'bad-request'
  | 'network'
  | 'aborted';

export class HistoryError extends Error {
  constructor(
    readonly kind: HistoryErrorKind,
    message: string,
    readonly status = 0,
    /** The server's `error` code, when it sent one. */
    readonly code: string | null = null,
    /** From Retry-After, when the server sent one (ms). */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'HistoryError';
  }

  get retryable(): boolean {
    return this.kind === 'unavailable' || this.kind === 'network';
  }
}

/** A short sentence for the page. */
export function describeHistoryError(err: unknown): string {
  if (!(err instanceof HistoryError)) return 'History could not be read.';
  switch (err.kind) {
    case 'absent':
      return 'This server keeps no history.';
    case 'unavailable':
      return 'History is unavailable right now; retrying.';
    case 'forbidden':
      return 'This account may not read that history.';
    case 'unauthorized':
      return 'Signed out: the server no longer accepts this token.';
    case 'bad-request':
      return `The server refused the request: ${err.message}`;
    case 'network':
      return 'The server cannot be reached; retrying.';
    case 'aborted':
      return 'Cancelled.';
  }
}

/** The URL of a `Link: <...>; rel="next"` header, or null. */
export function nextFromLink(link: string | null): string | null {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2]!)) return m[1]!;
  }
  return null;
}

/** Pages of one query at most; a server that keeps answering `next` is cut off here. */
export const MAX_PAGES = 10_000;
/** The longest window of /api/v1/tracks. */
export const REPLAY_WINDOW_MS = HOUR_MS;

export type ExportFormat = 'gpx' | 'csv';

export interface ClientOptions {
  fetch: FetchLike;
  token: () => string | null;
  /** '' for the same origin. */
  base?: string;
}

export interface ReplayProgress {
  window: number;
  windows: number;
  points: number;
}

export class HistoryClient {
  constructor(private readonly o: ClientOptions) {}

  private url(path: string, params: Record<string, string | undefined>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
    const s = q.toString();
    return `${this.o.base ?? ''}${path}${s ? `?${s}` : ''}`;
  }

  /** One request; resolves to the response when 2xx, else rejects with a HistoryError. */
  async request(url: string, accept: string, signal?: AbortSignal): Promise<ResponseLike> {
    const headers: Record<string, string> = { Accept: accept };
    const token = this.o.token();
    // The header, never ?token=: a token in a URL ends up in history and logs.
    if (token) headers.Authorization = `Bearer ${token}`;
    let res: ResponseLike;
    try {
      res = await this.o.fetch(url, { headers, signal, cache: 'no-store' });
    } catch (e) {
      if (signal?.aborted || (e as { name?: string } | null)?.name === 'AbortError') {
        throw new HistoryError('aborted', 'aborted');
      }
      throw new HistoryError('network', (e as Error)?.message ?? 'network error');
    }
    if (res.ok) return res;
    let code: string | null = null;
    let message = `HTTP ${res.status}`;
    try {
      const body = (await res.json()) as { error?: unknown; message?: unknown } | null;
      if (body && typeof body.error === 'string') code = body.error;
      if (body && typeof body.message === 'string') message = body.message;
    } catch {
      // not JSON: keep the status line
    }
    const ra = retryAfterMs(res.headers.get('Retry-After'));
    const s = res.status;
    if (s === 404 || s === 405 || s === 501) throw new HistoryError('absent', message, s, code);
    if (s === 401) throw new HistoryError('unauthorized', message, s, code);
    if (s === 403) throw new HistoryError('forbidden', message, s, code);
    if (s === 429 || s >= 500) throw new HistoryError('unavailable', message, s, code, ra);
    throw new HistoryError('bad-request', message, s, code);
  }

  private async json(url: string, signal?: AbortSignal): Promise<unknown> {
    const res = await this.request(url, 'application/json', signal);
    try {
      return await res.json();
    } catch {
      // e.g. a server that answers unknown paths with the panel's HTML
      throw new HistoryError('absent', 'the answer is not JSON', res.status);
    }
  }

  /** Every page of a track (`next` followed), points oldest first. */
  private async track(
    path: string,
    fromUs: number,
    toUs: number,
    signal?: AbortSignal,
    limit?: number,
  ): Promise<{ courier: CourierRef | null; points: TrackPoint[] }> {
    const params = { from: formatRfc3339Us(fromUs), to: formatRfc3339Us(toUs), limit: limit?.toString() };
    let cursor: string | null = null;
    const seen = new Set<string>();
    let courier: CourierRef | null = null;
    const points: TrackPoint[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = await this.json(this.url(path, { ...params, cursor: cursor ?? undefined }), signal);
      const p = parseTrackPage(body);
      if (!p) throw new HistoryError('absent', 'not a track answer');
      courier ??= p.courier;
      for (const pt of p.points) points.push(pt);
      if (p.next === null) return { courier, points };
      if (seen.has(p.next)) throw new HistoryError('bad-request', 'the server repeated a cursor');
      seen.add(p.next);
      cursor = p.next;
    }
    throw new HistoryError('bad-request', `more than ${MAX_PAGES} pages`);
  }

  courierTrack(id: string, fromUs: number, toUs: number, signal?: AbortSignal, limit?: number) {
    return this.track(`/api/v1/couriers/${encodeURIComponent(id)}/track`, fromUs, toUs, signal, limit);
  }

  orderTrack(id: string, fromUs: number, toUs: number, signal?: AbortSignal, limit?: number) {
    return this.track(`/api/v1/orders/${encodeURIComponent(id)}/track`, fromUs, toUs, signal, limit);
  }

  async summary(id: string, fromMs: number, toMs: number, signal?: AbortSignal): Promise<TrackSummary> {
    const url = this.url(`/api/v1/couriers/${encodeURIComponent(id)}/summary`, {
      from: formatRfc3339Us(fromMs * 1000),
      to: formatRfc3339Us(toMs * 1000),
    });
    const s = parseSummary(await this.json(url, signal));
    if (!s) throw new HistoryError('absent', 'not a summary answer');
    return s;
  }

  /**
   * Every visible courier's points in [fromMs, toMs) — cut into windows of at most 1 h,
   * each window's pages followed through `next` — handed to `onCouriers` page by page
   * (a courier comes back in several pages and windows; the caller merges).
   */
  async replay(
    fromMs: number,
    toMs: number,
    onCouriers: (couriers: ReplayCourier[]) => void,
    opts: { fleet?: string; signal?: AbortSignal; onProgress?: (p: ReplayProgress) => void; limit?: number } = {},
  ): Promise<void> {
    const windows = splitWindows(fromMs, toMs, REPLAY_WINDOW_MS);
    let points = 0;
    for (let w = 0; w < windows.length; w++) {
      const win = windows[w]!;
      const params = {
        from: formatRfc3339Us(win.from * 1000),
        to: formatRfc3339Us(win.to * 1000),
        fleet: opts.fleet,
        limit: opts.limit?.toString(),
      };
      let cursor: string | null = null;
      const seen = new Set<string>();
      for (let page = 0; ; page++) {
        if (page >= MAX_PAGES) throw new HistoryError('bad-request', `more than ${MAX_PAGES} pages`);
        if (opts.signal?.aborted) throw new HistoryError('aborted', 'aborted');
        const body = await this.json(this.url('/api/v1/tracks', { ...params, cursor: cursor ?? undefined }), opts.signal);
        const p = parseReplayPage(body);
        if (!p) throw new HistoryError('absent', 'not a tracks answer');
        for (const c of p.couriers) points += c.points.length;
        onCouriers(p.couriers);
        opts.onProgress?.({ window: w + 1, windows: windows.length, points });
        if (p.next === null) break;
        if (seen.has(p.next)) throw new HistoryError('bad-request', 'the server repeated a cursor');
        seen.add(p.next);
        cursor = p.next;
      }
    }
  }

  /**
   * Whether this server answers history queries for this token: resolves when it does,
   * rejects with the HistoryError otherwise (absent: hide the features). Asks for the last
   * second of /api/v1/tracks, the cheapest query a panel user may make.
   */
  async probe(nowMs: number, signal?: AbortSignal): Promise<void> {
    const url = this.url('/api/v1/tracks', {
      from: formatRfc3339Us((nowMs - 1000) * 1000),
      to: formatRfc3339Us(nowMs * 1000),
      limit: '1',
    });
    if (!parseReplayPage(await this.json(url, signal))) throw new HistoryError('absent', 'not a tracks answer');
  }

  /**
   * A courier's track in GPX or CSV as one file: the pages (`Link: rel="next"`) joined.
   * Fetched with the Authorization header, so the token never appears in a URL.
   */
  async exportTrack(id: string, format: ExportFormat, fromMs: number, toMs: number, signal?: AbortSignal): Promise<string> {
    let url: string | null = this.url(`/api/v1/couriers/${encodeURIComponent(id)}/track`, {
      from: formatRfc3339Us(fromMs * 1000),
      to: formatRfc3339Us(toMs * 1000),
      format,
    });
    const accept = format === 'gpx' ? 'application/gpx+xml, application/xml;q=0.9, */*;q=0.5' : 'text/csv, */*;q=0.5';
    const pages: string[] = [];
    const seen = new Set<string>();
    while (url !== null) {
      if (pages.length >= MAX_PAGES) throw new HistoryError('bad-request', `more than ${MAX_PAGES} pages`);
      const res = await this.request(url, accept, signal);
      pages.push(await res.text());
      const next = nextFromLink(res.headers.get('Link'));
      if (next === null) break;
      const abs = /^https?:/.test(next) ? next : `${this.o.base ?? ''}${next}`;
      if (seen.has(abs)) throw new HistoryError('bad-request', 'the server repeated a page');
      seen.add(abs);
      url = abs;
    }
    return format === 'gpx' ? joinGpx(pages) : joinCsv(pages);
  }
}

/** Retry-After in ms (seconds, or an HTTP date); null when absent or unreadable. */
export function retryAfterMs(v: string | null, now = Date.now()): number | null {
  if (v === null || v.trim() === '') return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : null;
}

/** CSV pages as one file: the first page's header line once, every page's rows. */
export function joinCsv(pages: readonly string[]): string {
  if (pages.length === 0) return '';
  let out = pages[0]!;
  for (const page of pages.slice(1)) {
    const nl = page.indexOf('\n');
    const rows = nl < 0 ? '' : page.slice(nl + 1);
    if (rows === '') continue;
    if (!out.endsWith('\n')) out += '\n';
    out += rows;
  }
  return out;
}

/**
 * GPX pages as one document: the first page, with the `<trkpt>` elements of the others
 * added to its last `<trkseg>` (each page is a complete GPX 1.1 document).
 */
export function joinGpx(pages: readonly string[]): string {
  if (pages.length <= 1) return pages[0] ?? '';
  const extra: string[] = [];
  for (const page of pages.slice(1)) {
    const pts = page.match(/<trkpt\b[^>]*\/>|<trkpt\b[^>]*>[\s\S]*?<\/trkpt>/g);
    if (pts) extra.push(...pts);
  }
  const first = pages[0]!;
  const end = first.lastIndexOf('</trkseg>');
  if (end < 0 || extra.length === 0) return first;
  return `${first.slice(0, end)}${extra.join('\n')}\n${first.slice(end)}`;
}

/** "courier-10-2026-11-28.gpx": safe in any file system. */
export function exportFileName(id: string, day: string, format: ExportFormat): string {
  const safe = id.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 64) || 'courier';
  return `courier-${safe}-${day}.${format}`;
}
