// A viewer token that expires while the page is open: the server closes the socket with
// 4001 and the page shows "signed out" (panel) / "link expired" (customer page).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { liveServer, open, withEvidence } from './lib/fixture.mjs';
import {
  adminToken,
  counts,
  customerToken,
  launchBrowser,
  screenshot,
  sleep,
  stateHistory,
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

test('panel is signed out when its token expires (close 4001)', { timeout: 40_000 }, async (t) => {
  const env = await liveServer(t, { couriers: 10 });
  const page = await open(env, browser, '/', adminToken(env.server.secret, 3));
  await withEvidence(env, page, 'expiry-panel', async () => {
    // live (with couriers) first, then signed out
    await waitFor(async () => (await counts(page)).couriers > 0 || (await stateHistory(page)).includes('signed-out'),
      { timeout: 5000, what: 'couriers before expiry' });
    const shown = (await counts(page)).couriers;
    await waitForState(page, 'signed-out', 12_000);
    const states = await stateHistory(page);
    t.diagnostic(`states: ${states.join(' → ')}`);
    assert.ok(states.indexOf('live') >= 0 && states.indexOf('live') < states.indexOf('signed-out'),
      `live before signed-out: ${states.join(' → ')}`);
    assert.ok(shown > 0, 'couriers were shown while the token was valid');
    const closes = await page.evaluate(() => window.__peykCloses);
    assert.ok(closes.includes(4001), `the socket was closed with 4001 (codes: ${closes.join(', ')})`);
    assert.equal(await page.isVisible('#signin'), true, 'the sign-in form is shown');
    const after = await page.evaluate(() => ({ counts: window.peyk.counts(), conn: window.peyk.connection(), states: window.__peykStates, closes: window.__peykCloses }));
    assert.equal(after.counts.couriers, 0, `the couriers are forgotten: ${JSON.stringify(after)}`);
    // the list is redrawn at most every 250 ms
    await waitFor(async () => (await page.$$eval('#courier-list li[data-courier-id]', (l) => l.length)) === 0,
      { timeout: 3000, what: 'the courier list to be emptied' });
    // ...and it stays signed out (no reconnect with the dead token)
    const opens = await page.evaluate(() => window.peyk.connection().opens);
    await sleep(1500);
    assert.equal(await page.$eval('#status', (e) => e.dataset.state), 'signed-out');
    assert.equal(await page.evaluate(() => window.peyk.connection().opens), opens);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('peyk.panel.token')), null, 'token forgotten');
    await screenshot(page, 'expiry-panel-signed-out');
  });
});

test('customer page shows "expired" when its link expires (close 4001)', { timeout: 40_000 }, async (t) => {
  const env = await liveServer(t, { couriers: 10 });
  // The simulator's couriers carry orders A<number>; the customer's order is one nobody
  // carries, so the page waits for its courier until the link expires.
  const page = await open(env, browser, '/track', customerToken(env.server.secret, ['ZZ-NONE'], 3), { width: 412, height: 860 });
  await withEvidence(env, page, 'expiry-customer', async () => {
    await waitForState(page, 'signed-out', 12_000);
    const states = await stateHistory(page);
    t.diagnostic(`states: ${states.join(' → ')}`);
    assert.ok(states.indexOf('live') >= 0 && states.indexOf('live') < states.indexOf('signed-out'),
      `live before signed-out: ${states.join(' → ')}`);
    const closes = await page.evaluate(() => window.__peykCloses);
    assert.ok(closes.includes(4001), `the socket was closed with 4001 (codes: ${closes.join(', ')})`);
    await waitFor(() => page.isVisible('#expired'), { timeout: 2000, what: '#expired shown' });
    assert.equal(await page.isVisible('#waiting'), false);
    await screenshot(page, 'expiry-customer');
  });
});
