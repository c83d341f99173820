// The customer page sees only the courier carrying its order, never another one
// (PROTOCOL.md §5 "Who sees what"; issue #4), while the simulator's couriers move.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { N, liveServer, open, withEvidence } from './lib/fixture.mjs';
import {
  courier,
  courierToken,
  customerToken,
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

/** Couriers posted by the test itself, near the customer, with known orders. */
function ownCouriers(server, order) {
  // Ids and orders the simulator never uses (its couriers are 1..N, orders A<number>).
  const list = [
    { id: '9001', orders: [order, 'ZZ-OTHER-1'] }, // carries the customer's order (and another)
    { id: '9002', orders: ['ZZ-OTHER-2'] }, // right beside it, not the customer's
    { id: '9003', orders: [] },
  ];
  return list.map((c, i) => ({
    ...c,
    token: courierToken(server.secret, c.id, { fleet: 'store-1' }),
    lat: 35.70 + i * 0.0004,
    lng: 51.40 + i * 0.0004,
  }));
}

test('customer page shows exactly the courier carrying its order, never another', { timeout: 60_000 }, async (t) => {
  const env = await liveServer(t);
  const { server } = env;
  const order = `ZZ-${randomBytes(4).toString('hex')}`;
  const own = ownCouriers(server, order);

  let posting = true;
  let step = 0;
  const postErrors = [];
  const postAll = async () => {
    step++;
    await Promise.all(own.map(async (c) => {
      const r = await postLocation(server.base, c.token, {
        latitude: Number((c.lat + step * 0.00005).toFixed(6)),
        longitude: Number((c.lng + step * 0.00003).toFixed(6)),
        orders: c.orders,
      });
      if (r.status !== 200) postErrors.push(`POST for courier ${c.id}: ${r.status} ${r.body ?? r.error}`);
    }));
  };
  await postAll();
  const poster = (async () => {
    while (posting) {
      await sleep(400);
      if (posting) await postAll();
    }
  })();
  t.after(async () => {
    posting = false;
    await poster;
  });

  const page = await open(env, browser, '/track', customerToken(server.secret, [order]), { width: 412, height: 860 });
  await withEvidence(env, page, 'customer', async () => {
    // Every courier id the page ever puts in its DOM, from the first frame on.
    await page.evaluate(() => {
      window.__seenIds = new Set();
      const scan = () => {
        for (const e of document.querySelectorAll('[data-courier-id]')) window.__seenIds.add(e.dataset.courierId);
      };
      scan();
      new MutationObserver(scan).observe(document.body, {
        subtree: true, childList: true, attributes: true, attributeFilter: ['data-courier-id'],
      });
    });
    await waitForState(page, 'live');
    await waitFor(
      () => page.$$eval('#courier-cards li[data-courier-id]', (l) => l.map((e) => e.dataset.courierId).join()),
      { timeout: 10_000, what: 'a courier card' },
    );

    // Watch for several seconds while the simulator's couriers and 9002/9003 move.
    const positions = new Set();
    const deadline = Date.now() + 6000;
    let samples = 0;
    while (Date.now() < deadline) {
      const s = await page.evaluate(() => ({
        counts: window.peyk.counts(),
        cards: [...document.querySelectorAll('#courier-cards li[data-courier-id]')].map((e) => e.dataset.courierId),
        pins: [...document.querySelectorAll('.leaflet-marker-icon')].map((e) => e.dataset.courierId ?? '?'),
        others: (() => {
          const ids = [];
          for (const id of ['9002', '9003', ...Array.from({ length: 60 }, (_, i) => String(i + 1))]) {
            if (window.peyk.courier(id)) ids.push(id);
          }
          return ids;
        })(),
        me: window.peyk.courier('9001'),
      }));
      assert.equal(s.counts.couriers, 1, `one courier in the page's state: ${JSON.stringify(s.counts)}`);
      assert.deepEqual(s.cards, ['9001'], 'one card, courier 9001');
      assert.deepEqual(s.pins, ['9001'], 'one pin on the map, courier 9001');
      assert.deepEqual(s.others, [], 'no other courier in the page state');
      assert.ok(s.me, 'courier 9001 in the page state');
      assert.deepEqual(s.me.orders, [order], 'the customer sees only its own order id');
      positions.add(`${s.me.lat},${s.me.lng}`);
      samples++;
      await sleep(250);
    }
    assert.ok(positions.size >= 3, `the courier moves on the customer page (${positions.size} positions in ${samples} samples)`);

    const seen = await page.evaluate(() => [...window.__seenIds]);
    assert.deepEqual(seen, ['9001'], 'no other courier id ever appeared in the DOM');
    const cardText = await page.textContent('#courier-cards');
    assert.ok(cardText.includes(order), 'the card names the order');
    assert.ok(!cardText.includes('ZZ-OTHER'), `the card names no other order: ${cardText}`);

    // What came over the wire: only courier 9001, with only this customer's order.
    const locs = [];
    for (const f of page.wsFrames) {
      if (f && Array.isArray(f.locations)) locs.push(...f.locations);
      else if (f && f.user) locs.push(f);
    }
    assert.ok(locs.length >= 5, `locations received over the socket: ${locs.length}`);
    const ids = [...new Set(locs.map((l) => String(l.user?.id)))];
    assert.deepEqual(ids, ['9001'], 'the server sent no other courier');
    for (const l of locs) assert.deepEqual(l.orders, [order], 'the server sent only the customer\'s own order id');
    assert.equal(page.wsFrameErrors, 0);
    assert.deepEqual(postErrors, [], 'the test\'s own posts succeed');
    t.diagnostic(`${samples} samples, ${positions.size} positions, ${locs.length} locations received, all of courier 9001`);
    await screenshot(page, 'customer-one-courier');
  });
});
