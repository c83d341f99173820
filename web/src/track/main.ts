// The customer page: `/track#token=<customer token>`. Shows only the courier(s) the
// server sends for this customer's orders, how long ago each last reported, and a
// banner while the connection is down. Made for a phone.
import './track.css';
import { DEFAULT_CONFIG, type PeykConfig } from '../shared/config';
import type { ConnState } from '../shared/connection';
import { formatAge, isStale, staleAfterMs } from '../shared/staleness';
import type { Courier } from '../shared/store';
import { Tweens } from '../shared/tween';
import { decodeClaims, isExpired } from '../shared/token';
import { fetchConfig, renderStatus, takeTokenFromUrl, tokenKeeper, byId as $ } from '../ui/browser';
import { exposeDebug } from '../ui/debug';
import { FrameLoop } from '../ui/frame-loop';
import { addTiles, courierIcon, createMap, L, staleCourierIcon } from '../ui/leaflet-setup';
import { Viewer } from '../ui/viewer';

const STATUS_LABELS: Record<string, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  'signed-out': 'Link expired',
};
const UI_EVERY_MS = 500;

const keeper = tokenKeeper('peyk.track.token');
takeTokenFromUrl(keeper);

const banner = $('banner');
const statusEl = $('status');
const updatedEl = $('updated');
const cards = $<HTMLUListElement>('courier-cards');
const waiting = $('waiting');
const expired = $('expired');
const recenter = $<HTMLButtonElement>('recenter');

let config: PeykConfig = DEFAULT_CONFIG;
let staleMs = staleAfterMs(config.updateIntervalSeconds);
const map = createMap($('map'), { zoomControl: false });
L.control.zoom({ position: 'topright' }).addTo(map);

const viewer = new Viewer(keeper);
const { store, conn } = viewer;
const markers = new Map<string, L.Marker>();
const staleKeys = new Set<string>();
const tweens = new Tweens();
let follow = true;
let uiDirty = true;
let lastUi = 0;

// The user moved the map: stop following until "Recenter".
map.on('dragstart', () => {
  follow = false;
  recenter.hidden = store.size === 0;
});
recenter.addEventListener('click', () => {
  follow = true;
  recenter.hidden = true;
  centerOnCouriers(false);
});

function centerOnCouriers(animate: boolean): void {
  const pts: L.LatLngTuple[] = [];
  for (const c of store.values()) pts.push([c.lat, c.lng]);
  if (pts.length === 1) {
    map.setView(pts[0]!, Math.max(map.getZoom(), 15), { animate });
  } else if (pts.length > 1) {
    map.fitBounds(L.latLngBounds(pts), { padding: [40, 40], maxZoom: 16, animate });
  }
}

function syncMarkers(changed: readonly Courier[], removed: readonly string[], now: number): void {
  for (const key of removed) {
    markers.get(key)?.remove();
    markers.delete(key);
    tweens.cancel(key);
  }
  for (const c of changed) {
    const m = markers.get(c.key);
    if (!m) {
      const marker = L.marker([c.lat, c.lng], { icon: courierIcon, title: c.name, keyboard: false }).addTo(map);
      marker.getElement()?.setAttribute('data-courier-id', c.key);
      markers.set(c.key, marker);
    } else {
      tweens.start(c.key, m.getLatLng(), { lat: c.lat, lng: c.lng }, now);
    }
  }
}

function renderUi(now: number): void {
  // Stale flags and marker colours.
  for (const c of store.values()) {
    const s = isStale(store.lastSeen(c), now, staleMs, c.serverState);
    if (s !== staleKeys.has(c.key)) {
      if (s) staleKeys.add(c.key);
      else staleKeys.delete(c.key);
      const m = markers.get(c.key);
      m?.setIcon(s ? staleCourierIcon : courierIcon);
      m?.getElement()?.setAttribute('data-courier-id', c.key);
    }
  }

  const list = [...store.values()].sort((a, b) => store.lastSeen(b) - store.lastSeen(a));
  const signedOut = conn.state === 'signed-out';
  waiting.hidden = list.length > 0 || signedOut;
  updatedEl.hidden = list.length === 0;
  const newest = list[0];
  if (newest) {
    const age = now - store.lastSeen(newest);
    setText(updatedEl, `updated ${formatAge(age)}`);
    updatedEl.dataset.ageSeconds = String(Math.max(0, Math.floor(age / 1000)));
  }

  const rows: HTMLLIElement[] = [];
  for (const c of list) {
    let li = cards.querySelector<HTMLLIElement>(`li[data-courier-id="${CSS.escape(c.key)}"]`);
    if (!li) {
      li = document.createElement('li');
      li.dataset.courierId = c.key;
      li.innerHTML = '<span class="card-name"></span><span class="card-age"></span><span class="card-orders"></span>';
    }
    const s = staleKeys.has(c.key);
    setText(li.querySelector('.card-name')!, c.name);
    // With one courier the headline (#updated) already says it.
    const age = list.length > 1 ? `updated ${formatAge(now - store.lastSeen(c))}` : '';
    setText(li.querySelector('.card-age')!, s ? `${age}${age ? ' — ' : ''}no recent update` : age);
    setText(li.querySelector('.card-orders')!, c.orders?.length ? `Order ${c.orders.join(', ')}` : '');
    li.dataset.stale = String(s);
    rows.push(li);
  }
  const same = rows.length === cards.children.length && rows.every((r, i) => cards.children[i] === r);
  if (!same) cards.replaceChildren(...rows);
}

const loop = new FrameLoop((now) => {
  const wall = Date.now();
  const applied = viewer.drain(wall);
  if (applied) {
    const { batch, changes } = applied;
    loop.stats.countMessages(batch.messages, (batch.snapshot?.length ?? 0) + batch.updates.length);
    const firstData = markers.size === 0;
    syncMarkers([...changes.added, ...changes.moved], changes.removed, now);
    if (follow && (firstData || changes.added.length || changes.moved.length)) centerOnCouriers(!firstData);
    uiDirty = true;
    if (changes.added.length || changes.removed.length) lastUi = 0; // show new couriers at once
  }
  tweens.step(now, (id, pos) => markers.get(id)?.setLatLng([pos.lat, pos.lng]));
  if (wall - lastUi >= 1000) uiDirty = true; // ages move on
  if (uiDirty && wall - lastUi >= UI_EVERY_MS) {
    uiDirty = false;
    lastUi = wall;
    renderUi(wall);
  }
});

function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

conn.onState((s: ConnState) => {
  const shown = s === 'stopped' ? 'signed-out' : s;
  renderStatus(statusEl, shown, STATUS_LABELS);
  banner.hidden = shown !== 'reconnecting';
  document.body.dataset.state = shown;
  if (shown === 'signed-out') showExpired();
  uiDirty = true;
});

function showExpired(): void {
  keeper.clear();
  expired.hidden = false;
  waiting.hidden = true;
  banner.hidden = true;
  store.clear();
  viewer.buffer.clear();
  for (const m of markers.values()) m.remove();
  markers.clear();
  tweens.clear();
}

function applyConfig(cfg: PeykConfig): void {
  config = cfg;
  staleMs = staleAfterMs(cfg.updateIntervalSeconds);
  staleKeys.clear();
  addTiles(map, cfg.tiles);
  uiDirty = true;
}

const peyk = {
  page: 'track' as const,
  state: (): string => conn.state,
  counts: () => ({ couriers: store.size, markers: markers.size, visibleMarkers: markers.size, stale: staleKeys.size }),
  frameStats: () => loop.stats.summary(),
  resetFrameStats: (): void => loop.stats.reset(),
  courier: (id: string | number) => {
    const c = store.get(String(id));
    return c ? { ...c, stale: staleKeys.has(c.key), lastSeen: store.lastSeen(c) } : null;
  },
  inject: (frame: string | object): void => viewer.inject(frame),
  connection: () => ({ state: conn.state, protocol: conn.protocol, opens: conn.opens, frames: viewer.frames }),
  config: () => config,
  map,
};
exposeDebug(peyk);

loop.start();
const token = keeper.get();
void fetchConfig(token).then(applyConfig);
if (token && !isExpired(decodeClaims(token), Date.now())) {
  conn.start();
} else {
  renderStatus(statusEl, 'signed-out', STATUS_LABELS);
  document.body.dataset.state = 'signed-out';
  showExpired();
}
