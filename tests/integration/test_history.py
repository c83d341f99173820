"""Tracks (PROTOCOL.md §7) end to end, against real peyk processes and both history
backends: SQLite (a file) and PostgreSQL (a private server from pg_fixtures.py).

Every accepted point is recorded before its 200; the queries (track, order track, summary,
replay window) in every format; who may read what; paging; out-of-order points; kill -9;
the store unavailable and back; retention; two ingest processes on one PostgreSQL; the
demo recording by default; flags."""

import concurrent.futures
import csv
import io
import json
import math
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
import requests

from conftest import ROOT, mint, run_peyk, uid, wait_until
from pg_fixtures import postgres_server  # noqa: F401  (a fixture)

GPX_XSD = os.path.join(ROOT, "tests", "data", "gpx-1.1.xsd")
GPX_NS = "{http://www.topografix.com/GPX/1/1}"
TIME_SCALE = float(os.environ.get("PEYK_TEST_TIME_SCALE", "1"))


# ---------------------------------------------------------------------------------
# backends


class SqliteBackend:
    """sqlite:<tmp>/history.sqlite. Made unavailable by a file size limit on the running
    process (RLIMIT_FSIZE of 1 byte: every write of the database fails, as on a full
    disk), and repaired by lifting it."""

    name = "sqlite"

    def __init__(self, tmp_path):
        self.path = tmp_path / "history.sqlite"

    @property
    def spec(self):
        return f"sqlite:{self.path}"

    def make_unavailable(self, srv):
        _, hard = resource.prlimit(srv.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(srv.pid, resource.RLIMIT_FSIZE, (1, hard))

    def make_available(self, srv):
        _, hard = resource.prlimit(srv.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(srv.pid, resource.RLIMIT_FSIZE, (hard, hard))

    def rows_before(self, t):
        """Rows in the file measured before Unix time t (recent log and sorted table)."""
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            us = int(t * 1e6)
            return sum(db.execute(f"SELECT count(*) FROM {table} WHERE t < ?", (us,)).fetchone()[0]
                       for table in ("recent", "points"))
        finally:
            db.close()


class PostgresBackend:
    """A private PostgreSQL server: made unavailable by stopping it, repaired by starting it
    again (same data directory and port)."""

    name = "postgres"

    def __init__(self, pg):
        self.pg = pg

    @property
    def spec(self):
        return self.pg.url

    def make_unavailable(self, srv):
        self.pg.stop()

    def make_available(self, srv):
        self.pg.start()

    def rows_before(self, t):
        return int(self.pg.scalar(f"SELECT count(*) FROM peyk_points WHERE t < {int(t * 1e6)}"))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        return SqliteBackend(tmp_path)
    return PostgresBackend(request.getfixturevalue("postgres_server"))


# ---------------------------------------------------------------------------------
# helpers


def iso(t):
    """RFC 3339 in UTC with milliseconds, from Unix seconds."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def ms(t):
    return str(int(round(t * 1000)))


def points(n, t0, dt=10.0, lat0=35.7, lon0=51.4, step=0.0005, **extra):
    """n points, `dt` seconds apart from t0, moving north-east by `step` degrees each."""
    out = []
    for i in range(n):
        p = {"latitude": round(lat0 + i * step, 6), "longitude": round(lon0 + i * step, 6),
             "speed": 5.0, "heading": 45, "accuracy": 4.0, "recorded_at": iso(t0 + i * dt)}
        p.update(extra)
        out.append(p)
    return out


def post_batch(srv, token, pts):
    for i in range(0, len(pts), 400):  # 64 KiB bodies
        srv.post_ok(token, {"points": pts[i:i + 400]})


def get(srv, path, token=None, params=None, headers=None, timeout=10):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    return requests.get(srv.base + path, params=params, headers=h, timeout=timeout)


def window(t0, t1):
    return {"from": iso(t0), "to": iso(t1)}


def track(srv, token, courier, t0, t1, **params):
    r = get(srv, f"/api/v1/couriers/{courier}/track", token, {**window(t0, t1), **params})
    assert r.status_code == 200, f"track answered {r.status_code}: {r.text[:300]}"
    return r.json()


def all_pages(srv, token, path, params, limit):
    """Every page of a JSON track query; returns (points or couriers, pages)."""
    got, pages, cursor = [], 0, None
    while True:
        p = {**params, "limit": str(limit)}
        if cursor:
            p["cursor"] = cursor
        r = get(srv, path, token, p)
        assert r.status_code == 200, f"{path} page {pages} answered {r.status_code}: {r.text[:300]}"
        body = r.json()
        pages += 1
        got.extend(body["points"] if "points" in body else body["couriers"])
        cursor = body["next"]
        if cursor is None:
            assert "link" not in {k.lower() for k in r.headers}, "a last page with a Link header"
            return got, pages
        assert 'rel="next"' in r.headers.get("Link", ""), f"no Link to the next page: {r.headers}"
        assert pages < 1000, "paging does not end"


def latlon(pts):
    return [(p["latitude"], p["longitude"]) for p in pts]


def haversine(a, b):
    r = 6371008.8
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def start(server, backend, *flags, **kw):
    srv = server("--history", backend.spec, "--rate-limit", "0", *flags, **kw)
    srv.wait_ready(15)
    return srv


# ---------------------------------------------------------------------------------
# queries and formats


def test_track_in_every_format(server, backend, tmp_path):
    srv = start(server, backend)
    courier, order = uid("c"), uid("O")
    tok = srv.courier_token(courier, name="Ali", fleet="f1")
    now = time.time()
    t0 = now - 600
    sent = points(10, t0, orders=[order]) + points(10, t0 + 100, lat0=35.705, lon0=51.405)
    post_batch(srv, tok, sent)
    admin = srv.admin_token()

    # json
    r = get(srv, f"/api/v1/couriers/{courier}/track", admin, window(t0 - 1, now + 1))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert str(body["courier"]["id"]) == courier and body["courier"]["name"] == "Ali", body["courier"]
    assert body["next"] is None
    got = body["points"]
    assert latlon(got) == latlon(sent)
    for p, s in zip(got, sent):
        assert abs(parse_time(p["recorded_at"]) - parse_time(s["recorded_at"])) < 0.002, p
        assert isinstance(p["ts"], int) and abs(p["ts"] / 1e6 - now) < 60, p
        assert p["speed"] == 5.0 and p["heading"] == 45 and p["accuracy"] == 4.0, p
        assert p["fleet"] == "f1" and p.get("battery") is None, p
        assert p["orders"] == s.get("orders", []), p

    # the same window as Unix milliseconds, and as RFC 3339 with an offset, written
    # unencoded in the URL (`+` stays a plus) and encoded
    by_ms = track(srv, admin, courier, 0, 0, **{"from": ms(t0 - 1), "to": ms(now + 1)})
    assert latlon(by_ms["points"]) == latlon(sent)
    tehran = timezone(timedelta(hours=3, minutes=30))
    f = datetime.fromtimestamp(t0 + 95, tehran).isoformat(timespec="seconds")
    t = datetime.fromtimestamp(now + 1, tehran).isoformat(timespec="seconds")
    assert "+03:30" in f
    r = requests.get(f"{srv.base}/api/v1/couriers/{courier}/track?from={f}&to={t}",
                     headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert latlon(r.json()["points"]) == latlon(sent[10:])
    r = get(srv, f"/api/v1/couriers/{courier}/track", admin, {"from": f, "to": t})
    assert latlon(r.json()["points"]) == latlon(sent[10:])

    # geojson: one LineString, [lon, lat]
    r = get(srv, f"/api/v1/couriers/{courier}/track", admin,
            {**window(t0 - 1, now + 1), "format": "geojson"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/geo+json"), r.headers
    gj = r.json()
    assert gj["type"] == "FeatureCollection"
    lines = [f for f in gj["features"] if f["geometry"]["type"] == "LineString"]
    assert len(lines) == 1, gj
    assert [tuple(c[:2]) for c in lines[0]["geometry"]["coordinates"]] == \
        [(s["longitude"], s["latitude"]) for s in sent]
    times = lines[0]["properties"]["coordTimes"]
    assert [round(parse_time(t), 3) for t in times] == \
        [round(parse_time(s["recorded_at"]), 3) for s in sent]
    assert gj.get("next") is None

    # gpx: GPX 1.1, valid against the schema
    r = get(srv, f"/api/v1/couriers/{courier}/track", admin,
            {**window(t0 - 1, now + 1), "format": "gpx"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/gpx+xml"), r.headers
    cd = r.headers.get("Content-Disposition", "")
    assert cd.startswith("attachment") and re.search(r'filename="?[\w.-]+\.gpx"?', cd), cd
    root = ET.fromstring(r.content)
    assert root.tag == GPX_NS + "gpx" and root.get("version") == "1.1"
    trkpts = root.findall(f"{GPX_NS}trk/{GPX_NS}trkseg/{GPX_NS}trkpt")
    assert [(float(p.get("lat")), float(p.get("lon"))) for p in trkpts] == latlon(sent)
    for p, s in zip(trkpts, sent):
        assert abs(parse_time(p.find(GPX_NS + "time").text) - parse_time(s["recorded_at"])) < 0.002
    if os.path.exists(GPX_XSD):
        gpx_file = str(tmp_path / "track.gpx")
        with open(gpx_file, "wb") as out:
            out.write(r.content)
        v = subprocess.run(["xmllint", "--noout", "--schema", GPX_XSD, gpx_file],
                           capture_output=True, text=True)
        assert v.returncode == 0, f"GPX not valid: {v.stderr}"

    # csv: a header line, then one point a line
    r = get(srv, f"/api/v1/couriers/{courier}/track", admin,
            {**window(t0 - 1, now + 1), "format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv"), r.headers
    cd = r.headers.get("Content-Disposition", "")
    assert cd.startswith("attachment") and re.search(r'filename="?[\w.-]+\.csv"?', cd), cd
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(float(x["latitude"]), float(x["longitude"])) for x in rows] == latlon(sent)

    # the order's track: the points that carried it
    r = get(srv, f"/api/v1/orders/{order}/track", admin, window(t0 - 1, now + 1))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["order"]["id"] == order and latlon(body["points"]) == latlon(sent[:10])
    assert all(str(p["courier"]["id"]) == courier for p in body["points"])
    r = get(srv, f"/api/v1/orders/{order}/track", admin,
            {**window(t0 - 1, now + 1), "format": "gpx"})
    assert r.status_code == 200 and len(ET.fromstring(r.content).findall(
        f"{GPX_NS}trk/{GPX_NS}trkseg/{GPX_NS}trkpt")) == 10

    # summary
    r = get(srv, f"/api/v1/couriers/{courier}/summary", admin, window(t0 - 1, now + 1))
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["points"] == 20
    expected = sum(haversine(a, b) for a, b in zip(latlon(sent), latlon(sent)[1:]))
    assert abs(s["distance_m"] - expected) <= 0.02 * expected + 1, (s, expected)
    legs = [haversine(a, b) / 10 for a, b in zip(latlon(sent), latlon(sent)[1:])]
    assert s["max_speed_mps"] == pytest.approx(max(5.0, *legs), rel=0.01), s
    assert s["moving_s"] == pytest.approx(190, abs=0.01) and s["stopped_s"] == 0, s
    assert (s["first"]["latitude"], s["last"]["latitude"]) == (sent[0]["latitude"],
                                                              sent[-1]["latitude"]), s

    # the replay window: every visible courier, at most 1 h
    other = uid("c")
    post_batch(srv, srv.courier_token(other, fleet="f2"), points(3, now - 30, dt=5))
    r = get(srv, "/api/v1/tracks", admin, window(now - 3000, now + 1))
    assert r.status_code == 200, r.text
    couriers = {str(c["id"]): c for c in r.json()["couriers"]}
    assert latlon(couriers[courier]["points"]) == latlon(sent)
    assert couriers[courier]["name"] == "Ali"
    assert len(couriers[other]["points"]) == 3
    r = get(srv, "/api/v1/tracks", admin, {**window(now - 3000, now + 1), "fleet": "f2"})
    assert set(str(c["id"]) for c in r.json()["couriers"]) == {other}
    r = get(srv, "/api/v1/tracks", admin, window(now - 3601 - 60, now - 60))
    assert r.status_code == 400 and r.json()["error"] == "window_too_long", r.text


def test_query_errors(server, backend):
    srv = start(server, backend)
    admin = srv.admin_token()
    now = time.time()
    path = f"/api/v1/couriers/{uid('c')}/track"

    def err(params, status=400, path=path):
        r = get(srv, path, admin, params)
        assert r.status_code == status, f"{params}: {r.status_code} {r.text}"
        return r.json()

    assert err(window(now - 25 * 3600, now))["error"] == "window_too_long"
    assert err(window(now, now - 10))["field"] == "from"
    assert err(window(now, now))["field"] == "from"
    assert err({"from": "yesterday", "to": iso(now)})["field"] == "from"
    assert err({"from": iso(now - 10), "to": "2026-13-45T99:00:00Z"})["field"] == "to"
    assert err({**window(now - 10, now), "format": "kml"})["field"] == "format"
    for bad in ("0", "50001", "-1", "ten", ""):
        assert err({**window(now - 10, now), "limit": bad})["field"] == "limit", bad
    assert err({**window(now - 10, now), "cursor": "not-a-cursor"})["error"] == "invalid_cursor"
    assert err({**window(now - 10, now), "format": "csv"},
               path=path.replace("/track", "/summary"))["field"] == "format"
    # the limits themselves are fine
    r = get(srv, path, admin, {**window(now - 24 * 3600, now), "limit": "50000"})
    assert r.status_code == 200 and r.json()["points"] == [] and r.json()["next"] is None
    # unknown ids: 200, no points
    r = get(srv, f"/api/v1/orders/{uid('O')}/track", admin, window(now - 60, now))
    assert r.status_code == 200 and r.json()["points"] == []
    r = get(srv, path.replace("/track", "/summary"), admin, window(now - 60, now))
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["points"] == 0 and s["first"] is None and s["last"] is None and s["distance_m"] == 0
    # only GET; a process's unknown paths stay 404
    r = requests.post(srv.base + path, headers={"Authorization": f"Bearer {admin}"}, timeout=5)
    assert r.status_code == 405
    assert get(srv, "/api/v1/couriers//track", admin).status_code == 404
    # defaults: to = now, from = to - 24 h (1 h for /tracks)
    assert get(srv, path, admin).status_code == 200
    assert get(srv, "/api/v1/tracks", admin).status_code == 200


# ---------------------------------------------------------------------------------
# who may read what


def test_visibility(server, backend):
    srv = start(server, backend)
    now = time.time()
    a, b, order_a, order_x, order_b = uid("a"), uid("b"), uid("OA"), uid("OX"), uid("OB")
    # courier a works for f1, then for f2 (its token changed); b works for f2
    in_f1 = points(5, now - 500, orders=[order_a, order_x])
    in_f2 = points(5, now - 300, lat0=35.8)
    post_batch(srv, srv.courier_token(a, fleet="f1"), in_f1)
    post_batch(srv, srv.courier_token(a, fleet="f2"), in_f2)
    post_batch(srv, srv.courier_token(b, fleet="f2"), points(5, now - 200, orders=[order_b]))
    w = window(now - 600, now + 1)

    def status(token, path, params=None, **kw):
        return get(srv, path, token, {**w, **(params or {})}, **kw).status_code

    def pts(token, path, params=None):
        r = get(srv, path, token, {**w, **(params or {})})
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        return r.json()["points"]

    admin = srv.admin_token()
    assert latlon(pts(admin, f"/api/v1/couriers/{a}/track")) == latlon(in_f1 + in_f2)

    # dispatcher: the points whose fleet, at the time of the point, is one of its fleets
    d1 = srv.dispatcher_token(["f1"], sub="d1")
    d2 = srv.dispatcher_token(["f2", "f9"], sub="d2")
    assert latlon(pts(d1, f"/api/v1/couriers/{a}/track")) == latlon(in_f1)
    assert latlon(pts(d2, f"/api/v1/couriers/{a}/track")) == latlon(in_f2)
    assert pts(d1, f"/api/v1/couriers/{b}/track") == []  # never in f1
    assert latlon(pts(d1, f"/api/v1/orders/{order_a}/track")) == latlon(in_f1)
    assert pts(d2, f"/api/v1/orders/{order_a}/track") == []
    r = get(srv, f"/api/v1/couriers/{a}/summary", d1, w)
    assert r.status_code == 200 and r.json()["points"] == 5
    r = get(srv, "/api/v1/tracks", d1, window(now - 3000, now + 1))
    assert r.status_code == 200
    assert {str(c["id"]): len(c["points"]) for c in r.json()["couriers"]} == {a: 5}
    assert get(srv, "/api/v1/tracks", d1, {**window(now - 3000, now + 1), "fleet": "f2"}
               ).status_code == 403
    r = get(srv, "/api/v1/tracks", d2, {**window(now - 3000, now + 1), "fleet": "f2"})
    assert r.status_code == 200
    assert {str(c["id"]): len(c["points"]) for c in r.json()["couriers"]} == {a: 5, b: 5}

    # customer: only the track of its own orders, and only its own ids in `orders`
    cust = srv.customer_token([order_a], sub="cu1")
    got = pts(cust, f"/api/v1/orders/{order_a}/track")
    assert latlon(got) == latlon(in_f1)
    assert all(p["orders"] == [order_a] for p in got), got
    assert status(cust, f"/api/v1/orders/{order_b}/track") == 403
    assert status(cust, f"/api/v1/couriers/{a}/track") == 403
    assert status(cust, f"/api/v1/couriers/{a}/summary") == 403
    assert status(cust, "/api/v1/tracks", window(now - 3000, now + 1)) == 403

    # courier: only its own track and summary
    ca = srv.courier_token(a, fleet="f2")
    assert latlon(pts(ca, f"/api/v1/couriers/{a}/track")) == latlon(in_f1 + in_f2)
    assert status(ca, f"/api/v1/couriers/{a}/summary") == 200
    assert status(ca, f"/api/v1/couriers/{b}/track") == 403
    assert status(ca, f"/api/v1/couriers/{b}/summary") == 403
    assert status(ca, f"/api/v1/orders/{order_a}/track") == 403
    assert status(ca, "/api/v1/tracks", window(now - 3000, now + 1)) == 403

    # tokens: none, forged, expired -> 401; the query parameter works as for /ws
    path = f"/api/v1/couriers/{a}/track"
    assert status(None, path) == 401
    assert status(mint("x" * 64, "admin", "1"), path) == 401
    assert status(srv.admin_token(exp=int(time.time()) - 60), path) == 401
    r = requests.get(srv.base + path, params={**w, "token": admin}, timeout=5)
    assert r.status_code == 200 and len(r.json()["points"]) == 10

    # the cookie: a credential only for a page of the panel's own origin (or no browser)
    host = f"{srv.host}:{srv.port}"

    def by_cookie(headers):
        return requests.get(srv.base + path, params=w, cookies={"peyk_token": admin},
                            headers=headers, timeout=5).status_code

    assert by_cookie({}) == 200
    assert by_cookie({"Origin": f"http://{host}"}) == 200
    assert by_cookie({"Origin": "http://evil.example"}) == 403
    assert by_cookie({"Origin": "null"}) == 403
    assert by_cookie({"Sec-Fetch-Site": "cross-site"}) == 403
    assert by_cookie({"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}) == 200
    # a header token from any origin is the page's own: fine (no CORS: a browser would
    # not show it to another site's script anyway)
    assert status(admin, path, headers={"Origin": "http://evil.example"}) == 200


# ---------------------------------------------------------------------------------
# paging


def test_paging_with_cursors(server, backend):
    srv = start(server, backend)
    admin = srv.admin_token()
    now = time.time()
    c1, c2, order = uid("c"), uid("c"), uid("O")
    sent = points(120, now - 1200, dt=5, orders=[order])
    post_batch(srv, srv.courier_token(c1, fleet="f1"), sent)
    # two points with the same recorded_at: paging must not lose or repeat either
    twins = [{"latitude": 10.0, "longitude": 10.0, "recorded_at": iso(now - 100)},
             {"latitude": 10.000001, "longitude": 10.0, "recorded_at": iso(now - 100)}]
    post_batch(srv, srv.courier_token(c1, fleet="f1"), twins)
    post_batch(srv, srv.courier_token(c2, fleet="f1"), points(30, now - 600, dt=5))
    w = window(now - 1300, now + 1)

    got, pages = all_pages(srv, admin, f"/api/v1/couriers/{c1}/track", w, 50)
    assert pages == 3 and latlon(got) == latlon(sent + twins)
    for limit in (1, 7, 121, 122):
        got, _ = all_pages(srv, admin, f"/api/v1/couriers/{c1}/track", w, limit)
        assert latlon(got) == latlon(sent + twins), f"limit {limit}"
    got, pages = all_pages(srv, admin, f"/api/v1/orders/{order}/track", w, 40)
    assert pages == 3 and latlon(got) == latlon(sent)

    # the replay window pages over couriers: a courier may continue on the next page
    got, pages = all_pages(srv, admin, "/api/v1/tracks", window(now - 3000, now + 1), 25)
    per = {}
    for c in got:
        per.setdefault(str(c["id"]), []).extend(c["points"])
    assert pages >= 6
    assert len(per[c1]) == 122 and len(per[c2]) == 30

    # other formats carry the next page in a Link header (without the token)
    r = get(srv, f"/api/v1/couriers/{c1}/track", None,
            {**w, "format": "csv", "limit": "100", "token": admin})
    assert r.status_code == 200
    link = r.headers.get("Link", "")
    m = re.match(r'<([^>]+)>; rel="next"', link)
    assert m and "cursor=" in m.group(1) and "token" not in m.group(1), link
    r2 = requests.get(srv.base + m.group(1), headers={"Authorization": f"Bearer {admin}"},
                      timeout=5)
    assert r2.status_code == 200 and "Link" not in r2.headers
    rows = list(csv.DictReader(io.StringIO(r.text))) + list(csv.DictReader(io.StringIO(r2.text)))
    assert [(float(x["latitude"]), float(x["longitude"])) for x in rows] == latlon(sent + twins)


# ---------------------------------------------------------------------------------
# out-of-order points


def test_older_points_are_recorded_in_time_order_without_moving_the_marker(server, backend):
    srv = start(server, backend)
    admin = srv.admin_token()
    courier = uid("c")
    tok = srv.courier_token(courier, fleet="f1")
    now = time.time()
    newest = {"latitude": 35.9, "longitude": 51.9, "recorded_at": iso(now - 1)}
    srv.post_ok(tok, newest)
    # an app catching up: a batch measured before the point above
    backlog = points(6, now - 120, dt=10)
    srv.post_ok(tok, {"points": backlog[3:]})
    srv.post_ok(tok, {"points": backlog[:3]})
    got = track(srv, admin, courier, now - 200, now + 1)["points"]
    assert latlon(got) == latlon(backlog + [newest])
    times = [parse_time(p["recorded_at"]) for p in got]
    assert times == sorted(times)
    # the live marker stayed on the newest point
    v = srv.viewer(admin, proto="peyk.v1")
    mine = [l for l in v.snapshot if str(l["user"]["id"]) == courier]
    assert len(mine) == 1 and (mine[0]["latitude"], mine[0]["longitude"]) == (35.9, 51.9), mine


# ---------------------------------------------------------------------------------
# kill -9: every point answered 200 is found after a restart


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
    i2 = server("--redis", redis_server.url, "--history", pg, "--rate-limit", "0", role="ingest",
                secret=i1.secret)
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


# ---------------------------------------------------------------------------------
# limits and metrics


def test_concurrent_queries_are_bounded(server, tmp_path):
    srv = server("--history", f"sqlite:{tmp_path / 'h.sqlite'}", "--rate-limit", "0",
                 "--max-history-queries", "1")
    courier = uid("q")
    now = time.time()
    post_batch(srv, srv.courier_token(courier), points(20000, now - 20000, dt=1, step=1e-6))
    admin = srv.admin_token()
    params = window(now - 20001, now + 1)

    def one(_):
        r = get(srv, f"/api/v1/couriers/{courier}/track", admin, params, timeout=30)
        return r.status_code, r.headers.get("Retry-After"), r.text[:200]

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(one, range(24)))
    codes = [c for c, _, _ in results]
    assert set(codes) <= {200, 503}, results
    assert codes.count(200) >= 1
    busy = [(c, ra, t) for c, ra, t in results if c == 503]
    assert busy, "24 concurrent queries with --max-history-queries 1: none refused"
    assert all(ra and "history_busy" in t for _, ra, t in busy), busy
    m = srv.metrics()
    assert m.value("peyk_history_queries_refused_total") == len(busy)
    # once they are done, queries are answered again
    assert one(0)[0] == 200


def test_history_metrics(server, backend):
    srv = start(server, backend)
    tok = srv.courier_token(uid("m"))
    before = srv.metrics()
    post_batch(srv, tok, points(30, time.time() - 400))
    m = srv.metrics()
    assert m.value("peyk_history_points_total") - before.value("peyk_history_points_total") >= 30
    assert m.value("peyk_history_commits_total") >= 1
    assert m.has_family("peyk_history_pending_points")
    assert m.value("peyk_history_commit_seconds_count") >= 1
    get(srv, f"/api/v1/couriers/x/track", srv.admin_token())
    m = srv.metrics()
    assert m.sum("peyk_history_queries_total") >= 1
