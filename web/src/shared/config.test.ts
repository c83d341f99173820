import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, parseConfig } from './config';

describe('parseConfig', () => {
  it('reads the documented answer', () => {
    const cfg = parseConfig({
      tiles: { url: 'https://tiles.example/{z}/{x}/{y}.png', attribution: 'Example' },
      update_interval_seconds: 30,
    });
    expect(cfg.tiles.url).toBe('https://tiles.example/{z}/{x}/{y}.png');
    expect(cfg.tiles.attribution).toBe('Example');
    expect(cfg.updateIntervalSeconds).toBe(30);
  });

  it('defaults everything for a bad answer', () => {
    expect(parseConfig(null)).toEqual(DEFAULT_CONFIG);
    expect(parseConfig('x')).toEqual(DEFAULT_CONFIG);
    expect(parseConfig({ tiles: { url: 'no-placeholders' }, update_interval_seconds: -1 })).toEqual(DEFAULT_CONFIG);
  });

  it('does not credit OSM for another tile source without attribution', () => {
    expect(parseConfig({ tiles: { url: 'https://t/{z}/{x}/{y}.png' } }).tiles.attribution).toBe('');
  });

  it('does not mutate the defaults', () => {
    parseConfig({ tiles: { url: 'https://t/{z}/{x}/{y}.png', max_zoom: 12 } });
    expect(DEFAULT_CONFIG.tiles.url).toContain('openstreetmap');
    expect(DEFAULT_CONFIG.tiles.maxZoom).toBe(19);
  });
});
