'use strict';
// uWebSockets.js peer of peyk's gateway: its built-in pub/sub (topics "all", "fleet/F",
// "order/O"), the token checked in the upgrade handler (401/403 before the handshake),
// each Redis message published as received (one frame, `echo-protocol`).
//
// uWebSockets.js is not on the npm registry (its author publishes it on GitHub only).
// The registry's @trufflesuite/uws-js-unofficial repackages v20.30.0 with prebuilt
// binaries; we load its native addon directly, never its pure-JS fallback, so that a
// missing binary fails here instead of benchmarking something else.
const path = require('path');
const Redis = require('ioredis');
const { tokenOf, authorize, parseArgs } = require('./jwt');

const pkg = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
const addon = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
const uWS = require(path.join(pkg, 'dist', addon));

const args = parseArgs(process.argv);
let filtered = 0; // dispatchers and customers connected: only then is a message parsed

const app = uWS.App();
app.ws('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024,
  maxBackpressure: 16 * 1024 * 1024,
  idleTimeout: 60,
  upgrade: (res, req, context) => {
    const auth = authorize(tokenOf(req.getHeader('authorization'), req.getQuery(), req.getHeader('cookie')), args.secret);
    if (auth.status !== 200) {
      res.writeStatus(auth.status === 401 ? '401 Unauthorized' : '403 Forbidden').end();
      return;
    }
    const protocols = req.getHeader('sec-websocket-protocol');
    const protocol = protocols.split(',').map((s) => s.trim()).includes('echo-protocol') ? 'echo-protocol' : '';
    res.upgrade({ claims: auth.claims }, req.getHeader('sec-websocket-key'), protocol,
      req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    const { claims } = ws.getUserData();
    if (claims.role === 'admin') return void ws.subscribe('all');
    ++filtered;
    if (claims.role === 'dispatcher') for (const f of claims.fleets || []) ws.subscribe('fleet/' + f);
    else for (const o of claims.orders || []) ws.subscribe('order/' + o);
  },
  close: (ws) => {
    if (ws.getUserData().claims.role !== 'admin') --filtered;
  },
});
app.any('/*', (res) => res.writeStatus('404 Not Found').end());

app.listen(args.host, args.port, (token) => {
  if (!token) {
    console.error(`uws_gateway: cannot listen on ${args.listen}`);
    process.exit(1);
  }
});

const sub = new Redis(args.redis);
sub.subscribe(args.channel);
sub.on('messageBuffer', (channel, message) => {
  app.publish('all', message, false);
  if (filtered === 0) return;
  let m;
  try {
    m = JSON.parse(message);
  } catch (e) {
    return;
  }
  if (m.fleet !== undefined) app.publish('fleet/' + m.fleet, message, false);
  for (const o of m.orders || []) app.publish('order/' + o, message, false);
});
