#!/usr/bin/env node
// Panel frame-time benchmark (not a test): headless Chromium shows the panel of a real
// `peyk serve` while N couriers post every second, for each render layer; frame times
// come from the page's own window.peyk.frameStats() over a window after a warm-up.
//
//   node bench/panel/frame_time.mjs                      # 1k, 5k, 20k × both layers
//   node bench/panel/frame_time.mjs --couriers 5000 --layers canvas --window 20
//
// Options: --couriers LIST (1000,5000,20000)  --layers LIST (markercluster,canvas)
//          --warmup S (5)  --window S (10)  --interval S (1)
//          --feeder auto|simulate|node (auto: `peyk simulate` when the binary has it)
//          --out FILE (bench/results/panel-<date>.md; "-" for none)
//          --inject: also measure each case with the updates generated inside the page
//            (window.peyk.inject, JSON text, 3 locations per message like the gateway sends)
//            and no courier traffic on the machine: the page's own cost without the
//            server and feeder competing for the CPU
// Needs build/peyk, web/dist (cd web && npm run build), web/node_modules (npm ci) and
// /usr/bin/chromium. Everything listens on 127.0.0.1 and stops by itself.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  CHROMIUM,
  NodeFeeder,
  PeykServer,
  ROOT,
  Simulator,
  haveSimulator,
  httpGet,
  launchBrowser,
  newPage,
  screenshot,
  sleep,
  waitFor,
} from '../../tests/browser/lib/harness.mjs';

const { values: opt } = parseArgs({
  options: {
    couriers: { type: 'string', default: '1000,5000,20000' },
    layers: { type: 'string', default: 'markercluster,canvas' },
    warmup: { type: 'string', default: '5' },
    window: { type: 'string', default: '10' },
    interval: { type: 'string', default: '1' },
    feeder: { type: 'string', default: 'auto' },
    out: { type: 'string' },
    screenshots: { type: 'boolean', default: false },
    inject: { type: 'boolean', default: false },
  },
});
const SIZES = opt.couriers.split(',').map(Number);
const LAYERS = opt.layers.split(',');
const WARMUP = Number(opt.warmup);
const WINDOW = Number(opt.window);
const INTERVAL = Number(opt.interval);
const useSim = opt.feeder === 'simulate' || (opt.feeder === 'auto' && haveSimulator());
if (opt.feeder === 'simulate' && !haveSimulator()) throw new Error('build/peyk has no `simulate` command');
const date = new Date().toISOString().slice(0, 10);
const OUT = opt.out ?? path.join(ROOT, 'bench', 'results', `panel-${date}.md`);

async function metric(server, name) {
  const r = await httpGet(`${server.base}/metrics`);
  const m = new RegExp(`^${name}\\s+(\\S+)`, 'm').exec(r.body ?? '');
  return m ? Number(m[1]) : 0;
}

/** CPU seconds (user + system) a process has used so far, from /proc; 0 if unknown. */
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

/** CPU seconds of the feeder: the simulator process, or this process (the Node feeder). */
const feederCpu = (feed) => (feed.proc ? cpuSeconds(feed.proc.pid) : process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6);

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

async function measure(browser, server, feed, n, layer) {
  const page = await newPage(browser, { width: 1280, height: 800 });
  try {
    const token = server.token('admin', 3600);
    await page.goto(`${server.base}/?layer=${layer}#token=${token}`, { waitUntil: 'load' });
    await page.waitForFunction(() => typeof window.peyk === 'object', null, { timeout: 15_000 });
    await waitFor(() => page.evaluate((want) => window.peyk.state() === 'live' && window.peyk.counts().couriers >= want, n), {
      timeout: 60_000, interval: 250, what: `${n} couriers on the panel (${layer})`,
    });
    await sleep(WARMUP * 1000);
    const m0 = await metric(server, 'peyk_messages_in_total');
    const f0 = await metric(server, 'peyk_frames_out_total');
    const cpu0 = { server: cpuSeconds(server.proc.pid), feeder: feederCpu(feed) };
    const t0 = Date.now();
    await page.evaluate(() => window.peyk.resetFrameStats());
    await sleep(WINDOW * 1000);
    const s = await page.evaluate(() => window.peyk.frameStats());
    const secs = (Date.now() - t0) / 1000;
    const m1 = await metric(server, 'peyk_messages_in_total');
    const f1 = await metric(server, 'peyk_frames_out_total');
    const cpu = {
      server: (cpuSeconds(server.proc.pid) - cpu0.server) / secs,
      feeder: (feederCpu(feed) - cpu0.feeder) / secs,
    };
    const c = await page.evaluate(() => window.peyk.counts());
    const actualLayer = await page.evaluate(() => window.peyk.layer());
    if (opt.screenshots) await screenshot(page, `bench-${layer}-${n}`);
    return {
      n, layer: actualLayer, source: 'server', stats: s, counts: c, secs,
      ingestPerS: (m1 - m0) / secs,
      framesOutPerS: (f1 - f0) / secs,
      wsMessagesPerS: s.messages / secs,
      cpu,
      appliedPerS: s.locations / secs,
      fps: s.frames / secs,
      errors: page.errors.slice(0, 5),
    };
  } finally {
    await page.context().close();
  }
}

/** The same page and window, fed from inside the page: no server traffic, no feeder. */
async function measureInject(browser, server, n, layer) {
  const page = await newPage(browser, { width: 1280, height: 800 });
  try {
    await page.goto(`${server.base}/?layer=${layer}#token=${server.token('admin', 3600)}`, { waitUntil: 'load' });
    await page.waitForFunction(() => window.peyk?.state() === 'live', null, { timeout: 15_000 });
    await page.evaluate(([n, interval]) => {
      // n couriers spread over the city, each moving every `interval` s; 3 per message
      const loc = (i, t) => ({
        latitude: 35.6 + ((i * 7919) % 1000) / 5000 + Math.sin(t + i) * 0.001,
        longitude: 51.2 + ((i * 104729) % 1000) / 2857 + Math.cos(t + i) * 0.001,
        user: { id: i, username: `driver${i}` }, ts: Date.now() * 1000, speed: 8.2, heading: 90,
        fleet: `store-${i % 8}`, orders: [`A${i}`],
      });
      const all = [];
      for (let i = 1; i <= n; i++) all.push(loc(i, 0));
      window.peyk.inject(JSON.stringify({ type: 'snapshot', locations: all }));
      let k = 0;
      let t = 0;
      const perTick = Math.round(n / interval / 20);
      window.__bench = setInterval(() => {
        t += 0.05;
        for (let done = 0; done < perTick; done += 3) {
          const b = [];
          for (let j = 0; j < 3; j++) { k = (k % n) + 1; b.push(loc(k, t)); }
          window.peyk.inject(JSON.stringify({ type: 'locations', locations: b }));
        }
      }, 50);
    }, [n, INTERVAL]);
    await waitFor(() => page.evaluate((want) => window.peyk.counts().couriers >= want, n), {
      timeout: 30_000, interval: 250, what: `${n} injected couriers`,
    });
    await sleep(WARMUP * 1000);
    const t0 = Date.now();
    await page.evaluate(() => window.peyk.resetFrameStats());
    await sleep(WINDOW * 1000);
    const s = await page.evaluate(() => window.peyk.frameStats());
    const secs = (Date.now() - t0) / 1000;
    const c = await page.evaluate(() => window.peyk.counts());
    return {
      n, layer: await page.evaluate(() => window.peyk.layer()), source: 'inject', stats: s, counts: c, secs,
      ingestPerS: NaN, framesOutPerS: NaN, wsMessagesPerS: s.messages / secs, cpu: null,
      appliedPerS: s.locations / secs, fps: s.frames / secs, errors: page.errors.slice(0, 5),
    };
  } finally {
    await page.context().close();
  }
}

const rows = [];
const browser = await launchBrowser();
const feederName = useSim ? '`peyk simulate`' : 'Node feeder (tests/browser/lib/harness.mjs)';
console.error(`feeder: ${feederName}; warm-up ${WARMUP} s, window ${WINDOW} s, couriers post every ${INTERVAL} s`);
try {
  for (const n of SIZES) {
    const server = await new PeykServer().start();
    const feed = (useSim
      ? new Simulator(server, { couriers: n, interval: INTERVAL, duration: 900 })
      : new NodeFeeder(server, { couriers: n, interval: INTERVAL, duration: 900 })).start();
    try {
      await waitFor(async () => (await metric(server, 'peyk_messages_in_total')) >= n, {
        timeout: 60_000, interval: 250, what: `${n} couriers to post once`,
      });
      for (const layer of LAYERS) {
        const r = await measure(browser, server, feed, n, layer);
        rows.push(r);
        report(r);
      }
    } finally {
      await feed.stop();
      await server.stop();
      const status = (feed.log ?? '').trim().split('\n').filter((l) => l.includes('posted ok')).at(-1);
      console.error(`feeder at the end: ${status ?? JSON.stringify(feed.stats)}`);
    }
    if (!opt.inject) continue;
    const quiet = await new PeykServer().start(); // serves the page; no couriers
    try {
      for (const layer of LAYERS) {
        const r = await measureInject(browser, quiet, n, layer);
        rows.push(r);
        report(r);
      }
    } finally {
      await quiet.stop();
    }
  }
} finally {
  await browser.close();
}

function report(r) {
  const { work, interval } = r.stats;
  console.error(`${r.n} ${r.layer} (${r.source}): interval p50/p95/p99/max ${fmt(interval.p50)}/${fmt(interval.p95)}/` +
    `${fmt(interval.p99)}/${fmt(interval.max)} ms, work p95 ${fmt(work.p95)} ms, ${r.fps.toFixed(1)} fps, ` +
    `${Math.round(r.appliedPerS)} loc/s applied, ${Math.round(r.ingestPerS)} posts/s, ${Math.round(r.wsMessagesPerS)} msgs/s` +
    (r.cpu ? `, cpu server ${r.cpu.server.toFixed(2)} feeder ${r.cpu.feeder.toFixed(2)}` : ''));
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const lines = [];
lines.push(`# Panel frame time — ${date}`);
lines.push('');
lines.push(`Headless Chromium (${CHROMIUM}, ${os.cpus().length} cores: ${cpu}), panel of a real \`peyk serve\` ` +
  `(in-process broker, --rate-limit 0) at 1280×800, whole city in view (the panel's first fit). ` +
  `Couriers fed by ${feederName}, one point per courier every ${INTERVAL} s, on the same machine as the ` +
  `server and the browser. ${WARMUP} s warm-up after all couriers are shown, then a ${WINDOW} s window of ` +
  '`window.peyk.frameStats()`: **frame interval** = time between animation frames (what the user sees; ' +
  '16.7 ms = 60 fps), **work** = the page\'s own JS per frame. Long frames: interval > 50 ms.' +
  (opt.inject ? ' Rows "in-page inject": the same page and updates per second generated inside the page ' +
    '(`window.peyk.inject`, JSON text, 3 locations per message), with no server traffic or feeder on the machine: ' +
    'the page\'s own cost.' : ''));
lines.push('');
lines.push('| couriers | layer | fed by | frame interval p50 / p95 / p99 / max (ms) | work p50 / p95 / p99 / max (ms) | fps | long frames | posts/s into the server | messages/s to the page | locations applied/s | CPU cores: server / feeder | clusters / pins in view |');
lines.push('|---:|---|---|---|---|---:|---:|---:|---:|---:|---|---|');
for (const r of rows) {
  const { work: w, interval: i } = r.stats;
  const fed = r.source === 'server' ? (useSim ? 'server + simulate' : 'server + Node feeder') : 'in-page inject';
  const num = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '–');
  lines.push(`| ${r.n.toLocaleString('en')} | ${r.layer} | ${fed} | ${fmt(i.p50)} / ${fmt(i.p95)} / ${fmt(i.p99)} / ${fmt(i.max)} | ` +
    `${fmt(w.p50)} / ${fmt(w.p95)} / ${fmt(w.p99)} / ${fmt(w.max)} | ${r.fps.toFixed(1)} | ${r.stats.longFrames} | ` +
    `${num(r.ingestPerS)} | ${num(r.wsMessagesPerS)} | ` +
    `${num(r.appliedPerS)} | ${r.cpu ? `${r.cpu.server.toFixed(2)} / ${r.cpu.feeder.toFixed(2)}` : '–'} | ` +
    `${r.counts.clusters} / ${r.counts.visibleMarkers} |`);
}
const errs = rows.flatMap((r) => r.errors.map((e) => `${r.n} ${r.layer}: ${e}`));
if (errs.length) {
  lines.push('');
  lines.push('Page errors:');
  for (const e of errs) lines.push(`- ${e}`);
}
lines.push('');
lines.push(`Command: \`node bench/panel/frame_time.mjs --couriers ${opt.couriers} --layers ${opt.layers} --warmup ${WARMUP} --window ${WINDOW}${opt.inject ? ' --inject' : ''}\``);
const md = lines.join('\n') + '\n';
process.stdout.write(md);
if (OUT !== '-') {
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, md);
  console.error(`written ${path.relative(process.cwd(), OUT)}`);
}
