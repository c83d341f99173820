// Leaflet with its CSS and marker images bundled by Vite (no CDN), and the map factory
// shared by the panel and the customer page.
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import iconRetinaUrl from 'leaflet/dist/images/marker-icon-2x.png';
import iconUrl from 'leaflet/dist/images/marker-icon.png';
import shadowUrl from 'leaflet/dist/images/marker-shadow.png';
import type { TileConfig } from '../shared/config';

const iconOptions: L.IconOptions = {
  iconUrl,
  iconRetinaUrl,
  shadowUrl,
  iconSize: [25, 41],
  iconAnchor: [12, 41],
  popupAnchor: [1, -34],
  tooltipAnchor: [16, -28],
  shadowSize: [41, 41],
};

/** Leaflet's blue pin, with our bundled image URLs (L.Icon.Default guesses paths from CSS). */
export const courierIcon = L.icon({ ...iconOptions, className: 'courier-icon' });
/** Same pin, greyed by CSS: a courier with no recent update. */
export const staleCourierIcon = L.icon({ ...iconOptions, className: 'courier-icon courier-stale' });

L.Marker.prototype.options.icon = courierIcon;

/** Tehran: where the original design's couriers drive; the view moves to the data at once. */
export const DEFAULT_CENTER: L.LatLngTuple = [35.6997, 51.338];

export function createMap(el: HTMLElement, options: L.MapOptions = {}): L.Map {
  // maxZoom up front: markercluster needs it before any tile layer is added.
  return L.map(el, { center: DEFAULT_CENTER, zoom: 12, minZoom: 2, maxZoom: 19, ...options });
}

/**
 * Adds the base map. Tiles that fail to load (no network, tile server down) only leave
 * the background grey: markers, clusters and lists do not depend on them. Failures are
 * counted in the container's data-tile-errors.
 */
export function addTiles(map: L.Map, tiles: TileConfig): L.TileLayer {
  const el = map.getContainer();
  let errors = 0;
  const layer = L.tileLayer(tiles.url, { attribution: tiles.attribution, maxZoom: tiles.maxZoom });
  layer.on('tileerror', () => {
    errors++;
    el.dataset.tileErrors = String(errors);
  });
  map.setMaxZoom(tiles.maxZoom);
  layer.addTo(map);
  return layer;
}

export { L };
