"""Nothing lost (issue 6, item 5): `peyk ingest` + `peyk gateway` on a real Redis under a
steady load of 200 couriers posting once a second; admin viewers (peyk.v1 and
echo-protocol) record everything they receive. Faults: (a) `kill -9` of Redis and a
restart on the same port; (b) a gateway restart (SIGTERM, a new gateway on the same port,
the viewers reconnect).

The rule checked, for every viewer and every location that ingest answered 200 for:

    the viewer receives that location, or a newer location of the same courier
    (latest wins), at some time after the location was posted.

"Receives" counts live frames and the peyk.v1 snapshot. In (b) a viewer is disconnected
from its 1001 close until its reconnect; the window is exact: a location acknowledged
before the viewer started its new handshake must be in (or superseded in) the new
snapshot -- checked separately, per location -- and one acknowledged later must arrive
live or be superseded by one that does. An echo-protocol viewer has no snapshot, so what
was acknowledged while it was away is only ever superseded by the courier's next post.

Also checked: no viewer ever receives an older location of a courier after a newer one
within one connection, and how long after its acknowledgement each location was
satisfied (bounded by the fault window plus slack). Counts are printed (pytest -s)."""

import http.client
import json
import os
import secrets
import threading
import time

from types import SimpleNamespace


from conftest import read_viewer_frames, stop_reader, uid_of, wait_until
from sanitizer import TIME_SCALE

SCALE = TIME_SCALE
# Load phases need enough acknowledged posts, not the full deadline stretch: a sanitizer
# slows the server less than the 3-5x that deadlines allow for.
LOAD_SCALE = min(SCALE, 2)
N_COURIERS = int(os.environ.get("PEYK_NOTHING_LOST_COURIERS", "200"))
PERIOD = 1.0  # each courier posts once a second: 200 posts/s
THREADS = 4


def seq_of(loc):
    return round(loc["longitude"] * 1000)


class Load(threading.Thread):
    """N couriers split over THREADS threads, each courier posting every PERIOD seconds
    on a keep-alive connection; the sequence number travels as longitude = seq / 1000."""

    def __init__(self, ingest, couriers):
        super().__init__(daemon=True)
        self.ingest = ingest
        self.couriers = couriers
        self.tokens = {c: ingest.courier_token(c) for c in couriers}
        self.seq = {c: 0 for c in couriers}
        self.acked = []  # (courier, seq, sent, done)
        self.statuses = {}
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def _conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.ingest.port, timeout=5)

    def run(self):
        conn = self._conn()
        next_tick = time.monotonic()
        while not self.halt.is_set():
            for i, c in enumerate(self.couriers):
                self.seq[c] += 1
                s = self.seq[c]
                body = json.dumps({"latitude": 30 + i / 1000, "longitude": s / 1000})
                sent = time.monotonic()
                try:
                    conn.request("POST", "/api/v1/locations", body=body,
                                 headers={"Authorization": f"Bearer {self.tokens[c]}",
                                          "Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                    status = r.status
                except (OSError, http.client.HTTPException):
                    status = "error"
                    conn.close()
                    conn = self._conn()
                done = time.monotonic()
                with self.lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == 200:
                        self.acked.append((c, s, sent, done))
            next_tick += PERIOD
            delay = next_tick - time.monotonic()
            if delay > 0:
                self.halt.wait(delay)
            else:
                next_tick = time.monotonic()
        conn.close()

    def stop(self):
        self.halt.set()
        self.join(10)
        assert not self.is_alive()


class Recorder:
    """One logical admin viewer across reconnects: every location received, with the time,
    the connection number and whether it came in a snapshot."""

    def __init__(self, name, proto):
        self.name, self.proto = name, proto
        self.received = []  # (t, conn_no, kind, courier, seq)
        self.connects = []  # (conn_no, t_handshake_start, t_ready)
        self.closes = []  # (conn_no, t, code)
        self.errors = []
        self.lock = threading.Lock()
        self.thread = None
        self.halt = threading.Event()
        self.ws = None

    def connect(self, gw):
        conn_no = len(self.connects)
        t0 = time.monotonic()
        ws = gw.connect_ws(gw.admin_token(sub=f"{self.name}-{conn_no}"), self.proto,
                           timeout=5 * SCALE)
        if self.proto == "peyk.v1":
            first = json.loads(ws.recv())
            assert first["type"] == "snapshot", first
            t = time.monotonic()
            with self.lock:
                for l in first["locations"]:
                    self.received.append((t, conn_no, "snapshot", uid_of(l), seq_of(l)))
        self.connects.append((conn_no, t0, time.monotonic()))
        self.ws = ws
        self.halt.clear()
        self.thread = threading.Thread(target=self._read, args=(ws, conn_no), daemon=True)
        self.thread.start()

    def _read(self, ws, conn_no):
        def live(locs, t):
            with self.lock:
                for l in locs:
                    self.received.append((t, conn_no, "live", uid_of(l), seq_of(l)))

        read_viewer_frames(ws, self.proto, self.halt, conn_no, self.closes, self.errors, live)

    def wait_closed(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"{self.name}: no close within {timeout}s"

    def stop(self):
        stop_reader(self.halt, self.thread, self.ws)


def check(rec, acked, max_lag):
    """Applies the latest-wins rule to one viewer; returns a dict of counts and the list of
    violations (empty when nothing was lost)."""
    by_courier = {}
    for t, conn_no, kind, c, s in rec.received:
        by_courier.setdefault(c, []).append((t, s, kind, conn_no))
    exact = superseded = by_snapshot = 0
    violations, lags = [], []
    for c, s, sent, done in acked:
        best = None  # earliest receipt at or after `sent` of seq >= s
        for t, s2, kind, _ in by_courier.get(c, ()):
            if s2 >= s and t >= sent - 0.05 and (best is None or t < best[0]):
                best = (t, s2, kind)
        if best is None:
            violations.append(f"courier {c} seq {s} (acked at +{done:.2f}) never reached "
                              f"{rec.name}, nor a newer one")
            continue
        lag = best[0] - done
        lags.append(lag)
        if lag > max_lag:
            violations.append(f"courier {c} seq {s}: first satisfied {lag:.2f}s after its ack "
                              f"(bound {max_lag:.1f}s)")
        if best[1] == s:
            exact += 1
        else:
            superseded += 1
            if best[2] == "snapshot":
                by_snapshot += 1
    # within one connection, a courier never goes backwards
    backwards = 0
    last = {}
    for t, conn_no, kind, c, s in rec.received:
        key = (conn_no, c)
        if key in last and s < last[key]:
            backwards += 1
            if backwards <= 5:
                violations.append(f"{rec.name} conn {conn_no}: courier {c} went back from "
                                  f"{last[key]} to {s}")
        last[key] = max(s, last.get(key, s))
    lags.sort()
    return {"acked": len(acked), "exact": exact, "superseded": superseded,
            "superseded_by_snapshot": by_snapshot, "backwards": backwards,
            "received": len(rec.received),
            "lag_p50": lags[len(lags) // 2] if lags else None,
            "lag_max": lags[-1] if lags else None}, violations


def check_snapshot_window(rec, acked):
    """(b)'s exact window: for each reconnect of a peyk.v1 viewer, every location acked
    before the handshake started is in the new snapshot or superseded there."""
    bad = []
    checked = 0
    for conn_no, t_start, _ in rec.connects[1:]:
        snap = {}
        for t, cn, kind, c, s in rec.received:
            if cn == conn_no and kind == "snapshot":
                snap[c] = max(s, snap.get(c, 0))
        latest_before = {}
        for c, s, sent, done in acked:
            if done < t_start:
                latest_before[c] = max(s, latest_before.get(c, 0))
        for c, s in latest_before.items():
            checked += 1
            if snap.get(c, -1) < s:
                bad.append(f"{rec.name} reconnect {conn_no}: snapshot has courier {c} at "
                           f"{snap.get(c)}, but seq {s} was acknowledged before the handshake")
    return checked, bad


def run_scenario(server, redis_server, fault):
    secret = secrets.token_hex(32)
    ing = server("--redis", redis_server.url, "--rate-limit", "0", role="ingest", secret=secret)
    gw = server("--redis", redis_server.url, role="gateway", secret=secret)
    ing.wait_ready()
    gw.wait_ready()
    t = SimpleNamespace(redis=redis_server, secret=secret)
    couriers = [f"nl-{i}" for i in range(N_COURIERS)]
    recs = [Recorder("v1-admin", "peyk.v1"), Recorder("echo-admin", "echo-protocol")]
    for r in recs:
        r.connect(gw)
    loads = [Load(ing, couriers[i::THREADS]) for i in range(THREADS)]
    for l in loads:
        l.start()
    windows = []
    gateways = [gw]
    try:
        time.sleep(3 * LOAD_SCALE)  # steady state
        f0 = time.monotonic()
        if fault == "redis-kill9":
            t.redis.kill()
            time.sleep(2 * LOAD_SCALE)
            t.redis.start()
            wait_until(lambda: ing.ready() and gw.ready(), 15 * SCALE, interval=0.05,
                       what="ingest and gateway ready again after the Redis restart")
        else:
            port = gw.port
            assert gw.stop() == 0, "the gateway did not exit 0 on SIGTERM"
            for r in recs:
                r.wait_closed(5 * SCALE)
            gw2 = server("--redis", t.redis.url, role="gateway", secret=t.secret, port=port)
            gw2.wait_ready(15 * SCALE)
            gateways.append(gw2)
            for r in recs:
                r.connect(gw2)
        windows.append(time.monotonic() - f0)
        time.sleep(4 * LOAD_SCALE)  # steady again
    finally:
        for l in loads:
            l.stop()
    time.sleep(1.5 * SCALE)  # let the last acknowledged posts arrive
    for r in recs:
        r.stop()
    acked = sorted((a for l in loads for a in l.acked), key=lambda a: a[3])
    statuses = {}
    for l in loads:
        for k, v in l.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
    duration = acked[-1][3] - acked[0][2] if acked else 0
    max_lag = max(windows) + 5 * SCALE
    print(f"\n[{fault}] {N_COURIERS} couriers, {len(acked)} posts acknowledged over "
          f"{duration:.1f}s ({len(acked) / max(duration, 1e-9):.0f}/s); ingest answers "
          f"{statuses}; fault window {windows[0]:.2f}s")
    all_violations = []
    for r in recs:
        counts, violations = check(r, acked, max_lag)
        print(f"[{fault}] {r.name}: {counts}; connections {len(r.connects)}, closes "
              f"{[c[2] for c in r.closes]}; violations {len(violations)}")
        all_violations += violations
        if fault == "gateway-restart" and r.proto == "peyk.v1":
            checked, bad = check_snapshot_window(r, acked)
            print(f"[{fault}] {r.name}: snapshot window: {checked} couriers checked, "
                  f"{len(bad)} violations")
            assert checked >= N_COURIERS * 0.9
            all_violations += bad
        assert not [e for e in r.errors], f"{r.name}: {r.errors}"
    m = gateways[-1].metrics()
    print(f"[{fault}] gateway: messages in {m.value('peyk_messages_in_total'):.0f}, "
          f"broker reconnects {m.value('peyk_broker_reconnects_total'):.0f}")
    assert len(acked) >= N_COURIERS * 6, f"only {len(acked)} posts acknowledged: the load did not hold"
    assert not all_violations, f"{len(all_violations)} violations:\n" + "\n".join(all_violations[:30])
    return recs, statuses


def test_nothing_lost_across_redis_kill9(server, redis_server):
    recs, statuses = run_scenario(server, redis_server, "redis-kill9")
    # the viewers were never disconnected by a Redis outage
    for r in recs:
        assert r.closes == [] and len(r.connects) == 1, (r.name, r.closes)
    assert statuses.get(503, 0) > 0, "the outage was not seen by the couriers (no 503)"


def test_nothing_lost_across_gateway_restart(server, redis_server):
    recs, statuses = run_scenario(server, redis_server, "gateway-restart")
    for r in recs:
        assert [c[2] for c in r.closes] == [1001], (r.name, r.closes)
        assert len(r.connects) == 2
    assert set(statuses) == {200}, f"ingest must not notice a gateway restart: {statuses}"
