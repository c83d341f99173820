// The panel against a real `peyk serve` fed by the courier simulator (issue #4):
// it shows every courier (map and list), markers move, zooming in splits clusters.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { N, liveServer, open, withEvidence } from './lib/fixture.mjs';
import { counts, courier, launchBrowser, screenshot, sleep, waitFor, waitForState } from './lib/harness.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe('panel', () => {
  test(`shows all ${N} couriers on the map and in the list, status live`, { timeout: 40_000 }, async (t) => {
    const env = await liveServer(t);
    const page = await open(env, browser, '/?layer=markercluster', env.server.token());
    await withEvidence(env, page, 'panel-couriers', async () => {
      await waitForState(page, 'live');
      const c = await waitFor(
        async () => {
          const x = await counts(page);
          return x.couriers === N && x.visibleTotal === N && x.listed === N ? x : null;
        },
        { timeout: 10_000, what: `${N} couriers in the store, on the map and in the list` },
      );
      assert.equal(c.markers, N, 'one marker per courier');
      // markers drawn on their own plus the couriers inside the cluster icons
      assert.equal(c.visibleMarkers + c.clusteredMarkers, N);
      // the DOM agrees with the hooks
      const dom = await page.evaluate(() => ({
        rows: [...document.querySelectorAll('#courier-list li[data-courier-id]')].map((li) => li.dataset.courierId),
        pins: document.querySelectorAll('.leaflet-marker-icon[data-courier-id]').length,
        clusterSum: [...document.querySelectorAll('.marker-cluster')].reduce(
          (s, e) => s + Number(e.textContent.trim() || 0), 0),
        status: document.querySelector('#status').dataset.state,
        layer: document.querySelector('#map').dataset.layer,
      }));
      assert.equal(dom.status, 'live');
      assert.equal(dom.layer, 'markercluster');
      assert.equal(dom.rows.length, N);
      assert.equal(new Set(dom.rows).size, N, 'list rows are distinct couriers');
      const expected = Array.from({ length: N }, (_, i) => String(i + 1)).sort();
      assert.deepEqual([...dom.rows].sort(), expected, 'the list holds couriers 1..N');
      assert.equal(dom.pins + dom.clusterSum, N, 'pins + numbers on the cluster icons = N');
      assert.match(await page.textContent('#courier-count'), new RegExp(`\\b${N}\\b`));
      await screenshot(page, 'panel-couriers');
    });
  });

  test('markers move', { timeout: 40_000 }, async (t) => {
    const env = await liveServer(t);
    const page = await open(env, browser, '/?layer=markercluster', env.server.token());
    await withEvidence(env, page, 'panel-moving', async () => {
      await waitForState(page, 'live');
      await waitFor(async () => (await counts(page)).couriers === N, { what: `${N} couriers` });
      const snap = () =>
        page.evaluate((n) => {
          const out = {};
          for (let i = 1; i <= n; i++) {
            const c = window.peyk.courier(i);
            if (c) out[i] = [c.lat, c.lng];
          }
          return out;
        }, N);
      const first = await snap();
      // Within a few seconds many couriers have moved (some wait at a store or a door).
      const moved = await waitFor(
        async () => {
          const now = await snap();
          const ids = Object.keys(first).filter(
            (id) => now[id] && (now[id][0] !== first[id][0] || now[id][1] !== first[id][1]));
          return ids.length >= N / 5 ? ids : null;
        },
        { timeout: 8_000, interval: 250, what: `at least ${N / 5} couriers to change position` },
      );
      // One of them, followed on screen: focus() shows it on its own; its pin moves.
      const id = moved[0];
      await page.evaluate((i) => window.peyk.focus(i), id);
      const pinPos = () =>
        page.evaluate((i) => {
          const el = document.querySelector(`.leaflet-marker-icon[data-courier-id="${i}"]`);
          if (!el) return null;
          const r = el.getBoundingClientRect();
          const c = window.peyk.courier(i);
          return { x: r.x, y: r.y, lat: c.lat, lng: c.lng };
        }, id);
      const p0 = await waitFor(pinPos, { timeout: 5_000, what: `pin of courier ${id} after focus` });
      await screenshot(page, 'panel-moving-before');
      await waitFor(
        async () => {
          const p = await pinPos();
          return p && (p.lat !== p0.lat || p.lng !== p0.lng) && (Math.abs(p.x - p0.x) + Math.abs(p.y - p0.y) >= 1);
        },
        { timeout: 10_000, interval: 200, what: `courier ${id}'s position and its pin on screen to move` },
      );
      await screenshot(page, 'panel-moving-after');
      const c = await courier(page, id);
      assert.ok(Number.isFinite(c.lat) && Number.isFinite(c.lng));
      assert.equal(c.stale, false, 'a courier that posts every second is not stale');
    });
  });

  for (const layer of ['markercluster', 'canvas']) {
    test(`zooming in splits clusters (${layer})`, { timeout: 40_000 }, async (t) => {
      const env = await liveServer(t);
      const page = await open(env, browser, `/?layer=${layer}`, env.server.token());
      await withEvidence(env, page, `panel-zoom-${layer}`, async () => {
        await waitForState(page, 'live');
        assert.equal(await page.evaluate(() => window.peyk.layer()), layer);
        await waitFor(async () => (await counts(page)).couriers === N, { what: `${N} couriers` });
        // The whole city at a low zoom, centred on the couriers.
        const low = 10;
        await page.evaluate((z) => {
          const m = window.peyk.map;
          let la = 0, ln = 0, n = 0;
          for (let i = 1; i <= 200; i++) {
            const c = window.peyk.courier(i);
            if (c) { la += c.lat; ln += c.lng; n++; }
          }
          m.setView([la / n, ln / n], z, { animate: false });
        }, low);
        const before = await waitFor(
          async () => {
            const c = await counts(page);
            return c.visibleTotal === N && c.clusters >= 1 ? c : null;
          },
          { timeout: 5_000, what: `clusters at zoom ${low} holding all ${N} couriers` },
        );
        await screenshot(page, `panel-zoom-${layer}-z${low}`);
        // Zoom in with the map's own + button, twice.
        for (let i = 0; i < 2; i++) {
          const z = await page.evaluate(() => {
            const m = window.peyk.map;
            window.__zoomEnded = false;
            m.once('zoomend', () => { window.__zoomEnded = true; });
            return m.getZoom();
          });
          await page.click('.leaflet-control-zoom-in');
          // the next click only counts once the zoom animation has ended
          await waitFor(
            () => page.evaluate(() => window.__zoomEnded && !window.peyk.map._animatingZoom),
            { timeout: 5_000, interval: 50, what: `the zoom animation from ${z}` });
          assert.equal(await page.evaluate(() => window.peyk.map.getZoom()), z + 1);
        }
        await sleep(600); // zoom animation and the layer's re-clustering
        const afterZoom = await waitFor(
          async () => {
            const c = await counts(page);
            return c.visibleMarkers > before.visibleMarkers ? c : null;
          },
          { timeout: 5_000, what: 'more individual markers after zooming in' },
        );
        await screenshot(page, `panel-zoom-${layer}-z${low + 2}`);
        t.diagnostic(`zoom ${low}: ${JSON.stringify(before)}; zoom ${low + 2}: ${JSON.stringify(afterZoom)}`);
        // Splitting: a larger share of the couriers in view is drawn on its own, and
        // each cluster holds fewer couriers on average.
        const share = (c) => c.visibleMarkers / Math.max(1, c.visibleTotal);
        assert.ok(share(afterZoom) > share(before),
          `share of individual markers grows: ${share(before).toFixed(2)} -> ${share(afterZoom).toFixed(2)}`);
        const perCluster = (c) => (c.clusters ? c.clusteredMarkers / c.clusters : 0);
        assert.ok(perCluster(afterZoom) < perCluster(before),
          `couriers per cluster shrink: ${perCluster(before).toFixed(1)} -> ${perCluster(afterZoom).toFixed(1)}`);
        if (layer === 'markercluster') {
          const pins = await page.$$eval('.leaflet-marker-icon[data-courier-id]', (e) => e.length);
          assert.ok(pins >= afterZoom.visibleMarkers, `pins in the DOM (${pins}) for the ${afterZoom.visibleMarkers} markers`);
        }
        // Back out: everything regroups into clusters again.
        await page.evaluate((z) => window.peyk.map.setZoom(z, { animate: false }), low);
        await waitFor(
          async () => {
            const c = await counts(page);
            return c.visibleTotal === N && c.visibleMarkers < afterZoom.visibleMarkers;
          },
          { timeout: 5_000, what: `clusters again at zoom ${low}` },
        );
      });
    });
  }
});
