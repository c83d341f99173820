// Times of the history API (PROTOCOL.md §7): RFC 3339 to the microsecond both ways,
// query windows split to the server's maximum, a local day's time range. No DOM here.

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Microseconds since the epoch of an RFC 3339 time ("2026-11-28T12:00:00.123456Z",
 * "…+03:30"), keeping every fraction digit down to the microsecond (Date.parse stops at
 * the millisecond, and a point's time is what tells two points of a trail apart).
 * null when it is not one.
 */
export function parseRfc3339Us(s: string): number | null {
  const m = RFC3339.exec(s.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac, z, sign, oh, om] = m;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(sec);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  const ms = Date.UTC(Number(y), month - 1, day, hour, minute, second);
  // Date.UTC rolls 31 February over into March: refuse what did not stay in its month.
  if (new Date(ms).getUTCDate() !== day && second !== 60) return null;
  let us = ms * 1000;
  if (frac) us += Number(frac.slice(0, 6).padEnd(6, '0'));
  if (!z && sign) {
    const offset = (Number(oh) * 60 + Number(om)) * MINUTE_MS * 1000;
    us += sign === '+' ? -offset : offset;
  }
  return us;
}

/** "2026-11-28T12:00:00.123456Z" (UTC; microseconds only when there are any). */
export function formatRfc3339Us(us: number): string {
  const whole = Math.floor(us / 1000);
  const micros = Math.round(us - whole * 1000);
  const iso = new Date(whole).toISOString(); // …:SS.mmmZ
  if (micros === 0) return iso;
  return `${iso.slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

/** RFC 3339 (UTC, milliseconds) of an epoch time in ms. */
export function formatRfc3339Ms(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}

export interface Window {
  from: number;
  to: number;
}

/**
 * [from, to) cut into consecutive windows of at most `maxMs` each (the replay query takes
 * at most 1 h). Empty when the range is empty.
 */
export function splitWindows(from: number, to: number, maxMs: number): Window[] {
  if (!(maxMs > 0)) throw new RangeError('maxMs must be positive');
  const out: Window[] = [];
  if (!(to > from)) return out;
  for (let t = from; t < to; t += maxMs) out.push({ from: t, to: Math.min(t + maxMs, to) });
  return out;
}

/** Local midnight (ms) of the day holding `ms`, in the browser's time zone. */
export function startOfLocalDay(ms: number): number {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** "2026-11-28": the local date of `ms`, as an `<input type=date>` holds it. */
export function localDateString(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

/** "14:05": the local time of `ms`, as an `<input type=time>` holds it. */
export function localTimeString(ms: number, seconds = false): string {
  const d = new Date(ms);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return seconds ? `${hm}:${pad2(d.getSeconds())}` : hm;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

export type RangeResult = { ok: true; from: number; to: number } | { ok: false; error: string };

/**
 * A day ("2026-11-28") and a time range within it ("09:30", "11:00", seconds optional),
 * local time, as epoch ms. `to` "24:00" is the end of the day.
 */
export function localDayRange(date: string, from: string, to: string): RangeResult {
  const dm = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date.trim());
  if (!dm) return { ok: false, error: 'Pick a day.' };
  const y = Number(dm[1]);
  const mo = Number(dm[2]) - 1;
  const d = Number(dm[3]);
  const dayStart = new Date(y, mo, d);
  if (dayStart.getFullYear() !== y || dayStart.getMonth() !== mo || dayStart.getDate() !== d) {
    return { ok: false, error: 'Pick a valid day.' };
  }
  const f = parseClock(from);
  const t = parseClock(to);
  if (f === null) return { ok: false, error: 'The start time is not valid.' };
  if (t === null) return { ok: false, error: 'The end time is not valid.' };
  if (f >= 24 * 3600) return { ok: false, error: 'The start time is not valid.' };
  // Built from the calendar fields, not day start + seconds: a DST change keeps 14:00 at 14:00.
  const at = (secs: number): number =>
    secs >= 24 * 3600
      ? new Date(y, mo, d + 1).getTime()
      : new Date(y, mo, d, Math.floor(secs / 3600), Math.floor((secs % 3600) / 60), secs % 60).getTime();
  const fromMs = at(f);
  const toMs = at(t);
  if (toMs <= fromMs) return { ok: false, error: 'The end must be after the start.' };
  return { ok: true, from: fromMs, to: toMs };
}

/** Seconds since midnight of "HH:MM" or "HH:MM:SS" ("24:00" allowed); null if invalid. */
function parseClock(s: string): number | null {
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(s.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const mi = Number(m[2]);
  const sec = m[3] ? Number(m[3]) : 0;
  if (mi > 59 || sec > 59) return null;
  if (h === 24 && mi === 0 && sec === 0) return 24 * 3600;
  if (h > 23) return null;
  return h * 3600 + mi * 60 + sec;
}
