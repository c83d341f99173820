// The selected courier's history in the panel: its trail (the last 15 minutes from the
// history API, growing with every point received live, refilled after a reconnect), its
// summary for today, and GPX/CSV exports of today's track.
import {
  describeHistoryError,
  exportFileName,
  HistoryError,
  type ExportFormat,
  type HistoryClient,
} from '../shared/history-client';
import type { ServerMessage } from '../shared/protocol';
import { courierKey } from '../shared/protocol';
import { DAY_MS, localDateString, MINUTE_MS, startOfLocalDay } from '../shared/time';
import { formatDistance, formatDuration, formatSpeed, pointFromLocation, type TrackSummary } from '../shared/track';
import { LiveTrail } from '../shared/trail';
import { saveFile, TrailLine } from '../ui/history';
import { L } from '../ui/leaflet-setup';

export const TRAIL_WINDOW_MS = 15 * MINUTE_MS;
const SUMMARY_EVERY_MS = 60_000;
const TRIM_EVERY_MS = 5_000;

/**
 * What the server said about history for this token:
 *   unknown     — not asked yet, or no answer (the features stay on; errors show on use)
 *   available   — answered
 *   absent      — 404: no history on this server — the features are hidden
 *   forbidden   — 403: this token may not read history — hidden too
 *   unavailable — 503: the store is down — shown, with a message, retried
 */
export type HistoryAvailability = 'unknown' | 'available' | 'absent' | 'forbidden' | 'unavailable';

export function availabilityOf(err: unknown): HistoryAvailability {
  if (!(err instanceof HistoryError)) return 'unknown';
  if (err.kind === 'absent') return 'absent';
  if (err.kind === 'forbidden') return 'forbidden';
  if (err.kind === 'unavailable') return 'unavailable';
  return 'unknown';
}

export interface CourierHistoryElements {
  root: HTMLElement;
  name: HTMLElement;
  legend: HTMLElement;
  message: HTMLElement;
  summary: HTMLElement;
  exports: HTMLElement;
  gpx: HTMLButtonElement;
  csv: HTMLButtonElement;
  close: HTMLButtonElement;
}

export class CourierHistory {
  private id: string | null = null;
  private trail: LiveTrail | null = null;
  private line: TrailLine | null = null;
  private readonly renderer: L.Renderer;
  private summary: TrackSummary | null = null;
  private summaryAt = 0;
  private summaryGen = 0;
  private lastTrim = 0;
  private status = '';
  private availability: HistoryAvailability = 'unknown';
  private exporting = false;

  constructor(
    private readonly map: L.Map,
    private readonly client: HistoryClient,
    /** The server's clock, as well as the page can tell (ms). */
    private readonly serverNow: () => number,
    private readonly els: CourierHistoryElements,
    /** Told when a request finds out something about availability (404, 403, 503, 200). */
    private readonly onAvailability: (a: HistoryAvailability) => void,
    /** Called when the user closes the panel. */
    onClose: () => void,
  ) {
    this.renderer = L.svg({ padding: 0.5 });
    els.close.addEventListener('click', () => onClose());
    els.gpx.addEventListener('click', () => void this.export('gpx'));
    els.csv.addEventListener('click', () => void this.export('csv'));
  }

  get selected(): string | null {
    return this.id;
  }

  /** Shows courier `id`: loads its trail and summary (when history is available). */
  select(id: string, name: string): void {
    if (this.id === id) return;
    this.clear();
    this.id = id;
    this.els.root.hidden = false;
    this.els.root.dataset.courierId = id;
    this.els.name.textContent = name;
    this.renderSummary();
    if (!this.enabled()) {
      this.renderAvailability();
      return;
    }
    this.startTrail(id);
    this.refreshSummary();
  }

  /** Deselects: the trail leaves the map, the panel hides. */
  clear(): void {
    this.trail?.stop();
    this.trail = null;
    this.line?.remove();
    this.line = null;
    this.id = null;
    this.summary = null;
    this.summaryGen++;
    this.status = '';
    this.els.root.hidden = true;
    delete this.els.root.dataset.courierId;
    this.els.message.textContent = '';
  }

  rename(name: string): void {
    if (this.id !== null && this.els.name.textContent !== name) this.els.name.textContent = name;
  }

  setAvailability(a: HistoryAvailability): void {
    if (a === this.availability) return;
    const was = this.enabled();
    this.availability = a;
    if (this.id === null) return;
    if (!this.enabled()) {
      // No history after all: keep the panel (name) without trail, summary or exports.
      this.trail?.stop();
      this.trail = null;
      this.line?.remove();
      this.line = null;
      this.summary = null;
      this.renderSummary();
    } else if (!was) {
      const id = this.id;
      this.startTrail(id);
      this.refreshSummary();
    }
    this.renderAvailability();
  }

  private enabled(): boolean {
    return this.availability !== 'absent' && this.availability !== 'forbidden';
  }

  private startTrail(id: string): void {
    const trail = new LiveTrail({
      load: async (fromUs, toUs) => (await this.client.courierTrack(id, fromUs, toUs)).points,
      nowMs: this.serverNow,
      windowMs: TRAIL_WINDOW_MS,
      maxSpanMs: DAY_MS,
      setTimer: (fn, ms) => window.setTimeout(fn, ms),
      clearTimer: (h) => window.clearTimeout(h as number),
      onLoaded: () => {
        this.onAvailability('available');
        this.setStatus('');
      },
      onError: (err) => this.failed(err),
    });
    this.trail = trail;
    this.line = new TrailLine(this.map, this.renderer, 'peyk-trail', { 'courier-id': id }, '#7c3aed');
    this.setStatus('Loading the trail…');
    void trail.start();
  }

  private failed(err: unknown): void {
    const a = availabilityOf(err);
    if (a !== 'unknown') this.onAvailability(a);
    if (a === 'absent' || a === 'forbidden') return; // setAvailability has said it
    this.setStatus(describeHistoryError(err));
  }

  private setStatus(text: string): void {
    this.status = text;
    this.renderAvailability();
  }

  private renderAvailability(): void {
    let text = this.status;
    if (this.availability === 'absent') text = 'This server keeps no history: no trail, summary or export.';
    else if (this.availability === 'forbidden') text = 'This account may not read history.';
    else if (this.availability === 'unavailable' && !text) text = 'History is unavailable right now.';
    if (this.els.message.textContent !== text) this.els.message.textContent = text;
    const on = this.enabled();
    this.els.summary.hidden = !on;
    this.els.legend.hidden = !on;
    this.els.exports.hidden = !on;
    this.els.gpx.disabled = this.exporting || this.availability === 'unavailable';
    this.els.csv.disabled = this.exporting || this.availability === 'unavailable';
  }

  /** Every valid socket message: the selected courier's points grow the trail. */
  onMessage(msg: ServerMessage): void {
    if (this.trail === null || this.id === null || msg.type === 'status') return;
    const now = Date.now();
    for (const loc of msg.locations) {
      if (courierKey(loc.user.id) === this.id) this.trail.live(pointFromLocation(loc, now));
    }
  }

  /** The socket went down: remember where the trail stopped. */
  disconnected(): void {
    this.trail?.disconnected();
  }

  /** The socket is back: load what was missed; the summary too. */
  reconnected(): void {
    if (this.trail) void this.trail.reconnected();
    if (this.id !== null && this.enabled()) this.refreshSummary();
  }

  /** Once per animation frame: redraws the trail if it changed; summary every minute. */
  frame(wall: number): void {
    if (this.trail === null) return;
    if (wall - this.lastTrim >= TRIM_EVERY_MS) {
      this.lastTrim = wall;
      this.trail.trim();
    }
    this.line?.sync(this.trail.trail);
    if (wall - this.summaryAt >= SUMMARY_EVERY_MS) this.refreshSummary();
  }

  /** Today, as the server counts it: local midnight to now (at most 24 h). */
  private today(): { from: number; to: number } {
    const now = this.serverNow();
    const from = startOfLocalDay(now);
    return { from, to: Math.min(from + DAY_MS, now + MINUTE_MS) };
  }

  private refreshSummary(): void {
    const id = this.id;
    if (id === null) return;
    this.summaryAt = Date.now();
    const gen = ++this.summaryGen;
    const { from, to } = this.today();
    this.client.summary(id, from, to).then(
      (s) => {
        if (gen !== this.summaryGen) return;
        this.summary = s;
        this.onAvailability('available');
        this.renderSummary();
      },
      (err: unknown) => {
        if (gen !== this.summaryGen) return;
        this.failed(err);
      },
    );
  }

  private renderSummary(): void {
    const s = this.summary;
    const set = (field: string, text: string) => {
      const el = this.els.summary.querySelector<HTMLElement>(`[data-field="${field}"]`);
      if (el && el.textContent !== text) el.textContent = text;
    };
    set('distance', s ? formatDistance(s.distanceM) : '…');
    set('moving', s ? formatDuration(s.movingS) : '…');
    set('stopped', s ? formatDuration(s.stoppedS) : '…');
    set('max-speed', s ? formatSpeed(s.maxSpeedMps) : '…');
    set('points', s ? s.points.toLocaleString('en') : '…');
    if (s) this.els.summary.dataset.points = String(s.points);
    else delete this.els.summary.dataset.points;
  }

  private async export(format: ExportFormat): Promise<void> {
    const id = this.id;
    if (id === null || this.exporting) return;
    this.exporting = true;
    this.setStatus(`Preparing the ${format.toUpperCase()} file…`);
    try {
      const { from, to } = this.today();
      const text = await this.client.exportTrack(id, format, from, to);
      saveFile(text, exportFileName(id, localDateString(from), format), format === 'gpx' ? 'application/gpx+xml' : 'text/csv');
      this.exporting = false;
      this.setStatus('');
    } catch (err) {
      this.exporting = false;
      this.failed(err);
    }
  }

  /** For window.peyk.trail(). */
  debug() {
    const t = this.trail;
    return {
      id: this.id,
      availability: this.availability,
      points: t?.trail.size ?? 0,
      loaded: t?.loaded ?? false,
      loads: t?.loads ?? 0,
      loadedPoints: t?.loadedPoints ?? 0,
      firstUs: t?.trail.firstUs() ?? null,
      lastUs: t?.trail.lastUs() ?? null,
      times: t ? t.trail.points.map((p) => p.tUs) : [],
      summary: this.summary,
      message: this.els.message.textContent,
    };
  }
}
