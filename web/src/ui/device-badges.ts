// A courier's phone as two small badges: the app it reports from and its battery
// (PROTOCOL.md §9). Text only (textContent, dataset, title): `source` comes from whatever
// published on the broker, so nothing is inserted as HTML. Hooks for tests:
//   span.source-badge[data-source]                       — text: the app's short name
//   span.battery-badge[data-level][data-low][data-charging] — text: "85%" or "⚡85%"
// A badge whose field the last point did not carry is hidden (and has no data-*).
import { batteryView, sourceView } from '../shared/device';
import type { Courier } from '../shared/store';

type DeviceFields = Pick<Courier, 'battery' | 'charging' | 'source'>;

function span(className: string): HTMLSpanElement {
  const e = document.createElement('span');
  e.className = className;
  e.hidden = true;
  return e;
}

function setText(e: HTMLElement, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

function setData(e: HTMLElement, key: string, value: string | undefined): void {
  if (value === undefined) {
    if (key in e.dataset) delete e.dataset[key];
  } else if (e.dataset[key] !== value) {
    e.dataset[key] = value;
  }
}

function setShown(e: HTMLElement, shown: boolean, title: string): void {
  if (e.hidden === shown) e.hidden = !shown;
  if (e.title !== title) e.title = title;
}

/** Updates a battery badge in place for courier `c`. */
export function renderBattery(e: HTMLElement, c: DeviceFields | undefined): void {
  const v = c ? batteryView(c) : null;
  setShown(e, v !== null, v ? `Battery ${v.long}` : '');
  setText(e, v?.text ?? '');
  setData(e, 'level', v ? String(v.percent) : undefined);
  setData(e, 'low', v ? String(v.low) : undefined);
  setData(e, 'charging', v?.charging === undefined ? undefined : String(v.charging));
}

/** Updates an app badge in place for courier `c`. */
export function renderSource(e: HTMLElement, c: DeviceFields | undefined): void {
  const v = sourceView(c?.source);
  setShown(e, v !== null, v?.title ?? '');
  setText(e, v?.label ?? '');
  setData(e, 'source', v?.source);
}

/** A pair of badges (app, battery) kept up to date by `update`. */
export class DeviceBadges {
  readonly root: HTMLElement;
  private readonly source = span('source-badge');
  private readonly battery = span('battery-badge');

  constructor(root?: HTMLElement) {
    this.root = root ?? document.createElement('span');
    this.root.classList.add('device-badges');
    this.root.replaceChildren(this.source, this.battery);
  }

  update(c: DeviceFields | undefined): void {
    renderSource(this.source, c);
    renderBattery(this.battery, c);
  }
}
