// The couriers' phones in the panel and the viewer's focus (issue #15 item 6; PROTOCOL.md
// §9–§11), against a real `peyk serve`:
// - battery and charging posted through /api/v1/locations show in the list, the popup
//   and the selection, live, low below 20 %, nothing when a point has none;
// - `source` published on Redis (`serve --redis`, a private redis-server) shows as the
//   app's badge, and a hostile source is text, never markup;
// - selecting a courier sends {"type":"focus","courier":ID} on the socket, once per
//   change (quick changes send only the last), deselecting sends {"type":"focus"}, and
//   after the server restarts the new socket is told the focus again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PeykServer,
  courierToken,
  launchBrowser,
  newPage,
  postLocation,
  screenshot,
  sleep,
  state,
  waitFor,
  waitForState,
} from './lib/harness.mjs';
import { RedisServer } from './lib/redis.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Every socket the page opens, with the text frames the page sent on it. */
function recordSentFrames(page) {
  const sockets = [];
  page.on('websocket', (ws) => {
    const rec = { url: ws.url(), sent: [], closed: false };
    sockets.push(rec);
    ws.on('framesent', ({ payload }) => rec.sent.push(typeof payload === 'string' ? payload : payload.toString()));
    ws.on('close', () => {
      rec.closed = true;
    });
  });
  return sockets;
}

const focusFrames = (rec) => rec.sent.filter((f) => f.includes('"focus"'));

/** The badges of courier `id`'s list row. */
const rowBadges = (page, id) =>
  page.evaluate((id) => {
    const li = document.querySelector(`#courier-list li[data-courier-id="${id}"]`);
    if (!li) return null;
    const b = li.querySelector('.battery-badge');
    const s = li.querySelector('.source-badge');
    const badge = (e) =>
      e && {
        hidden: e.hidden,
        text: e.textContent,
        data: { ...e.dataset },
        color: getComputedStyle(e).color,
        display: getComputedStyle(e).display,
      };
    return { battery: badge(b), source: badge(s), elements: li.querySelectorAll('*').length, html: li.innerHTML };
  }, id);

/** Opens the panel with an admin token (the fragment) and waits until it is live. */
async function openPanel(server, path = '/?layer=markercluster') {
  const page = await newPage(browser);
  const sockets = recordSentFrames(page);
  await page.goto(`${server.base}${path}#token=${server.token()}`, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof window.peyk === 'object', null, { timeout: 10_000 });
  await waitForState(page, 'live');
  return { page, sockets };
}

async function evidence(page, server, name, fn) {
  try {
    return await fn();
  } catch (e) {
    await screenshot(page, `${name}-failed`);
    e.message += `\n--- page errors ---\n${page.errors.join('\n')}\n--- peyk log (tail) ---\n${server.log.slice(-4000)}`;
    throw e;
  }
}

async function post(server, token, point) {
  const r = await postLocation(server.base, token, point);
  assert.equal(r.status, 200, `POST /api/v1/locations: ${r.status} ${r.body ?? r.error}`);
}

test('battery and charging from the JSON API, live; focus frames on select, deselect and after a restart', { timeout: 90_000 }, async (t) => {
  const server = await new PeykServer().start();
  t.after(() => server.stop());
  const tok = {
    7: courierToken(server.secret, 7),
    8: courierToken(server.secret, 8),
    9: courierToken(server.secret, 9),
  };
  const postAll = async (b7) => {
    await post(server, tok[7], { latitude: 35.70, longitude: 51.40, battery: b7.battery, charging: b7.charging });
    await post(server, tok[8], { latitude: 35.71, longitude: 51.42, battery: 12, charging: false });
    await post(server, tok[9], { latitude: 35.72, longitude: 51.44 });
  };
  await postAll({ battery: 85, charging: true });

  const { page, sockets } = await openPanel(server);
  t.after(() => page.context().close().catch(() => {}));
  await evidence(page, server, 'apps-battery', async () => {
    // --- battery in the list --------------------------------------------------------
    const b7 = await waitFor(
      async () => {
        const r = await rowBadges(page, 7);
        return r?.battery && !r.battery.hidden ? r : null;
      },
      { what: 'battery of courier 7 in the list' },
    );
    assert.equal(b7.battery.text, '⚡85%');
    assert.deepEqual(b7.battery.data, { level: '85', low: 'false', charging: 'true' });
    assert.notEqual(b7.battery.display, 'none');
    assert.equal(b7.source.hidden, true, 'the JSON API has no source: no app badge');
    assert.equal(b7.source.display, 'none');

    const b8 = await waitFor(
      async () => {
        const r = await rowBadges(page, 8);
        return r?.battery && !r.battery.hidden ? r : null;
      },
      { what: 'battery of courier 8 in the list' },
    );
    assert.equal(b8.battery.text, '12%');
    assert.deepEqual(b8.battery.data, { level: '12', low: 'true', charging: 'false' });
    assert.notEqual(b8.battery.color, b7.battery.color, 'a low battery looks different');

    const b9 = await waitFor(() => rowBadges(page, 9), { what: 'courier 9 in the list' });
    assert.equal(b9.battery.hidden, true, 'no battery in the point: nothing shown');
    assert.equal(b9.battery.display, 'none');
    assert.deepEqual(b9.battery.data, {});
    assert.equal(b9.battery.text, '');
    await screenshot(page, 'apps-battery-list');

    // --- live: the next point changes it ---------------------------------------------
    await post(server, tok[7], { latitude: 35.7005, longitude: 51.4005, battery: 19, charging: false });
    const live = await waitFor(
      async () => {
        const r = await rowBadges(page, 7);
        return r?.battery?.text === '19%' ? r : null;
      },
      { what: 'the battery of courier 7 to follow its next point' },
    );
    assert.deepEqual(live.battery.data, { level: '19', low: 'true', charging: 'false' });

    // --- select: popup, selection badges, one focus frame -------------------------------
    assert.equal(sockets.length, 1);
    assert.deepEqual(focusFrames(sockets[0]), [], 'nothing focused yet: no focus frame');
    await page.click('#courier-list li[data-courier-id="7"]');
    await waitFor(() => focusFrames(sockets[0]).length === 1, { timeout: 5000, what: 'a focus frame for courier 7' });
    assert.deepEqual(JSON.parse(focusFrames(sockets[0])[0]), { type: 'focus', courier: 7 });
    const popup = await waitFor(
      () =>
        page.evaluate(() => {
          const dd = document.querySelector('.leaflet-popup .courier-details[data-courier-id="7"] dd[data-field="battery"]');
          return dd ? { text: dd.textContent, badge: dd.querySelector('.battery-badge')?.dataset.low } : null;
        }),
      { what: 'the popup of courier 7 with its battery' },
    );
    assert.equal(popup.badge, 'true');
    assert.match(popup.text, /^19%\s*19 %, not charging \(low\)$/);
    const hasApp = await page.evaluate(() => !!document.querySelector('.leaflet-popup dd[data-field="app"]'));
    assert.equal(hasApp, false, 'no app row without a source');
    const sel = await page.evaluate(() => {
      const root = document.querySelector('#courier-history');
      const b = root.querySelector('#history-device .battery-badge');
      const note = document.querySelector('#focus-note');
      return { id: root.dataset.courierId, focus: root.dataset.focus, battery: b.textContent, note: note.hidden ? null : note.textContent };
    });
    assert.deepEqual({ id: sel.id, focus: sel.focus, battery: sel.battery }, { id: '7', focus: 'sent', battery: '19%' });
    assert.match(sel.note, /Focused/);
    await screenshot(page, 'apps-selected');
    await sleep(800); // no second frame for the same selection (debounce is 150 ms)
    assert.equal(focusFrames(sockets[0]).length, 1);

    // --- another courier: one frame; quick changes: only the last ----------------------
    await page.click('#courier-list li[data-courier-id="8"]');
    await waitFor(() => focusFrames(sockets[0]).length === 2, { timeout: 5000, what: 'a focus frame for courier 8' });
    assert.deepEqual(JSON.parse(focusFrames(sockets[0])[1]), { type: 'focus', courier: 8 });
    await page.evaluate(() => {
      window.peyk.focus(9);
      window.peyk.focus(7);
    });
    await waitFor(() => focusFrames(sockets[0]).length === 3, { timeout: 5000, what: 'a focus frame after 9 then 7' });
    await sleep(800);
    assert.deepEqual(focusFrames(sockets[0]).slice(2).map((f) => JSON.parse(f)), [{ type: 'focus', courier: 7 }]);

    // --- deselect: {"type":"focus"} ------------------------------------------------------
    await page.click('#history-close');
    await waitFor(() => focusFrames(sockets[0]).length === 4, { timeout: 5000, what: 'the clearing focus frame' });
    assert.deepEqual(JSON.parse(focusFrames(sockets[0])[3]), { type: 'focus' });
    assert.equal(await page.$eval('#focus-note', (e) => e.hidden), true);
    await sleep(800);
    assert.equal(focusFrames(sockets[0]).length, 4);
    assert.deepEqual(sockets[0].sent.filter((f) => !f.includes('"focus"')), [], 'the page sends nothing but focus frames');

    // --- focused across a server restart -----------------------------------------------
    await page.click('#courier-list li[data-courier-id="7"]');
    await waitFor(() => focusFrames(sockets[0]).length === 5, { timeout: 5000, what: 'focus 7 again' });
    await server.kill();
    await waitForState(page, 'reconnecting', 10_000);
    // Hold the page's sockets off until the new server knows courier 7 (a restarted
    // `serve` starts empty, and a snapshot without the selected courier deselects it).
    await page.evaluate(() => {
      window.__peykBlockSockets = true;
    });
    await waitFor(() => page.evaluate(() => document.querySelector('#courier-history').dataset.focus === 'offline'), {
      what: 'the focus note to say it waits for the connection',
    });
    await server.start();
    await postAll({ battery: 64, charging: true });
    const before = sockets.length;
    await page.evaluate(() => {
      window.__peykBlockSockets = false;
      window.dispatchEvent(new Event('online')); // reconnect now instead of after the backoff
    });
    await waitForState(page, 'live', 20_000);
    const fresh = await waitFor(
      () => sockets.slice(before).find((s) => !s.closed && !s.url.includes('/blocked') && focusFrames(s).length > 0),
      { timeout: 10_000, what: 'the focus sent on the new socket' },
    );
    await sleep(800);
    assert.deepEqual(fresh.sent.map((f) => JSON.parse(f)), [{ type: 'focus', courier: 7 }], 'told once on the new socket');
    assert.equal(focusFrames(sockets[0]).length, 5, 'nothing more on the old socket');
    const after = await page.evaluate(() => ({
      id: document.querySelector('#courier-history').dataset.courierId,
      focus: document.querySelector('#courier-history').dataset.focus,
      state: window.peyk.focusState(),
    }));
    assert.equal(after.id, '7');
    assert.equal(after.focus, 'sent');
    assert.equal(after.state.told, '7');
    const b7again = await waitFor(
      async () => {
        const r = await rowBadges(page, 7);
        return r?.battery?.text === '⚡64%' ? r : null;
      },
      { what: 'the battery from the restarted server' },
    );
    assert.equal(b7again.battery.data.low, 'false');
    assert.deepEqual(page.errors, []);
    t.diagnostic(`sockets: ${sockets.length}, frames on the first: ${sockets[0].sent.length}`);
  });
});

test('the app a courier reports from, published on Redis', { timeout: 60_000 }, async (t) => {
  const redis = await new RedisServer().start();
  t.after(() => redis.stop());
  const server = await new PeykServer({ args: ['--redis', redis.url] }).start();
  t.after(() => server.stop());
  const { page } = await openPanel(server);
  t.after(() => page.context().close().catch(() => {}));

  const msg = (id, extra) =>
    JSON.stringify({ latitude: 35.7 + id / 1000, longitude: 51.4, user: { id, username: `app-${id}` }, ...extra });
  const messages = [
    msg(42, { source: 'osmand', battery: 64, charging: false, altitude: 1180 }),
    msg(43, { source: '<b>x</b>' }),
    msg(44, { source: 'traccar', battery: 8, charging: true }),
    msg(45, {}),
  ];
  await evidence(page, server, 'apps-source', async () => {
    // Publish until peyk's subscriber has them (PUBLISH answers how many subscribers got it).
    await waitFor(
      async () => {
        let reached = 0;
        for (const m of messages) reached += await redis.publish('dlchannel', m);
        return reached === messages.length;
      },
      { timeout: 10_000, interval: 200, what: 'peyk subscribed to dlchannel' },
    );
    const r42 = await waitFor(
      async () => {
        const r = await rowBadges(page, 42);
        return r?.source && !r.source.hidden ? r : null;
      },
      { what: 'the app badge of courier 42' },
    );
    assert.equal(r42.source.text, 'OsmAnd');
    assert.equal(r42.source.data.source, 'osmand');
    assert.notEqual(r42.source.display, 'none');
    assert.equal(r42.battery.text, '64%');

    const r43 = await waitFor(() => rowBadges(page, 43), { what: 'courier 43' });
    assert.equal(r43.source.text, '<b>x</b>', 'a source is shown as text');
    assert.equal(await page.$$eval('#courier-list b', (l) => l.length), 0, 'never as markup');

    const r44 = await waitFor(() => rowBadges(page, 44), { what: 'courier 44' });
    assert.equal(r44.source.text, 'Traccar');
    assert.deepEqual(r44.battery.data, { level: '8', low: 'true', charging: 'true' });
    assert.equal(r44.battery.text, '⚡8%');

    const r45 = await waitFor(() => rowBadges(page, 45), { what: 'courier 45' });
    assert.equal(r45.source.hidden, true);
    assert.equal(r45.battery.hidden, true);

    // The frames carried the fields (the broker → gateway path of §4).
    const seen = page.wsFrames.flatMap((f) => f.locations ?? []).find((l) => l.user?.id === 42);
    assert.equal(seen?.source, 'osmand');

    // The popup names the app too.
    await page.click('#courier-list li[data-courier-id="42"]');
    const row = await waitFor(
      () =>
        page.evaluate(() => {
          const d = document.querySelector('.leaflet-popup .courier-details[data-courier-id="42"]');
          const app = d?.querySelector('dd[data-field="app"]');
          const alt = [...(d?.querySelectorAll('dt') ?? [])].find((e) => e.textContent === 'altitude');
          return app ? { app: app.textContent, altitude: alt?.nextElementSibling?.textContent } : null;
        }),
      { what: 'the popup of courier 42' },
    );
    assert.deepEqual(row, { app: 'OsmAnd', altitude: '1180 m' });
    assert.equal(await state(page), 'live');
    await screenshot(page, 'apps-source');
    assert.deepEqual(page.errors, []);
  });
});
