#!/usr/bin/env node
// A stand-in for the peyk server, for front-end work before/without the C++ build:
// serves dist/ (`/` panel, `/track` customer page), GET /api/v1/config, /api/v1/whoami,
// and a peyk.v1 WebSocket at /ws with simulated couriers. Loopback only; no dependencies.
//
//   node tools/mock-server.mjs [--port 8082] [--couriers 200] [--tick-ms 1000]
//        [--moving 1.0] [--interval 60] [--expire-after SECONDS] [--dir dist]
//        [--history on|off|down] [--backfill-min 15]
//
// History (PROTOCOL.md §7, in memory, the last 2 h): the track, order track, summary and
// replay queries with `limit`/`cursor` paging and json/gpx/csv; `--history off` answers
// them 404 (a server without history), `down` 503 history_unavailable. The last
// `--backfill-min` minutes are made up at start so that trails show at once.
//
// Tokens (any text; these ones are special):
//   bad       → the upgrade is refused with 401 (and /api/v1/whoami answers 401)
//   customer  → sees only courier 1, with orders ["A123"]
//   anything else → admin view of every courier
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .join(' ')
    .split('--')
    .filter(Boolean)
    .map((s) => s.trim().split(/\s+/))
    .map(([k, v]) => [k, v ?? 'true']),
);
const port = Number(args.port ?? 8082);
const couriers = Number(args.couriers ?? 200);
const tickMs = Number(args['tick-ms'] ?? 1000);
const moving = Number(args.moving ?? 1);
const interval = Number(args.interval ?? 60);
const expireAfter = args['expire-after'] ? Number(args['expire-after']) : null;
const historyMode = args.history ?? 'on';
const backfillMin = Number(args['backfill-min'] ?? 15);
const root = resolve(fileURLToPath(new URL('..', import.meta.url)), args.dir ?? 'dist');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

// --- simulated couriers around Tehran -------------------------------------------
const fleet = [];
for (let i = 1; i <= couriers; i++) {
  fleet.push({
    latitude: 35.6997 + (Math.random() - 0.5) * 0.3,
    longitude: 51.338 + (Math.random() - 0.5) * 0.4,
    user: { id: i, username: `driver${i}` },
    fleet: `store-${i % 7}`,
    orders: i === 1 ? ['A123'] : [`O${i}`],
    heading: Math.random() * 360,
    speed: 5 + Math.random() * 5,
    // The phone (PROTOCOL.md §9): every 4th courier uses peyk's JSON API (no source).
    ...(i % 4 ? { source: ['osmand', 'traccar', 'owntracks'][i % 4 - 1] } : {}),
    battery: 5 + Math.round(Math.random() * 95),
    charging: i % 5 === 0,
  });
}
const round6 = (x) => Math.round(x * 1e6) / 1e6;
function step(c) {
  c.heading = (c.heading + (Math.random() - 0.5) * 40 + 360) % 360;
  const d = 0.0004 + Math.random() * 0.0006;
  c.latitude = round6(c.latitude + Math.cos((c.heading * Math.PI) / 180) * d);
  c.longitude = round6(c.longitude + Math.sin((c.heading * Math.PI) / 180) * d);
  c.ts = Date.now() * 1000;
  if (Math.random() < 0.01) c.battery = Math.max(0, Math.min(100, c.battery + (c.charging ? 1 : -1)));
}

// --- history: every point of every courier, the last 2 h --------------------------
const KEEP_US = 2 * 3600e6;
const history = new Map(); // courier id -> points (oldest first)
function record(c) {
  const id = String(c.user.id);
  let list = history.get(id);
  if (!list) history.set(id, (list = []));
  list.push({
    latitude: c.latitude, longitude: c.longitude, ts: c.ts, recorded_at: null, speed: c.speed,
    heading: Math.round(c.heading), accuracy: 5, battery: null, fleet: c.fleet, orders: c.orders,
  });
  const cut = c.ts - KEEP_US;
  if (list[0].ts < cut) list.splice(0, list.findIndex((p) => p.ts >= cut));
}
if (historyMode === 'on' && backfillMin > 0) {
  const steps = Math.floor((backfillMin * 60_000) / tickMs);
  const t0 = Date.now() - steps * tickMs;
  for (let k = 0; k < steps; k++) {
    for (const c of fleet) {
      step(c);
      c.ts = (t0 + k * tickMs) * 1000;
      record(c);
    }
  }
}
fleet.forEach(step);
if (historyMode === 'on') fleet.forEach(record);

const timeUs = (v) => {
  if (v === null || v === '') return null;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const m = /\.(\d+)/.exec(v);
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) return null;
  return Math.floor(ms / 1000) * 1e6 + (m ? Number(m[1].slice(0, 6).padEnd(6, '0')) : 0);
};
const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const haversine = (a, b) => {
  const r = Math.PI / 180;
  const x = Math.sin(((b.latitude - a.latitude) * r) / 2) ** 2 +
    Math.cos(a.latitude * r) * Math.cos(b.latitude * r) * Math.sin(((b.longitude - a.longitude) * r) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.sqrt(x));
};

/** The history routes; false when `url` is not one of them. */
function historyRoute(url, token, res) {
  const p = url.pathname;
  const m = /^\/api\/v1\/(couriers|orders)\/([^/]+)\/(track|summary)$/.exec(p);
  if (!m && p !== '/api/v1/tracks') return false;
  if (historyMode === 'off') return json(res, 404, { error: 'not_found', message: 'no history' }), true;
  if (historyMode === 'down') return json(res, 503, { error: 'history_unavailable' }, { 'retry-after': '5' }), true;
  if (!token || token === 'bad') return json(res, 401, { error: 'missing_token' }), true;
  const customer = token === 'customer';
  if (customer && !(m && m[1] === 'orders' && decodeURIComponent(m[2]) === 'A123')) {
    return json(res, 403, { error: 'forbidden' }), true;
  }
  const q = url.searchParams;
  const to = timeUs(q.get('to') ?? '') ?? Date.now() * 1000;
  const replay = p === '/api/v1/tracks';
  const max = (replay ? 1 : 24) * 3600e6;
  const from = timeUs(q.get('from') ?? '') ?? to - max;
  if (from >= to) return json(res, 400, { error: 'invalid_field', field: 'from' }), true;
  if (to - from > max) return json(res, 400, { error: 'window_too_long', field: 'to' }), true;
  const limit = Math.min(50_000, Number(q.get('limit') ?? 50_000) || 50_000);
  const offset = Number(q.get('cursor') ?? 0) || 0;
  const inWindow = (pt) => pt.ts >= from && pt.ts < to;
  let rows; // [courier id, point]
  if (replay) {
    rows = [];
    for (const [id, list] of [...history].sort((a, b) => a[0].localeCompare(b[0]))) {
      for (const pt of list) if (inWindow(pt)) rows.push([id, pt]);
    }
  } else if (m[1] === 'couriers') {
    rows = (history.get(decodeURIComponent(m[2])) ?? []).filter(inWindow).map((pt) => [m[2], pt]);
  } else {
    const order = decodeURIComponent(m[2]);
    rows = [];
    for (const [id, list] of history) for (const pt of list) if (inWindow(pt) && pt.orders.includes(order)) rows.push([id, pt]);
    rows.sort((a, b) => a[1].ts - b[1].ts);
  }
  if (m && m[3] === 'summary') {
    const pts = rows.map((r) => r[1]);
    let dist = 0, moving = 0, stopped = 0, top = null;
    for (let i = 1; i < pts.length; i++) {
      const d = haversine(pts[i - 1], pts[i]);
      const dt = (pts[i].ts - pts[i - 1].ts) / 1e6;
      dist += d;
      if (dt > 0 && d / dt > 0.5) moving += dt; else stopped += dt;
      top = Math.max(top ?? 0, pts[i].speed ?? 0);
    }
    return json(res, 200, { points: pts.length, distance_m: dist, moving_s: moving, stopped_s: stopped,
      max_speed_mps: top, first: pts[0] ?? null, last: pts.at(-1) ?? null }), true;
  }
  const page = rows.slice(offset, offset + limit);
  const next = offset + limit < rows.length ? String(offset + limit) : null;
  const headers = {};
  if (next) {
    const nq = new URLSearchParams(q);
    nq.delete('token');
    nq.set('cursor', next);
    headers.link = `<${p}?${nq}>; rel="next"`;
  }
  const format = q.get('format') ?? 'json';
  const iso = (pt) => new Date(pt.ts / 1000).toISOString();
  if (format === 'csv') {
    res.writeHead(200, { 'content-type': 'text/csv', ...headers });
    res.end(`time,latitude,longitude,speed,heading\n${page.map(([, pt]) => `${iso(pt)},${pt.latitude},${pt.longitude},${pt.speed},${pt.heading}`).join('\n')}\n`);
    return true;
  }
  if (format === 'gpx') {
    res.writeHead(200, { 'content-type': 'application/gpx+xml', ...headers });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="peyk mock" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>\n` +
      page.map(([, pt]) => `<trkpt lat="${pt.latitude}" lon="${pt.longitude}"><time>${iso(pt)}</time></trkpt>`).join('\n') +
      '\n</trkseg></trk></gpx>\n');
    return true;
  }
  if (replay) {
    const couriers = [];
    for (const [id, pt] of page) {
      if (couriers.at(-1)?.id !== id) couriers.push({ id, name: `driver${id}`, points: [] });
      couriers.at(-1).points.push(pt);
    }
    return json(res, 200, { couriers, next }, headers), true;
  }
  const id = m[1] === 'couriers' ? decodeURIComponent(m[2]) : page[0]?.[0];
  return json(res, 200, { courier: id ? { id, name: `driver${id}` } : null, points: page.map((r) => r[1]), next }, headers), true;
}

const view = (kind, c) => (kind === 'customer' ? { ...c, orders: ['A123'] } : c);
const visible = (kind) => (kind === 'customer' ? fleet.slice(0, 1) : fleet);

// --- minimal RFC 6455 server side --------------------------------------------------
function frame(text, opcode = 0x1) {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126 && n < 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else if (n >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}
function closeFrame(code, reason = '') {
  const body = Buffer.alloc(2 + Buffer.byteLength(reason));
  body.writeUInt16BE(code, 0);
  body.write(reason, 2);
  return Buffer.concat([Buffer.from([0x88, body.length]), body]);
}

const clients = new Set();

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
  if (url.pathname === '/api/v1/config') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        tiles: {
          url: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png',
          attribution: '&copy; OpenStreetMap contributors',
        },
        update_interval_seconds: interval,
      }),
    );
    return;
  }
  if (historyRoute(url, token, res)) return;
  if (url.pathname === '/api/v1/whoami') {
    const ok = token && token !== 'bad';
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { sub: '1', role: token === 'customer' ? 'customer' : 'admin' } : { error: 'unauthorized' }));
    return;
  }
  let path = url.pathname === '/' ? '/index.html' : url.pathname === '/track' ? '/track.html' : url.pathname;
  path = normalize(path).replace(/^(\.\.[/\\])+/, '');
  try {
    const body = await readFile(join(root, path));
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});

server.on('upgrade', (req, socket) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const token = url.searchParams.get('token') ?? '';
  if (url.pathname !== '/ws' || !token || token === 'bad') {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  const key = req.headers['sec-websocket-key'];
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((s) => s.trim());
  const v1 = offered.includes('peyk.v1');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n` +
      (v1 ? 'Sec-WebSocket-Protocol: peyk.v1\r\n' : '') +
      '\r\n',
  );
  const kind = token === 'customer' ? 'customer' : 'admin';
  const client = { socket, kind, v1 };
  clients.add(client);
  if (v1) socket.write(frame(JSON.stringify({ type: 'snapshot', locations: visible(kind).map((c) => view(kind, c)) })));
  let expiry = null;
  if (expireAfter !== null) {
    expiry = setTimeout(() => {
      socket.end(closeFrame(4001, 'token expired'));
      clients.delete(client);
    }, expireAfter * 1000);
  }
  socket.on('data', (buf) => {
    if ((buf[0] & 0x0f) === 0x8) {
      socket.end(closeFrame(1000));
      clients.delete(client);
    }
  });
  socket.on('close', () => {
    clients.delete(client);
    if (expiry) clearTimeout(expiry);
  });
  socket.on('error', () => clients.delete(client));
});

setInterval(() => {
  const moved = fleet.filter(() => Math.random() < moving);
  moved.forEach(step);
  if (historyMode === 'on') moved.forEach(record);
  for (const { socket, kind, v1 } of clients) {
    const list = kind === 'customer' ? moved.filter((c) => c.user.id === 1) : moved;
    if (list.length === 0) continue;
    if (v1) socket.write(frame(JSON.stringify({ type: 'locations', locations: list.map((c) => view(kind, c)) })));
    else for (const c of list) socket.write(frame(JSON.stringify(view(kind, c))));
  }
}, tickMs);

server.listen(port, '127.0.0.1', () => {
  console.log(`mock peyk on http://127.0.0.1:${port}/ (${couriers} couriers, tick ${tickMs} ms, from ${root})`);
});
