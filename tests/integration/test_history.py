"""Tracks (PROTOCOL.md §7): the queries, against real peyk processes and both history
backends (SQLite, and a private PostgreSQL from pg_fixtures.py): a courier's track, an
order's, the summary and the replay window in every format; errors; who may read what;
paging; out-of-order points; concurrent queries; metrics. Durability (kill -9, outage,
retention, several ingests, the demo, flags): test_history_durability.py."""

import concurrent.futures
import csv
import io
import os
import re
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
import requests

from conftest import ROOT, mint, read_http_head, uid
from history_helpers import (  # noqa: F401  (backend, postgres_server: fixtures)
    all_pages, backend, get, haversine, iso, latlon, ms, parse_time, points, post_batch,
    postgres_server, start, track, window)

GPX_XSD = os.path.join(ROOT, "tests", "data", "gpx-1.1.xsd")
GPX_NS = "{http://www.topografix.com/GPX/1/1}"


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
    # auth on the head: a request without a token is refused before its body is read
    # (here a body far over --max-body, which would otherwise be a 413)
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 10000000\r\n"
                     "Content-Type: application/json\r\n\r\n".encode())
        code, _, _ = read_http_head(sock)
    assert code == 401
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
