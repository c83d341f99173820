// Per-test setup: a fresh `peyk serve` on its own port fed by couriers (the simulator
// when the binary has it), and a page of the shared browser; everything is stopped in
// the test's cleanup, and on failure the server's and feeder's logs are attached.
import {
  PeykServer,
  httpGet,
  newPage,
  screenshot,
  startCouriers,
  waitFor,
} from './harness.mjs';

export const N = 50;

/** peyk_messages_in_total from /metrics (points the broker has carried). */
export async function messagesIn(server) {
  const r = await httpGet(`${server.base}/metrics`);
  const m = /^peyk_messages_in_total\s+(\S+)/m.exec(r.body ?? '');
  return m ? Number(m[1]) : 0;
}

/**
 * Starts the server and N couriers posting every `interval` s, and waits until every
 * courier has posted at least once (so a page opened now gets all N in its snapshot).
 */
export async function liveServer(t, { couriers = N, interval = 1, serverArgs = [] } = {}) {
  const server = await new PeykServer({ args: serverArgs }).start();
  const feed = startCouriers(server, { couriers, interval, duration: 300 });
  const env = { server, feed, pages: [] };
  t.after(async () => {
    for (const p of env.pages) await p.context().close().catch(() => {});
    await feed.stop();
    const rc = await server.stop();
    if (rc && (rc.killedAfterTimeout || (rc.code !== 0 && rc.signal !== 'SIGTERM'))) {
      t.diagnostic(`peyk serve did not exit cleanly on SIGTERM: ${JSON.stringify(rc)}`);
    }
  });
  // Two rounds of posts: every courier has appeared (the feed spreads them over the interval).
  await waitFor(async () => (await messagesIn(server)) >= 2 * couriers, {
    timeout: 15_000,
    interval: 100,
    what: `${couriers} couriers (${feed.kind}) to post twice`,
  }).catch((e) => {
    throw new Error(`${e.message}\n--- feeder log ---\n${feed.log ?? JSON.stringify(feed.stats)}\n--- peyk log ---\n${server.log}`);
  });
  t.diagnostic(`server ${server.base}, ${couriers} couriers every ${interval} s by ${feed.kind}`);
  return env;
}

/** Opens `path` (with the token in the fragment) in a new context of `browser`. */
export async function open(env, browser, path, token, viewport) {
  const page = await newPage(browser, viewport);
  env.pages.push(page);
  await page.goto(`${env.server.base}${path}#token=${token}`, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof window.peyk === 'object', null, { timeout: 10_000 });
  return page;
}

/** Runs fn; on failure saves a screenshot `<name>-failed.png` and appends the logs. */
export async function withEvidence(env, page, name, fn) {
  try {
    return await fn();
  } catch (e) {
    if (page) await screenshot(page, `${name}-failed`);
    const logs = `\n--- page errors ---\n${(page?.errors ?? []).join('\n')}` +
      `\n--- peyk log (tail) ---\n${env.server.log.slice(-4000)}` +
      `\n--- feeder (${env.feed.kind}) ---\n${(env.feed.log ?? JSON.stringify(env.feed.stats)).slice(-2000)}`;
    e.message += logs;
    throw e;
  }
}
