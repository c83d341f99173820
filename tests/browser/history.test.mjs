// Tracks in the panel and on the customer page (issue "Tracks", point 5; PROTOCOL.md §7),
// against a real `peyk serve` recording history (SQLite in a private --data-dir) fed by
// the simulator: a selected courier's trail is drawn from history and grows live, has
// no gap after the socket was down, exports GPX and CSV; replay moves the markers with
// the slider; the customer page draws its order's route; a server without history hides
// all of it without an error.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { N, liveServer, open, withEvidence } from './lib/fixture.mjs';
import {
  counts,
  courierToken,
  customerToken,
  haveHistory,
  launchBrowser,
  postLocation,
  screenshot,
  sleep,
  waitFor,
  waitForState,
} from './lib/harness.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});


/** The trail's path element: its data-points and the number of points in its `d`. */
const trailDom = (page, id) =>
  page.evaluate((id) => {
    const el = document.querySelector(`path.peyk-trail[data-courier-id="${id}"]`);
    if (!el) return null;
    const d = el.getAttribute('d') ?? '';
    return { points: Number(el.dataset.points), coords: (d.match(/[ML]-?\d/g) ?? []).length, d };
  }, id);

const trail = (page) => page.evaluate(() => window.peyk.trail());

/** Largest step between consecutive times (µs), and whether they strictly increase. */
function gaps(times) {
  let max = 0;
  let increasing = true;
  for (let i = 1; i < times.length; i++) {
    const g = times[i] - times[i - 1];
    if (g <= 0) increasing = false;
    max = Math.max(max, g);
  }
  return { max, increasing };
}

async function selectCourier(page, id) {
  await page.click(`#courier-list li[data-courier-id="${id}"]`);
  await waitFor(async () => (await trail(page)).id === String(id), { timeout: 5_000, what: `courier ${id} selected` });
}

describe('panel: trail', () => {
  test('a selected courier\'s trail comes from history, grows live, and shows today\'s summary', { timeout: 60_000 }, async (t) => {
    const env = await liveServer(t);
    await sleep(2_500); // a few more points of every courier in history before the page opens
    const page = await open(env, browser, '/?layer=markercluster', env.server.token());
    await withEvidence(env, page, 'history-trail', async () => {
      await waitForState(page, 'live');
      await waitFor(async () => (await counts(page)).couriers === N, { what: `${N} couriers` });
      await waitFor(() => page.evaluate(() => window.peyk.history() === 'available'), { what: 'history available' });
      assert.equal(await page.isVisible('#replay-open'), true, 'the Replay button shows');
      const id = '7';
      const selectedAtUs = Date.now() * 1000;
      await selectCourier(page, id);
      const first = await waitFor(
        async () => {
          const d = await trailDom(page, id);
          return d && d.points >= 2 && d.coords >= 2 ? d : null;
        },
        { timeout: 10_000, what: `a trail path with >= 2 points for courier ${id}` },
      );
      const t0 = await trail(page);
      assert.ok(t0.loaded, 'the trail was loaded from /api/v1/couriers/{id}/track');
      assert.ok(t0.loadedPoints >= 2, `points from history: ${t0.loadedPoints}`);
      assert.ok(t0.firstUs < selectedAtUs - 1_000_000, 'the trail starts before the courier was selected (history, not the socket)');
      // The path and the trail read in the same animation frame, right after the page's
      // frame loop (which draws the trail) ran: no socket message can come in between.
      const same = await page.evaluate((id) => new Promise((resolve) => requestAnimationFrame(() => {
        const el = document.querySelector(`path.peyk-trail[data-courier-id="${id}"]`);
        resolve({ path: Number(el.dataset.points), trail: window.peyk.trail().points });
      })), id);
      assert.equal(same.path, same.trail, 'the path holds every point of the trail');
      await screenshot(page, 'history-trail-first');

      // It grows with the points received live.
      const grown = await waitFor(
        async () => {
          const d = await trailDom(page, id);
          return d && d.points >= first.points + 2 && d.d !== first.d ? d : null;
        },
        { timeout: 10_000, interval: 200, what: `courier ${id}'s trail to grow (from ${first.points} points)` },
      );
      const t1 = await trail(page);
      assert.ok(t1.lastUs > t0.lastUs, 'newer points at the end');
      assert.equal(t1.firstUs, t0.firstUs, 'the start stays (well inside 15 minutes)');
      assert.ok(gaps(t1.times).increasing, 'ordered by time, no point twice');
      assert.ok(t1.points - t0.points >= 2 && t1.loadedPoints === t0.loadedPoints, 'the new points came over the socket');
      t.diagnostic(`trail of ${id}: ${first.points} -> ${grown.points} points`);

      // The summary of today.
      const summary = await waitFor(
        () =>
          page.evaluate(() => {
            const s = document.querySelector('#history-summary');
            if (!s || s.hidden || !s.dataset.points) return null;
            const f = (k) => s.querySelector(`[data-field="${k}"]`).textContent;
            return { points: Number(s.dataset.points), distance: f('distance'), moving: f('moving'), top: f('max-speed') };
          }),
        { timeout: 10_000, what: 'the summary panel' },
      );
      assert.ok(summary.points >= t0.loadedPoints, `summary points ${summary.points}`);
      assert.match(summary.distance, /^\d+(\.\d+)? (m|km)$/);
      assert.match(summary.moving, /\d/);
      assert.equal(await page.textContent('#history-name'), (await page.evaluate((i) => window.peyk.courier(i).name, id)));
      await screenshot(page, 'history-trail-grown');

      // Closing the panel takes the trail off the map.
      await page.click('#history-close');
      await waitFor(async () => (await trailDom(page, id)) === null, { timeout: 3_000, what: 'the trail to go' });
      assert.equal(await page.isVisible('#courier-history'), false);
      assert.deepEqual(page.errors, []);
    });
  });

  test('no gap in the trail after the socket was down', { timeout: 60_000 }, async (t) => {
    const env = await liveServer(t);
    const page = await open(env, browser, '/?layer=markercluster', env.server.token());
    await withEvidence(env, page, 'history-gap', async () => {
      await waitForState(page, 'live');
      await waitFor(async () => (await counts(page)).couriers === N, { what: `${N} couriers` });
      const id = '12';
      await selectCourier(page, id);
      await waitFor(async () => (await trail(page)).loaded, { what: 'the trail loaded' });
      await sleep(2_000); // live points
      const before = await trail(page);
      const baseline = gaps(before.times).max;

      // The socket goes down (only the socket: the server keeps recording), 5 s.
      const downAtUs = Date.now() * 1000;
      await page.evaluate(() => {
        window.__peykBlockSockets = true;
        for (const s of window.__peykSockets) s.close();
      });
      await waitForState(page, 'reconnecting', 5_000);
      await sleep(5_000);
      const during = await trail(page);
      await page.evaluate(() => { window.__peykBlockSockets = false; });
      await waitForState(page, 'live', 20_000);
      const backAtUs = Date.now() * 1000;
      const filled = await waitFor(
        async () => {
          const x = await trail(page);
          return x.loads > before.loads ? x : null;
        },
        { timeout: 10_000, what: 'the trail to be refetched after the reconnect' },
      );
      await sleep(1_500);
      const now = await trail(page);
      const g = gaps(now.times);
      const inside = now.times.filter((u) => u > downAtUs + 500_000 && u < backAtUs - 500_000).length;
      t.diagnostic(`held ${during.points} at the end of the outage; after: ${now.points} points, ` +
        `${filled.loadedPoints - before.loadedPoints} from the refetch, ${inside} inside the outage, ` +
        `largest step ${g.max / 1e6} s (before: ${baseline / 1e6} s)`);
      assert.equal(during.lastUs <= downAtUs + 1_000_000, true, 'nothing arrived while the socket was down');
      assert.ok(filled.loadedPoints - before.loadedPoints >= 3, 'the refetch brought the points the socket missed');
      assert.ok(inside >= 3, `points inside the outage: ${inside}`);
      assert.ok(g.increasing, 'no point twice, in time order');
      assert.ok(g.max <= Math.max(2_500_000, baseline + 500_000), `no gap: largest step ${g.max / 1e6} s`);
      await screenshot(page, 'history-gap-filled');
    });
  });

  test('GPX and CSV exports of today, fetched with the Authorization header', { timeout: 60_000 }, async (t) => {
    const env = await liveServer(t);
    const page = await open(env, browser, '/?layer=markercluster', env.server.token());
    await withEvidence(env, page, 'history-export', async () => {
      await waitForState(page, 'live');
      await waitFor(async () => (await counts(page)).couriers === N, { what: `${N} couriers` });
      await sleep(1_000);
      const requests = [];
      page.on('request', (r) => {
        if (r.url().includes('format=')) requests.push({ url: r.url(), auth: r.headers().authorization ?? null });
      });
      await selectCourier(page, '3');
      await waitFor(() => page.isEnabled('#export-gpx'), { what: 'the GPX button enabled' });
      const [gpx] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.click('#export-gpx')]);
      const gpxText = readFileSync(await gpx.path(), 'utf8');
      assert.match(gpx.suggestedFilename(), /^courier-3-\d{4}-\d{2}-\d{2}\.gpx$/);
      assert.match(gpxText, /<gpx[\s>]/);
      assert.ok((gpxText.match(/<trkpt/g) ?? []).length >= 2, 'at least 2 track points');
      const [csv] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.click('#export-csv')]);
      const rows = readFileSync(await csv.path(), 'utf8').trim().split('\n');
      assert.match(csv.suggestedFilename(), /\.csv$/);
      assert.ok(rows.length >= 3, `a header and >= 2 rows: ${rows.length}`);
      assert.match(rows[0], /latitude/i);
      assert.ok(requests.length >= 2, `export requests seen: ${requests.length}`);
      for (const r of requests) {
        assert.ok(!/[?&]token=/.test(r.url), `no token in the URL: ${r.url}`);
        assert.match(r.auth ?? '', /^Bearer /, 'the token in the Authorization header');
      }
      t.diagnostic(`gpx ${gpxText.length} bytes, csv ${rows.length} lines`);
      assert.deepEqual(page.errors, []);
    });
  });
});

describe('panel: replay', () => {
  test('replay loads every courier and the markers move as the slider moves', { timeout: 60_000 }, async (t) => {
    const env = await liveServer(t);
    const startedAt = Date.now() - 60_000;
    await sleep(6_000); // several seconds of history
    const page = await open(env, browser, '/?layer=markercluster', env.server.token());
    await withEvidence(env, page, 'history-replay', async () => {
      await waitForState(page, 'live');
      await waitFor(async () => (await counts(page)).couriers === N, { what: `${N} couriers` });
      await waitFor(() => page.evaluate(() => window.peyk.history() === 'available'), { what: 'history available' });
      await page.click('#replay-open');
      assert.equal(await page.isVisible('#replay-form'), true);
      assert.equal((await counts(page)).markers, 0, 'the live markers are put away');
      const pad = (n) => String(n).padStart(2, '0');
      const d0 = new Date(startedAt);
      const d1 = new Date(Date.now() + 120_000);
      const sameDay = d0.toDateString() === d1.toDateString();
      await page.fill('#replay-day', `${d0.getFullYear()}-${pad(d0.getMonth() + 1)}-${pad(d0.getDate())}`);
      await page.fill('#replay-from', `${pad(d0.getHours())}:${pad(d0.getMinutes())}`);
      await page.fill('#replay-to', sameDay ? `${pad(d1.getHours())}:${pad(d1.getMinutes())}` : '23:59');
      await page.click('#replay-load');
      const r = await waitFor(
        async () => {
          const x = await page.evaluate(() => window.peyk.replay());
          if (x.state === 'error' || x.state === 'empty') throw new Error(`replay ${x.state}: ${await page.textContent('#replay-message')}`);
          return x.state === 'ready' ? x : null;
        },
        { timeout: 20_000, what: 'the replay to load' },
      );
      assert.equal(r.couriers, N, `every courier in the replay: ${r.couriers}`);
      assert.ok(r.points >= 3 * N, `points: ${r.points}`);
      t.diagnostic(`replay ${new Date(r.from).toISOString()}..${new Date(r.to).toISOString()}: ${r.couriers} couriers, ${r.points} points`);

      const slide = async (ms) => {
        await page.evaluate((v) => {
          const s = document.querySelector('#replay-slider');
          s.value = String(v);
          s.dispatchEvent(new Event('input', { bubbles: true }));
        }, ms);
        return page.evaluate(() => window.peyk.replay());
      };
      // Before anyone's first point: nobody shown.
      const empty = await slide(r.from);
      assert.equal(empty.shown, 0, 'no marker before the first point');
      assert.equal(await page.$$eval('path.replay-marker', (l) => l.length), 0);

      const t1 = Math.ceil((r.span.from + 3_000) / 1000) * 1000;
      const t2 = t1 + 3_000;
      const a = await slide(t1);
      const b = await slide(t2);
      assert.ok(b.shown >= a.shown && a.shown > 0, `markers shown: ${a.shown}, ${b.shown}`);
      const moved = Object.keys(a.positions).filter((k) => {
        const p = a.positions[k];
        const q = b.positions[k];
        return p && q && (p[0] !== q[0] || p[1] !== q[1]);
      });
      assert.ok(moved.length >= N / 5, `couriers at a different place 3 s later: ${moved.length}`);

      // On screen: zoom to one that moved, then its circle moves with the slider.
      const id = moved[0];
      await page.evaluate(([lat, lng]) => window.peyk.map.setView([lat, lng], 18, { animate: false }), a.positions[id]);
      const rect = async (ms) => {
        await slide(ms);
        return page.evaluate((i) => {
          const el = document.querySelector(`path.replay-marker[data-courier-id="${i}"]`);
          if (!el) return null;
          const b = el.getBoundingClientRect();
          return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
        }, id);
      };
      const p1 = await rect(t1);
      await screenshot(page, 'history-replay-t1');
      const p2 = await rect(t2);
      await screenshot(page, 'history-replay-t2');
      assert.ok(p1 && p2, 'the courier\'s replay marker is in the DOM');
      const dist = Math.hypot(p2.x - p1.x, p2.y - p1.y);
      assert.ok(dist >= 2, `courier ${id}'s marker moved ${dist.toFixed(1)} px on screen between the two slider positions`);
      assert.equal(await page.$eval('#replay-slider', (s) => Number(s.value)), t2);

      // Play: time runs at the chosen speed.
      await slide(t1);
      await page.selectOption('#replay-speed', '10');
      await page.click('#replay-play');
      await sleep(1_000);
      const playing = await page.evaluate(() => window.peyk.replay());
      assert.equal(playing.playing, true);
      assert.ok(playing.t - t1 >= 5_000 && playing.t - t1 <= 20_000, `1 s at 10× advanced ${(playing.t - t1) / 1000} s`);
      await page.click('#replay-play');
      assert.equal((await page.evaluate(() => window.peyk.replay())).playing, false);

      // Back to live: the live markers return, the replay ones go.
      await page.click('#replay-exit');
      await waitFor(async () => (await counts(page)).markers === N, { timeout: 5_000, what: 'live markers back' });
      assert.equal(await page.$$eval('path.replay-marker', (l) => l.length), 0);
      assert.equal(await page.isVisible('#replay'), false);
      assert.deepEqual(page.errors, []);
    });
  });
});

describe('customer page: route', () => {
  test('the customer page draws the route its order has taken, growing live', { timeout: 60_000 }, async (t) => {
    const env = await liveServer(t);
    const { server } = env;
    const order = `ZZ-${randomBytes(4).toString('hex')}`;
    const token = courierToken(server.secret, '9101', { fleet: 'store-1' });
    let step = 0;
    let posting = true;
    const errors = [];
    const post = async () => {
      step++;
      const r = await postLocation(server.base, token, {
        latitude: Number((35.70 + step * 0.0002).toFixed(6)),
        longitude: Number((51.40 + step * 0.0001).toFixed(6)),
        orders: [order],
      });
      if (r.status !== 200) errors.push(`${r.status} ${r.body ?? r.error}`);
    };
    const poster = (async () => {
      while (posting) {
        await post();
        await sleep(400);
      }
    })();
    t.after(async () => {
      posting = false;
      await poster;
    });
    await sleep(3_000); // ~7 points of the order in history before the page opens
    const page = await open(env, browser, '/track', customerToken(server.secret, [order]), { width: 412, height: 860 });
    await withEvidence(env, page, 'history-route', async () => {
      await waitForState(page, 'live');
      const route = () =>
        page.evaluate((o) => {
          const el = document.querySelector(`path.peyk-route[data-order-id="${o}"]`);
          return el ? { points: Number(el.dataset.points), d: el.getAttribute('d') } : null;
        }, order);
      const first = await waitFor(
        async () => {
          const r = await route();
          return r && r.points >= 5 ? r : null;
        },
        { timeout: 10_000, what: 'the order\'s route with >= 5 points' },
      );
      const info = await page.evaluate((o) => window.peyk.routes()[o], order);
      assert.ok(info.loaded && info.loadedPoints >= 5, `points of the order from history: ${info.loadedPoints}`);
      const later = await waitFor(
        async () => {
          const r = await route();
          return r && r.points >= first.points + 3 ? r : null;
        },
        { timeout: 10_000, interval: 200, what: 'the route to grow' },
      );
      assert.notEqual(later.d, first.d);
      const times = (await page.evaluate((o) => window.peyk.routes()[o], order)).times;
      assert.ok(gaps(times).increasing, 'no point twice');
      assert.deepEqual(errors, []);
      assert.deepEqual(page.errors, []);
      t.diagnostic(`route of ${order}: ${first.points} -> ${later.points} points (${info.loadedPoints} from history)`);
      await screenshot(page, 'history-route');
    });
  });
});

test('a server without history: no trail, no replay, a note, no error', { timeout: 60_000 }, async (t) => {
  // A binary with history is told --history off (its routes answer 404); one without has no routes.
  const env = await liveServer(t, { serverArgs: haveHistory() ? ['--history', 'off'] : [] });
  const page = await open(env, browser, '/?layer=markercluster', env.server.token());
  await withEvidence(env, page, 'history-absent', async () => {
    await waitForState(page, 'live');
    await waitFor(async () => (await counts(page)).couriers === N, { what: `${N} couriers` });
    await waitFor(() => page.evaluate(() => window.peyk.history() === 'absent'), { timeout: 10_000, what: 'history absent' });
    assert.equal(await page.isVisible('#replay-open'), false, 'no Replay button');
    assert.match(await page.textContent('#history-note'), /no history/i);
    await page.click('#courier-list li[data-courier-id="5"]');
    await waitFor(() => page.isVisible('#courier-history'), { timeout: 3_000, what: 'the courier panel' });
    await sleep(1_000);
    assert.match(await page.textContent('#history-message'), /no history/i);
    assert.equal(await page.isVisible('#history-summary'), false);
    assert.equal(await page.isVisible('#history-exports'), false);
    assert.equal(await page.$$eval('path.peyk-trail', (l) => l.length), 0);
    assert.equal(await page.evaluate(() => window.peyk.state()), 'live', 'the live view is unaffected');
    assert.deepEqual(page.errors, []);
    await screenshot(page, 'history-absent');
  });
});
