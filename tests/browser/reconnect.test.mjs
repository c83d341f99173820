// The server dies (SIGKILL) and comes back on the same port: the panel shows
// "reconnecting", then by itself "live" again with all couriers, moving (issue #4).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { N, liveServer, open, withEvidence } from './lib/fixture.mjs';
import { counts, launchBrowser, screenshot, sleep, state, waitFor, waitForState } from './lib/harness.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test('panel reconnects by itself after the server is killed and restarted', { timeout: 60_000 }, async (t) => {
  const env = await liveServer(t);
  const { server } = env;
  const page = await open(env, browser, '/?layer=markercluster', server.token());
  await withEvidence(env, page, 'reconnect', async () => {
    await waitForState(page, 'live');
    await waitFor(async () => (await counts(page)).couriers === N, { what: `${N} couriers before the kill` });
    const opensBefore = await page.evaluate(() => window.peyk.connection().opens);

    // Record every state the status shows from now on.
    await page.evaluate(() => {
      window.__states = [];
      const el = document.querySelector('#status');
      new MutationObserver(() => window.__states.push(el.dataset.state))
        .observe(el, { attributes: true, attributeFilter: ['data-state'] });
    });

    await server.kill();
    await waitForState(page, 'reconnecting', 10_000);
    await screenshot(page, 'reconnect-reconnecting');
    // The panel keeps showing the last known couriers while it reconnects.
    assert.equal((await counts(page)).couriers, N);
    await sleep(1500); // down for a while: several failed attempts
    assert.equal(await state(page), 'reconnecting');

    await server.start(); // same port, same secret; fresh state
    // The feeder (simulator) keeps running and its posts succeed again.
    await waitForState(page, 'live', 20_000);
    // Every courier is in the store, in the list and on the layer. Not "drawn in view"
    // (visibleTotal): the couriers keep walking and the map does not re-fit after a
    // reconnect, so one may be just outside the view (failed 3 of 4 runs here).
    await waitFor(
      async () => {
        const x = await counts(page);
        return x.couriers === N && x.markers === N && x.listed === N ? x : null;
      },
      { timeout: 20_000, what: `all ${N} couriers back after the restart` },
    );
    const conn = await page.evaluate(() => window.peyk.connection());
    assert.ok(conn.opens > opensBefore, `a new socket was opened (${opensBefore} -> ${conn.opens})`);
    const states = await page.evaluate(() => window.__states);
    assert.ok(!states.includes('signed-out'), `never signed out: ${states.join(' → ')}`);
    assert.equal(states.at(-1), 'live');
    t.diagnostic(`states after the kill: ${states.join(' → ')}; opens ${opensBefore} -> ${conn.opens}`);

    // Live data again: positions change.
    const pos = () =>
      page.evaluate((n) => {
        const out = [];
        for (let i = 1; i <= n; i++) {
          const x = window.peyk.courier(i);
          out.push(x ? `${x.lat},${x.lng}` : '');
        }
        return out;
      }, N);
    const p0 = await pos();
    await waitFor(
      async () => {
        const p1 = await pos();
        return p1.filter((v, i) => v !== p0[i]).length >= N / 5;
      },
      { timeout: 8_000, interval: 250, what: 'positions to move after the restart' },
    );
    await screenshot(page, 'reconnect-live-again');
  });
});
