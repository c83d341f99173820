// A courier's details as DOM (popup of the panel). Text only: names come from tokens
// and publishers, so nothing is inserted as HTML.
import { batteryView, sourceView } from '../shared/device';
import { formatAge } from '../shared/staleness';
import type { Courier } from '../shared/store';
import { renderBattery, renderSource } from './device-badges';

export function courierDetails(c: Courier, lastSeen: number, now: number, stale: boolean): HTMLElement {
  const root = document.createElement('div');
  root.className = 'courier-details';
  root.dataset.courierId = c.key;
  const title = document.createElement('strong');
  title.textContent = c.name;
  root.append(title);
  const rows: Array<[string, string | undefined]> = [
    ['id', c.key],
    ['updated', `${formatAge(now - lastSeen)}${stale ? ' (stale)' : ''}`],
    ['fleet', c.fleet],
    ['orders', c.orders?.length ? c.orders.join(', ') : undefined],
    ['speed', c.speed !== undefined ? `${(c.speed * 3.6).toFixed(0)} km/h` : undefined],
    ['heading', c.heading !== undefined ? `${Math.round(c.heading)}°` : undefined],
    ['accuracy', c.accuracy !== undefined ? `±${Math.round(c.accuracy)} m` : undefined],
    ['altitude', c.altitude !== undefined ? `${Math.round(c.altitude)} m` : undefined],
    ['recorded', c.recordedAt],
    ['position', `${c.lat.toFixed(5)}, ${c.lng.toFixed(5)}`],
  ];
  const dl = document.createElement('dl');
  for (const [k, v] of rows) {
    if (v === undefined) continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
  // The phone (§9): a badge and the long form beside it; nothing when the point had none.
  const battery = batteryView(c);
  if (battery) {
    const badge = document.createElement('span');
    badge.className = 'battery-badge';
    renderBattery(badge, c);
    addRow(dl, 'battery', badge, ` ${battery.long}`);
  }
  if (sourceView(c.source)) {
    const badge = document.createElement('span');
    badge.className = 'source-badge';
    renderSource(badge, c);
    addRow(dl, 'app', badge);
  }
  root.append(dl);
  return root;
}

function addRow(dl: HTMLElement, key: string, badge: HTMLElement, text = ''): void {
  const dt = document.createElement('dt');
  dt.textContent = key;
  const dd = document.createElement('dd');
  dd.dataset.field = key;
  dd.append(badge);
  if (text) dd.append(document.createTextNode(text));
  dl.append(dt, dd);
}
