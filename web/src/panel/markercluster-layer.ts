// MarkerLayer on leaflet.markercluster: DOM pin markers, clusters that split on zoom.
//
// Cost model: markercluster re-indexes a moved marker by removeLayer + addLayer, each of
// which recomputes the bounds and icons of every cluster level (its issues #57, #774).
// So:
//  - moves are applied in bulk, once per frame: removeLayers(all moved) then
//    addLayers(all moved) — two re-computations per frame, not two per marker;
//  - a tween only runs for a marker drawn on its own in view; it moves the pin's DOM
//    (Leaflet's private `_latlng` + update()) without telling markercluster, and the
//    real re-index happens once, when the tween ends;
//  - during a zoom (markercluster animates its own clusters) moves wait and are applied
//    in one bulk after it.
import 'leaflet.markercluster';
import 'leaflet.markercluster/dist/MarkerCluster.css';
import 'leaflet.markercluster/dist/MarkerCluster.Default.css';
import { Tweens, type LatLng } from '../shared/tween';
import { courierIcon, L, staleCourierIcon } from '../ui/leaflet-setup';
import type { LayerCounts, MarkerLayer, MarkerState } from './marker-layer';

/** More simultaneous tweens than this and the rest jump (each tween is a DOM write per frame). */
const MAX_TWEENS = 300;
/** Let markercluster finish its own zoom animation before re-indexing moved markers. */
const AFTER_ZOOM_MS = 300;
/** Moving at least this share of all markers rebuilds the index instead. */
const REBUILD_FRACTION = 0.25;

/** A pin that carries data-courier-id on its element (for tests and for CSS). */
class CourierMarker extends L.Marker {
  constructor(
    readonly courierId: string,
    latlng: L.LatLngExpression,
    options: L.MarkerOptions,
  ) {
    super(latlng, options);
  }

  override onAdd(map: L.Map): this {
    super.onAdd(map);
    this.tag();
    return this;
  }

  override setIcon(icon: L.Icon | L.DivIcon): this {
    super.setIcon(icon);
    this.tag();
    return this;
  }

  tag(): void {
    const el = this.getElement();
    if (el) el.dataset.courierId = this.courierId;
  }

  /** Moves the drawn pin only; markercluster is not told (see the file comment). */
  drawAt(pos: LatLng): void {
    (this as unknown as { _latlng: L.LatLng })._latlng = L.latLng(pos.lat, pos.lng);
    this.redraw();
  }

  /** Leaflet's Marker.update(): re-positions the icon from `_latlng` (missing from the types). */
  redraw(): void {
    (this as unknown as { update(): void }).update();
  }
}

interface Entry {
  marker: CourierMarker;
  stale: boolean;
  label: string;
  /** The position markercluster has indexed the marker at. */
  indexed: L.LatLng;
}

export class MarkerClusterLayer implements MarkerLayer {
  readonly kind = 'markercluster';
  private readonly group: L.MarkerClusterGroup;
  private readonly entries = new Map<string, Entry>();
  private readonly tweens = new Tweens();
  /** Moves waiting for the end of a zoom, newest target per courier. */
  private readonly deferred = new Map<string, L.LatLng>();
  private zooming = false;
  private zoomEndedAt = 0;
  private readonly popup = L.popup({ offset: [0, -30], autoPan: false });
  private popupId: string | null = null;
  /** Time of the last bulk re-index, for the benchmark. */
  lastReindexMs = 0;
  private selectFn: (id: string) => void = () => undefined;
  private popupContent: (id: string) => HTMLElement | string = (id) => id;

  constructor(private readonly map: L.Map) {
    this.group = L.markerClusterGroup({
      chunkedLoading: false, // synchronous, so counts are exact right after a frame
      showCoverageOnHover: false,
      removeOutsideVisibleBounds: true,
      maxClusterRadius: 60,
      spiderfyOnMaxZoom: true,
    });
    this.group.on('click', (e: L.LeafletEvent) => {
      const layer = (e as L.LeafletMouseEvent & { layer?: unknown }).layer;
      if (layer instanceof CourierMarker) {
        this.openPopup(layer.courierId);
        this.selectFn(layer.courierId);
      }
    });
    map.addLayer(this.group);
    map.on('zoomstart', this.onZoomStart);
    map.on('zoomend', this.onZoomEnd);
    map.on('popupclose', this.onPopupClose);
  }

  upsert(markers: readonly MarkerState[], now: number): void {
    const added: CourierMarker[] = [];
    const jumps: Array<[Entry, L.LatLng]> = [];
    const view = this.map.getBounds().pad(0.25);
    for (const m of markers) {
      const target = L.latLng(m.lat, m.lng);
      const e = this.entries.get(m.id);
      if (!e) {
        const marker = new CourierMarker(m.id, target, {
          icon: m.stale ? staleCourierIcon : courierIcon,
          title: m.label,
          keyboard: false,
        });
        this.entries.set(m.id, { marker, stale: m.stale, label: m.label, indexed: target });
        added.push(marker);
        continue;
      }
      if (m.label !== e.label) {
        e.label = m.label;
        e.marker.options.title = m.label;
        const el = e.marker.getElement();
        if (el) el.title = m.label;
      }
      if (m.stale !== e.stale) this.setStale(m.id, m.stale);
      const current = this.tweens.target(m.id) ?? this.deferred.get(m.id) ?? e.indexed;
      if (current.lat === target.lat && current.lng === target.lng) continue;
      if (this.zooming || now < this.zoomEndedAt + AFTER_ZOOM_MS) {
        this.deferred.set(m.id, target);
      } else if (
        this.map.hasLayer(e.marker) && // drawn on its own, not inside a cluster
        (view.contains(target) || view.contains(e.marker.getLatLng())) &&
        (this.tweens.has(m.id) || this.tweens.size < MAX_TWEENS)
      ) {
        this.tweens.start(m.id, e.marker.getLatLng(), target, now);
      } else {
        this.tweens.cancel(m.id);
        jumps.push([e, target]);
      }
    }
    if (added.length) this.group.addLayers(added);
    if (jumps.length) this.reindex(jumps);
  }

  remove(ids: readonly string[]): void {
    const gone: CourierMarker[] = [];
    for (const id of ids) {
      const e = this.entries.get(id);
      if (!e) continue;
      this.restore(e);
      this.tweens.cancel(id);
      this.deferred.delete(id);
      this.entries.delete(id);
      gone.push(e.marker);
      if (this.popupId === id) this.map.closePopup(this.popup);
    }
    if (gone.length) this.group.removeLayers(gone);
  }

  clear(): void {
    this.tweens.clear();
    this.deferred.clear();
    this.entries.clear();
    this.group.clearLayers();
    this.map.closePopup(this.popup);
  }

  setStale(id: string, stale: boolean): void {
    const e = this.entries.get(id);
    if (!e || e.stale === stale) return;
    e.stale = stale;
    e.marker.setIcon(stale ? staleCourierIcon : courierIcon);
  }

  frame(now: number): void {
    if (this.tweens.size > 0) {
      const ended: Array<[Entry, L.LatLng]> = [];
      this.tweens.step(now, (id, pos, done) => {
        const e = this.entries.get(id);
        if (!e) return;
        if (done) {
          ended.push([e, L.latLng(pos.lat, pos.lng)]);
        } else {
          e.marker.drawAt(pos);
          if (this.popupId === id) this.popup.setLatLng(pos);
        }
      });
      if (ended.length) this.reindex(ended);
    }
    if (this.deferred.size > 0 && !this.zooming && now >= this.zoomEndedAt + AFTER_ZOOM_MS) {
      const moves: Array<[Entry, L.LatLng]> = [];
      for (const [id, target] of this.deferred) {
        const e = this.entries.get(id);
        if (e) moves.push([e, target]);
      }
      this.deferred.clear();
      this.reindex(moves);
    }
  }

  focus(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    const pending = this.tweens.target(id) ?? this.deferred.get(id);
    if (pending) {
      this.tweens.cancel(id);
      this.deferred.delete(id);
      this.reindex([[e, L.latLng(pending.lat, pending.lng)]]);
    }
    this.group.zoomToShowLayer(e.marker, () => this.openPopup(id));
  }

  onSelect(fn: (id: string) => void): void {
    this.selectFn = fn;
  }

  setPopupContent(fn: (id: string) => HTMLElement | string): void {
    this.popupContent = fn;
  }

  counts(): LayerCounts {
    const bounds = this.map.getBounds();
    let visibleMarkers = 0;
    let clusters = 0;
    let clusteredMarkers = 0;
    // What markercluster currently shows: its private inner feature group holds exactly
    // the pins and cluster icons on the map.
    const shown = (this.group as unknown as { _featureGroup?: L.FeatureGroup })._featureGroup;
    shown?.eachLayer((layer) => {
      if (layer instanceof L.MarkerCluster) {
        if (bounds.contains(layer.getLatLng())) {
          clusters++;
          clusteredMarkers += layer.getChildCount();
        }
      } else if (layer instanceof L.Marker && bounds.contains(layer.getLatLng())) {
        visibleMarkers++;
      }
    });
    return {
      markers: this.entries.size,
      visibleMarkers,
      clusters,
      clusteredMarkers,
      animating: this.tweens.size,
    };
  }

  /** Re-content the open popup (e.g. after the courier's data changed). */
  refreshPopup(): void {
    if (this.popupId !== null) this.popup.setContent(this.popupContent(this.popupId));
  }

  destroy(): void {
    this.map.off('zoomstart', this.onZoomStart);
    this.map.off('zoomend', this.onZoomEnd);
    this.map.off('popupclose', this.onPopupClose);
    this.clear();
    this.map.removeLayer(this.group);
  }

  /** Puts the marker back where markercluster believes it is (after drawAt). */
  private restore(e: Entry): void {
    (e.marker as unknown as { _latlng: L.LatLng })._latlng = e.indexed;
  }

  /**
   * Moves markers in markercluster's index: one bulk remove and one bulk add — or, when
   * most markers moved, one clear and one bulk add of all (removing thousands of markers
   * one by one from the cluster tree costs far more than rebuilding it).
   */
  private reindex(moves: Array<[Entry, L.LatLng]>): void {
    const t0 = performance.now();
    const rebuild = moves.length >= REBUILD_FRACTION * this.entries.size;
    // Animated pins are drawn off their indexed place: index them where markercluster
    // believes they are (their tween goes on drawing them next frame).
    if (rebuild) for (const e of this.entries.values()) this.restore(e);
    else for (const [e] of moves) this.restore(e);
    if (rebuild) this.group.clearLayers();
    else this.group.removeLayers(moves.map(([e]) => e.marker));
    for (const [e, target] of moves) {
      e.indexed = target;
      e.marker.setLatLng(target); // not in the group now: no remove+add per marker
      if (this.popupId === e.marker.courierId) this.popup.setLatLng(target);
    }
    if (rebuild) this.group.addLayers([...this.entries.values()].map((e) => e.marker));
    else this.group.addLayers(moves.map(([e]) => e.marker));
    this.lastReindexMs = performance.now() - t0;
  }

  private openPopup(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.popupId = id;
    this.popup.setLatLng(e.marker.getLatLng()).setContent(this.popupContent(id)).openOn(this.map);
  }

  private onZoomStart = (): void => {
    this.zooming = true;
    // Put animated pins back at their indexed place and move them after the zoom.
    this.tweens.finishAll((id, pos) => {
      const e = this.entries.get(id);
      if (!e) return;
      this.restore(e);
      e.marker.redraw();
      this.deferred.set(id, L.latLng(pos.lat, pos.lng));
    });
  };

  private onZoomEnd = (): void => {
    this.zooming = false;
    this.zoomEndedAt = performance.now();
  };

  private onPopupClose = (e: L.PopupEvent): void => {
    if (e.popup === this.popup) this.popupId = null;
  };
}
