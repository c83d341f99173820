// GET /api/v1/config, with defaults for when the server does not answer. No DOM here.
import { DEFAULT_UPDATE_INTERVAL_SECONDS } from './staleness';

export interface TileConfig {
  url: string;
  attribution: string;
  maxZoom: number;
}

export interface PeykConfig {
  tiles: TileConfig;
  updateIntervalSeconds: number;
}

export const DEFAULT_TILES: TileConfig = {
  url: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png',
  attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
  maxZoom: 19,
};

export const DEFAULT_CONFIG: PeykConfig = {
  tiles: DEFAULT_TILES,
  updateIntervalSeconds: DEFAULT_UPDATE_INTERVAL_SECONDS,
};

/** Takes what is valid from the server's answer and defaults the rest. */
export function parseConfig(v: unknown): PeykConfig {
  const cfg: PeykConfig = { tiles: { ...DEFAULT_TILES }, updateIntervalSeconds: DEFAULT_UPDATE_INTERVAL_SECONDS };
  if (typeof v !== 'object' || v === null) return cfg;
  const o = v as Record<string, unknown>;
  const tiles = o.tiles;
  if (typeof tiles === 'object' && tiles !== null) {
    const t = tiles as Record<string, unknown>;
    if (typeof t.url === 'string' && t.url.includes('{z}')) {
      cfg.tiles.url = t.url;
      // A server-chosen tile source needs its own attribution; never show OSM's for it.
      cfg.tiles.attribution = typeof t.attribution === 'string' ? t.attribution : '';
    } else if (typeof t.attribution === 'string') {
      cfg.tiles.attribution = t.attribution;
    }
    const mz = t.max_zoom ?? t.maxZoom;
    if (typeof mz === 'number' && Number.isInteger(mz) && mz >= 1 && mz <= 24) cfg.tiles.maxZoom = mz;
  }
  const interval = o.update_interval_seconds;
  if (typeof interval === 'number' && Number.isFinite(interval) && interval > 0) {
    cfg.updateIntervalSeconds = Math.min(interval, 86_400);
  }
  return cfg;
}
