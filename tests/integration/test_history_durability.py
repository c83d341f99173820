"""Tracks (PROTOCOL.md §7): durability and operation, against real peyk processes and both
history backends: every point answered 200 found after kill -9; the store unavailable
(503 history_unavailable, /readyz) and back; retention; two `peyk ingest` on one
PostgreSQL; `peyk demo` recording by default; the flags."""

import concurrent.futures
import os
import threading
import time

import requests

from conftest import mint, run_peyk, uid, wait_until
from history_helpers import (  # noqa: F401  (backend, postgres_server: fixtures)
    SqliteBackend, all_pages, backend, get, iso, latlon, points, post_batch, postgres_server,
    start, track, window)

TIME_SCALE = float(os.environ.get("PEYK_TEST_TIME_SCALE", "1"))


def test_kill9_loses_no_acknowledged_point(server, backend, tmp_path):
    srv = start(server, backend, "--threads", "2")
    secret = srv.secret
    couriers = [uid("k") for _ in range(8)]
    acked = {c: [] for c in couriers}
    refused = []
    halt = threading.Event()
    t_base = time.time() - 3000

    def run(c):
        tok = mint(secret, "courier", c, fleet="f1")
        s = requests.Session()
        seq = 0
        while not halt.is_set():
            batch = []
            for _ in range(20):
                batch.append({"latitude": round(30 + seq * 1e-6, 6), "longitude": 50.0,
                              "recorded_at": iso(t_base + seq * 0.05)})
                seq += 1
            try:
                r = s.post(srv.base + "/api/v1/locations", json={"points": batch},
                           headers={"Authorization": f"Bearer {tok}"}, timeout=5)
            except requests.RequestException:
                return  # the process died under this request: not acknowledged
            if r.status_code == 200:
                acked[c].extend(p["latitude"] for p in batch)
            else:
                refused.append(r.status_code)

    with concurrent.futures.ThreadPoolExecutor(len(couriers)) as pool:
        futures = [pool.submit(run, c) for c in couriers]
        wait_until(lambda: sum(len(v) for v in acked.values()) >= 4000, 30 * TIME_SCALE,
                   interval=0.05, what="4000 acknowledged points")
        srv.proc.kill()  # kill -9, mid-stream
        srv.signalled = True
        srv.proc.wait(5)
        halt.set()
        for f in futures:
            f.result()
    assert not refused, f"refused while healthy: {refused[:10]}"
    total = sum(len(v) for v in acked.values())

    again = start(server, backend)
    admin = again.admin_token()
    for c in couriers:
        got, _ = all_pages(again, admin, f"/api/v1/couriers/{c}/track",
                           window(t_base - 1, t_base + 3000), 50000)
        have = {p["latitude"] for p in got}
        lost = [x for x in acked[c] if x not in have]
        assert not lost, f"{len(lost)} acknowledged points of {c} lost after kill -9 ({total} acked)"
    print(f"kill -9 [{backend.name}]: {total} acknowledged points, all found")


# ---------------------------------------------------------------------------------
# history unavailable: 503 history_unavailable, /readyz 503, then recovery


def test_history_unavailable_then_recovers(server, backend):
    srv = start(server, backend)
    courier = uid("u")
    tok = srv.courier_token(courier, fleet="f1")
    admin = srv.admin_token()
    v = srv.viewer(admin, proto="peyk.v1")
    srv.post_ok(tok, {"latitude": 1.0, "longitude": 1.0})
    v.collect_until(lambda l: str(l["user"]["id"]) == courier)

    backend.make_unavailable(srv)
    statuses = []

    def refused_now():
        r = srv.post(tok, {"latitude": 2.0, "longitude": 2.0})
        statuses.append(r.status_code)
        return (r,) if r.status_code == 503 else None

    r, = wait_until(refused_now, 20 * TIME_SCALE, interval=0.2, what="503 while history is down")
    assert r.json()["error"] == "history_unavailable", r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert 200 not in statuses[1:], statuses  # at most the one in flight at the failure
    wait_until(lambda: srv.get("/readyz").status_code == 503, 10 * TIME_SCALE,
               what="/readyz 503 while history is down")
    assert srv.get("/readyz").json().get("history") == "unavailable"
    for _ in range(5):
        r = srv.post(tok, {"latitude": 3.0, "longitude": 3.0})
        assert r.status_code == 503 and r.json()["error"] == "history_unavailable", r.text
    assert srv.get("/healthz").status_code == 200
    m = srv.metrics()
    assert m.value("peyk_history_unavailable_total") >= 6

    backend.make_available(srv)
    srv.wait_ready(20 * TIME_SCALE)
    wait_until(lambda: srv.post(tok, {"latitude": 4.0, "longitude": 4.0}).status_code == 200,
               10 * TIME_SCALE, interval=0.2, what="200 once history is back")
    srv.post_ok(tok, {"latitude": 5.0, "longitude": 5.0})
    now = time.time()
    got = latlon(track(srv, admin, courier, now - 600, now + 1)["points"])
    assert got[0] == (1.0, 1.0) and got[-1] == (5.0, 5.0), got
    assert (3.0, 3.0) not in got  # refused at once: never recorded (nor shown live)


# ---------------------------------------------------------------------------------
# retention


def test_retention_drops_old_points(server, backend):
    courier = uid("r")
    now = time.time()
    old = points(3, now - 3 * 86400, lat0=10.0)  # three days ago
    recent = points(3, now - 60, lat0=20.0)
    srv = start(server, backend)
    tok = srv.courier_token(courier)
    post_batch(srv, tok, old + recent)
    admin = srv.admin_token()
    old_w = window(now - 3 * 86400 - 10, now - 3 * 86400 + 100)
    assert latlon(get(srv, f"/api/v1/couriers/{courier}/track", admin, old_w).json()["points"]) \
        == latlon(old)
    assert backend.rows_before(now - 2 * 86400) == 3
    srv.stop()

    srv = start(server, backend, "--history-retention", "1d")
    admin = srv.admin_token()
    # never answered past retention, whenever the store deletes them
    assert get(srv, f"/api/v1/couriers/{courier}/track", admin, old_w).json()["points"] == []
    r = get(srv, f"/api/v1/couriers/{courier}/summary", admin, old_w)
    assert r.status_code == 200 and r.json()["points"] == 0
    assert latlon(track(srv, admin, courier, now - 120, now + 1)["points"]) == latlon(recent)
    if backend.name == "postgres":
        # whole days past retention are dropped at start (then hourly)
        wait_until(lambda: backend.rows_before(now - 2 * 86400) == 0, 20 * TIME_SCALE,
                   interval=0.25, what="the day partition of 3 days ago dropped")
    # (SQLite's pass with 1d runs every 144 min/10 -> 60 s: test_short_retention_sqlite
    # checks that its rows really go)


def test_short_retention_sqlite(server, tmp_path):
    """Seconds are accepted: points measured more than 2 s ago are no longer answered and
    leave the file (SQLite deletes rows; PostgreSQL drops whole days, see
    test_retention_drops_old_points)."""
    backend = SqliteBackend(tmp_path)
    srv = start(server, backend, "--history-retention", "2s")
    courier = uid("r")
    tok = srv.courier_token(courier)
    admin = srv.admin_token()
    t_first = time.time()
    srv.post_ok(tok, {"latitude": 1.0, "longitude": 1.0, "recorded_at": iso(t_first)})
    t = time.time()
    assert len(track(srv, admin, courier, t - 60, t + 1)["points"]) == 1
    time.sleep(1.0)
    srv.post_ok(tok, {"latitude": 2.0, "longitude": 2.0, "recorded_at": iso(time.time())})

    def only_second():
        t = time.time()
        return latlon(track(srv, admin, courier, t - 60, t + 1)["points"]) == [(2.0, 2.0)]

    wait_until(only_second, 5 * TIME_SCALE, interval=0.1,
               what="the first point no longer answered after 2 s, the second kept")
    assert backend.rows_before(t_first + 0.5) == 1
    # the rows go too: the recent log is moved into the sorted table within 10 s, where the
    # retention pass (every 200 ms at 2s) deletes them
    wait_until(lambda: backend.rows_before(t_first + 0.5) == 0, 30 * TIME_SCALE, interval=0.5,
               what="the first point's row deleted from the file")


# ---------------------------------------------------------------------------------
# two ingest processes on one PostgreSQL


def test_two_ingests_write_to_one_postgres(server, redis_server, postgres_server):  # noqa: F811
    pg = postgres_server.url
    i1 = server("--redis", redis_server.url, "--history", pg, "--rate-limit", "0", role="ingest")
    # the password from libpq's PGPASSWORD instead of the URL (deploy/README.md)
    no_pw = pg.replace(f":{postgres_server.password}@", "@")
    assert no_pw != pg
    i2 = server("--redis", redis_server.url, "--history", no_pw, "--rate-limit", "0",
                role="ingest", secret=i1.secret, env={"PGPASSWORD": postgres_server.password})
    gw = server("--redis", redis_server.url, "--history", pg, role="gateway", secret=i1.secret)
    for s in (i1, i2, gw):
        s.wait_ready(15)
    now = time.time()
    couriers = [uid("p") for _ in range(6)]
    sent = {}

    def run(i, c):
        ingest = (i1, i2)[i % 2]
        tok = ingest.courier_token(c, fleet="f1")
        pts = points(50, now - 500, dt=2, lat0=10 + i)
        for k in range(0, 50, 10):
            ingest.post_ok(tok, {"points": pts[k:k + 10]})
        sent[c] = pts

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda a: run(*a), enumerate(couriers)))
    admin = gw.admin_token()
    for c in couriers:
        assert latlon(track(gw, admin, c, now - 600, now + 1)["points"]) == latlon(sent[c]), c
    # either ingest answers the queries too (any process with --history)
    assert latlon(track(i2, admin, couriers[0], now - 600, now + 1)["points"]) == \
        latlon(sent[couriers[0]])
    r = get(gw, "/api/v1/tracks", admin, window(now - 3000, now + 1))
    assert {str(c["id"]) for c in r.json()["couriers"]} >= set(couriers)
    # a gateway without --history answers no track query
    gw2 = server("--redis", redis_server.url, role="gateway", secret=i1.secret)
    r = get(gw2, f"/api/v1/couriers/{couriers[0]}/track", admin)
    assert r.status_code == 404 and "--history" in r.json()["message"]
    # the history outage: the ingests refuse (503) and leave the load balancer; the
    # gateway stays ready for its viewers
    postgres_server.stop()
    tok = i1.courier_token(couriers[0])
    wait_until(lambda: i1.post(tok, {"latitude": 1, "longitude": 1}).status_code == 503,
               15 * TIME_SCALE, interval=0.2, what="ingest 503 while PostgreSQL is down")
    wait_until(lambda: not i1.ready(), 10 * TIME_SCALE, what="ingest /readyz 503")
    assert gw.ready()
    r = get(gw, f"/api/v1/couriers/{couriers[0]}/track", admin, window(now - 600, now + 1))
    assert r.status_code == 503 and r.json()["error"] == "history_unavailable", r.text
    postgres_server.start()
    i1.wait_ready(20 * TIME_SCALE)
    wait_until(lambda: get(gw, f"/api/v1/couriers/{couriers[0]}/track", admin,
                           window(now - 600, now + 1)).status_code == 200,
               20 * TIME_SCALE, interval=0.25, what="queries answered again")


# ---------------------------------------------------------------------------------
# the demo records by default


def test_demo_records_by_default(server, tmp_path):
    demo = server("--couriers", "3", "--update-interval", "1", role="demo", data_dir=None,
                  cwd=str(tmp_path))
    admin = demo.admin_token()
    t0 = time.time()

    def trail():
        t = time.time()
        r = get(demo, "/api/v1/couriers/1000/track", admin, window(t - 120, t + 1))
        return r.status_code == 200 and len(r.json()["points"]) >= 2

    wait_until(trail, 10 * TIME_SCALE, interval=0.25, what="a simulated courier's trail")
    assert os.path.isfile(tmp_path / "peyk-data" / "history.sqlite")
    assert time.time() - t0 < 10 * TIME_SCALE
    assert "history" in demo.stdout_text() + demo.stderr_text()


# ---------------------------------------------------------------------------------
# flags


def test_history_flags(server, tmp_path):
    env = {"PEYK_JWT_SECRET": "s" * 64}
    for bad, what in [(["--history", "mysql://x"], "--history"),
                      (["--history", "sqlite:"], "sqlite:PATH"),
                      (["--history", "postgres://"], "postgres://"),
                      (["--history-retention", "forever"], "--history-retention"),
                      (["--history-retention", "0s"], "--history-retention"),
                      (["--max-history-queries", "0"], "--max-history-queries")]:
        r = run_peyk(["serve", *bad], env=env)
        assert r.returncode == 2 and what in r.stderr, (bad, r.stderr)
    r = run_peyk(["serve", "--history", "mysql://root:hunter2@db/x"], env=env)
    assert r.returncode == 2 and "hunter2" not in r.stderr, r.stderr
    for cmd in ("serve", "ingest", "gateway", "demo"):
        r = run_peyk([cmd, "--help"])
        assert r.returncode == 0
        for flag in ("--history", "--history-retention", "--data-dir"):
            assert flag in r.stdout, (cmd, flag)
    r = run_peyk(["serve", "--help"])
    assert "peyk-data" in r.stdout and "30d" in r.stdout
    # a file that cannot be made: a clear start-up error
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run_peyk(["serve", "--listen", "127.0.0.1:0", "--data-dir", str(blocker / "sub")], env=env)
    assert r.returncode == 2 and "history" in r.stderr, r.stderr

    # the default: <--data-dir>/history.sqlite, the directory made; --history off: none
    d = tmp_path / "made" / "here"
    srv = server("--data-dir", str(d))
    assert (d / "history.sqlite").exists()
    off = server("--history", "off", "--data-dir", str(tmp_path / "unused"))
    assert not (tmp_path / "unused").exists()
    off.post_ok(off.courier_token("1"), {"latitude": 1, "longitude": 1})
    r = get(off, "/api/v1/couriers/1/track", off.admin_token())
    assert r.status_code == 404 and "--history" in r.json()["message"]
    # a PostgreSQL password never reaches the log, even when the server is unreachable
    pw = "Sup3rSecretPw"
    bad_pg = server("--history", f"postgres://peyk:{pw}@127.0.0.1:1/peyk", "--log-level", "debug")
    time.sleep(1.5)
    log = bad_pg.stderr_text()
    assert pw not in log and "***" in log, log
    assert not bad_pg.ready()
    r = bad_pg.post(bad_pg.courier_token("1"), {"latitude": 1, "longitude": 1})
    assert r.status_code == 503 and r.json()["error"] == "history_unavailable"
    assert srv.ready()


def test_ingest_records_only_with_history(server, redis_server, tmp_path):
    plain = server("--redis", redis_server.url, role="ingest")
    plain.wait_ready()
    plain.post_ok(plain.courier_token("7"), {"latitude": 1, "longitude": 1})
    r = get(plain, "/api/v1/couriers/7/track", plain.admin_token())
    assert r.status_code == 404
    assert not list(tmp_path.iterdir())
    spec = f"sqlite:{tmp_path / 'i.sqlite'}"
    rec = server("--redis", redis_server.url, "--history", spec, role="ingest",
                 secret=plain.secret)
    rec.wait_ready()
    rec.post_ok(rec.courier_token("7"), {"latitude": 2, "longitude": 2})
    t = time.time()
    assert latlon(track(rec, rec.admin_token(), "7", t - 60, t + 1)["points"]) == [(2.0, 2.0)]
