'use strict';
// Node.js peer of peyk's gateway: `ws` + `ioredis`, as a Node developer would write it.
// The token is checked on the HTTP upgrade (401/403 before the handshake completes);
// each Redis message is sent as published (one frame, `echo-protocol`) to every socket
// allowed to see it: admins all, dispatchers by fleet, customers by order.
const http = require('http');
const { WebSocketServer } = require('ws');
const Redis = require('ioredis');
const { tokenOf, authorize, parseArgs } = require('./jwt');

const args = parseArgs(process.argv);
const admins = new Set();
const byFleet = new Map();
const byOrder = new Map();

function index(ws, claims, add) {
  if (claims.role === 'admin') return add ? admins.add(ws) : admins.delete(ws);
  const [keys, table] = claims.role === 'dispatcher' ? [claims.fleets, byFleet] : [claims.orders, byOrder];
  for (const k of keys || []) {
    let group = table.get(String(k));
    if (add) {
      if (!group) table.set(String(k), (group = new Set()));
      group.add(ws);
    } else if (group) {
      group.delete(ws);
      if (group.size === 0) table.delete(String(k));
    }
  }
}

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  clientTracking: false,
  handleProtocols: (protocols) => (protocols.has('echo-protocol') ? 'echo-protocol' : false),
});

const server = http.createServer((req, res) => {
  res.writeHead(404).end();
});

server.on('upgrade', (req, socket, head) => {
  const url = req.url || '';
  const q = url.indexOf('?');
  if ((q < 0 ? url : url.slice(0, q)) !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  const auth = authorize(tokenOf(req.headers.authorization, q < 0 ? '' : url.slice(q + 1), req.headers.cookie), args.secret);
  if (auth.status !== 200) {
    const text = auth.status === 401 ? 'Unauthorized' : 'Forbidden';
    socket.end(`HTTP/1.1 ${auth.status} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    index(ws, auth.claims, true);
    ws.on('close', () => index(ws, auth.claims, false));
    ws.on('error', () => {});
  });
});

const sub = new Redis(args.redis);
sub.subscribe(args.channel);
sub.on('messageBuffer', (channel, message) => {
  // One Buffer shared by every send (no string re-encoding per socket).
  for (const ws of admins) ws.send(message, { binary: false });
  if (byFleet.size === 0 && byOrder.size === 0) return;
  let m;
  try {
    m = JSON.parse(message);
  } catch (e) {
    return;
  }
  const targets = new Set();
  for (const ws of byFleet.get(String(m.fleet)) || []) targets.add(ws);
  for (const o of m.orders || []) for (const ws of byOrder.get(String(o)) || []) targets.add(ws);
  for (const ws of targets) ws.send(message, { binary: false });
});

server.listen(args.port, args.host, 4096);
