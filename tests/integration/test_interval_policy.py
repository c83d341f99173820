"""The update interval policy (PROTOCOL.md §10) and the peyk.v1 `focus` frame (§11),
against real processes: `peyk serve` alone, `peyk ingest` + `peyk gateway` over a real
Redis, and over a Redis Cluster.

`update_interval_seconds` is --interval-watched (2 s) while a customer of one of the
courier's orders is connected (to any gateway) or a peyk.v1 viewer focuses it,
--interval-active (10 s) while it carries orders, --interval-idle (60 s) otherwise; below
20 % battery it is doubled. A change of watch state shows in the next answer within 1 s
in every topology; a gateway killed with -9 stops counting within the watch expiry (3 s).
"""

import json
from datetime import datetime, timezone
import secrets
import signal
import struct
import time

import pytest
import websocket

from cluster_fixtures import redis_cluster  # noqa: F401 - fixture
from conftest import uid, wait_until
from sanitizer import TIME_SCALE

WATCHED, ACTIVE, IDLE = 2, 10, 60
WITHIN = 1.0 * TIME_SCALE  # PROTOCOL.md §10: the next answer within 1 s
EXPIRY = 3.0  # a silent gateway's watches lapse after this (docs/protocol.md)
FAST = ["--rate-limit", "0", "--history", "off"]  # the tests post as often as they poll


def point(orders=None, battery=None, charging=None):
    p = {"latitude": 35.7, "longitude": 51.4}
    if orders is not None:
        p["orders"] = orders
    if battery is not None:
        p["battery"] = battery
    if charging is not None:
        p["charging"] = charging
    return p


def interval(srv, token, **kw):
    r = srv.post(token, point(**kw))
    assert r.status_code == 200, f"POST answered {r.status_code}: {r.text[:300]}"
    body = r.json()
    assert set(body) == {"update_interval", "update_interval_seconds"}, body
    return body["update_interval_seconds"]


def answers(srv, token, want, within=WITHIN, **kw):
    """Polls the answer until it is `want`; fails if that takes longer than `within`."""
    t0 = time.monotonic()
    wait_until(lambda: interval(srv, token, **kw) == want, within,
               what=f"update_interval_seconds == {want}")
    return time.monotonic() - t0


def focus(viewer, courier=None):
    msg = {"type": "focus"}
    if courier is not None:
        msg["courier"] = courier
    viewer.ws.send(json.dumps(msg))


# ---------------------------------------------------------------------------------
# peyk serve


def test_states_and_low_battery(server):
    srv = server(*FAST)
    tok = srv.courier_token()
    assert interval(srv, tok) == IDLE
    assert interval(srv, tok, orders=["O-" + uid()]) == ACTIVE
    assert interval(srv, tok, orders=[], battery=50) == IDLE
    assert interval(srv, tok, battery=10) == 2 * IDLE
    assert interval(srv, tok, orders=["X"], battery=10) == 2 * ACTIVE
    assert interval(srv, tok, orders=["X"], battery=19.5, charging=True) == ACTIVE  # charging
    assert interval(srv, tok, orders=["X"], battery=20) == ACTIVE  # 20 % is not low
    # A batch: the orders of any point count, the battery of the newest point that has one.
    r = srv.post_ok(tok, {"points": [point(orders=["B1"], battery=5), point(battery=80),
                                     point()]})
    assert r.json()["update_interval_seconds"] == ACTIVE


def test_a_retried_point_gets_the_interval_of_what_it_says(server):
    """A retry (same time, same position) is answered 200 without being recorded again;
    its interval still follows its orders and battery, not an empty request's."""
    srv = server(*FAST)
    tok = srv.courier_token()
    p = dict(point(orders=["R-" + uid()], battery=10),
             recorded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    first = srv.post_ok(tok, p).json()["update_interval_seconds"]
    again = srv.post_ok(tok, p).json()["update_interval_seconds"]
    assert first == again == 2 * ACTIVE, (first, again)
    assert srv.metrics().value("peyk_ingest_duplicates_total") == 1


def test_flags_set_the_three_intervals_and_the_factor(server):
    srv = server(*FAST, "--interval-watched", "1s", "--interval-active", "30",
                 "--interval-idle", "5m", "--interval-low-battery", "3")
    tok = srv.courier_token()
    assert interval(srv, tok) == 300
    assert interval(srv, tok, orders=["A"]) == 30
    assert interval(srv, tok, orders=["A"], battery=1) == 90
    order = "O-" + uid()
    srv.viewer(srv.customer_token([order]), "peyk.v1")
    answers(srv, tok, 1, orders=[order])
    r = srv.post_ok(tok, point(orders=[order]))
    assert r.json()["update_interval"] == "60/m"


def test_update_interval_is_the_old_name_of_interval_idle(server):
    srv = server(*FAST, "--update-interval", "7")
    tok = srv.courier_token()
    assert interval(srv, tok) == 7
    assert interval(srv, tok, orders=["A"]) == ACTIVE


def test_customer_of_its_order_connects_then_leaves(server):
    srv = server(*FAST)
    tok = srv.courier_token()
    order, other = "O-" + uid(), "O-" + uid()
    assert interval(srv, tok, orders=[order]) == ACTIVE
    # A customer of another order changes nothing.
    stranger = srv.viewer(srv.customer_token([other], sub="c-2"), "peyk.v1")
    assert interval(srv, tok, orders=[order]) == ACTIVE
    cust = srv.viewer(srv.customer_token([other, order]), "peyk.v1")
    answers(srv, tok, WATCHED, orders=[order])
    wait_until(lambda: srv.metrics().value("peyk_watched_orders") == 2, 2,
               what="peyk_watched_orders == 2 (both customers' orders)")
    # Watched only while it carries that order.
    assert interval(srv, tok, orders=["unrelated"]) == ACTIVE
    assert interval(srv, tok) == IDLE
    cust.close()
    answers(srv, tok, ACTIVE, orders=[order])
    stranger.close()
    wait_until(lambda: srv.metrics().value("peyk_watched_orders") == 0, 2 * WITHIN,
               what="peyk_watched_orders back to 0")


def test_echo_protocol_customer_watches_too(server):
    srv = server(*FAST)
    tok = srv.courier_token()
    order = "O-" + uid()
    v = srv.viewer(srv.customer_token([order]), "echo-protocol")
    answers(srv, tok, WATCHED, orders=[order])
    v.close()
    answers(srv, tok, ACTIVE, orders=[order])


def test_two_customers_of_one_order(server):
    srv = server(*FAST)
    tok = srv.courier_token()
    order = "O-" + uid()
    a = srv.viewer(srv.customer_token([order], sub="a"), "peyk.v1")
    b = srv.viewer(srv.customer_token([order], sub="b"), "peyk.v1")
    answers(srv, tok, WATCHED, orders=[order])
    a.close()
    time.sleep(0.3)
    assert interval(srv, tok, orders=[order]) == WATCHED  # b is still there
    b.close()
    answers(srv, tok, ACTIVE, orders=[order])


def test_admin_focus_and_unfocus(server):
    srv = server(*FAST)
    cid = uid("c")
    tok = srv.courier_token(cid)
    assert interval(srv, tok) == IDLE
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    focus(admin, cid)
    answers(srv, tok, WATCHED)
    wait_until(lambda: srv.metrics().value("peyk_watched_couriers") == 1, 2,
               what="peyk_watched_couriers == 1")
    focus(admin)  # no focus
    answers(srv, tok, IDLE)
    focus(admin, cid)
    answers(srv, tok, WATCHED)
    # A new focus replaces the old one.
    other = uid("c")
    focus(admin, other)
    answers(srv, tok, IDLE)
    focus(admin, cid)
    answers(srv, tok, WATCHED)
    # Closing the socket unfocuses.
    admin.close()
    answers(srv, tok, IDLE)


def test_focus_takes_an_integer_id(server):
    srv = server(*FAST)
    tok = srv.courier_token("4711")
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    focus(admin, 4711)
    answers(srv, tok, WATCHED)


def test_dispatcher_focuses_only_couriers_of_its_fleets(server):
    srv = server(*FAST)
    mine, theirs = uid("c"), uid("c")
    tok_mine = srv.courier_token(mine, fleet="f1")
    tok_theirs = srv.courier_token(theirs, fleet="f2")
    for t in (tok_mine, tok_theirs):
        assert interval(srv, t) == IDLE  # the store now knows each one's fleet
    disp = srv.viewer(srv.dispatcher_token(["f1"]), "peyk.v1")
    before = srv.metrics().value("peyk_focus_refused_total")
    focus(disp, theirs)
    wait_until(lambda: srv.metrics().value("peyk_focus_refused_total") == before + 1, 2,
               what="the refused focus to be counted")
    assert interval(srv, tok_theirs) == IDLE
    focus(disp, "never-seen")  # a courier it cannot know the fleet of
    wait_until(lambda: srv.metrics().value("peyk_focus_refused_total") == before + 2, 2,
               what="the second refused focus to be counted")
    focus(disp, mine)
    answers(srv, tok_mine, WATCHED)
    assert interval(srv, tok_theirs) == IDLE


def test_customer_focus_has_no_effect(server):
    srv = server(*FAST)
    cid = uid("c")
    tok = srv.courier_token(cid)
    cust = srv.viewer(srv.customer_token(["O-" + uid()]), "peyk.v1")
    focus(cust, cid)
    wait_until(lambda: srv.metrics().value("peyk_focus_refused_total") == 1, 2,
               what="the customer's focus to be counted as refused")
    assert interval(srv, tok) == IDLE


def test_echo_viewer_messages_are_not_focus(server):
    srv = server(*FAST)
    cid = uid("c")
    tok = srv.courier_token(cid)
    v = srv.viewer(srv.admin_token(), "echo-protocol")
    v.ws.send(json.dumps({"type": "focus", "courier": cid}))
    time.sleep(0.3)
    assert interval(srv, tok) == IDLE
    # still open: echo-protocol viewers' messages are checked and dropped, as before
    srv.post_ok(tok, point())
    assert v.recv_locations()[0]["user"]["id"] == cid


def close_code_of(raw, timeout=5):
    """Reads frames until the server's close; returns its code."""
    deadline = time.monotonic() + timeout
    while True:
        op, payload = raw.read_frame(max(0.01, deadline - time.monotonic()))
        if op == 0x8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


@pytest.mark.parametrize("payload", ["not json", "[1,2]", '{"courier": "1"}', '{"type": 3}',
                                     '{"type": "focus", "courier": [1]}',
                                     '{"type": "focus", "courier": ""}'])
def test_malformed_client_messages_close_1008(server, payload):
    srv = server(*FAST)
    raw = srv.raw_viewer(srv.admin_token(), subprotocol="peyk.v1")
    raw.send_frame(0x1, payload.encode())
    assert close_code_of(raw) == 1008


def test_binary_client_messages_close_1003(server):
    srv = server(*FAST)
    raw = srv.raw_viewer(srv.admin_token(), subprotocol="peyk.v1")
    raw.send_frame(0x2, b'{"type":"focus"}')
    assert close_code_of(raw) == 1003


def test_unknown_types_are_ignored(server):
    srv = server(*FAST)
    cid = uid("c")
    tok = srv.courier_token(cid)
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    admin.ws.send(json.dumps({"type": "view", "bbox": [51, 35, 52, 36], "zoom": 12}))
    admin.ws.send(json.dumps({"type": "something-newer"}))
    srv.post_ok(tok, point())
    locs = admin.collect_until(lambda l: l["user"]["id"] == cid)
    assert locs


def test_a_message_over_4_kib_closes_1009(server):
    srv = server(*FAST)
    raw = srv.raw_viewer(srv.admin_token(), subprotocol="peyk.v1")
    raw.send_frame(0x1, json.dumps({"type": "focus", "courier": "x", "pad": "y" * 5000}).encode())
    assert close_code_of(raw) == 1009


def test_too_many_messages_close_1008(server):
    srv = server(*FAST)
    cid = uid("c")
    raw = srv.raw_viewer(srv.admin_token(), subprotocol="peyk.v1")
    raw.send_frame(0x1, json.dumps({"type": "focus", "courier": cid}).encode())
    wait_until(lambda: srv.metrics().value("peyk_watched_couriers") == 1, 2,
               what="the focus to count")
    # The burst is 10 messages; 30 at once are far over it.
    for i in range(30):
        try:
            raw.send_frame(0x1, json.dumps({"type": "focus", "courier": cid}).encode())
        except (BrokenPipeError, ConnectionResetError):
            break  # the server closed already: the close frame is waiting to be read
    assert close_code_of(raw) == 1008
    # and the focus it held is given back
    wait_until(lambda: srv.metrics().value("peyk_watched_couriers") == 0, 2,
               what="the focus to be released")


# ---------------------------------------------------------------------------------
# peyk ingest + peyk gateway over Redis


@pytest.fixture
def split(server, redis_server):
    secret = secrets.token_hex(32)
    ing = server("--redis", redis_server.url, *FAST, role="ingest", secret=secret)
    gw = server("--redis", redis_server.url, role="gateway", secret=secret)
    ing.wait_ready()
    gw.wait_ready()
    return ing, gw, redis_server


def test_split_customer_connects_then_leaves(split):
    ing, gw, _ = split
    tok = ing.courier_token()
    order = "O-" + uid()
    assert interval(ing, tok, orders=[order]) == ACTIVE
    cust = gw.viewer(gw.customer_token([order]), "peyk.v1")
    answers(ing, tok, WATCHED, orders=[order])
    wait_until(lambda: ing.metrics().value("peyk_watched_orders") == 1, 2,
               what="the ingest's peyk_watched_orders == 1")
    assert gw.metrics().value("peyk_watch_messages_published_total") >= 1
    cust.close()
    answers(ing, tok, ACTIVE, orders=[order])


def test_split_focus(split):
    ing, gw, _ = split
    cid = uid("c")
    tok = ing.courier_token(cid)
    admin = gw.viewer(gw.admin_token(), "peyk.v1")
    focus(admin, cid)
    answers(ing, tok, WATCHED)
    focus(admin)
    answers(ing, tok, IDLE)


def test_split_gateway_killed_its_watches_lapse(split):
    ing, gw, _ = split
    tok = ing.courier_token()
    order = "O-" + uid()
    gw.viewer(gw.customer_token([order]), "peyk.v1")
    answers(ing, tok, WATCHED, orders=[order])
    # Held by the periodic refresh well past the expiry.
    time.sleep(EXPIRY + 0.5)
    assert interval(ing, tok, orders=[order]) == WATCHED
    gw.send_signal(signal.SIGKILL)
    gw.proc.wait(5)
    took = answers(ing, tok, ACTIVE, within=EXPIRY + 1.5 * TIME_SCALE, orders=[order])
    assert took >= 1.0, f"fell back after {took:.2f}s: before a refresh could have been missed"


def test_watch_channel_format_is_plain_json(split):
    """Any program may read the watch channel, and write it (docs/protocol.md)."""
    ing, gw, rs = split
    sub = rs.subscribe("dlchannel:watch")
    order = "O-" + uid()
    gw.viewer(gw.customer_token([order]), "peyk.v1")
    deadline = time.monotonic() + 3
    seen = None
    while time.monotonic() < deadline and seen is None:
        msg = json.loads(sub.next_message())
        if order in msg.get("orders", {}):
            seen = msg
    assert seen, "no watch message naming the order"
    assert seen["v"] == 1 and seen["source"].startswith("gw-") and seen["ttl_ms"] == 3000
    assert seen["orders"][order] == 1
    # A message from another program makes a courier watched on the ingest...
    cid = uid("c")
    tok = ing.courier_token(cid)
    assert interval(ing, tok) == IDLE
    rs.publish("dlchannel:watch", json.dumps(
        {"v": 1, "source": "other-program", "ttl_ms": 60000, "couriers": {cid: 1}}))
    answers(ing, tok, WATCHED)
    # ...until it says it is gone.
    rs.publish("dlchannel:watch", json.dumps({"v": 1, "source": "other-program", "gone": True}))
    answers(ing, tok, IDLE)
    # Garbage is counted, never fatal.
    rs.publish("dlchannel:watch", "garbage")
    wait_until(lambda: ing.metrics().value("peyk_watch_messages_invalid_total") >= 1, 2,
               what="the invalid watch message to be counted")
    assert interval(ing, tok) == IDLE


def test_serve_over_redis_watches_itself_and_others(server, redis_server):
    """`serve --redis` reads its own viewers in process and another gateway's over Redis."""
    secret = secrets.token_hex(32)
    srv = server("--redis", redis_server.url, *FAST, secret=secret)
    gw = server("--redis", redis_server.url, role="gateway", secret=secret)
    srv.wait_ready()
    gw.wait_ready()
    tok = srv.courier_token()
    a, b = "O-" + uid(), "O-" + uid()
    own = srv.viewer(srv.customer_token([a]), "peyk.v1")
    answers(srv, tok, WATCHED, orders=[a])
    other = gw.viewer(gw.customer_token([b]), "peyk.v1")
    answers(srv, tok, WATCHED, orders=[b])
    own.close()
    other.close()
    answers(srv, tok, ACTIVE, orders=[a])
    answers(srv, tok, ACTIVE, orders=[b])


# ---------------------------------------------------------------------------------
# Redis Cluster


@pytest.mark.cluster
def test_cluster_customer_connects_then_leaves(server, redis_cluster):
    secret = secrets.token_hex(32)
    flags = ["--redis-cluster", redis_cluster.seeds(), "--cluster-partitions", "8"]
    ing = server(*flags, *FAST, role="ingest", secret=secret)
    gw = server(*flags, role="gateway", secret=secret)
    ing.wait_ready(20)
    gw.wait_ready(20)
    tok = ing.courier_token()
    order = "O-" + uid()
    assert interval(ing, tok, orders=[order]) == ACTIVE
    for _ in range(2):
        cust = gw.viewer(gw.customer_token([order]), "peyk.v1")
        answers(ing, tok, WATCHED, orders=[order])
        cust.close()
        answers(ing, tok, ACTIVE, orders=[order])
