// Replay mode of the panel: pick a day and a time range, load every visible courier's
// points (/api/v1/tracks, ≤ 1 h windows, every page), then play them together with
// play/pause, a speed and a time slider. The logic is in shared/replay.ts; this is the
// DOM and the map.
import { describeHistoryError, HistoryError, type HistoryClient } from '../shared/history-client';
import {
  positionAt,
  REPLAY_SPEEDS,
  ReplayBuilder,
  ReplayClock,
  tracksSpan,
  type ReplayPosition,
  type ReplayTrack,
} from '../shared/replay';
import { localDateString, localDayRange, localTimeString, MINUTE_MS } from '../shared/time';
import { L } from '../ui/leaflet-setup';

/** Loading stops past this many points (memory): narrow the range. */
export const MAX_REPLAY_POINTS = 3_000_000;
/** In a longer gap between two points a courier is held, not glided (see positionAt). */
export const REPLAY_MAX_GAP_MS = 5 * MINUTE_MS;
/** Above this many couriers the markers go on a canvas rather than SVG elements. */
const SVG_MARKERS_UP_TO = 1500;

export type ReplayState = 'closed' | 'idle' | 'loading' | 'ready' | 'empty' | 'error';

export interface ReplayElements {
  root: HTMLElement;
  form: HTMLFormElement;
  day: HTMLInputElement;
  from: HTMLInputElement;
  to: HTMLInputElement;
  load: HTMLButtonElement;
  exit: HTMLButtonElement;
  message: HTMLElement;
  controls: HTMLElement;
  play: HTMLButtonElement;
  speed: HTMLSelectElement;
  slider: HTMLInputElement;
  time: HTMLElement;
}

interface Marker {
  track: ReplayTrack;
  marker: L.CircleMarker;
  shown: boolean;
  held: boolean;
  pos: ReplayPosition | null;
}

export class ReplayView {
  state: ReplayState = 'closed';
  private clock: ReplayClock | null = null;
  private markers: Marker[] = [];
  private renderer: L.Renderer | null = null;
  private abort: AbortController | null = null;
  private lastDrawnT = Number.NaN;
  private lastSliderUpdate = 0;
  private points = 0;
  private range: { from: number; to: number } | null = null;
  private span: { from: number; to: number } | null = null;

  constructor(
    private readonly map: L.Map,
    private readonly client: HistoryClient,
    private readonly serverNow: () => number,
    private readonly els: ReplayElements,
    private readonly hooks: { onEnter: () => void; onExit: () => void; fleet?: () => string | undefined },
  ) {
    for (const s of REPLAY_SPEEDS) {
      const o = document.createElement('option');
      o.value = String(s);
      o.textContent = `${s}×`;
      els.speed.append(o);
    }
    els.speed.value = '10';
    els.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.load();
    });
    els.exit.addEventListener('click', () => this.close());
    els.play.addEventListener('click', () => {
      if (!this.clock) return;
      this.clock.toggle(performance.now());
      this.renderPlay();
    });
    els.speed.addEventListener('change', () => {
      const s = Number(els.speed.value);
      if (this.clock && s > 0) this.clock.setSpeed(s, performance.now());
    });
    els.slider.addEventListener('input', () => {
      if (!this.clock) return;
      this.clock.seek(Number(els.slider.value), performance.now());
      this.draw(performance.now(), true);
    });
  }

  get open(): boolean {
    return this.state !== 'closed';
  }

  /** Enters replay mode: the live view is put away, the form shows (today, the last hour). */
  enter(): void {
    if (this.open) return;
    this.hooks.onEnter();
    this.setState('idle');
    this.els.root.hidden = false;
    const now = this.serverNow();
    if (!this.els.day.value) this.els.day.value = localDateString(now);
    if (!this.els.from.value || !this.els.to.value) {
      // The last hour of today (from midnight when it is not an hour old yet).
      const start = Math.max(now - 60 * MINUTE_MS, new Date(new Date(now).setHours(0, 0, 0, 0)).getTime());
      this.els.from.value = localTimeString(start);
      this.els.to.value = localTimeString(now + MINUTE_MS) === '00:00' ? '23:59' : localTimeString(now + MINUTE_MS);
    }
    this.message('Pick a day and a time range, then Load.');
    this.els.controls.hidden = true;
  }

  /** Leaves replay mode: markers removed, the live view restored. */
  close(): void {
    if (!this.open) return;
    this.abort?.abort();
    this.abort = null;
    this.removeMarkers();
    this.clock = null;
    this.els.root.hidden = true;
    this.setState('closed');
    this.hooks.onExit();
  }

  private setState(s: ReplayState): void {
    this.state = s;
    this.els.root.dataset.state = s;
  }

  private message(text: string): void {
    if (this.els.message.textContent !== text) this.els.message.textContent = text;
  }

  async load(): Promise<void> {
    const r = localDayRange(this.els.day.value, this.els.from.value, this.els.to.value);
    if (!r.ok) {
      this.message(r.error);
      return;
    }
    // Nothing after now is recorded yet: do not ask for it.
    const to = Math.min(r.to, this.serverNow() + MINUTE_MS);
    if (to <= r.from) {
      this.message('That range has not happened yet.');
      return;
    }
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.removeMarkers();
    this.clock = null;
    this.span = null;
    this.els.controls.hidden = true;
    this.setState('loading');
    this.els.load.disabled = true;
    this.message('Loading…');
    const builder = new ReplayBuilder();
    try {
      await this.client.replay(
        r.from,
        to,
        (couriers) => {
          builder.add(couriers);
          if (builder.points > MAX_REPLAY_POINTS) {
            abort.abort();
            throw new HistoryError('bad-request', `more than ${MAX_REPLAY_POINTS.toLocaleString('en')} points`);
          }
        },
        {
          signal: abort.signal,
          fleet: this.hooks.fleet?.(),
          onProgress: (p) =>
            this.message(`Loading… hour ${p.window} of ${p.windows}, ${p.points.toLocaleString('en')} points`),
        },
      );
    } catch (err) {
      if (this.abort !== abort) return; // closed or reloaded meanwhile
      this.abort = null;
      this.els.load.disabled = false;
      this.setState('error');
      const tooMany = builder.points > MAX_REPLAY_POINTS;
      this.message(tooMany ? 'Too many points for one replay: choose a shorter range.' : describeHistoryError(err));
      return;
    }
    if (this.abort !== abort) return;
    this.abort = null;
    this.els.load.disabled = false;
    const tracks = builder.build();
    this.points = builder.points;
    this.range = { from: r.from, to };
    if (tracks.length === 0) {
      this.setState('empty');
      this.message('No courier reported in that range.');
      return;
    }
    this.show(tracks, r.from, to);
  }

  private show(tracks: ReplayTrack[], from: number, to: number): void {
    this.clock = new ReplayClock(from, to);
    this.span = tracksSpan(tracks);
    this.clock.setSpeed(Number(this.els.speed.value) || 10, performance.now());
    // Start where the first courier appears, not on an empty map.
    if (this.span) this.clock.seek(this.span.from, performance.now());
    this.renderer = tracks.length <= SVG_MARKERS_UP_TO ? L.svg({ padding: 0.5 }) : L.canvas({ padding: 0.5 });
    const bounds = L.latLngBounds([]);
    for (const track of tracks) {
      const marker = L.circleMarker([track.lat[0]!, track.lng[0]!], {
        renderer: this.renderer,
        radius: 6,
        color: '#1d4ed8',
        weight: 2,
        fillColor: '#3b82f6',
        fillOpacity: 0.9,
        className: 'replay-marker',
      });
      marker.bindTooltip(track.name, { direction: 'top', offset: [0, -6] });
      this.markers.push({ track, marker, shown: false, held: false, pos: null });
      for (let i = 0; i < track.t.length; i += Math.max(1, Math.floor(track.t.length / 50))) {
        bounds.extend([track.lat[i]!, track.lng[i]!]);
      }
      bounds.extend([track.lat[track.t.length - 1]!, track.lng[track.t.length - 1]!]);
    }
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16, animate: false });
    this.els.slider.min = String(from);
    this.els.slider.max = String(to);
    this.els.slider.step = '1000';
    this.els.controls.hidden = false;
    this.setState('ready');
    this.message(
      `${tracks.length.toLocaleString('en')} courier${tracks.length === 1 ? '' : 's'}, ${this.points.toLocaleString('en')} points`,
    );
    this.lastDrawnT = Number.NaN;
    this.draw(performance.now(), true);
    this.renderPlay();
  }

  private removeMarkers(): void {
    for (const m of this.markers) m.marker.remove();
    this.markers = [];
    this.renderer?.remove();
    this.renderer = null;
  }

  private renderPlay(): void {
    const playing = this.clock?.playing ?? false;
    this.els.play.textContent = playing ? 'Pause' : 'Play';
    this.els.play.setAttribute('aria-pressed', String(playing));
    this.els.root.dataset.playing = String(playing);
  }

  /** Once per animation frame. */
  frame(wall: number): void {
    if (!this.clock) return;
    const wasPlaying = this.clock.playing;
    this.draw(wall, false);
    if (wasPlaying !== this.clock.playing) this.renderPlay();
  }

  private draw(wall: number, force: boolean): void {
    const clock = this.clock;
    if (!clock) return;
    const t = clock.tick(wall);
    if (!force && t === this.lastDrawnT) return;
    this.lastDrawnT = t;
    for (const m of this.markers) {
      const p = positionAt(m.track, t, { maxGapMs: REPLAY_MAX_GAP_MS });
      m.pos = p;
      if (p === null) {
        if (m.shown) {
          m.marker.remove();
          m.shown = false;
        }
        continue;
      }
      m.marker.setLatLng([p.lat, p.lng]);
      if (!m.shown) {
        m.marker.addTo(this.map);
        m.shown = true;
        m.marker.getElement()?.setAttribute('data-courier-id', m.track.id);
      }
      if (p.held !== m.held) {
        m.held = p.held;
        m.marker.setStyle(p.held ? { color: '#6b7280', fillColor: '#9ca3af' } : { color: '#1d4ed8', fillColor: '#3b82f6' });
        m.marker.getElement()?.setAttribute('data-held', String(p.held));
      }
    }
    // The slider follows the clock (at most 10 times a second while playing).
    if (force || wall - this.lastSliderUpdate >= 100) {
      this.lastSliderUpdate = wall;
      this.els.slider.value = String(Math.round(t));
    }
    const text = `${localDateString(t)} ${localTimeString(t, true)}`;
    if (this.els.time.textContent !== text) this.els.time.textContent = text;
    this.els.time.dataset.t = String(Math.round(t));
  }

  /** For window.peyk.replay(). */
  debug() {
    const positions: Record<string, [number, number] | null> = {};
    for (const m of this.markers) positions[m.track.id] = m.pos ? [m.pos.lat, m.pos.lng] : null;
    return {
      state: this.state,
      from: this.range?.from ?? null,
      to: this.range?.to ?? null,
      /** First and last point over all couriers. */
      span: this.span,
      t: this.clock ? this.clock.time(performance.now()) : null,
      playing: this.clock?.playing ?? false,
      speed: this.clock?.speed ?? null,
      couriers: this.markers.length,
      shown: this.markers.filter((m) => m.shown).length,
      points: this.points,
      positions,
    };
  }
}
