"""Shared pieces of the history integration tests (test_history.py,
test_history_durability.py): the two backends behind a `backend` fixture, point makers,
and query helpers."""

import math
import os
import resource
import sqlite3
from datetime import datetime, timezone

import pytest
import requests

from pg_fixtures import postgres_server  # noqa: F401  (a fixture)

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


# PEYK_HISTORY_BACKENDS=sqlite limits the backend-parametrized tests to SQLite: the
# sanitizer stages of scripts/test.sh do (the PostgreSQL store's C++ tests still run under
# both sanitizers in ctest; the HTTP paths above the store are the same for both).
BACKENDS = [b for b in os.environ.get("PEYK_HISTORY_BACKENDS", "sqlite,postgres").split(",") if b]


@pytest.fixture(params=BACKENDS)
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


