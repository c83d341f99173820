"""Fan-out to viewers (PROTOCOL.md §4, §5): subprotocols, snapshots, who sees what.

Isolation tests publish their data, then a final "marker" location that every viewer
may see; since a viewer receives locations oldest first, once the marker arrived
everything published before it was delivered (or conflated into a newer one), and what
the viewer did NOT receive by then it will not receive."""

import pytest

from conftest import uid_of

MARK_ID = "999"
MARK_FLEET = "fleet-mark"
MARK_ORDER = "ORDER-MARK"

# courier id -> (fleet, orders)
COURIERS = {
    "101": ("f1", ["A1", "X9"]),
    "102": ("f2", ["B1"]),
    "103": ("f3", ["A1", "B1"]),
    "104": (None, ["Z1"]),
    "105": ("f1", []),
}

# viewer name -> (role, claims, {courier id: orders it must receive})
VIEWERS = {
    "admin": ("admin", {}, {c: o for c, (f, o) in COURIERS.items()}),
    "d1": ("dispatcher", {"fleets": ["f1", MARK_FLEET]}, {"101": ["A1", "X9"], "105": []}),
    "d23": ("dispatcher", {"fleets": ["f2", "f3", MARK_FLEET]}, {"102": ["B1"], "103": ["A1", "B1"]}),
    "d_none": ("dispatcher", {"fleets": ["nope", MARK_FLEET]}, {}),
    "cA": ("customer", {"orders": ["A1", MARK_ORDER]}, {"101": ["A1"], "103": ["A1"]}),
    "cB": ("customer", {"orders": ["B1", MARK_ORDER]}, {"102": ["B1"], "103": ["B1"]}),
    "c_none": ("customer", {"orders": ["Q7", MARK_ORDER]}, {}),
}


def position(cid, round_):
    return {"latitude": round(30 + int(cid) / 1000 + round_ / 100000, 6),
            "longitude": round(50 + round_ / 1000, 6)}


def publish_all(srv, rounds=3, marker_round=0):
    tokens = {cid: srv.courier_token(cid, name=f"name{cid}", fleet=fleet)
              for cid, (fleet, _) in COURIERS.items()}
    for r in range(rounds):
        for cid, (fleet, orders) in COURIERS.items():
            body = dict(position(cid, r))
            if orders:
                body["orders"] = orders
            srv.post_ok(tokens[cid], body)
    return {cid: position(cid, rounds - 1) for cid in COURIERS}


def publish_marker(srv, n):
    tok = srv.courier_token(MARK_ID, name="marker", fleet=MARK_FLEET)
    lat = round(10 + n / 1000, 6)
    srv.post_ok(tok, {"latitude": lat, "longitude": 10.0, "orders": [MARK_ORDER]})
    return lambda loc: uid_of(loc) == MARK_ID and abs(loc["latitude"] - lat) < 1e-9


def check_received(name, locs, expected, last_pos, marker_orders):
    got_ids = {uid_of(l) for l in locs} - {MARK_ID}
    assert got_ids == set(expected), f"{name} received couriers {sorted(got_ids)}, expected {sorted(expected)}"
    latest = {}
    for l in locs:
        cid = uid_of(l)
        if cid == MARK_ID:
            assert l.get("orders", []) == marker_orders, f"{name}: marker orders {l.get('orders')}"
            continue
        assert l.get("orders", []) == expected[cid], \
            f"{name}: courier {cid} orders {l.get('orders')}, expected {expected[cid]}"
        assert l["user"].get("username") == f"name{cid}", l
        fleet = COURIERS[cid][0]
        if fleet:
            assert l.get("fleet") == fleet, l
        latest[cid] = l
    for cid, l in latest.items():
        assert abs(l["latitude"] - last_pos[cid]["latitude"]) < 1e-9, \
            f"{name}: last location of {cid} is {l}, expected {last_pos[cid]}"


def viewer_tokens(srv):
    return {name: srv.token(role, f"viewer-{name}", **claims)
            for name, (role, claims, _) in VIEWERS.items()}


@pytest.mark.parametrize("proto", ["peyk.v1", "echo-protocol", None])
def test_visibility_isolation_live(server, proto):
    srv = server()
    toks = viewer_tokens(srv)
    viewers = {name: srv.viewer(tok, proto) for name, tok in toks.items()}
    last_pos = publish_all(srv)
    is_marker = publish_marker(srv, 1)
    for name, v in viewers.items():
        locs = v.collect_until(is_marker)
        check_received(name, locs, VIEWERS[name][2], last_pos, [MARK_ORDER])


def test_snapshot_for_late_viewers(server):
    srv = server()
    last_pos = publish_all(srv, rounds=2)
    publish_marker(srv, 1)
    for name, tok in viewer_tokens(srv).items():
        v = srv.viewer(tok, "peyk.v1")
        snap = v.snapshot
        ids = [uid_of(l) for l in snap]
        assert len(ids) == len(set(ids)), f"{name}: snapshot has duplicates: {ids}"
        assert MARK_ID in ids, f"{name}: snapshot misses the marker courier"
        check_received(name, snap, VIEWERS[name][2], last_pos, [MARK_ORDER])
        # the snapshot holds the LAST position of each courier
        for l in snap:
            if uid_of(l) != MARK_ID:
                assert abs(l["latitude"] - last_pos[uid_of(l)]["latitude"]) < 1e-9, (name, l)
        v.close()


def test_snapshot_then_live_updates(server):
    srv = server()
    tok = srv.courier_token("21", name="c21")
    srv.post_ok(tok, {"latitude": 35.0, "longitude": 51.0})
    srv.post_ok(tok, {"latitude": 35.5, "longitude": 51.5})
    v = srv.viewer(srv.admin_token(), "peyk.v1")
    assert [uid_of(l) for l in v.snapshot] == ["21"]
    assert abs(v.snapshot[0]["latitude"] - 35.5) < 1e-9
    assert v.snapshot[0]["user"] == {"id": 21, "username": "c21"}
    srv.post_ok(tok, {"latitude": 35.6, "longitude": 51.6})
    (loc,) = v.recv_locations()
    assert abs(loc["latitude"] - 35.6) < 1e-9
    assert loc["user"] == {"id": 21, "username": "c21"}


def test_locations_frame_format_peyk_v1(server):
    srv = server()
    v = srv.viewer(srv.admin_token(), "peyk.v1")
    assert v.subprotocol == "peyk.v1"
    srv.post_ok(srv.courier_token("31"), {"latitude": 1.5, "longitude": 2.5})
    frame = v.recv_json()
    while frame.get("type") == "status":
        frame = v.recv_json()
    assert frame["type"] == "locations", frame
    assert isinstance(frame["locations"], list) and len(frame["locations"]) == 1, frame
    loc = frame["locations"][0]
    assert loc["user"]["id"] == 31 and abs(loc["latitude"] - 1.5) < 1e-9


@pytest.mark.parametrize("proto", ["echo-protocol", None])
def test_echo_protocol_one_location_per_frame_no_snapshot(server, proto):
    srv = server()
    tok = srv.courier_token("41", name="c41")
    srv.post_ok(tok, {"latitude": 1.0, "longitude": 1.0})  # known before the viewer connects
    v = srv.viewer(srv.admin_token(), proto)
    if proto:
        assert v.subprotocol == proto
    else:
        assert not v.subprotocol
    # One post at a time: points of one courier that reach a gateway thread in the same
    # drain may be reduced to the newest (latest wins, PROTOCOL §5), which on a loaded
    # machine happens when the viewer's thread is descheduled across several posts.
    frames = []
    for i in range(3):
        srv.post_ok(tok, {"latitude": 2.0 + i, "longitude": 2.0})
        frames.append(v.recv_json())
    for i, f in enumerate(frames):
        assert "type" not in f, f"echo-protocol frames are bare locations, got {f}"
        assert f["user"] == {"id": 41, "username": "c41"}, f
        assert abs(f["latitude"] - (2.0 + i)) < 1e-9, f"no snapshot, oldest first: {frames}"
    v.assert_silent(0.2)


def test_many_viewers_all_receive(server):
    srv = server()
    viewers = [srv.viewer(srv.admin_token(sub=f"a{i}"), "peyk.v1" if i % 2 else None)
               for i in range(10)]
    srv.post_ok(srv.courier_token("51"), {"latitude": 3.0, "longitude": 4.0})
    for v in viewers:
        (loc,) = v.recv_locations()
        assert loc["user"]["id"] == 51 and abs(loc["longitude"] - 4.0) < 1e-9


def test_customer_loses_courier_when_orders_change(server):
    srv = server()
    cust = srv.viewer(srv.customer_token(["A1", MARK_ORDER]), "peyk.v1")
    tok = srv.courier_token("61", name="c61")
    srv.post_ok(tok, {"latitude": 5.0, "longitude": 5.0, "orders": ["A1", "K2"]})
    (loc,) = cust.recv_locations()
    assert uid_of(loc) == "61" and loc["orders"] == ["A1"]
    # A1 delivered: the courier now carries only K2 -> the customer must not see it any more
    srv.post_ok(tok, {"latitude": 5.5, "longitude": 5.5, "orders": ["K2"]})
    srv.post_ok(tok, {"latitude": 5.6, "longitude": 5.6})
    is_marker = publish_marker(srv, 2)
    locs = cust.collect_until(is_marker)
    assert [uid_of(l) for l in locs] == [MARK_ID], f"customer saw {locs}"
    # nor in a late snapshot
    late = srv.viewer(srv.customer_token(["A1"], sub="cust-late"), "peyk.v1")
    assert [uid_of(l) for l in late.snapshot] == []


def test_dispatcher_follows_courier_fleet_from_token(server):
    srv = server()
    d1 = srv.viewer(srv.dispatcher_token(["f1", MARK_FLEET]), "peyk.v1")
    # fleet comes from the courier's token; a "fleet" in the body must not widen visibility
    srv.post_ok(srv.courier_token("71", fleet="f9"), {"latitude": 6.0, "longitude": 6.0,
                                                      "fleet": "f1"})
    is_marker = publish_marker(srv, 3)
    locs = d1.collect_until(is_marker)
    assert [uid_of(l) for l in locs] == [MARK_ID], f"dispatcher of f1 saw {locs}"
