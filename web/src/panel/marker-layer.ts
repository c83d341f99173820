// The panel's render layer for courier markers. The clustering implementation sits
// behind this interface so it can be swapped by the frame-time figures
// (ARCHITECTURE.md "The panel at scale"): leaflet.markercluster (DOM markers) or
// supercluster drawn on a canvas. Pick one with ?layer=markercluster|canvas.

export interface MarkerState {
  id: string;
  lat: number;
  lng: number;
  /** Shown as the marker's title / in its popup. */
  label: string;
  stale: boolean;
}

export interface LayerCounts {
  /** Markers held by the layer (one per courier). */
  markers: number;
  /** Single courier markers drawn in the current view. */
  visibleMarkers: number;
  /** Cluster icons drawn in the current view. */
  clusters: number;
  /** Couriers inside those clusters (sum of their counts). */
  clusteredMarkers: number;
  /** Markers being animated right now. */
  animating: number;
}

export interface MarkerLayer {
  readonly kind: string;
  /**
   * Adds new markers and moves existing ones. A move is animated (a short tween) when the
   * marker is drawn on its own in view; clustered or off-screen markers jump.
   * `now` is performance.now().
   */
  upsert(markers: readonly MarkerState[], now: number): void;
  remove(ids: readonly string[]): void;
  clear(): void;
  setStale(id: string, stale: boolean): void;
  /** Called once per animation frame: advances animations, redraws what changed. */
  frame(now: number): void;
  /** Zooms until the courier is shown on its own and opens its popup. */
  focus(id: string): void;
  /** Called when the user clicks a courier marker. */
  onSelect(fn: (id: string) => void): void;
  /** Tell the layer how to build popup content for a courier. */
  setPopupContent(fn: (id: string) => HTMLElement | string): void;
  /** Rebuilds the open popup's content (the courier's data changed). */
  refreshPopup(): void;
  counts(): LayerCounts;
  destroy(): void;
}

/** No markers at all: stands in for the live layer while the panel is in replay mode. */
export class NoMarkers implements MarkerLayer {
  readonly kind = 'none';
  upsert(): void {}
  remove(): void {}
  clear(): void {}
  setStale(): void {}
  frame(): void {}
  focus(): void {}
  onSelect(): void {}
  setPopupContent(): void {}
  refreshPopup(): void {}
  counts(): LayerCounts {
    return { markers: 0, visibleMarkers: 0, clusters: 0, clusteredMarkers: 0, animating: 0 };
  }
  destroy(): void {}
}
