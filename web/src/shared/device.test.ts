import { describe, expect, it } from 'vitest';
import { batteryView, LOW_BATTERY_PERCENT, MAX_SOURCE_LABEL, sourceView } from './device';

describe('batteryView', () => {
  it('is null without a battery, or with one out of range', () => {
    expect(batteryView({})).toBeNull();
    expect(batteryView({ charging: true })).toBeNull();
    expect(batteryView({ battery: -1 })).toBeNull();
    expect(batteryView({ battery: 101 })).toBeNull();
    expect(batteryView({ battery: Number.NaN })).toBeNull();
  });

  it('shows whole percent and the charging mark', () => {
    expect(batteryView({ battery: 85, charging: true })).toEqual({
      percent: 85,
      charging: true,
      low: false,
      text: '⚡85%',
      long: '85 %, charging',
    });
    expect(batteryView({ battery: 85.9, charging: false })).toMatchObject({ percent: 85, text: '85%', long: '85 %, not charging' });
    expect(batteryView({ battery: 100 })).toMatchObject({ text: '100%', long: '100 %', charging: undefined });
    expect(batteryView({ battery: 0 })).toMatchObject({ text: '0%', low: true });
  });

  it(`is low below ${LOW_BATTERY_PERCENT} %, charging or not`, () => {
    expect(batteryView({ battery: 20 })!.low).toBe(false);
    expect(batteryView({ battery: 19.9 })).toMatchObject({ low: true, percent: 19, long: '19 % (low)' });
    expect(batteryView({ battery: 12, charging: true })).toMatchObject({ low: true, text: '⚡12%', long: '12 %, charging (low)' });
  });
});

describe('sourceView', () => {
  it('is null for the JSON API (no source)', () => {
    expect(sourceView(undefined)).toBeNull();
    expect(sourceView('')).toBeNull();
    expect(sourceView('  ')).toBeNull();
  });

  it('names the known apps', () => {
    expect(sourceView('osmand')).toMatchObject({ source: 'osmand', label: 'OsmAnd' });
    expect(sourceView('traccar')).toMatchObject({ label: 'Traccar' });
    expect(sourceView('owntracks')).toMatchObject({ label: 'OwnTracks' });
    expect(sourceView('OsmAnd')).toMatchObject({ label: 'OsmAnd' });
  });

  it('shows other sources as sent, shortened', () => {
    expect(sourceView('my-app')).toEqual({ source: 'my-app', label: 'my-app', title: 'Reports from "my-app"' });
    const long = sourceView('a-very-long-publisher-name')!;
    expect([...long.label]).toHaveLength(MAX_SOURCE_LABEL);
    expect(long.label.endsWith('…')).toBe(true);
    expect(sourceView('<img src=x>')!.label).toBe('<img src=x>'); // text: rendered with textContent
  });
});
