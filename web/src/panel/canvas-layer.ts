// MarkerLayer on supercluster drawn on one canvas: the alternative for thousands of
// moving couriers (ARCHITECTURE.md "The panel at scale"). Moving a point costs nothing
// but a redraw; the cluster index is rebuilt from a flat array when positions changed,
// at most as often as its own build time allows (adaptive throttle), and only the
// points and clusters in view are drawn.
import Supercluster, { type ClusterProperties, type PointFeature } from 'supercluster';
import { Tweens, type LatLng } from '../shared/tween';
import { L } from '../ui/leaflet-setup';
import type { LayerCounts, MarkerLayer, MarkerState } from './marker-layer';

interface Point {
  id: string;
  lat: number;
  lng: number;
  label: string;
  stale: boolean;
}

interface Drawn {
  x: number;
  y: number;
  r: number;
  /** Courier id of a single point; null for a cluster. */
  id: string | null;
  clusterId: number;
  count: number;
}

const POINT_RADIUS = 7;
const MAX_TWEENS = 2000;
/** Never rebuild the index more often than this multiple of its last build time. */
const BUILD_BACKOFF = 4;

function clusterStyle(count: number): { r: number; fill: string; ring: string } {
  // The colours of markercluster's default CSS, so both layers look alike.
  if (count < 10) return { r: 15, fill: 'rgba(110, 204, 57, 0.9)', ring: 'rgba(181, 226, 140, 0.6)' };
  if (count < 100) return { r: 17, fill: 'rgba(240, 194, 12, 0.9)', ring: 'rgba(241, 211, 87, 0.6)' };
  return { r: 20, fill: 'rgba(241, 128, 23, 0.9)', ring: 'rgba(253, 156, 115, 0.6)' };
}

export class CanvasClusterLayer implements MarkerLayer {
  readonly kind = 'canvas';
  private readonly points = new Map<string, Point>();
  private readonly tweens = new Tweens();
  private index: Supercluster<{ id: string }> | null = null;
  private indexDirty = true;
  private needsDraw = true;
  private lastBuildAt = -Infinity;
  private lastBuildMs = 0;
  private drawn: Drawn[] = [];
  private readonly pane: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly popup = L.popup({ offset: [0, -6], autoPan: false });
  private popupId: string | null = null;
  private selectFn: (id: string) => void = () => undefined;
  private popupContent: (id: string) => HTMLElement | string = (id) => id;
  /** Build time of the last index rebuild, for the benchmark. */
  buildMs = 0;

  constructor(private readonly map: L.Map) {
    this.pane = map.getPane('peyk-couriers') ?? map.createPane('peyk-couriers');
    this.pane.style.zIndex = '450';
    this.pane.style.pointerEvents = 'none';
    this.canvas = L.DomUtil.create('canvas', 'peyk-courier-canvas leaflet-zoom-hide', this.pane);
    const ctx = this.canvas.getContext('2d');
    if (!ctx) throw new Error('canvas 2d context unavailable');
    this.ctx = ctx;
    map.on('move zoomend resize viewreset', this.invalidate);
    map.on('click', this.onClick);
    map.on('mousemove', this.onMouseMove);
    map.on('popupclose', this.onPopupClose);
  }

  upsert(markers: readonly MarkerState[], now: number): void {
    const view = this.map.getBounds().pad(0.25);
    const zoom = this.map.getZoom();
    for (const m of markers) {
      const p = this.points.get(m.id);
      if (!p) {
        this.points.set(m.id, { id: m.id, lat: m.lat, lng: m.lng, label: m.label, stale: m.stale });
        this.indexDirty = true;
        continue;
      }
      p.label = m.label;
      p.stale = m.stale;
      if (p.lat === m.lat && p.lng === m.lng) continue;
      const from = this.tweens.position(m.id, now) ?? { lat: p.lat, lng: p.lng };
      // Tween only what is likely drawn on its own; the cluster index uses the target.
      if (zoom >= 13 && view.contains([m.lat, m.lng]) && this.tweens.size < MAX_TWEENS) {
        this.tweens.start(m.id, from, { lat: m.lat, lng: m.lng }, now);
      } else {
        this.tweens.cancel(m.id);
      }
      p.lat = m.lat;
      p.lng = m.lng;
      this.indexDirty = true;
    }
    this.needsDraw = true;
  }

  remove(ids: readonly string[]): void {
    for (const id of ids) {
      if (this.points.delete(id)) this.indexDirty = true;
      this.tweens.cancel(id);
      if (this.popupId === id) this.map.closePopup(this.popup);
    }
    this.needsDraw = true;
  }

  clear(): void {
    this.points.clear();
    this.tweens.clear();
    this.indexDirty = true;
    this.needsDraw = true;
    this.map.closePopup(this.popup);
  }

  setStale(id: string, stale: boolean): void {
    const p = this.points.get(id);
    if (p && p.stale !== stale) {
      p.stale = stale;
      this.needsDraw = true;
    }
  }

  frame(now: number): void {
    if (this.indexDirty && now - this.lastBuildAt >= this.lastBuildMs * BUILD_BACKOFF) {
      this.rebuild(now);
    }
    if (this.tweens.size > 0) this.needsDraw = true;
    if (this.needsDraw) this.draw(now);
  }

  focus(id: string): void {
    const p = this.points.get(id);
    if (!p) return;
    const zoom = Math.max(this.map.getZoom(), 17);
    this.map.setView([p.lat, p.lng], Math.min(zoom, this.map.getMaxZoom()), { animate: false });
    this.openPopup(id);
  }

  onSelect(fn: (id: string) => void): void {
    this.selectFn = fn;
  }

  setPopupContent(fn: (id: string) => HTMLElement | string): void {
    this.popupContent = fn;
  }

  refreshPopup(): void {
    if (this.popupId !== null) this.popup.setContent(this.popupContent(this.popupId));
  }

  counts(): LayerCounts {
    const size = this.map.getSize();
    let visibleMarkers = 0;
    let clusters = 0;
    let clusteredMarkers = 0;
    for (const d of this.drawn) {
      if (d.x < 0 || d.y < 0 || d.x > size.x || d.y > size.y) continue;
      if (d.id === null) {
        clusters++;
        clusteredMarkers += d.count;
      } else {
        visibleMarkers++;
      }
    }
    return { markers: this.points.size, visibleMarkers, clusters, clusteredMarkers, animating: this.tweens.size };
  }

  destroy(): void {
    this.map.off('move zoomend resize viewreset', this.invalidate);
    this.map.off('click', this.onClick);
    this.map.off('mousemove', this.onMouseMove);
    this.map.off('popupclose', this.onPopupClose);
    this.map.closePopup(this.popup);
    this.canvas.remove();
  }

  private rebuild(now: number): void {
    const t0 = performance.now();
    const features: Array<PointFeature<{ id: string }>> = [];
    for (const p of this.points.values()) {
      features.push({
        type: 'Feature',
        properties: { id: p.id },
        geometry: { type: 'Point', coordinates: [p.lng, p.lat] },
      });
    }
    // extent 256 = Leaflet's tile size, so `radius` is in screen pixels, as in markercluster.
    const index = new Supercluster<{ id: string }>({ radius: 60, extent: 256, maxZoom: 16, minPoints: 2 });
    index.load(features);
    this.index = index;
    this.indexDirty = false;
    this.lastBuildAt = now;
    this.lastBuildMs = this.buildMs = performance.now() - t0;
    this.needsDraw = true;
  }

  private draw(now: number): void {
    this.needsDraw = false;
    const size = this.map.getSize();
    const dpr = window.devicePixelRatio || 1;
    const topLeft = this.map.containerPointToLayerPoint([0, 0]);
    L.DomUtil.setPosition(this.canvas, topLeft);
    if (this.canvas.width !== Math.round(size.x * dpr) || this.canvas.height !== Math.round(size.y * dpr)) {
      this.canvas.width = Math.round(size.x * dpr);
      this.canvas.height = Math.round(size.y * dpr);
      this.canvas.style.width = `${size.x}px`;
      this.canvas.style.height = `${size.y}px`;
    }
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);
    this.drawn = [];
    if (!this.index) return;

    const b = this.map.getBounds().pad(0.1);
    const west = Math.max(-180, b.getWest());
    const east = Math.min(180, b.getEast());
    const zoom = Math.floor(this.map.getZoom());
    const items = this.index.getClusters([west, Math.max(-85, b.getSouth()), east, Math.min(85, b.getNorth())], zoom);

    const singles: Drawn[] = [];
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.font = '12px "Helvetica Neue", Arial, Helvetica, sans-serif';
    for (const f of items) {
      const [lng, lat] = f.geometry.coordinates as [number, number];
      const props = f.properties as Partial<ClusterProperties> & { id?: string };
      if (props.cluster) {
        const pt = this.map.latLngToContainerPoint([lat, lng]);
        const count = props.point_count ?? 0;
        const s = clusterStyle(count);
        ctx.beginPath();
        ctx.fillStyle = s.ring;
        ctx.arc(pt.x, pt.y, s.r + 5, 0, Math.PI * 2);
        ctx.fill();
        ctx.beginPath();
        ctx.fillStyle = s.fill;
        ctx.arc(pt.x, pt.y, s.r, 0, Math.PI * 2);
        ctx.fill();
        ctx.fillStyle = '#000';
        ctx.fillText(String(props.point_count_abbreviated ?? count), pt.x, pt.y);
        this.drawn.push({ x: pt.x, y: pt.y, r: s.r + 5, id: null, clusterId: props.cluster_id ?? -1, count });
      } else if (props.id !== undefined) {
        const p = this.points.get(props.id);
        if (!p) continue;
        const pos: LatLng = this.tweens.position(p.id, now) ?? p;
        const pt = this.map.latLngToContainerPoint([pos.lat, pos.lng]);
        singles.push({ x: pt.x, y: pt.y, r: POINT_RADIUS + 3, id: p.id, clusterId: -1, count: 1 });
        if (this.popupId === p.id) this.popup.setLatLng([pos.lat, pos.lng]);
      }
    }
    // Finished tweens are simply dropped: the index already holds the target.
    this.tweens.step(now, () => undefined);

    for (const s of singles) {
      const p = this.points.get(s.id!);
      ctx.beginPath();
      ctx.arc(s.x, s.y, POINT_RADIUS, 0, Math.PI * 2);
      ctx.fillStyle = p?.stale ? '#9aa0a6' : '#2a81cb';
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
    }
    this.drawn.push(...singles);
  }

  private hit(x: number, y: number): Drawn | null {
    // Singles are drawn last (on top): search from the end.
    for (let i = this.drawn.length - 1; i >= 0; i--) {
      const d = this.drawn[i]!;
      const dx = d.x - x;
      const dy = d.y - y;
      if (dx * dx + dy * dy <= d.r * d.r) return d;
    }
    return null;
  }

  private openPopup(id: string): void {
    const p = this.points.get(id);
    if (!p) return;
    this.popupId = id;
    this.popup.setLatLng([p.lat, p.lng]).setContent(this.popupContent(id)).openOn(this.map);
  }

  private invalidate = (): void => {
    this.needsDraw = true;
  };

  private onClick = (e: L.LeafletMouseEvent): void => {
    const d = this.hit(e.containerPoint.x, e.containerPoint.y);
    if (!d) return;
    if (d.id !== null) {
      this.openPopup(d.id);
      this.selectFn(d.id);
    } else if (this.index) {
      const zoom = Math.min(this.index.getClusterExpansionZoom(d.clusterId), this.map.getMaxZoom());
      this.map.setView(this.map.containerPointToLatLng([d.x, d.y]), zoom);
    }
  };

  private onMouseMove = (e: L.LeafletMouseEvent): void => {
    const over = this.hit(e.containerPoint.x, e.containerPoint.y) !== null;
    this.map.getContainer().style.cursor = over ? 'pointer' : '';
  };

  private onPopupClose = (e: L.PopupEvent): void => {
    if (e.popup === this.popup) this.popupId = null;
  };
}
