#!/usr/bin/env node
// A stand-in for the peyk server, for front-end work before/without the C++ build:
// serves dist/ (`/` panel, `/track` customer page), GET /api/v1/config, /api/v1/whoami,
// and a peyk.v1 WebSocket at /ws with simulated couriers. Loopback only; no dependencies.
//
//   node tools/mock-server.mjs [--port 8082] [--couriers 200] [--tick-ms 1000]
//        [--moving 1.0] [--interval 60] [--expire-after SECONDS] [--dir dist]
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
  });
}
const round6 = (x) => Math.round(x * 1e6) / 1e6;
function step(c) {
  c.heading = (c.heading + (Math.random() - 0.5) * 40 + 360) % 360;
  const d = 0.0004 + Math.random() * 0.0006;
  c.latitude = round6(c.latitude + Math.cos((c.heading * Math.PI) / 180) * d);
  c.longitude = round6(c.longitude + Math.sin((c.heading * Math.PI) / 180) * d);
  c.ts = Date.now() * 1000;
}
fleet.forEach(step);

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
