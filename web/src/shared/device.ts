// What the panel says about a courier's phone: its battery and the app it reports from
// (PROTOCOL.md §9). Both come from the courier's last point; a point without them shows
// nothing. No DOM here.
import type { Courier } from './store';

/** Below this percentage the battery is shown as low (the §10 policy's threshold too). */
export const LOW_BATTERY_PERCENT = 20;

export interface BatteryView {
  /** Whole percent, 0–100. */
  percent: number;
  /** True or false when the app said; undefined when it did not. */
  charging: boolean | undefined;
  low: boolean;
  /** Short text for a badge: "85%", "⚡85%". */
  text: string;
  /** Longer text for a tooltip or a details row: "85 %, charging". */
  long: string;
}

export function batteryView(c: Pick<Courier, 'battery' | 'charging'>): BatteryView | null {
  const b = c.battery;
  if (b === undefined || !Number.isFinite(b) || b < 0 || b > 100) return null;
  // Floor, so that 19.6 % still reads as below 20.
  const percent = Math.floor(b);
  const low = b < LOW_BATTERY_PERCENT;
  const charging = c.charging;
  const state = charging === true ? ', charging' : charging === false ? ', not charging' : '';
  return {
    percent,
    charging,
    low,
    text: `${charging ? '⚡' : ''}${percent}%`,
    long: `${percent} %${state}${low ? ' (low)' : ''}`,
  };
}

export interface SourceView {
  /** The `source` as sent. */
  source: string;
  /** Short badge label. */
  label: string;
  /** Tooltip: what the app is. */
  title: string;
}

const KNOWN_SOURCES: Record<string, { label: string; title: string }> = {
  osmand: { label: 'OsmAnd', title: 'Reports from the OsmAnd app (OsmAnd protocol)' },
  traccar: { label: 'Traccar', title: 'Reports from Traccar Client' },
  owntracks: { label: 'OwnTracks', title: 'Reports from OwnTracks (HTTP mode)' },
};

/** Longest label shown for a source the panel does not know (the rest is cut with "…"). */
export const MAX_SOURCE_LABEL = 12;

/**
 * The app a courier reports from; null for peyk's own JSON API (no `source`). Unknown
 * sources (any program may publish on the broker) are shown as sent, shortened.
 */
export function sourceView(source: string | undefined): SourceView | null {
  if (source === undefined) return null;
  const s = source.trim();
  if (s === '') return null;
  const known = KNOWN_SOURCES[s.toLowerCase()];
  if (known) return { source: s, ...known };
  const chars = [...s];
  const label = chars.length > MAX_SOURCE_LABEL ? `${chars.slice(0, MAX_SOURCE_LABEL - 1).join('')}…` : s;
  return { source: s, label, title: `Reports from "${s}"` };
}
