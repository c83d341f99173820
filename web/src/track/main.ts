// The customer page: `/track#token=<customer token>`. Shows only the courier(s) the
// server sends for this customer's orders, how long ago each last reported, the route
// each order has taken so far (history, growing live), and a banner while the
// connection is down. Made for a phone.
import './track.css';
import { DEFAULT_CONFIG, type PeykConfig } from '../shared/config';
import type { ConnState } from '../shared/connection';
import { formatAge, isStale, staleAfterMs } from '../shared/staleness';
import type { Courier } from '../shared/store';
import { Tweens } from '../shared/tween';
import { decodeClaims, isExpired } from '../shared/token';
import { DAY_MS } from '../shared/time';
import { pointFromLocation } from '../shared/track';
import { LiveTrail } from '../shared/trail';
import type { ServerMessage } from '../shared/protocol';
import { fetchConfig, renderStatus, takeTokenFromUrl, tokenKeeper, byId as $ } from '../ui/browser';
import { exposeDebug } from '../ui/debug';
import { FrameLoop } from '../ui/frame-loop';
import { browserHistoryClient, TrailLine } from '../ui/history';
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

// --- the route of each order (PROTOCOL.md §7: /api/v1/orders/{id}/track) -------------

interface Route {
  trail: LiveTrail;
  line: TrailLine;
}
const routes = new Map<string, Route>();
const historyClient = browserHistoryClient(keeper);
const routeRenderer = L.svg({ padding: 0.5 });
const serverNow = (): number => Date.now() - store.clockOffsetMs;

/**
 * One route per order of the token: the points that carried it over the last 24 h (the
 * longest window the API takes), then every live point that names it. Without history
 * (404, 503) the route still grows from the points received while the page is open.
 */
function startRoutes(orders: readonly string[]): void {
  for (const id of orders) {
    if (routes.has(id)) continue;
    const trail = new LiveTrail({
      load: async (fromUs, toUs) => (await historyClient.orderTrack(id, fromUs, toUs)).points,
      nowMs: serverNow,
      windowMs: null,
      startMs: serverNow() - DAY_MS,
      maxSpanMs: DAY_MS,
      setTimer: (fn, ms) => window.setTimeout(fn, ms),
      clearTimer: (h) => window.clearTimeout(h as number),
      onError: (err) => console.info('peyk: the order route could not be loaded:', (err as Error)?.message ?? err),
    });
    routes.set(id, { trail, line: new TrailLine(map, routeRenderer, 'peyk-route', { 'order-id': id }, '#2563eb') });
    void trail.start();
  }
}

function stopRoutes(): void {
  for (const r of routes.values()) {
    r.trail.stop();
    r.line.remove();
  }
  routes.clear();
}

viewer.onMessage((msg: ServerMessage) => {
  if (routes.size === 0 || msg.type === 'status') return;
  const now = Date.now();
  for (const loc of msg.locations) {
    // The server lists only this customer's own orders; a location without orders can
    // only be for the one order when there is one.
    const ids = loc.orders ?? (routes.size === 1 ? [...routes.keys()] : []);
    for (const id of ids) routes.get(id)?.trail.live(pointFromLocation(loc, now));
  }
});
conn.onClose(() => {
  for (const r of routes.values()) r.trail.disconnected();
});

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
  for (const r of routes.values()) r.line.sync(r.trail.trail);
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
  if (s === 'live' && conn.opens > 1) for (const r of routes.values()) void r.trail.reconnected();
  uiDirty = true;
});

function showExpired(): void {
  keeper.clear();
  stopRoutes();
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
  /** Each order's route: points held, loaded from history, times (µs). */
  routes: () =>
    Object.fromEntries(
      [...routes].map(([id, r]) => [
        id,
        { points: r.trail.trail.size, loaded: r.trail.loaded, loadedPoints: r.trail.loadedPoints, times: r.trail.trail.points.map((p) => p.tUs) },
      ]),
    ),
  map,
};
exposeDebug(peyk);

loop.start();
const token = keeper.get();
void fetchConfig(token).then(applyConfig);
if (token && !isExpired(decodeClaims(token), Date.now())) {
  conn.start();
  startRoutes(decodeClaims(token)?.orders ?? []);
} else {
  renderStatus(statusEl, 'signed-out', STATUS_LABELS);
  document.body.dataset.state = 'signed-out';
  showExpired();
}
