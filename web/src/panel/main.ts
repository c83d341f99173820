// The panel (admin, dispatcher): every courier the token may see, on a clustered map
// and in a searchable list; the selected courier's trail, summary and exports; replay.
import './panel.css';
import { DEFAULT_CONFIG, type PeykConfig } from '../shared/config';
import type { ConnState } from '../shared/connection';
import { FocusSync } from '../shared/focus';
import { isStale, staleAfterMs } from '../shared/staleness';
import type { ChangeSet } from '../shared/store';
import { decodeClaims, isExpired, normalizeToken } from '../shared/token';
import { fetchConfig, renderStatus, takeTokenFromUrl, tokenKeeper, byId as $ } from '../ui/browser';
import { courierDetails } from '../ui/details';
import { DeviceBadges } from '../ui/device-badges';
import { exposeDebug } from '../ui/debug';
import { FrameLoop } from '../ui/frame-loop';
import { browserHistoryClient } from '../ui/history';
import { addTiles, createMap, L } from '../ui/leaflet-setup';
import { Viewer } from '../ui/viewer';
import { CanvasClusterLayer } from './canvas-layer';
import { CourierList } from './courier-list';
import { availabilityOf, CourierHistory, type HistoryAvailability } from './courier-history';
import { NoMarkers, type MarkerLayer, type MarkerState } from './marker-layer';
import { MarkerClusterLayer } from './markercluster-layer';
import { ReplayView } from './replay-view';

const STATUS_LABELS: Record<string, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  'signed-out': 'Signed out',
};
const LIST_EVERY_MS = 250;
const STALE_CHECK_EVERY_MS = 1000;

const keeper = tokenKeeper('peyk.panel.token');
takeTokenFromUrl(keeper);

const statusEl = $('status');
const whoEl = $('whoami');
const signinEl = $('signin');
const signinForm = $<HTMLFormElement>('signin-form');
const tokenInput = $<HTMLTextAreaElement>('token-input');
const signinError = $('signin-error');
const signoutBtn = $<HTMLButtonElement>('signout');
const replayBtn = $<HTMLButtonElement>('replay-open');
const historyNote = $('history-note');

// ?layer=markercluster|canvas forces a render layer; the default (auto) uses
// markercluster and switches to the canvas layer when a snapshot brings more than
// AUTO_CANVAS_ABOVE couriers (figures in README.md).
const AUTO_CANVAS_ABOVE = 1500;
const requestedLayer = new URLSearchParams(window.location.search).get('layer');
const autoLayer = requestedLayer !== 'canvas' && requestedLayer !== 'markercluster';

const viewer = new Viewer(keeper);
const { store, conn } = viewer;
const stale = new Set<string>();
let selected: string | null = null;
let config: PeykConfig = DEFAULT_CONFIG;
let staleMs = staleAfterMs(config.updateIntervalSeconds);
const map = createMap($('map'), { preferCanvas: true });
let layer: MarkerLayer = makeLayer(requestedLayer === 'canvas' ? 'canvas' : 'markercluster');

function makeLayer(kind: 'canvas' | 'markercluster'): MarkerLayer {
  const l = kind === 'canvas' ? new CanvasClusterLayer(map) : new MarkerClusterLayer(map);
  l.setPopupContent((id) => {
    const c = store.get(id);
    if (!c) return id;
    return courierDetails(c, store.lastSeen(c), Date.now(), stale.has(id));
  });
  l.onSelect((id) => select(id));
  $('map').dataset.layer = l.kind;
  return l;
}

/**
 * Auto mode, on a snapshot: past the threshold, swap to an empty canvas layer before the
 * snapshot is drawn (a snapshot upserts every courier anyway).
 */
function maybeSwitchLayer(): void {
  if (!autoLayer || layer.kind === 'canvas' || store.size <= AUTO_CANVAS_ABOVE) return;
  if (layer instanceof NoMarkers) {
    liveKind = 'canvas'; // in replay: the live layer comes back as a canvas
    return;
  }
  layer.destroy();
  layer = makeLayer('canvas');
}

let fitted = false;
let listDirty = true;
let lastList = 0;
let lastStaleCheck = 0;

const list = new CourierList(
  $<HTMLUListElement>('courier-list'),
  $<HTMLInputElement>('courier-search'),
  $('courier-count'),
  $('courier-more'),
  (id) => focusCourier(id),
  () => {
    listDirty = true;
    lastList = 0;
  },
);

function focusCourier(id: string): void {
  if (!store.get(id)) return;
  select(id);
  layer.focus(id);
}

/**
 * Selects a courier: highlighted in the list, its app and battery, trail and summary
 * shown, and focused (PROTOCOL.md §10, §11: the server may have its app report more often).
 */
function select(id: string): void {
  const c = store.get(id);
  if (!c || replay.open) return;
  selected = id;
  list.select(id);
  courierHistory.select(id, c.name);
  selectedDevice.update(c);
  focus.set(c.id);
}

function deselect(): void {
  selected = null;
  list.select(null);
  courierHistory.clear();
  selectedDevice.update(undefined);
  focus.set(null);
}

// --- focus: the selected courier, told to the server over the socket -----------------

const focusNote = $('focus-note');
const selectedDevice = new DeviceBadges($('history-device'));
const focus = new FocusSync({
  send: (text) => conn.send(text),
  setTimer: (fn, ms) => window.setTimeout(fn, ms),
  clearTimer: (h) => window.clearTimeout(h as number),
  onChange: () => renderFocus(),
});
conn.onOpen(() => focus.opened());

/**
 * `#courier-history[data-focus]`: `sent` (the open socket was told), `pending` (the
 * debounce runs) or `offline` (told when the socket is back). The panel cannot know the
 * interval the server chose, nor whether the server honours focus: the note says "asked".
 */
function renderFocus(): void {
  const st = focus.state();
  const root = $('courier-history');
  if (st.wanted === null) {
    delete root.dataset.focus;
    focusNote.hidden = true;
    focusNote.textContent = '';
    return;
  }
  const mode = st.synced ? 'sent' : st.open ? 'pending' : 'offline';
  root.dataset.focus = mode;
  focusNote.hidden = false;
  focusNote.textContent =
    mode === 'offline'
      ? 'Focused: the server will be told when the connection is back.'
      : 'Focused: the server is asked for this courier’s points more often (where its app can be told).';
}

function markerState(key: string, now: number): MarkerState | null {
  const c = store.get(key);
  if (!c) return null;
  const s = isStale(store.lastSeen(c), now, staleMs, c.serverState);
  if (s) stale.add(key);
  else stale.delete(key);
  return { id: key, lat: c.lat, lng: c.lng, label: c.name, stale: s };
}

function applyChanges(ch: ChangeSet, frameNow: number, wallNow: number): void {
  if (ch.removed.length) {
    layer.remove(ch.removed);
    for (const k of ch.removed) stale.delete(k);
    if (selected !== null && ch.removed.includes(selected)) deselect();
  }
  const upserts: MarkerState[] = [];
  for (const c of ch.added) {
    const m = markerState(c.key, wallNow);
    if (m) upserts.push(m);
  }
  for (const c of ch.moved) {
    const m = markerState(c.key, wallNow);
    if (m) upserts.push(m);
    if (c.key === selected) {
      courierHistory.rename(c.name);
      selectedDevice.update(c);
    }
  }
  if (upserts.length) layer.upsert(upserts, frameNow);
  for (const key of ch.statusChanged) {
    const m = markerState(key, wallNow);
    if (m) layer.setStale(key, m.stale);
  }
  if (!fitted && store.size > 0) {
    fitted = true;
    fitToCouriers();
  }
}

function fitToCouriers(): void {
  const pts: L.LatLngTuple[] = [];
  for (const c of store.values()) pts.push([c.lat, c.lng]);
  if (pts.length === 1) map.setView(pts[0]!, 15, { animate: false });
  else if (pts.length > 1) map.fitBounds(L.latLngBounds(pts), { padding: [30, 30], maxZoom: 16, animate: false });
}

function refreshStale(now: number): void {
  for (const c of store.values()) {
    const s = isStale(store.lastSeen(c), now, staleMs, c.serverState);
    if (s !== stale.has(c.key)) {
      if (s) stale.add(c.key);
      else stale.delete(c.key);
      layer.setStale(c.key, s);
    }
  }
}

const loop = new FrameLoop((now) => {
  const wall = Date.now();
  const applied = viewer.drain(wall);
  if (applied) {
    const { batch, changes } = applied;
    loop.stats.countMessages(batch.messages, (batch.snapshot?.length ?? 0) + batch.updates.length);
    if (changes.reset) maybeSwitchLayer();
    applyChanges(changes, now, wall);
    listDirty = true;
  }
  layer.frame(now);
  courierHistory.frame(wall);
  replay.frame(now);
  if (wall - lastStaleCheck >= STALE_CHECK_EVERY_MS) {
    lastStaleCheck = wall;
    refreshStale(wall);
    layer.refreshPopup();
    listDirty = true; // ages moved on
  }
  if (listDirty && wall - lastList >= LIST_EVERY_MS) {
    listDirty = false;
    lastList = wall;
    list.render(store, wall, stale);
  }
});

// --- sign-in and connection state ------------------------------------------------

function showSignin(message: string): void {
  signinEl.hidden = false;
  signinError.textContent = message;
  tokenInput.focus();
}

function describeToken(token: string | null): string {
  const claims = token ? decodeClaims(token) : null;
  if (!claims) return '';
  const who = claims.name ?? claims.sub ?? '';
  return claims.role ? `${who} (${claims.role})` : who;
}

function forgetCouriers(): void {
  replay.close();
  deselect();
  store.clear();
  layer.clear();
  stale.clear();
  selected = null;
  fitted = false;
  viewer.buffer.clear();
  listDirty = true;
}

conn.onState((s: ConnState) => {
  if (s !== 'live' && focus.state().open) focus.closed();
  renderStatus(statusEl, s === 'stopped' ? 'signed-out' : s, STATUS_LABELS);
  if (s === 'signed-out') {
    keeper.clear();
    forgetCouriers();
    showSignin('The server refused the token or it expired. Paste a new one.');
  }
  signoutBtn.hidden = s === 'signed-out' || s === 'stopped';
  if (s === 'live' && conn.opens > 1) {
    // A reconnect: what the selected courier did meanwhile comes from history.
    courierHistory.reconnected();
    if (historyState !== 'available') checkHistory();
  }
});
conn.onClose(() => {
  courierHistory.disconnected();
  // Before the next snapshot arrives, let the first one after reconnect fit the view
  // only if nothing was shown (keeps the user's view across reconnects).
  if (store.size === 0) fitted = false;
});

function signIn(token: string): void {
  keeper.set(token);
  signinEl.hidden = true;
  signinError.textContent = '';
  whoEl.textContent = describeToken(token);
  conn.start();
  void fetchConfig(token).then(applyConfig);
  checkHistory();
}

signinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = normalizeToken(tokenInput.value);
  if (!token) {
    signinError.textContent = 'Paste a token first.';
    return;
  }
  if (isExpired(decodeClaims(token), Date.now())) {
    signinError.textContent = 'This token has expired.';
    return;
  }
  tokenInput.value = '';
  signIn(token);
});

signoutBtn.addEventListener('click', () => {
  keeper.clear();
  conn.stop();
  forgetCouriers();
  whoEl.textContent = '';
  showSignin('');
  setHistory('unknown');
});

let tiles: L.TileLayer | null = null;
function applyConfig(cfg: PeykConfig): void {
  config = cfg;
  staleMs = staleAfterMs(cfg.updateIntervalSeconds);
  lastStaleCheck = 0;
  if (tiles) tiles.remove();
  tiles = addTiles(map, cfg.tiles);
}

// --- history: trail, summary, exports, replay (PROTOCOL.md §7) ---------------------

const historyClient = browserHistoryClient(keeper);
/** The server's clock as well as the page can tell: the local one minus the offset seen on live points. */
const serverNow = (): number => Date.now() - store.clockOffsetMs;
let historyState: HistoryAvailability = 'unknown';
let probeTimer: number | null = null;
let probing = false;
const PROBE_AGAIN_MS = 30_000;

const courierHistory = new CourierHistory(
  map,
  historyClient,
  serverNow,
  {
    root: $('courier-history'),
    name: $('history-name'),
    legend: $('history-legend'),
    message: $('history-message'),
    summary: $('history-summary'),
    exports: $('history-exports'),
    gpx: $<HTMLButtonElement>('export-gpx'),
    csv: $<HTMLButtonElement>('export-csv'),
    close: $<HTMLButtonElement>('history-close'),
  },
  (a) => setHistory(a),
  () => deselect(),
);
viewer.onMessage((msg) => courierHistory.onMessage(msg));

/**
 * What the page shows for each answer: absent or forbidden → the Replay button hidden
 * and a note; unavailable → Replay disabled with a note, asked again every 30 s.
 */
function setHistory(a: HistoryAvailability): void {
  historyState = a;
  courierHistory.setAvailability(a);
  const hidden = a === 'absent' || a === 'forbidden' || keeper.get() === null;
  replayBtn.hidden = hidden;
  replayBtn.disabled = a === 'unavailable';
  replayBtn.title = a === 'unavailable' ? 'History is unavailable right now' : "Play the couriers' movements of a past time range";
  const note =
    keeper.get() === null ? '' : a === 'absent' ? 'No history on this server' : a === 'unavailable' ? 'History unavailable' : '';
  historyNote.textContent = note;
  historyNote.hidden = note === '';
  document.body.dataset.history = a;
  if ((a === 'unavailable' || a === 'unknown') && keeper.get() !== null) scheduleProbe();
}

function scheduleProbe(): void {
  if (probeTimer !== null) return;
  probeTimer = window.setTimeout(() => {
    probeTimer = null;
    checkHistory();
  }, PROBE_AGAIN_MS);
}

/** Asks the server whether it answers history queries for this token. Never throws. */
function checkHistory(): void {
  if (probing || keeper.get() === null) return;
  probing = true;
  historyClient.probe(serverNow()).then(
    () => {
      probing = false;
      setHistory('available');
    },
    (err: unknown) => {
      probing = false;
      if (keeper.get() === null) return;
      setHistory(availabilityOf(err));
    },
  );
}

/** The kind of live layer to bring back after replay. */
let liveKind: 'canvas' | 'markercluster' = 'markercluster';
const replay = new ReplayView(
  map,
  historyClient,
  serverNow,
  {
    root: $('replay'),
    form: $<HTMLFormElement>('replay-form'),
    day: $<HTMLInputElement>('replay-day'),
    from: $<HTMLInputElement>('replay-from'),
    to: $<HTMLInputElement>('replay-to'),
    load: $<HTMLButtonElement>('replay-load'),
    exit: $<HTMLButtonElement>('replay-exit'),
    message: $('replay-message'),
    controls: $('replay-controls'),
    play: $<HTMLButtonElement>('replay-play'),
    speed: $<HTMLSelectElement>('replay-speed'),
    slider: $<HTMLInputElement>('replay-slider'),
    time: $('replay-time'),
  },
  {
    // Replay puts the live markers and the trail away; the store keeps following the socket.
    onEnter: () => {
      deselect();
      liveKind = layer.kind === 'canvas' ? 'canvas' : 'markercluster';
      layer.destroy();
      layer = new NoMarkers();
      $('map').dataset.layer = 'replay';
      replayBtn.setAttribute('aria-pressed', 'true');
      replayBtn.textContent = 'Exit replay';
      document.body.dataset.mode = 'replay';
    },
    // Back to live: a fresh live layer holding every courier as the store has them now.
    onExit: () => {
      layer = makeLayer(liveKind);
      const wall = Date.now();
      const all: MarkerState[] = [];
      for (const c of store.values()) {
        const m = markerState(c.key, wall);
        if (m) all.push(m);
      }
      if (all.length) layer.upsert(all, performance.now());
      replayBtn.setAttribute('aria-pressed', 'false');
      replayBtn.textContent = 'Replay';
      document.body.dataset.mode = 'live';
      listDirty = true;
    },
  },
);
replayBtn.addEventListener('click', () => (replay.open ? replay.close() : replay.enter()));
document.body.dataset.mode = 'live';

// --- debug and benchmark hooks (stable API for the browser tests) ---------------

const peyk = {
  page: 'panel' as const,
  layer: (): string => layer.kind,
  state: (): string => conn.state,
  counts: () => {
    const l = layer.counts();
    return {
      couriers: store.size,
      stale: stale.size,
      ...l,
      /** Couriers drawn in view, on their own or inside a cluster. */
      visibleTotal: l.visibleMarkers + l.clusteredMarkers,
      listed: list.rendered,
      matching: list.matching,
    };
  },
  frameStats: () => loop.stats.summary(),
  resetFrameStats: (): void => loop.stats.reset(),
  courier: (id: string | number) => {
    const c = store.get(String(id));
    return c ? { ...c, stale: stale.has(c.key), lastSeen: store.lastSeen(c) } : null;
  },
  focus: (id: string | number): void => focusCourier(String(id)),
  /** Feeds a server frame (object or JSON text) as if it came from the socket. */
  inject: (frame: string | object): void => viewer.inject(frame),
  connection: () => ({
    state: conn.state,
    protocol: conn.protocol,
    opens: conn.opens,
    nextRetryMs: conn.nextRetryMs,
    frames: viewer.frames,
    badFrames: viewer.badFrames,
    droppedItems: viewer.droppedItems,
  }),
  config: () => config,
  /** The selected courier's trail and summary (times in µs). */
  trail: () => courierHistory.debug(),
  /** Replay state and every replayed courier's position. */
  replay: () => replay.debug(),
  history: (): HistoryAvailability => historyState,
  /** The focus the page wants and what the open socket was told. */
  focusState: () => focus.state(),
  map,
};
exposeDebug(peyk);

// --- start -------------------------------------------------------------------------

loop.start();
const token = keeper.get();
if (token && !isExpired(decodeClaims(token), Date.now())) {
  signIn(token);
} else {
  if (token) keeper.clear();
  renderStatus(statusEl, 'signed-out', STATUS_LABELS);
  signoutBtn.hidden = true;
  showSignin(token ? 'The saved token has expired. Paste a new one.' : '');
  void fetchConfig(null).then(applyConfig);
}
