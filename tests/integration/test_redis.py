"""The Redis broker (PROTOCOL.md §1, §4, §6): `peyk serve --redis`. Fails when
redis-server or python3-redis is not installed (scripts/setup.sh installs them). Each
test starts its own redis-server on a free port (the `redis_server` fixture) and speaks
to it with redis-py. The split roles (`peyk ingest` / `peyk gateway`) are in
test_topology.py."""

import json
import time

from conftest import uid_of, wait_until


def test_external_publisher_reaches_viewers(server, redis_server):
    srv = server("--redis", redis_server.url)
    srv.wait_ready()
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    cust = srv.viewer(srv.customer_token(["A9"]), "echo-protocol")
    before = int(time.time() * 1e6)
    msg = {"latitude": 35.0001, "longitude": 53.12111, "user": {"id": 10, "username": "test_driver1"}}
    assert redis_server.publish("dlchannel", json.dumps(msg)) >= 1
    (loc,) = admin.recv_locations()
    assert loc["user"] == {"id": 10, "username": "test_driver1"}
    assert abs(loc["latitude"] - 35.0001) < 1e-9 and abs(loc["longitude"] - 53.12111) < 1e-9
    # the gateway sets ts on receipt when the publisher left it out
    assert isinstance(loc.get("ts"), int) and loc["ts"] >= before - 5_000_000, loc
    # the customer may not see courier 10 (no shared order)
    cust.assert_silent(0.3)


def test_invalid_broker_messages_counted_not_forwarded(server, redis_server):
    srv = server("--redis", redis_server.url)
    srv.wait_ready()
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    bad = ["not json", "[]", json.dumps({"longitude": 1.0, "user": {"id": 1}}),
           json.dumps({"latitude": 91, "longitude": 1.0, "user": {"id": 1}}),
           json.dumps({"latitude": 1.0, "longitude": 1.0})]
    for b in bad:
        redis_server.publish("dlchannel", b)
    redis_server.publish("dlchannel", json.dumps({"latitude": 2.0, "longitude": 2.0,
                                            "user": {"id": "mark", "username": "m"}}))
    locs = admin.collect_until(lambda l: uid_of(l) == "mark")
    assert [uid_of(l) for l in locs] == ["mark"], f"invalid messages were forwarded: {locs}"
    assert srv.metrics().value("peyk_broker_invalid_messages_total") == len(bad)
    assert srv.get("/readyz").status_code == 200  # never fatal


def test_ingest_publishes_broker_format(server, redis_server):
    srv = server("--redis", redis_server.url)
    srv.wait_ready()
    sub = redis_server.subscribe("dlchannel")
    try:
        srv.post_ok(srv.courier_token("10", name="test_driver1", fleet="store-7"),
                    {"latitude": 35.0001, "longitude": 53.12111, "accuracy": 6.5,
                     "orders": ["A123"], "user": {"id": 5, "username": "body"}})
        msg = json.loads(sub.next_message())
        assert msg["user"] == {"id": 10, "username": "test_driver1"}
        assert abs(msg["latitude"] - 35.0001) < 1e-9
        assert msg["fleet"] == "store-7" and msg["orders"] == ["A123"]
        assert isinstance(msg["ts"], int)
    finally:
        sub.close()


def test_channel_flag(server, redis_server):
    srv = server("--redis", redis_server.url, "--channel", "otherchan")
    srv.wait_ready()
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    redis_server.publish("dlchannel", json.dumps({"latitude": 1.0, "longitude": 1.0, "user": {"id": 1}}))
    redis_server.publish("otherchan", json.dumps({"latitude": 2.0, "longitude": 2.0, "user": {"id": 2}}))
    locs = admin.collect_until(lambda l: uid_of(l) == "2")
    assert [uid_of(l) for l in locs] == ["2"]


def test_two_servers_share_redis(server, redis_server):
    a = server("--redis", redis_server.url)
    b = server("--redis", redis_server.url, secret=a.secret)
    a.wait_ready()
    b.wait_ready()
    v = b.viewer(b.admin_token(), "peyk.v1")
    a.post_ok(a.courier_token("77"), {"latitude": 7.0, "longitude": 7.0})
    (loc,) = v.recv_locations()
    assert uid_of(loc) == "77"


def test_reconnect_after_redis_restart(server, redis_server):
    srv = server("--redis", redis_server.url)
    srv.wait_ready()
    v = srv.viewer(srv.admin_token(), "peyk.v1")
    redis_server.stop()  # SIGTERM (test_topology.py covers kill -9)
    wait_until(lambda: srv.get("/readyz").status_code == 503, 5, what="/readyz 503 without Redis")
    r = srv.post(srv.courier_token("8"), {"latitude": 8.0, "longitude": 8.0})
    assert r.status_code == 503 and r.headers.get("Retry-After"), (r.status_code, r.headers)
    redis_server.start()
    t0 = time.monotonic()
    srv.wait_ready(timeout=8)
    print(f"ready again {time.monotonic() - t0:.1f}s after Redis came back")
    assert srv.metrics().value("peyk_broker_connected") == 1
    srv.post_ok(srv.courier_token("9"), {"latitude": 9.0, "longitude": 9.0})
    (loc,) = v.recv_locations()
    assert uid_of(loc) == "9"
