// Shared helpers of the browser end-to-end tests and the panel benchmark: a real
// `peyk serve` on a free loopback port, the courier simulator (`peyk simulate`) or a
// Node feeder when the binary has no simulator, tokens minted here (HS256 with
// node:crypto, independently of the server), headless Chromium via playwright-core.
//
// Run from web/ (scripts/test.sh does `cd web && node --test ../tests/browser/`);
// playwright-core is resolved from web/node_modules whatever the working directory.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export { sleep };

/** Resolves true when `promise` settles within `ms`, else false; leaves no timer behind. */
export async function within(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..', '..');
export const PEYK_BIN = process.env.PEYK_BIN ?? path.join(ROOT, 'build', 'peyk');
export const CHROMIUM = process.env.PEYK_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'tests', 'artifacts', 'screenshots');

const requireFromWeb = createRequire(path.join(ROOT, 'web', 'package.json'));
const { chromium } = requireFromWeb('playwright-core');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // a background tab or an occluded window must not throttle the frame loop
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

// ---------------------------------------------------------------------------------
// small utilities

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls fn() (sync or async) until it returns a truthy value; throws at the deadline. */
export async function waitFor(fn, { timeout = 10_000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      lastErr = undefined;
      if (last) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const detail = lastErr ? `last error: ${lastErr.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (${detail})`);
    }
    await sleep(interval);
  }
}

// ---------------------------------------------------------------------------------
// tokens (HS256, minted here)

const b64url = (buf) => Buffer.from(buf).toString('base64url');

export function mintToken(secret, claims, ttlSeconds = 3600) {
  const nowMs = Date.now();
  // exp rounded up: the token lives at least ttlSeconds (exp has whole seconds)
  const payload = { iat: Math.floor(nowMs / 1000), exp: Math.ceil(nowMs / 1000) + ttlSeconds, ...claims };
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export const adminToken = (secret, ttl = 3600) => mintToken(secret, { sub: '1', role: 'admin', name: 'e2e admin' }, ttl);
export const customerToken = (secret, orders, ttl = 3600) =>
  mintToken(secret, { sub: 'c1', role: 'customer', orders }, ttl);
export const courierToken = (secret, sub, extra = {}, ttl = 3600) =>
  mintToken(secret, { sub: String(sub), role: 'courier', name: `driver${sub}`, ...extra }, ttl);

// ---------------------------------------------------------------------------------
// peyk serve

let historyChecked = null;
let webRootChecked = null;

/**
 * Whether build/peyk takes `--web-root`: then every server serves this checkout's
 * web/dist, also when PEYK_BIN points at a binary built elsewhere (whose default is the
 * web/dist beside its own sources).
 */
function haveWebRoot() {
  if (webRootChecked === null) {
    const r = spawnSync(PEYK_BIN, ['serve', '--help'], { encoding: 'utf8', timeout: 5000 });
    webRootChecked = r.status === 0 && /--web-root\b/.test(r.stdout);
  }
  return webRootChecked;
}

/**
 * Whether build/peyk records tracks (`serve --history`, PROTOCOL.md §7). A binary that
 * does not is a server without history: the panel must hide those features.
 */
export function haveHistory() {
  if (historyChecked === null) {
    const r = spawnSync(PEYK_BIN, ['serve', '--help'], { encoding: 'utf8', timeout: 5000 });
    historyChecked = r.status === 0 && /--history\b/.test(r.stdout) && /--data-dir\b/.test(r.stdout);
  }
  return historyChecked;
}

export class PeykServer {
  /**
   * @param {object} o
   * @param {number} [o.port] reuse a port (restart on the same address)
   * @param {string} [o.secret]
   * @param {string[]} [o.args] extra flags
   */
  constructor({ port, secret, args = [] } = {}) {
    this.port = port;
    this.secret = secret ?? randomBytes(24).toString('hex');
    this.extra = args;
    this.proc = null;
    this.log = '';
    this.exits = [];
    // `serve` records tracks in <--data-dir> (default ./peyk-data): give each server its
    // own directory, kept across restarts of this server and removed by stop().
    this.dataDir = null;
    if (haveHistory() && !args.some((a) => a === '--data-dir' || a === '--history' || a.startsWith('--history='))) {
      this.dataDir = mkdtempSync(path.join(os.tmpdir(), 'peyk-e2e-'));
      this.extra = [...args, '--data-dir', this.dataDir];
    }
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start({ timeout = 10_000 } = {}) {
    if (!this.port) this.port = await freePort();
    const args = [
      'serve',
      '--listen', `127.0.0.1:${this.port}`,
      '--rate-limit', '0',
      // No map tiles from the internet: the tile URL points back at this server (404s,
      // the map stays grey; markers, clusters and lists work without tiles).
      '--tiles', `http://127.0.0.1:${this.port}/no-tiles/{z}/{x}/{y}.png`,
      '--drain-timeout', '1',
      '--log-level', 'warn',
      ...(haveWebRoot() && !this.extra.includes('--web-root') ? ['--web-root', path.join(ROOT, 'web', 'dist')] : []),
      ...this.extra,
    ];
    const proc = spawn(PEYK_BIN, args, {
      env: { ...process.env, PEYK_JWT_SECRET: this.secret },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const keep = (d) => {
      this.log += d.toString();
      if (this.log.length > 200_000) this.log = this.log.slice(-100_000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    proc.on('exit', (code, signal) => this.exits.push({ pid: proc.pid, code, signal }));
    const exited = new Promise((resolve) => proc.once('exit', () => resolve(true)));
    proc.exited = exited;
    await waitFor(
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`peyk serve exited (${proc.exitCode ?? proc.signalCode}):\n${this.log}`);
        }
        return (await httpGet(`${this.base}/readyz`)).status === 200;
      },
      { timeout, interval: 50, what: `peyk serve on port ${this.port} to be ready` },
    ).catch((e) => {
      throw new Error(`${e.message}\n--- peyk log ---\n${this.log}`);
    });
    return this;
  }

  running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGKILL: no drain, no close frames (what a crash looks like to the viewers). */
  async kill() {
    if (!this.running()) return;
    this.proc.kill('SIGKILL');
    await this.proc.exited;
  }

  /** SIGTERM, then SIGKILL after `timeout` ms; resolves to the exit record. */
  async stop(timeout = 5000) {
    if (!this.proc) return null;
    try {
      if (this.running()) {
        this.proc.kill('SIGTERM');
        const done = await within(this.proc.exited, timeout);
        if (!done) {
          this.proc.kill('SIGKILL');
          await this.proc.exited;
          return { killedAfterTimeout: true };
        }
      }
      return { code: this.proc.exitCode, signal: this.proc.signalCode };
    } finally {
      if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  token(role = 'admin', ttl = 3600) {
    if (role === 'admin') return adminToken(this.secret, ttl);
    throw new Error(`token role ${role}: use mintToken`);
  }
}

// ---------------------------------------------------------------------------------
// HTTP (keep-alive agent; the feeder may send thousands of requests a second)

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function httpRequest(url, { method = 'GET', headers = {}, body = null, timeout = 5000 } = {}) {
  return new Promise((resolve) => {
    const req = http.request(url, { method, headers, agent, timeout }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', (e) => resolve({ status: 0, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, error: e.message }));
    if (body !== null) req.end(body);
    else req.end();
  });
}

export const httpGet = (url, opts) => httpRequest(url, opts);

/** POST /api/v1/locations as courier `token`; resolves to {status, body}. */
export function postLocation(base, token, point) {
  const body = JSON.stringify(point);
  return httpRequest(`${base}/api/v1/locations`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    },
    body,
  });
}

// ---------------------------------------------------------------------------------
// couriers: the simulator, or a Node feeder standing in for it

let simulatorChecked = null;

/** Whether build/peyk has the `simulate` command (the issue wants it to drive the tests). */
export function haveSimulator() {
  if (process.env.PEYK_E2E_FEEDER === 'node') return false;
  if (simulatorChecked === null) {
    const r = spawnSync(PEYK_BIN, ['simulate', '--help'], { encoding: 'utf8', timeout: 5000 });
    simulatorChecked = r.status === 0 && /--couriers/.test(r.stdout);
  }
  return simulatorChecked;
}

/** `peyk simulate` as a child process. */
export class Simulator {
  constructor(server, { couriers, interval = 1, duration = 600, args = [] }) {
    this.server = server;
    this.opts = { couriers, interval, duration, args };
    this.proc = null;
    this.log = '';
    this.kind = 'peyk simulate';
  }

  start() {
    const { couriers, interval, duration, args } = this.opts;
    const argv = [
      'simulate',
      '--target', this.server.base,
      '--couriers', String(couriers),
      '--interval', String(interval),
      '--duration', String(duration),
      ...args,
    ];
    this.proc = spawn(PEYK_BIN, argv, {
      env: { ...process.env, PEYK_JWT_SECRET: this.server.secret },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d) => {
      this.log += d.toString();
      if (this.log.length > 100_000) this.log = this.log.slice(-50_000);
    };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    this.proc.exited = new Promise((resolve) => this.proc.once('exit', () => resolve(true)));
    return this;
  }

  running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async stop(timeout = 5000) {
    if (!this.running()) return;
    this.proc.kill('SIGTERM');
    const done = await within(this.proc.exited, timeout);
    if (!done) {
      this.proc.kill('SIGKILL');
      await this.proc.exited;
    }
  }
}

/**
 * Couriers "1".."N" (fleet store-<i%8>, order A<1000+i>) wandering around Tehran, each
 * posting one point every `interval` seconds (spread over the interval) with its own
 * token; the stand-in for `peyk simulate` and the benchmark's feeder.
 */
export class NodeFeeder {
  constructor(server, { couriers, interval = 1, duration = 600, firstId = 1, seed = 1 }) {
    this.server = server;
    this.n = couriers;
    this.interval = interval;
    this.duration = duration;
    this.kind = 'node feeder';
    this.stats = { ok: 0, failed: 0, statuses: {} };
    this.running_ = false;
    let s = seed >>> 0 || 1;
    const rnd = () => {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      return s / 4294967296;
    };
    this.couriers = [];
    for (let i = 0; i < couriers; i++) {
      const id = firstId + i;
      this.couriers.push({
        id: String(id),
        token: courierToken(server.secret, id, { fleet: `store-${id % 8}` }),
        lat: 35.6 + rnd() * 0.2,
        lng: 51.2 + rnd() * 0.35,
        heading: rnd() * 360,
        orders: [`A${1000 + id}`],
      });
    }
    this.rnd = rnd;
  }

  step(c) {
    // ~10 m/s, turning a little each point
    c.heading = (c.heading + (this.rnd() - 0.5) * 40 + 360) % 360;
    const d = 10 * this.interval; // metres
    const rad = (c.heading * Math.PI) / 180;
    c.lat += (d * Math.cos(rad)) / 111_320;
    c.lng += (d * Math.sin(rad)) / (111_320 * Math.cos((c.lat * Math.PI) / 180));
    if (c.lat < 35.6 || c.lat > 35.8 || c.lng < 51.2 || c.lng > 51.55) c.heading = (c.heading + 180) % 360;
  }

  async sendOne(c) {
    this.step(c);
    const r = await postLocation(this.server.base, c.token, {
      latitude: Number(c.lat.toFixed(6)),
      longitude: Number(c.lng.toFixed(6)),
      speed: 10,
      heading: Math.round(c.heading),
      orders: c.orders,
    });
    if (r.status === 200) this.stats.ok++;
    else this.stats.failed++;
    this.stats.statuses[r.status] = (this.stats.statuses[r.status] ?? 0) + 1;
  }

  start() {
    this.running_ = true;
    const end = Date.now() + this.duration * 1000;
    const periodMs = this.interval * 1000;
    // Ticks of 50 ms; each sends the couriers whose slot falls in it. A tick waits for
    // its requests, so an overloaded server slows the feeder down instead of piling up.
    const slices = Math.max(1, Math.round(periodMs / 50));
    this.loop = (async () => {
      let tick = 0;
      const t0 = Date.now();
      while (this.running_ && Date.now() < end) {
        const slice = tick % slices;
        const batch = [];
        for (let i = slice; i < this.n; i += slices) batch.push(this.sendOne(this.couriers[i]));
        await Promise.all(batch);
        tick++;
        const wait = t0 + tick * (periodMs / slices) - Date.now();
        if (wait > 0) await sleep(wait);
      }
    })();
    return this;
  }

  running() {
    return this.running_;
  }

  async stop() {
    this.running_ = false;
    await this.loop;
  }
}

/** The simulator when the binary has it, else the Node feeder. */
export function startCouriers(server, opts) {
  return (haveSimulator() ? new Simulator(server, opts) : new NodeFeeder(server, opts)).start();
}

// ---------------------------------------------------------------------------------
// the browser

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A page whose every request outside 127.0.0.1 is aborted (nothing leaves the machine),
 * which records the close codes of its WebSockets in window.__peykCloses and every
 * WebSocket frame it receives in `page.wsFrames` (parsed JSON).
 */
export async function newPage(browser, { width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  await context.route(
    (url) => url.hostname !== '127.0.0.1',
    (route) => route.abort('blockedbyclient'),
  );
  await context.addInitScript(() => {
    window.__peykCloses = [];
    const Native = window.WebSocket;
    // window.__peykSockets: every socket the page opened. window.__peykBlockSockets =
    // true sends new sockets to a closed port (a socket-only outage: HTTP keeps working).
    window.__peykSockets = [];
    window.__peykBlockSockets = false;
    class Recorded extends Native {
      constructor(url, ...rest) {
        super(window.__peykBlockSockets ? 'ws://127.0.0.1:9/blocked' : url, ...rest);
        window.__peykSockets.push(this);
        this.addEventListener('close', (e) => window.__peykCloses.push(e.code));
      }
    }
    window.WebSocket = Recorded;
    // Every state #status shows, in order (window.__peykStates), from the first one on.
    window.__peykStates = [];
    document.addEventListener('DOMContentLoaded', () => {
      const el = document.querySelector('#status');
      if (!el) return;
      const note = () => {
        const s = el.dataset.state;
        if (window.__peykStates.at(-1) !== s) window.__peykStates.push(s);
      };
      note();
      new MutationObserver(note).observe(el, { attributes: true, attributeFilter: ['data-state'] });
    });
  });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.wsFrames = [];
  page.wsFrameErrors = 0;
  page.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      try {
        page.wsFrames.push(JSON.parse(typeof payload === 'string' ? payload : payload.toString()));
      } catch {
        page.wsFrameErrors++;
      }
    });
  });
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  try {
    await page.screenshot({ path: file });
  } catch {
    // a screenshot is evidence, never the reason a test fails
  }
  return file;
}

export const state = (page) => page.$eval('#status', (e) => e.dataset.state);
export const counts = (page) => page.evaluate(() => window.peyk.counts());
export const courier = (page, id) => page.evaluate((i) => window.peyk.courier(i), id);

/** The states #status has shown since the page loaded. */
export const stateHistory = (page) => page.evaluate(() => window.__peykStates);

export async function waitForState(page, want, timeout = 10_000) {
  await waitFor(async () => (await state(page)) === want, { timeout, interval: 50, what: `#status[data-state=${want}]` });
}
