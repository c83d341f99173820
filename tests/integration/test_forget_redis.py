"""Issue #12, Redis side of findings 5 and 3 (PROTOCOL.md §12).

Finding 5: Redis's last-known hash and GEO set kept every courier ever seen. With
`--courier-ttl`, a courier silent that long leaves them (and the seen set that records when
each courier last posted), in single Redis and in Redis Cluster; an active one stays.
Finding 3 (Redis Cluster part): every order id a courier names gets a key of its own; a
courier may name at most `--max-orders-per-courier` (default 100) distinct ids within the
order TTL, so the order keys one courier token can create stay bounded."""

import time

from cluster_fixtures import redis_cluster  # noqa: F401 - fixture
from conftest import wait_until
from sanitizer import TIME_SCALE

HASH, GEO, SEEN = "peyk:last:dlchannel", "peyk:geo:dlchannel", "peyk:seen:dlchannel"


def test_redis_forgets_a_silent_courier_and_keeps_an_active_one(server, redis_server):
    srv = server("--redis", redis_server.url, "--courier-ttl", "2s", "--rate-limit", "0")
    srv.wait_ready()
    r = redis_server.client()
    gone, active = srv.courier_token("gone-1"), srv.courier_token("active-1")
    srv.post_ok(gone, {"latitude": 35.1, "longitude": 51.1})
    srv.post_ok(active, {"latitude": 35.2, "longitude": 51.2})
    assert r.hexists(HASH, "gone-1") and r.zscore(GEO, "gone-1") is not None
    deadline = time.monotonic() + 30 * TIME_SCALE
    while r.hexists(HASH, "gone-1"):
        assert time.monotonic() < deadline, "courier gone-1 is still in Redis's hash"
        srv.post_ok(active, {"latitude": 35.2, "longitude": 51.2})
        time.sleep(0.3)
    assert r.zscore(GEO, "gone-1") is None and r.zscore(SEEN, "gone-1") is None
    srv.post_ok(active, {"latitude": 35.3, "longitude": 51.3})
    assert r.hexists(HASH, "active-1") and r.zscore(GEO, "active-1") is not None
    # Another process (a gateway) sweeps too: nothing depends on the ingest.
    srv.stop()
    gw = server("--redis", redis_server.url, "--courier-ttl", "2s", role="gateway",
                secret=srv.secret)
    gw.wait_ready()
    wait_until(lambda: r.hlen(HASH) == 0 and r.zcard(GEO) == 0 and r.zcard(SEEN) == 0,
               30 * TIME_SCALE, what="the gateway to forget active-1 as well")


def order_keys(cluster):
    return [k for k in cluster.scan("peyk:last:dlchannel:o:*")]


def test_cluster_forgets_silent_couriers(server, redis_cluster):
    srv = server("--redis-cluster", redis_cluster.seeds(), "--courier-ttl", "2s",
                 "--rate-limit", "0")
    srv.wait_ready(20 * TIME_SCALE)
    for i in range(20):
        srv.post_ok(srv.courier_token(f"cg-{i}"), {"latitude": 35.0 + i / 100, "longitude": 51.0})
    active = srv.courier_token("ca-1")

    def hashed():
        return {f for k in redis_cluster.scan("peyk:last:dlchannel:c:*")
                for f in redis_cluster.hgetall(k)}

    assert {f"cg-{i}" for i in range(20)} <= hashed()
    deadline = time.monotonic() + 30 * TIME_SCALE
    while True:
        srv.post_ok(active, {"latitude": 36.0, "longitude": 51.0})
        left = hashed()
        if left == {"ca-1"}:
            break
        assert time.monotonic() < deadline, f"still in Redis: {sorted(left)[:10]}"
        time.sleep(0.3)
    geo = redis_cluster.scan("peyk:geo:dlchannel:c:*")
    seen = redis_cluster.scan("peyk:seen:dlchannel:c:*")
    assert len(geo) == 1 and len(seen) == 1, (geo, seen)


def test_cluster_bounds_the_order_keys_of_a_courier(server, redis_cluster):
    srv = server("--redis-cluster", redis_cluster.seeds(), "--rate-limit", "0")
    srv.wait_ready(20 * TIME_SCALE)
    tok = srv.courier_token("spoofer")
    statuses = []
    for req in range(10):  # 10 bodies of 32 fresh order ids each: 320 ids
        orders = [f"R{req}-{i}" for i in range(32)]
        r = srv.post(tok, {"latitude": 35.0, "longitude": 51.0, "orders": orders})
        statuses.append(r.status_code)
        if r.status_code == 422:
            body = r.json()
            assert body["error"] == "too_many_orders" and body["field"] == "orders", body
    assert statuses == [200, 200, 200] + [422] * 7, statuses
    keys = order_keys(redis_cluster)
    assert len(keys) == 96, len(keys)
    # Orders already named cost nothing; a batch naming many points writes each key once.
    pts = [{"latitude": 35.0 + i / 1000, "longitude": 51.0, "orders": ["R0-1", "R1-2"]}
           for i in range(50)]
    srv.post_ok(tok, {"points": pts})
    srv.post_ok(tok, {"latitude": 35.0, "longitude": 51.0, "orders": [f"N{i}" for i in range(4)]})
    assert srv.post(tok, {"latitude": 35.0, "longitude": 51.0, "orders": ["N5"]}).status_code == 422
    assert len(order_keys(redis_cluster)) == 100
    # Another courier has a budget of its own.
    srv.post_ok(srv.courier_token("honest"), {"latitude": 35.0, "longitude": 51.0,
                                              "orders": ["H1"]})
