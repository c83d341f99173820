"""Courier ingest API: POST /api/v1/locations (PROTOCOL.md §3)."""

import json
import select
import socket
import time

import pytest

from conftest import RECV_TIMEOUT, mint, read_http_response, unsigned_token

URL_PATH = "/api/v1/locations"


def point(lat=35.7001, lon=51.4011, **extra):
    p = {"latitude": lat, "longitude": lon}
    p.update(extra)
    return p


def assert_error(r, status, field_contains=None):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:300]}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), \
        f"error responses are JSON; Content-Type={r.headers.get('Content-Type')!r}"
    body = r.json()
    assert isinstance(body, dict) and "error" in body and "message" in body, body
    assert isinstance(body["error"], str) and body["error"], body
    if field_contains is not None:
        assert field_contains in str(body.get("field", "")), \
            f"'field' should name {field_contains!r}: {body}"
    return body


def raw_request(port, head_lines, body=b"", timeout=RECV_TIMEOUT, early_response_wait=0.5):
    """Sends a request on a raw socket. If a body is given, the head is sent first and the
    body only if the server has not answered within early_response_wait seconds (a server
    may refuse an over-limit body from its Content-Length alone)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(("\r\n".join(head_lines) + "\r\n\r\n").encode())
        if body:
            readable, _, _ = select.select([s], [], [], early_response_wait)
            if not readable:
                try:
                    s.sendall(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
        return read_http_response(s, timeout)
    finally:
        s.close()


# ---- 200


def test_single_point_200_with_update_interval(server):
    srv = server()
    r = srv.post_ok(srv.courier_token(), point(accuracy=6.5, speed=8.2, heading=270,
                                               recorded_at="2026-11-28T12:00:00Z", orders=["A123"]))
    assert r.headers.get("Content-Type", "").startswith("application/json")
    # a courier carrying an order, not watched: --interval-active (PROTOCOL.md §10)
    assert r.json() == {"update_interval": "6/m", "update_interval_seconds": 10}


@pytest.mark.parametrize("seconds,per_minute", [(2, "30/m"), (1, "60/m")])
def test_update_interval_flag(server, seconds, per_minute):
    srv = server("--update-interval", seconds)
    r = srv.post_ok(srv.courier_token(), point())
    assert r.json() == {"update_interval": per_minute, "update_interval_seconds": seconds}


def test_batch_200(server):
    srv = server()
    r = srv.post_ok(srv.courier_token(), {"points": [point(35.1, 51.1), point(35.2, 51.2),
                                                     point(35.3, 51.3)]})
    assert r.json()["update_interval_seconds"] == 60


def test_batch_of_1000_points_accepted(server):
    srv = server()
    pts = [point(35 + i / 10000, 51.0) for i in range(1000)]
    srv.post_ok(srv.courier_token(), {"points": pts})


def test_content_type_with_charset_accepted(server):
    srv = server()
    r = srv.post(srv.courier_token(), point(), content_type="application/json; charset=utf-8")
    assert r.status_code == 200, r.text


def test_string_latitude_accepted(server):
    srv = server()
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    r = srv.post(srv.courier_token("501"), {"latitude": "35.7001", "longitude": "51.4011"})
    assert r.status_code == 200, r.text
    (loc,) = admin.recv_locations()
    assert isinstance(loc["latitude"], (int, float)) and not isinstance(loc["latitude"], bool)
    assert isinstance(loc["longitude"], (int, float))
    assert abs(loc["latitude"] - 35.7001) < 1e-9
    assert abs(loc["longitude"] - 51.4011) < 1e-9


def test_rounding_to_6_decimals_seen_by_viewer(server):
    srv = server()
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    srv.post_ok(srv.courier_token("502"), point(35.12345678912, -12.98765432101))
    (loc,) = admin.recv_locations()
    assert abs(loc["latitude"] - 35.123457) < 1e-9, loc
    assert abs(loc["longitude"] - -12.987654) < 1e-9, loc
    # a batch is rounded the same way
    srv.post_ok(srv.courier_token("503"), {"points": [point(-89.99999949, 179.0000004)]})
    (loc,) = admin.recv_locations()
    assert abs(loc["latitude"] - -89.999999) < 1e-9, loc
    assert abs(loc["longitude"] - 179.0) < 1e-9, loc


@pytest.mark.parametrize("lat,lon", [(90, 180), (-90, -180), (0, 0)])
def test_boundaries_accepted(server, lat, lon):
    srv = server()
    srv.post_ok(srv.courier_token(), point(lat, lon))


def test_identity_comes_from_token_not_body(server):
    srv = server()
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    tok = srv.courier_token("77", name="ali")
    body = point(user={"id": 999, "username": "evil"}, sub="999", name="evil")
    srv.post_ok(tok, body)
    (loc,) = admin.recv_locations()
    assert loc["user"]["id"] == 77 and not isinstance(loc["user"]["id"], bool), loc
    assert loc["user"].get("username") == "ali", loc
    # the same through a batch
    srv.post_ok(tok, {"points": [body]})
    (loc,) = admin.recv_locations()
    assert loc["user"] == {"id": 77, "username": "ali"}, loc


def test_non_numeric_sub_is_a_string_id(server):
    srv = server()
    admin = srv.viewer(srv.admin_token(), "echo-protocol")
    srv.post_ok(srv.courier_token("courier-x1", name="reza"), point())
    loc = admin.recv_json()
    assert loc["user"]["id"] == "courier-x1", loc
    assert loc["user"]["username"] == "reza", loc


def test_optional_fields_forwarded_and_absent_ones_omitted(server):
    srv = server()
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    before_us = int(time.time() * 1e6)
    srv.post_ok(srv.courier_token("504", name="n504", fleet="store-7"),
                point(35.5, 51.5, accuracy=6.5, speed=8.2, heading=270,
                      recorded_at="2026-11-28T12:00:00Z", orders=["A123", "B9"]))
    (loc,) = admin.recv_locations()
    after_us = int(time.time() * 1e6)
    assert loc["accuracy"] == pytest.approx(6.5)
    assert loc["speed"] == pytest.approx(8.2)
    assert loc["heading"] == pytest.approx(270)
    assert loc["recorded_at"] == "2026-11-28T12:00:00Z"
    assert loc["orders"] == ["A123", "B9"]
    assert loc["fleet"] == "store-7"
    assert isinstance(loc["ts"], int), loc
    # ts: microseconds since the epoch when the point entered the system
    assert before_us - 5_000_000 <= loc["ts"] <= after_us + 1_000, (before_us, loc["ts"], after_us)

    # a bare point from a courier without name/fleet: optional fields absent
    srv.post_ok(srv.courier_token("505"), point(35.6, 51.6))
    (loc,) = admin.recv_locations()
    for key in ("accuracy", "speed", "heading", "recorded_at", "fleet"):
        assert key not in loc, f"absent optional field {key!r} must be omitted: {loc}"
    assert loc.get("orders", []) == [], loc
    assert loc["user"]["id"] == 505
    assert "ts" in loc


# ---- 400


BAD_BODIES = {
    "bad_json": "{\"latitude\": 35.7,",
    "not_an_object": "[1, 2, 3]",
    "json_string": "\"hello\"",
    "empty_body_object": "{}",
    "missing_latitude": json.dumps({"longitude": 51.4}),
    "missing_longitude": json.dumps({"latitude": 35.7}),
    "lat_91": json.dumps(point(91, 51.4)),
    "lat_-90.5": json.dumps(point(-90.5, 51.4)),
    "lon_-181": json.dumps(point(35.7, -181)),
    "lon_180.000001": json.dumps(point(35.7, 180.000001)),
    "lat_NaN_string": json.dumps(point("NaN", 51.4)),
    "lat_nan_string": json.dumps(point("nan", 51.4)),
    "lon_Infinity_string": json.dumps(point(35.7, "Infinity")),
    "lat_-inf_string": json.dumps(point("-inf", 51.4)),
    "lat_abc": json.dumps(point("abc", 51.4)),
    "lat_empty_string": json.dumps(point("", 51.4)),
    "lat_null": json.dumps(point(None, 51.4)),
    "lat_bool": json.dumps(point(True, 51.4)),
    "lat_object": json.dumps(point({"v": 1}, 51.4)),
    "lat_1e999_literal": "{\"latitude\": 1e999, \"longitude\": 51.4}",
    "empty_batch": json.dumps({"points": []}),
    "points_not_a_list": json.dumps({"points": {"latitude": 1, "longitude": 2}}),
    "batch_of_1001": json.dumps({"points": [point(35.0, 51.0)] * 1001}),
}

FIELD_OF = {
    "missing_latitude": "latitude", "missing_longitude": "longitude", "lat_91": "latitude",
    "lat_-90.5": "latitude", "lon_-181": "longitude", "lon_180.000001": "longitude",
    "lat_NaN_string": "latitude", "lat_nan_string": "latitude",
    "lon_Infinity_string": "longitude", "lat_-inf_string": "latitude", "lat_abc": "latitude",
    "lat_empty_string": "latitude", "lat_null": "latitude", "lat_bool": "latitude",
    "lat_object": "latitude",
}


@pytest.fixture
def ingest_server(server):
    # one server for the many 400 cases: a generous rate limit so they do not hit 429
    return server("--rate-limit", "1000", "--rate-burst", "1000")


def test_400_cases(ingest_server):
    srv = ingest_server
    tok = srv.courier_token("400")
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    failures = []
    for name, body in BAD_BODIES.items():
        r = srv.post(tok, body)
        try:
            assert_error(r, 400, FIELD_OF.get(name))
        except AssertionError as e:
            failures.append(f"{name}: {e}")
    assert not failures, "\n".join(failures)
    # none of them was published
    admin.assert_silent(0.3)


def test_400_batch_field_names_the_point(ingest_server):
    srv = ingest_server
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    r = srv.post(srv.courier_token(), {"points": [point(35.1, 51.1), point(91, 51.2)]})
    body = assert_error(r, 400, "latitude")
    assert "1" in str(body.get("field")), f"field should point at points[1]: {body}"
    # an invalid batch publishes nothing, not even its valid first point
    admin.assert_silent(0.3)


# ---- 401 / 403


def test_401_no_token(server):
    srv = server()
    assert_error(srv.post(None, point()), 401)


def test_401_invalid_tokens(server):
    srv = server()
    now = int(time.time())
    cases = {
        "bad_signature": (mint("not-the-secret-" + srv.secret, "courier", "1"), None),
        "expired": (srv.courier_token("1", exp=now - 60), None),
        "alg_none": (unsigned_token({"sub": "1", "role": "courier", "exp": now + 3600}), None),
        "hs512": (srv.courier_token("1", alg="HS512"), None),
        "garbage": ("not.a.jwt", None),
        "nbf_future": (srv.courier_token("1", nbf=now + 60), None),
        "no_exp": (srv.courier_token("1", omit_exp=True), None),
        "basic_scheme": (None, {"Authorization": "Basic " + srv.courier_token("1")}),
    }
    failures = []
    for kind, (tok, headers) in cases.items():
        try:
            assert_error(srv.post(tok, point(), headers=headers), 401)
        except AssertionError as e:
            failures.append(f"{kind}: {e}")
    assert not failures, "\n".join(failures)


def test_expiry_leeway(server):
    srv = server()
    frac = time.time() % 1
    if frac > 0.5:
        time.sleep(1.02 - frac)
    now = int(time.time())
    # expired 1.0-1.5 s ago: within the default 2 s leeway
    r = srv.post(srv.courier_token("1", exp=now - 1), point())
    assert r.status_code == 200, f"a token expired 1s ago is within the 2s leeway: {r.status_code}"
    # far outside it
    assert_error(srv.post(srv.courier_token("2", exp=now - 20), point()), 401)


def test_403_viewer_tokens(server):
    srv = server()
    for role, claims in [("admin", {}), ("dispatcher", {"fleets": ["f1"]}),
                         ("customer", {"orders": ["A1"]})]:
        assert_error(srv.post(srv.token(role, "v1", **claims), point()), 403)


def test_unknown_role_refused(server):
    srv = server()
    r = srv.post(srv.token("superuser", "1"), point())
    assert r.status_code in (401, 403), r.status_code


# ---- 411 / 413 / 415


def test_411_no_content_length(server):
    srv = server()
    status, headers, body = raw_request(srv.port, [
        f"POST {URL_PATH} HTTP/1.1", f"Host: 127.0.0.1:{srv.port}",
        f"Authorization: Bearer {srv.courier_token()}", "Content-Type: application/json",
        "Connection: close"])
    assert status == 411, (status, body[:300])
    assert "error" in json.loads(body)


def test_413_over_64k(server):
    srv = server()
    body = json.dumps({"points": [point(35.0, 51.0, recorded_at="x" * 200)] * 300}).encode()
    assert len(body) > 65536
    status, headers, resp = raw_request(srv.port, [
        f"POST {URL_PATH} HTTP/1.1", f"Host: 127.0.0.1:{srv.port}",
        f"Authorization: Bearer {srv.courier_token()}", "Content-Type: application/json",
        f"Content-Length: {len(body)}", "Connection: close"], body)
    assert status == 413, (status, resp[:300])
    assert "error" in json.loads(resp)


def test_413_over_64k_chunked(server):
    srv = server()
    body = json.dumps({"points": [point(35.0, 51.0, recorded_at="x" * 200)] * 300}).encode()
    chunks = b""
    for i in range(0, len(body), 8192):
        part = body[i:i + 8192]
        chunks += b"%x\r\n" % len(part) + part + b"\r\n"
    chunks += b"0\r\n\r\n"
    status, headers, resp = raw_request(srv.port, [
        f"POST {URL_PATH} HTTP/1.1", f"Host: 127.0.0.1:{srv.port}",
        f"Authorization: Bearer {srv.courier_token()}", "Content-Type: application/json",
        "Transfer-Encoding: chunked", "Connection: close"], chunks, early_response_wait=0.05)
    assert status == 413, (status, resp[:300])


def test_64k_boundary(server):
    srv = server("--rate-limit", "100", "--rate-burst", "100")
    tok = srv.courier_token()
    core = json.dumps(point())
    exact = core[:-1] + " " * (65536 - len(core)) + "}"
    assert len(exact) == 65536
    r = srv.post(tok, exact)
    assert r.status_code == 200, f"a body of exactly 64 KiB is within the limit: {r.status_code}"
    over = core[:-1] + " " * (65537 - len(core)) + "}"
    status, _, resp = raw_request(srv.port, [
        f"POST {URL_PATH} HTTP/1.1", f"Host: 127.0.0.1:{srv.port}",
        f"Authorization: Bearer {tok}", "Content-Type: application/json",
        f"Content-Length: {len(over)}", "Connection: close"], over.encode())
    assert status == 413, (status, resp[:300])


def test_max_body_flag(server):
    srv = server("--max-body", "2000")
    tok = srv.courier_token()
    small = json.dumps({"points": [point(35.0, 51.0)] * 10})
    assert len(small) < 2000
    srv.post_ok(tok, small)
    big = json.dumps({"points": [point(35.0, 51.0)] * 100})
    assert len(big) > 2000
    status, _, resp = raw_request(srv.port, [
        f"POST {URL_PATH} HTTP/1.1", f"Host: 127.0.0.1:{srv.port}",
        f"Authorization: Bearer {tok}", "Content-Type: application/json",
        f"Content-Length: {len(big)}", "Connection: close"], big.encode())
    assert status == 413, (status, resp[:300])


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded"])
def test_415_not_json(server, ctype):
    srv = server()
    assert_error(srv.post(srv.courier_token(), json.dumps(point()), content_type=ctype), 415)


# ---- 429


def test_429_after_burst_with_retry_after(server):
    srv = server()  # defaults: 1 req/s, burst 10
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    tok = srv.courier_token("601")
    for i in range(10):
        r = srv.post(tok, point(35.0 + i / 1000, 51.0))
        assert r.status_code == 200, f"request {i + 1} of the burst answered {r.status_code}"
    r = srv.post(tok, point(36.0, 52.0))
    assert_error(r, 429)
    ra = r.headers.get("Retry-After")
    assert ra is not None, "429 must carry Retry-After"
    assert ra.strip().isdigit() and 1 <= int(ra) <= 60, f"Retry-After should be delta-seconds: {ra!r}"
    # the refused point was not published: the viewer sees the ten, then nothing at 36.0
    seen = admin.collect_until(lambda l: abs(l["latitude"] - 35.009) < 1e-9)
    admin.assert_silent(0.3)
    assert all(abs(l["latitude"] - 36.0) > 1e-9 for l in seen)
    # another courier is not limited by the first one's bucket
    srv.post_ok(srv.courier_token("602"), point())
    # after waiting as told, the courier may send again
    time.sleep(int(ra) + 0.1)
    srv.post_ok(tok, point(36.5, 52.0))


def test_batch_counts_as_one_request(server):
    srv = server()  # defaults: 1 req/s, burst 10
    tok = srv.courier_token("603")
    for i in range(10):
        r = srv.post(tok, {"points": [point(35.0 + (i * 50 + j) / 100000, 51.0) for j in range(50)]})
        assert r.status_code == 200, f"batch {i + 1} of 50 points answered {r.status_code}"
    assert_error(srv.post(tok, {"points": [point()]}), 429)


def test_rate_limit_flags(server):
    srv = server("--rate-limit", "0.5", "--rate-burst", "2")
    tok = srv.courier_token()
    srv.post_ok(tok, point())
    srv.post_ok(tok, point())
    r = srv.post(tok, point())
    assert_error(r, 429)
    assert int(r.headers["Retry-After"]) >= 1
