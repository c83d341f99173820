// Browser glue of the history features shared by both pages: the API client on the
// page's fetch, a trail drawn as an SVG polyline (a DOM element the tests can see), and
// saving a text as a file.
import { HistoryClient } from '../shared/history-client';
import type { TokenKeeper } from '../shared/token';
import type { Trail } from '../shared/trail';
import { L } from './leaflet-setup';

export function browserHistoryClient(keeper: TokenKeeper): HistoryClient {
  return new HistoryClient({
    fetch: (url, init) => window.fetch(url, init),
    token: () => keeper.get(),
  });
}

/**
 * A trail on the map: one polyline on its own SVG renderer (the panel draws its markers
 * on a canvas; a trail is one element however many points it has). Its path carries
 * `data-<key>="<id>"` and `data-points`. Redraws only when the trail changed.
 */
export class TrailLine {
  private readonly line: L.Polyline;
  private drawn = -1;
  private added = false;

  constructor(
    private readonly map: L.Map,
    renderer: L.Renderer,
    className: string,
    private readonly attrs: Record<string, string>,
    color: string,
  ) {
    this.line = L.polyline([], {
      renderer,
      className,
      color,
      weight: 4,
      opacity: 0.8,
      interactive: false,
      lineJoin: 'round',
    });
  }

  /** Draws the trail if it changed since the last call. */
  sync(trail: Trail): void {
    if (trail.version === this.drawn && this.added) return;
    this.drawn = trail.version;
    this.line.setLatLngs(trail.points.map((p) => [p.lat, p.lng] as L.LatLngTuple));
    if (!this.added) {
      this.line.addTo(this.map);
      this.added = true;
    }
    const el = this.line.getElement();
    if (el) {
      for (const [k, v] of Object.entries(this.attrs)) el.setAttribute(`data-${k}`, v);
      el.setAttribute('data-points', String(trail.size));
    }
  }

  bounds(): L.LatLngBounds | null {
    const b = this.line.getBounds();
    return b.isValid() ? b : null;
  }

  remove(): void {
    this.line.remove();
    this.added = false;
  }
}

/** Offers `text` as a download named `name` (a Blob URL, revoked afterwards). */
export function saveFile(text: string, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 30_000);
}
