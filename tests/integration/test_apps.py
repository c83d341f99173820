"""The phone apps as couriers (PROTOCOL.md §9), against a real `peyk serve` recording history
(SQLite in its --data-dir): requests made as Traccar Client sends them (its form POST and its
JSON body), the OsmAnd app's GET, OwnTracks' HTTP mode with Basic auth; auth and errors;
duplicates and out-of-order points; --osmand-listen at `/`; the token never in the logs."""

import json
import socket
import time
import urllib.parse

import requests

from conftest import free_port, read_http_head, uid, uid_of, wait_until
from history_helpers import iso, parse_time

FORM = "application/x-www-form-urlencoded"


def osmand(srv, params=None, data=None, headers=None, method="POST", path="/api/v1/osmand",
           base=None):
    return requests.request(method, (base or srv.base) + path, params=params, data=data,
                            headers=headers, timeout=5)


def track(srv, courier, t0, t1):
    r = requests.get(f"{srv.base}/api/v1/couriers/{courier}/track",
                     params={"from": iso(t0), "to": iso(t1)},
                     headers={"Authorization": f"Bearer {srv.admin_token()}"}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["points"]


def mine(locs, courier):
    return [l for l in locs if uid_of(l) == courier]


def start(server, *flags):
    return server("--rate-limit", "0", *flags).wait_ready(15)


def traccar_sdk_form(token, t, lat=35.7001, lon=51.4011):
    """The form Traccar Client's SDK posts (HttpUploader: id, lat, lon, timestamp in
    seconds, accuracy, altitude, speed in knots, bearing, batt, charge, battery_*)."""
    return urllib.parse.urlencode([
        ("id", token), ("lat", str(lat)), ("lon", str(lon)), ("timestamp", str(int(t))),
        ("accuracy", "6.5"), ("altitude", "1200.0"), ("speed", "15.55"), ("bearing", "270.0"),
        ("batt", "64"), ("charge", "true"), ("battery_health", "good"),
        ("battery_voltage", "4100"), ("battery_temp", "31.5")])


def traccar9_json(token, t, lat=35.71, lon=51.42):
    """Traccar Client 9's body: flutter_background_geolocation's record under its template
    (Preferences._locationTemplate) with params {device_id}."""
    ts = iso(t)
    return {"location": {
        "timestamp": ts,
        "coords": {"latitude": lat, "longitude": lon, "accuracy": 5, "speed": 7.5, "heading": 90,
                   "altitude": 1190},
        "is_moving": True, "odometer": 1234, "event": "", "battery": {"level": 0.79,
                                                                      "is_charging": False},
        "activity": {"type": "in_vehicle"}, "extras": {},
        "_": f"&id={token}&lat={lat}&lon={lon}&timestamp={ts}&"},
        "device_id": token}


# ---------------------------------------------------------------------------------
# the apps' own requests


def test_traccar_client_form_and_json_reach_an_admin(server):
    srv = start(server)
    courier = uid("c")
    tok = srv.courier_token(courier, name="Reza")
    admin = srv.viewer(srv.admin_token(), proto="peyk.v1")
    now = time.time()

    r = osmand(srv, data=traccar_sdk_form(tok, now - 2), headers={"Content-Type": FORM})
    assert r.status_code == 200, r.text
    assert r.content == b""
    got = mine(admin.collect_until(lambda l: uid_of(l) == courier), courier)[-1]
    assert (got["latitude"], got["longitude"]) == (35.7001, 51.4011)
    assert got["user"]["username"] == "Reza"
    assert got["battery"] == 64 and got["charging"] is True and got["source"] == "osmand", got
    assert abs(got["speed"] - 8.0) < 0.01, got  # 15.55 knots
    assert got["heading"] == 270 and got["altitude"] == 1200 and got["accuracy"] == 6.5, got
    assert abs(parse_time(got["recorded_at"]) - int(now - 2)) < 0.001, got

    r = osmand(srv, data=json.dumps(traccar9_json(tok, now - 1)),
               headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.content == b""
    got = mine(admin.collect_until(lambda l: uid_of(l) == courier and l["latitude"] == 35.71),
               courier)[-1]
    assert got["source"] == "traccar" and got["battery"] == 79 and got["charging"] is False, got
    assert got["speed"] == 7.5 and got["heading"] == 90, got  # JSON speed is m/s

    pts = track(srv, courier, now - 60, now + 5)
    assert [(p["latitude"], p["longitude"]) for p in pts] == [(35.7001, 51.4011), (35.71, 51.42)]
    assert [p.get("battery") for p in pts] == [64, 79]


def test_osmand_app_get(server):
    srv = start(server)
    courier = uid("c")
    tok = srv.courier_token(courier)
    now = time.time()
    # The OsmAnd app's URL template with {5} in m/s: speed_unit=mps.
    t_ms = int((now - 3) * 1000)
    r = osmand(srv, method="GET", params={
        "id": tok, "lat": "35.72", "lon": "51.43", "timestamp": str(t_ms), "hdop": "3.0",
        "altitude": "1100.5", "speed": "4.2", "bearing": "180", "speed_unit": "mps"})
    assert r.status_code == 200, r.text
    assert r.content == b""
    pts = track(srv, courier, now - 60, now + 5)
    assert len(pts) == 1
    p = pts[0]
    assert (p["latitude"], p["longitude"], p["speed"], p["heading"]) == (35.72, 51.43, 4.2, 180)
    assert abs(parse_time(p["recorded_at"]) - t_ms / 1000) < 0.001, p
    # location=lat,lon and the `token` parameter
    r = osmand(srv, method="GET", params={"token": tok, "location": "35.73,51.44",
                                          "timestamp": iso(now - 1)})
    assert r.status_code == 200, r.text
    assert len(track(srv, courier, now - 60, now + 5)) == 2


def test_owntracks_basic_auth_and_commands(server):
    srv = start(server, "--update-interval", "7")
    courier = uid("c")
    tok = srv.courier_token(courier)
    admin = srv.viewer(srv.admin_token(), proto="peyk.v1")
    now = time.time()
    url = srv.base + "/api/v1/owntracks"
    loc = {"_type": "location", "lat": 35.74, "lon": 51.45, "tst": int(now - 2), "acc": 9,
           "alt": 1150, "batt": 33, "bs": 2, "vel": 36, "cog": 45, "tid": "JJ",
           "topic": "owntracks/jane/phone", "t": "u", "conn": "m"}
    r = requests.post(url, json=loc, auth=("jane", tok), timeout=5)
    assert r.status_code == 200, r.text
    answer = r.json()
    # the first answer tells the app the interval (setConfiguration, locatorInterval)
    assert answer == [{"_type": "cmd", "action": "setConfiguration",
                       "configuration": {"_type": "configuration", "locatorInterval": 7}}], answer
    got = mine(admin.collect_until(lambda l: uid_of(l) == courier), courier)[-1]
    assert got["source"] == "owntracks" and got["battery"] == 33 and got["charging"] is True, got
    assert abs(got["speed"] - 10.0) < 0.001 and got["heading"] == 45, got

    loc2 = dict(loc, tst=int(now - 1), lat=35.75)
    r = requests.post(url, json=loc2, auth=("jane", tok), timeout=5)
    assert r.status_code == 200 and r.json() == [], r.text  # unchanged interval: nothing to say
    # other message types: 200 []
    r = requests.post(url, json={"_type": "transition", "event": "enter", "tst": int(now)},
                      auth=("x", tok), timeout=5)
    assert r.status_code == 200 and r.json() == [], r.text
    assert len(track(srv, courier, now - 60, now + 5)) == 2

    # no credentials: 401 with a Basic challenge; a wrong password: 401
    r = requests.post(url, json=loc, timeout=5)
    assert r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith("Basic")
    r = requests.post(url, json=loc, auth=("jane", "not-a-token"), timeout=5)
    assert r.status_code == 401


def test_owntracks_is_told_when_a_viewer_focuses_it(server):
    """PROTOCOL.md §10 through OwnTracks' command: idle, then focused by an admin (the
    watched interval), then unfocused (idle again); each change told once."""
    srv = start(server, "--interval-idle", "60s", "--interval-watched", "2s")
    courier = uid("c")
    tok = srv.courier_token(courier)
    url = srv.base + "/api/v1/owntracks"
    t = [int(time.time()) - 100]

    def post():
        t[0] += 1
        r = requests.post(url, json={"_type": "location", "lat": 35.74, "lon": 51.45,
                                     "tst": t[0]}, auth=("jane", tok), timeout=5)
        assert r.status_code == 200, r.text
        cmds = r.json()
        return cmds[0]["configuration"]["locatorInterval"] if cmds else None

    assert post() == 60
    assert post() is None
    admin = srv.viewer(srv.admin_token(), proto="peyk.v1")
    admin.ws.send(json.dumps({"type": "focus", "courier": courier}))
    wait_until(lambda: post() == 2, 2, what="the focused courier to be told 2 s")
    assert post() is None
    admin.ws.send(json.dumps({"type": "focus"}))
    wait_until(lambda: post() == 60, 2, what="the unfocused courier to be told 60 s")


# ---------------------------------------------------------------------------------
# auth and errors


def test_errors_are_plain_statuses(server):
    srv = start(server)
    courier = uid("c")
    tok = srv.courier_token(courier)
    q = {"lat": "35.7", "lon": "51.4"}
    assert osmand(srv, method="GET", params=q).status_code == 401  # no token
    assert osmand(srv, method="GET", params={**q, "id": "garbage"}).status_code == 401
    expired = srv.courier_token(courier, ttl=-60)
    assert osmand(srv, method="GET", params={**q, "id": expired}).status_code == 401
    assert osmand(srv, method="GET", params={**q, "id": srv.admin_token()}).status_code == 403
    # a token only in the form body: read, then refused
    r = osmand(srv, data=urllib.parse.urlencode({**q, "id": srv.admin_token()}),
               headers={"Content-Type": FORM})
    assert r.status_code == 403
    r = osmand(srv, data=urllib.parse.urlencode(q), headers={"Content-Type": FORM})
    assert r.status_code == 401
    # Bearer works too
    r = osmand(srv, method="GET", params=q, headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text
    for bad in ({"lat": "north", "lon": "51.4"}, {"lat": "95", "lon": "51.4"}, {"lon": "51.4"},
                {**q, "timestamp": "yesterday"}, {**q, "batt": "250"}, {**q, "speed": "fast"}):
        r = osmand(srv, method="GET", params={**bad, "id": tok})
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    r = osmand(srv, data="{not json", headers={"Content-Type": "application/json",
                                               "Authorization": f"Bearer {tok}"})
    assert r.status_code == 400
    assert osmand(srv, method="PUT", params={**q, "id": tok}).status_code == 405
    assert requests.get(srv.base + "/api/v1/owntracks", timeout=5).status_code == 405
    # a future time (a wrong phone clock) is refused as on /api/v1/locations
    r = osmand(srv, method="GET", params={**q, "id": tok, "timestamp": str(int(time.time() + 60))})
    assert r.status_code == 400


def test_auth_before_the_body_when_the_token_is_in_the_head(server):
    srv = start(server)
    admin = srv.admin_token()
    # A head announcing a body that never comes: answered from the head alone.
    for target, extra in (("/api/v1/osmand?id=not-a-token", ""),
                          (f"/api/v1/osmand?id={admin}", ""),
                          ("/api/v1/owntracks", ""),
                          ("/api/v1/owntracks", f"Authorization: Bearer {admin}\r\n")):
        with socket.create_connection((srv.host, srv.port), timeout=5) as s:
            s.sendall((f"POST {target} HTTP/1.1\r\nHost: x\r\n{extra}"
                       "Content-Type: application/x-www-form-urlencoded\r\n"
                       "Content-Length: 60000\r\n\r\n").encode())
            status, _, _ = read_http_head(s, timeout=3)
            assert status in (401, 403), (target, status)


def test_rate_limit_and_oversized_body(server):
    srv = server("--rate-limit", "0.2", "--rate-burst", "1").wait_ready(15)
    tok = srv.courier_token(uid("c"))
    q = {"id": tok, "lat": "35.7", "lon": "51.4"}
    assert osmand(srv, method="GET", params=q).status_code == 200
    r = osmand(srv, method="GET", params=q)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1, r.headers
    # a token only in the body is limited too, after reading it
    r = osmand(srv, data=urllib.parse.urlencode(q), headers={"Content-Type": FORM})
    assert r.status_code == 429 and "Retry-After" in r.headers
    # over --max-body (64 KiB): 413, whether or not the token is in the head
    big = urllib.parse.urlencode({**q, "pad": "x" * 70000})
    assert osmand(srv, data=big, headers={"Content-Type": FORM}).status_code == 413


# ---------------------------------------------------------------------------------
# buffered and repeated points


def test_a_retried_point_is_stored_and_delivered_once(server):
    srv = start(server)
    courier = uid("c")
    tok = srv.courier_token(courier)
    admin = srv.viewer(srv.admin_token(), proto="peyk.v1")
    now = time.time()
    q = {"id": tok, "lat": "35.76", "lon": "51.46", "timestamp": str(int(now - 5))}
    for _ in range(3):  # the app did not see the answer: the same point again
        assert osmand(srv, method="GET", params=q).status_code == 200
    # then the next point, which the viewer sees right after the first one
    assert osmand(srv, method="GET", params={**q, "lat": "35.77",
                                             "timestamp": str(int(now - 4))}).status_code == 200
    got = mine(admin.collect_until(lambda l: uid_of(l) == courier and l["latitude"] == 35.77),
               courier)
    assert [l["latitude"] for l in got] == [35.76, 35.77], got
    assert [p["latitude"] for p in track(srv, courier, now - 60, now + 5)] == [35.76, 35.77]
    assert srv.metrics().value("peyk_ingest_duplicates_total") == 2

    # the same time at another position is another point, kept
    assert osmand(srv, method="GET", params={**q, "lat": "35.765"}).status_code == 200
    assert [p["latitude"] for p in track(srv, courier, now - 60, now + 5)] == [35.76, 35.765, 35.77]

    # the JSON API too, when recorded_at is given; a batch's repeats are kept once
    p = {"latitude": 35.78, "longitude": 51.47, "recorded_at": iso(now - 3)}
    srv.post_ok(tok, p)
    srv.post_ok(tok, {"points": [p, dict(p, latitude=35.79, recorded_at=iso(now - 2)),
                                 dict(p, latitude=35.79, recorded_at=iso(now - 2))]})
    lats = [p["latitude"] for p in track(srv, courier, now - 60, now + 5)]
    assert lats == [35.76, 35.765, 35.77, 35.78, 35.79], lats
    assert srv.metrics().value("peyk_ingest_duplicates_total") == 4


def test_an_offline_hour_is_recorded_in_order_without_moving_the_marker(server):
    srv = start(server)
    courier = uid("c")
    tok = srv.courier_token(courier)
    now = time.time()
    newest = {"id": tok, "lat": "35.9", "lon": "51.9", "timestamp": str(int(now - 1))}
    assert osmand(srv, method="GET", params=newest).status_code == 200
    # the hour the phone was offline, sent afterwards one request a point (OsmAnd, Traccar
    # Client's buffer), oldest first, then a Traccar 9 batch of older ones still
    hour = [(35.80 + i * 0.001, now - 3600 + i * 600) for i in range(6)]
    for lat, t in hour[3:]:
        r = osmand(srv, data=traccar_sdk_form(tok, t, lat=round(lat, 6)),
                   headers={"Content-Type": FORM})
        assert r.status_code == 200, r.text
    batch = {"device_id": tok, "location": [traccar9_json(tok, t, lat=round(lat, 6))["location"]
                                            for lat, t in hour[:3]]}
    r = osmand(srv, data=json.dumps(batch), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    pts = track(srv, courier, now - 4000, now + 5)
    assert [p["latitude"] for p in pts] == [round(lat, 6) for lat, _ in hour] + [35.9]
    times = [parse_time(p["recorded_at"]) for p in pts]
    assert times == sorted(times)
    v = srv.viewer(srv.admin_token(), proto="peyk.v1")
    marker = mine(v.snapshot, courier)
    assert len(marker) == 1 and marker[0]["latitude"] == 35.9, marker


# ---------------------------------------------------------------------------------
# --osmand-listen, logs


def test_osmand_listen_serves_the_protocol_at_root(server):
    port = free_port()
    srv = start(server, "--osmand-listen", f"127.0.0.1:{port}")
    courier = uid("c")
    tok = srv.courier_token(courier)
    now = time.time()
    base = f"http://127.0.0.1:{port}"
    # Traccar Client's default URL is http://HOST:5055 (path `/`)
    r = osmand(srv, data=traccar_sdk_form(tok, now - 2), headers={"Content-Type": FORM},
               path="/", base=base)
    assert r.status_code == 200, r.text
    r = osmand(srv, method="GET", params={"id": tok, "lat": "35.71", "lon": "51.41",
                                          "timestamp": str(int(now - 1))}, path="/", base=base)
    assert r.status_code == 200, r.text
    assert len(track(srv, courier, now - 60, now + 5)) == 2
    # `/` on the main port is still the panel's, not the protocol
    osmand(srv, method="GET", params={"id": tok, "lat": "1", "lon": "2"}, path="/")
    assert len(track(srv, courier, now - 60, now + 5)) == 2
    assert requests.get(base + "/healthz", timeout=5).status_code == 200


def test_the_token_never_reaches_the_logs(server):
    srv = start(server, "--log-level", "debug")
    tok = srv.courier_token(uid("c"))
    admin = srv.admin_token()
    expired = srv.courier_token(uid("c"), ttl=-60)
    q = {"lat": "35.7", "lon": "51.4"}
    osmand(srv, method="GET", params={**q, "id": tok})
    osmand(srv, method="GET", params={**q, "deviceid": tok, "timestamp": "bad"})
    osmand(srv, method="GET", params={**q, "device_id": admin})
    osmand(srv, method="GET", params={**q, "token": expired})
    osmand(srv, data=urllib.parse.urlencode({**q, "id": tok}), headers={"Content-Type": FORM})
    osmand(srv, data=json.dumps(traccar9_json(expired, time.time())),
           headers={"Content-Type": "application/json"})
    requests.post(srv.base + "/api/v1/owntracks", json={"_type": "location", "lat": 1, "lon": 2},
                  auth=("u", tok), timeout=5)
    wait_until(lambda: "/api/v1/owntracks" in srv.stderr_text(), 5, what="the access log line")
    log = srv.stderr_text(limit=10**7)
    assert "/api/v1/osmand" in log  # the access log is on
    for t in (tok, admin, expired):
        for part in [t] + t.split("."):
            assert part not in log, f"a token part reached stderr: {part[:12]}..."
