"""The original design's topology (issue #3): `peyk ingest` and `peyk gateway` as
separate processes that meet only on Redis (PROTOCOL.md §1, §3, §4, §6).

    courier --POST--> peyk ingest --PUBLISH/HSET/GEOADD--> Redis --SUBSCRIBE--> peyk gateway --ws--> viewer

Each test starts its own redis-server (the `redis_server` fixture) and its own peyk
processes sharing one JWT secret; Redis is inspected and fed with redis-py."""

import json
import secrets
import threading
import time
from types import SimpleNamespace

import pytest
import requests
import websocket

from conftest import uid, uid_of, wait_until

CHANNEL = "dlchannel"
HASH_KEY = f"peyk:last:{CHANNEL}"
GEO_KEY = f"peyk:geo:{CHANNEL}"

# The original design's message, byte for byte (PROTOCOL.md §4).
ORIGINAL_MESSAGE = ('{"latitude": 35.0001, "longitude": 53.12111, '
                    '"user": {"id": 10, "username": "test_driver1"}}')


def now_us():
    return time.time_ns() // 1000


def status_of(srv, path):
    try:
        return srv.get(path, timeout=2).status_code
    except requests.RequestException as e:
        return f"no answer ({type(e).__name__})"


@pytest.fixture
def topology(server, redis_server):
    """Factory: topology(ingests=1, gateways=1, ingest_flags=(), gateway_flags=(),
    wait=True) starts `peyk ingest` and `peyk gateway` processes on the test's Redis,
    sharing one JWT secret, and (with wait) waits until each answers /readyz 200."""

    def make(ingests=1, gateways=1, ingest_flags=(), gateway_flags=(), wait=True):
        secret = secrets.token_hex(32)
        ing = [server("--redis", redis_server.url, *ingest_flags, role="ingest", secret=secret)
               for _ in range(ingests)]
        gws = [server("--redis", redis_server.url, *gateway_flags, role="gateway", secret=secret)
               for _ in range(gateways)]
        if wait:
            for s in ing + gws:
                s.wait_ready()
        return SimpleNamespace(redis=redis_server, ingests=ing, gateways=gws,
                               ingest=ing[0] if ing else None, gateway=gws[0] if gws else None,
                               secret=secret)

    return make


def close_to(a, b, eps=1e-9):
    return abs(a - b) <= eps


# ---------------------------------------------------------------------------------
# roles


def test_roles_serve_only_their_own_api(topology):
    t = topology()
    ing, gw = t.ingest, t.gateway
    for srv in (ing, gw):
        assert status_of(srv, "/healthz") == 200
        assert status_of(srv, "/readyz") == 200
        m = srv.metrics()
        assert m.value("peyk_broker_connected") == 1, f"{srv.role}: {m.text[:2000]}"
        for fam in ("peyk_broker_reconnects_total", "peyk_broker_invalid_messages_total"):
            assert m.has_family(fam), f"{srv.role} /metrics lacks {fam}"
    # ingest has no WebSocket gateway, the gateway no ingest API
    assert ing.ws_status(ing.admin_token(), proto="peyk.v1") == 404
    r = gw.post(gw.courier_token("10"), {"latitude": 35.0, "longitude": 51.0})
    assert r.status_code == 404, f"POST /api/v1/locations on a gateway answered {r.status_code}"
    # ...and each serves its own
    assert gw.ws_status(gw.admin_token(), proto="peyk.v1") == 101
    assert status_of(gw, "/api/v1/config") == 200  # the panel's settings
    ing.post_ok(ing.courier_token("10"), {"latitude": 35.0, "longitude": 51.0})


# ---------------------------------------------------------------------------------
# 1. end to end


def test_end_to_end_ingest_to_gateway_both_subprotocols(topology):
    t = topology()
    ing, gw = t.ingest, t.gateway
    v1 = gw.viewer(gw.admin_token(), "peyk.v1")
    echo = gw.viewer(gw.admin_token(), "echo-protocol")
    assert v1.snapshot == []
    sub = t.redis.subscribe(CHANNEL)
    try:
        before = now_us()
        ing.post_ok(ing.courier_token("10", name="test_driver1", fleet="store-7"),
                    {"latitude": 35.0001, "longitude": 53.12111, "accuracy": 6.5, "speed": 8.2,
                     "heading": 270, "recorded_at": "2026-11-28T12:00:00Z", "orders": ["A123"],
                     "user": {"id": 5, "username": "from-the-body"}})
        after = now_us()
        # what ingest put on the channel: the §4 format
        msg = json.loads(sub.next_message())
        assert msg["user"] == {"id": 10, "username": "test_driver1"}, msg
        assert type(msg["user"]["id"]) is int, "a numeric courier id must be a JSON number"
        assert close_to(msg["latitude"], 35.0001) and close_to(msg["longitude"], 53.12111), msg
        assert isinstance(msg["ts"], int) and before <= msg["ts"] <= after, (before, msg, after)
        assert msg["fleet"] == "store-7" and msg["orders"] == ["A123"], msg
        assert msg["accuracy"] == 6.5 and msg["speed"] == 8.2 and msg["heading"] == 270, msg
        assert msg["recorded_at"] == "2026-11-28T12:00:00Z", msg

        # both subprotocols on the gateway get it, with ingest's ts (not re-stamped)
        (a,) = v1.recv_locations()
        assert v1.frames[-1]["type"] == "locations"
        (b,) = echo.recv_locations()
        for loc in (a, b):
            assert loc["user"] == {"id": 10, "username": "test_driver1"}, loc
            assert loc["ts"] == msg["ts"], (loc, msg)
            assert close_to(loc["latitude"], 35.0001) and close_to(loc["longitude"], 53.12111)
            assert loc["fleet"] == "store-7" and loc["orders"] == ["A123"], loc

        # a non-numeric courier id travels as a string
        ing.post_ok(ing.courier_token("c-abc", name="Sara"), {"latitude": 35.5, "longitude": 51.5})
        msg2 = json.loads(sub.next_message())
        assert msg2["user"] == {"id": "c-abc", "username": "Sara"}, msg2
        assert isinstance(msg2["ts"], int) and msg2["ts"] >= msg["ts"]
        for v in (v1, echo):
            (loc,) = v.recv_locations()
            assert loc["user"] == {"id": "c-abc", "username": "Sara"} and loc["ts"] == msg2["ts"]
    finally:
        sub.close()

    # the last-known hash and the geo set ingest keeps beside the channel
    r = t.redis.client()
    h = r.hgetall(HASH_KEY)
    assert set(h) == {b"10", b"c-abc"}, h
    assert json.loads(h[b"10"]) == msg and json.loads(h[b"c-abc"]) == msg2
    (lon, lat), = r.geopos(GEO_KEY, "10")
    assert abs(lon - 53.12111) < 1e-4 and abs(lat - 35.0001) < 1e-4, (lon, lat)
    assert r.zcard(GEO_KEY) == 2


# ---------------------------------------------------------------------------------
# 2. a third-party publisher in the original design's format


def test_third_party_publish_original_format(topology):
    t = topology()
    gw = t.gateway
    v1 = gw.viewer(gw.admin_token(), "peyk.v1")
    echo = gw.viewer(gw.admin_token(), "echo-protocol")
    plain = gw.viewer(gw.admin_token(), None)  # no subprotocol: like echo-protocol
    before = now_us()
    # exactly one subscriber: the gateway (an ingest process does not subscribe)
    assert t.redis.publish(CHANNEL, ORIGINAL_MESSAGE) == 1

    frame = v1.recv_json()
    assert frame["type"] == "locations" and len(frame["locations"]) == 1, frame
    loc = frame["locations"][0]
    after = now_us()
    assert loc["user"] == {"id": 10, "username": "test_driver1"}, loc
    assert loc["latitude"] == 35.0001 and loc["longitude"] == 53.12111, loc
    # the publisher left ts out: the gateway stamped it on receipt
    assert isinstance(loc.get("ts"), int) and before <= loc["ts"] <= after, (before, loc, after)

    for v in (echo, plain):
        obj = v.recv_json()  # one location object per frame
        assert isinstance(obj, dict) and "type" not in obj, obj
        assert obj["user"] == {"id": 10, "username": "test_driver1"}, obj
        assert obj["latitude"] == 35.0001 and obj["longitude"] == 53.12111, obj
        assert obj["ts"] == loc["ts"], "every viewer must see the ts stamped once on receipt"

    # a later peyk.v1 viewer finds it in its snapshot
    late = gw.viewer(gw.admin_token(), "peyk.v1")
    assert [l["user"] for l in late.snapshot] == [{"id": 10, "username": "test_driver1"}]
    assert late.snapshot[0]["ts"] == loc["ts"]


# ---------------------------------------------------------------------------------
# 3. junk on the channel


VALID = {"latitude": 35.0, "longitude": 51.0, "user": {"id": 10, "username": "x"}}


def with_(**kw):
    d = json.loads(json.dumps(VALID))
    for k, v in kw.items():
        if v is ...:
            d.pop(k)
        else:
            d[k] = v
    return json.dumps(d).encode()


JUNK = [
    ("not JSON", b"not json"),
    ("truncated JSON", json.dumps(VALID).encode()[:-3]),
    ("empty message", b""),
    ("JSON array of a valid location", json.dumps([VALID]).encode()),
    ("JSON string", b'"hello"'),
    ("JSON null", b"null"),
    ("JSON number", b"42"),
    ("missing user", with_(user=...)),
    ("user without id", with_(user={"username": "x"})),
    ("user not an object", with_(user=10)),
    ("user.id a list", with_(user={"id": [10]})),
    ("user.id an object", with_(user={"id": {"n": 10}})),
    ("user.id empty", with_(user={"id": ""})),
    ("missing latitude", with_(latitude=...)),
    ("missing longitude", with_(longitude=...)),
    ("latitude letters", with_(latitude="abc")),
    ("latitude boolean", with_(latitude=True)),
    ("latitude null", with_(latitude=None)),
    ("longitude object", with_(longitude={"v": 1})),
    ("latitude 91", with_(latitude=91)),
    ("latitude -90.000001", with_(latitude=-90.000001)),
    ("longitude 180.5", with_(longitude=180.5)),
    ("longitude 1e999", json.dumps(VALID).encode().replace(b'"longitude": 51.0', b'"longitude": 1e999')),
    ("ts a string", with_(ts="soon")),
    ("ts negative", with_(ts=-5)),
    ("1 MB message", with_(pad="x" * (1 << 20))),
    ("binary bytes", bytes(range(256)) * 16),
    ("invalid UTF-8 in a string",
     json.dumps(VALID).encode().replace(b'"username": "x"', b'"username": "\xff\xfe\xc3"')),
    ("nesting 100000 deep", b"[" * 100000 + b"]" * 100000),
]


def test_junk_on_the_channel_counted_never_forwarded(topology):
    t = topology()
    gw = t.gateway
    v1 = gw.viewer(gw.admin_token(), "peyk.v1")
    echo = gw.viewer(gw.admin_token(), "echo-protocol")
    m0 = gw.metrics()
    for name, payload in JUNK:
        assert t.redis.publish(CHANNEL, payload) == 1, f"{name}: the gateway is not subscribed"
    marker = uid("mark")
    assert t.redis.publish(CHANNEL, json.dumps(
        {"latitude": 1.5, "longitude": 2.5, "user": {"id": marker, "username": "m"}})) == 1

    for v in (v1, echo):
        got = v.collect_until(lambda l: uid_of(l) == marker)
        assert [uid_of(l) for l in got] == [marker], f"junk was forwarded: {got!r}"[:3000]
    m1 = gw.metrics()
    counted = (m1.value("peyk_broker_invalid_messages_total")
               - m0.value("peyk_broker_invalid_messages_total"))
    assert counted == len(JUNK), f"{counted} invalid messages counted, {len(JUNK)} published"
    # never fatal: still alive, subscribed, without having reconnected
    assert gw.proc.poll() is None
    assert status_of(gw, "/healthz") == 200 and status_of(gw, "/readyz") == 200
    assert m1.value("peyk_broker_connected") == 1
    assert m1.value("peyk_broker_reconnects_total") == m0.value("peyk_broker_reconnects_total")
    late = gw.viewer(gw.admin_token(), "peyk.v1")
    assert [uid_of(l) for l in late.snapshot] == [marker], late.snapshot
    assert t.redis.publish(CHANNEL, ORIGINAL_MESSAGE) == 1
    (loc,) = v1.recv_locations()
    assert loc["user"]["id"] == 10


# ---------------------------------------------------------------------------------
# 4. kill -9 of Redis mid-stream


class FrameReader(threading.Thread):
    """Reads a viewer's socket in the background: locations (with receive time), pongs,
    close frames and errors, all recorded."""

    def __init__(self, viewer):
        super().__init__(daemon=True)
        self.v = viewer
        self.lock = threading.Lock()
        self.locations = []  # (monotonic receive time, location)
        self.pongs = []
        self.closes = []
        self.errors = []
        self.halt = threading.Event()

    def run(self):
        ws = self.v.ws
        ws.settimeout(0.2)
        while not self.halt.is_set():
            try:
                op, frame = ws.recv_data_frame(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as e:  # noqa: BLE001 - recorded and asserted on
                self.errors.append(repr(e))
                return
            if op == websocket.ABNF.OPCODE_CLOSE:
                self.closes.append(frame.data)
                return
            if op == websocket.ABNF.OPCODE_PONG:
                with self.lock:
                    self.pongs.append(frame.data)
                continue
            if op == websocket.ABNF.OPCODE_PING:
                continue
            obj = json.loads(frame.data)
            if self.v.proto == "peyk.v1":
                if obj.get("type") != "locations":
                    continue
                locs = obj["locations"]
            else:
                locs = [obj]
            t = time.monotonic()
            with self.lock:
                self.locations.extend((t, l) for l in locs)

    def stop(self):
        self.halt.set()
        self.join(2)

    def seqs(self):
        """{courier id: [sequence numbers in the order received]}"""
        out = {}
        with self.lock:
            for _, l in self.locations:
                out.setdefault(uid_of(l), []).append(seq_of(l))
        return out


def seq_of(loc):
    return round(loc["longitude"] * 1000)


class Load(threading.Thread):
    """Couriers posting every `period` seconds; position n of a courier has longitude
    n/1000, so the sequence number travels in the location itself."""

    def __init__(self, ingest, couriers, period=0.1):
        super().__init__(daemon=True)
        self.ingest = ingest
        self.couriers = couriers
        self.tokens = {c: ingest.courier_token(c) for c in couriers}
        self.period = period
        self.results = []  # SimpleNamespace(courier, seq, sent, done, status, retry_after)
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self):
        session = requests.Session()
        seq = 0
        next_tick = time.monotonic()
        while not self.halt.is_set():
            seq += 1
            for i, c in enumerate(self.couriers):
                body = {"latitude": 30.0 + i / 100, "longitude": seq / 1000}
                sent = time.monotonic()
                try:
                    r = session.post(self.ingest.base + "/api/v1/locations", json=body,
                                     headers={"Authorization": f"Bearer {self.tokens[c]}"},
                                     timeout=3)
                    status, retry = r.status_code, r.headers.get("Retry-After")
                except requests.RequestException as e:
                    status, retry = f"error: {e!r}", None
                res = SimpleNamespace(courier=c, seq=seq, sent=sent, done=time.monotonic(),
                                      status=status, retry_after=retry)
                with self.lock:
                    self.results.append(res)
            next_tick += self.period
            delay = next_tick - time.monotonic()
            if delay > 0:
                self.halt.wait(delay)
            else:
                next_tick = time.monotonic()
        session.close()

    def stop(self):
        self.halt.set()
        self.join(5)
        assert not self.is_alive(), "load thread did not stop"

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def ok_since(self, t):
        return sum(1 for r in self.snapshot() if r.status == 200 and r.sent >= t)


def test_redis_kill9_mid_stream(topology):
    t = topology(ingest_flags=("--rate-limit", "0"))
    ing, gw = t.ingest, t.gateway
    v = gw.viewer(gw.admin_token(), "peyk.v1")
    reader = FrameReader(v)
    reader.start()
    couriers = [str(9000 + i) for i in range(20)]
    # 20 couriers every 100 ms, in 4 threads of 5
    loads = [Load(ing, couriers[i::4]) for i in range(4)]
    for l in loads:
        l.start()
    try:
        wait_until(lambda: len(reader.locations) >= 40, 5, what="locations flowing to the viewer")
        reconnects0 = {s.role: s.metrics().value("peyk_broker_reconnects_total") for s in (ing, gw)}

        t.redis.kill()  # kill -9
        t_kill = time.monotonic()
        wait_until(lambda: status_of(ing, "/readyz") == 503 and status_of(gw, "/readyz") == 503, 3,
                   what="/readyz 503 on ingest and gateway while Redis is down")
        assert status_of(ing, "/healthz") == 200 and status_of(gw, "/healthz") == 200
        for s in (ing, gw):
            assert s.metrics().value("peyk_broker_connected") == 0
        # the viewer stays connected: its socket answers a ping
        v.ws.ping(b"outage")
        wait_until(lambda: b"outage" in reader.pongs, 3, what="a pong during the outage")
        time.sleep(1.0)  # the outage goes on under load

        t_restart = time.monotonic()
        t.redis.start()  # same port
        wait_until(lambda: ing.ready() and gw.ready(), 8,
                   what="both roles ready again after Redis came back")
        t_ready = time.monotonic()
        wait_until(lambda: sum(l.ok_since(t_ready) for l in loads) >= 60, 5,
                   what="posts answered 200 again after the restart")
        time.sleep(0.3)
    finally:
        for l in loads:
            l.stop()
    results = sorted((r for l in loads for r in l.snapshot()), key=lambda r: r.sent)
    print(f"{len(results)} posts; ready again {t_ready - t_restart:.2f}s after Redis restarted")

    # every answer was 200 or 503, and never 200 while Redis was dead
    statuses = {r.status for r in results}
    assert statuses <= {200, 503}, f"unexpected answers: {statuses}"
    during = [r for r in results if r.sent > t_kill and r.done < t_restart]
    assert len(during) >= 20, f"only {len(during)} posts during the outage"
    bad = [r for r in during if r.status != 503 or not (r.retry_after or "").strip().isdigit()]
    assert not bad, f"during the outage: {bad[:5]}"
    slow = max(r.done - r.sent for r in during)
    assert slow < 1.0, f"a publish during the outage took {slow:.2f}s to fail (should fail at once)"

    # latest wins: the last 200-acknowledged position of each courier reached the viewer,
    # and no courier ever went backwards
    last_ok = {}
    for r in results:
        if r.status == 200:
            last_ok[r.courier] = max(last_ok.get(r.courier, 0), r.seq)
    assert set(last_ok) == set(couriers)

    def caught_up():
        seen = reader.seqs()
        return all(seen.get(c) and seen[c][-1] >= last_ok[c] for c in couriers)

    wait_until(caught_up, 5, what="the viewer to see each courier's last acknowledged position")
    time.sleep(0.2)
    reader.stop()
    seen = reader.seqs()
    for c in couriers:
        assert seen[c][-1] == last_ok[c], f"courier {c}: last seen {seen[c][-1]}, last acked {last_ok[c]}"
        back = [(a, b) for a, b in zip(seen[c], seen[c][1:]) if b < a]
        assert not back, f"courier {c} went backwards: {back[:5]} in {seen[c]}"
        after = [s for s in seen[c] if s > max((r.seq for r in during if r.courier == c), default=0)]
        assert after, f"courier {c}: nothing received after the restart"
    assert not reader.closes, f"the viewer got a close frame: {reader.closes}"
    assert not reader.errors, f"the viewer's socket failed: {reader.errors}"
    for s in (ing, gw):
        m = s.metrics()
        assert m.value("peyk_broker_connected") == 1
        assert m.value("peyk_broker_reconnects_total") > reconnects0[s.role], \
            f"{s.role}: peyk_broker_reconnects_total did not move"


# ---------------------------------------------------------------------------------
# the gateway's subscription drops while Redis stays up


def await_positions(v, want, timeout=5):
    """Reads v until each courier's newest longitude is want[courier]; fails on a courier
    going backwards or at the deadline."""
    newest = {}
    deadline = time.monotonic() + timeout
    while any(newest.get(c) != lon for c, lon in want.items()):
        left = deadline - time.monotonic()
        try:
            locs = v.recv_locations(max(left, 0.01)) if left > 0 else None
        except websocket.WebSocketTimeoutException:
            locs = None
        if locs is None:
            pytest.fail(f"after {timeout}s the viewer's newest positions are {newest}, expected {want}")
        for l in locs:
            c = uid_of(l)
            assert l["longitude"] >= newest.get(c, l["longitude"]), f"courier {c} went backwards: {l}"
            newest[c] = l["longitude"]


def test_resubscription_recovers_missed_positions(topology):
    """Pub/sub loses what is published while the gateway is not subscribed; after it
    subscribes again, the gateway reads the last-known hash, so viewers still end on
    every courier's newest position."""
    t = topology(ingest_flags=("--rate-limit", "0"))
    ing, gw = t.ingest, t.gateway
    v = gw.viewer(gw.admin_token(), "peyk.v1")
    ids = [str(300 + i) for i in range(5)]
    tokens = {c: ing.courier_token(c) for c in ids}
    for c in ids:
        ing.post_ok(tokens[c], {"latitude": 3.0, "longitude": 0})
    v.collect_until(lambda l: uid_of(l) == ids[-1])
    admin = t.redis.client()
    reconnects0 = gw.metrics().value("peyk_broker_reconnects_total")
    missed = False
    for step in range(1, 6):  # until a round of posts falls entirely inside the gap
        # the gateway's subscriber, and the ingest's (it listens on dlchannel:watch)
        assert admin.client_kill_filter(_type="pubsub") == 2
        for c in ids:
            ing.post_ok(tokens[c], {"latitude": 3.0, "longitude": step})
        missed = admin.pubsub_numsub(CHANNEL) == [(CHANNEL.encode(), 0)]
        gw.wait_ready(5)
        await_positions(v, {c: step for c in ids})
        if missed:
            print(f"round {step}: {len(ids)} positions published with no subscriber, recovered")
            break
    assert missed, "could not post while the gateway was unsubscribed (5 tries)"
    assert gw.metrics().value("peyk_broker_reconnects_total") > reconnects0


# ---------------------------------------------------------------------------------
# start order: peyk before Redis


def test_roles_started_before_redis(topology, redis_server):
    redis_server.kill()
    t = topology(wait=False)
    ing, gw = t.ingest, t.gateway
    assert status_of(ing, "/readyz") == 503 and status_of(gw, "/readyz") == 503
    r = ing.post(ing.courier_token("3"), {"latitude": 3.0, "longitude": 3.0})
    assert r.status_code == 503 and r.headers.get("Retry-After", "").strip().isdigit(), \
        (r.status_code, r.headers)
    v = gw.viewer(gw.admin_token(), "peyk.v1")  # the gateway serves viewers meanwhile
    assert v.snapshot == []
    t.redis.start()
    wait_until(lambda: ing.ready() and gw.ready(), 8, what="both roles ready once Redis is up")
    ing.post_ok(ing.courier_token("3"), {"latitude": 3.0, "longitude": 3.0})
    (loc,) = v.recv_locations()
    assert loc["user"]["id"] == 3


# ---------------------------------------------------------------------------------
# 5. gateway restart: the snapshot is warmed from Redis


def test_gateway_restart_warm_snapshot(topology, server):
    t = topology(ingest_flags=("--rate-limit", "0"))
    ing, gw = t.ingest, t.gateway
    n = 30
    ids = [str(500 + i) if i % 2 == 0 else f"c-{i}" for i in range(n)]
    tokens = {c: ing.courier_token(c, name=f"name-{c}") for c in ids}
    for step in (1, 2, 3):
        for i, c in enumerate(ids):
            ing.post_ok(tokens[c], {"latitude": 10 + i / 10, "longitude": step})
    v = gw.viewer(gw.admin_token(), "peyk.v1")
    assert sorted(uid_of(l) for l in v.snapshot) == sorted(ids)

    assert gw.stop() == 0, "the gateway did not exit 0 on SIGTERM"
    # while no gateway runs, half of the couriers move on (pub/sub drops it; the hash keeps it)
    latest = {c: 3 for c in ids}
    for i, c in enumerate(ids):
        if i % 2 == 0:
            ing.post_ok(tokens[c], {"latitude": 10 + i / 10, "longitude": 4})
            latest[c] = 4
    stored = {k.decode(): json.loads(val) for k, val in t.redis.client().hgetall(HASH_KEY).items()}

    gw2 = server("--redis", t.redis.url, role="gateway", secret=t.secret)
    gw2.wait_ready()
    v2 = gw2.viewer(gw2.admin_token(), "peyk.v1")
    snap = {uid_of(l): l for l in v2.snapshot}
    assert sorted(snap) == sorted(ids), f"snapshot after restart lists {sorted(snap)}"
    for i, c in enumerate(ids):
        loc = snap[c]
        assert loc["longitude"] == latest[c], f"courier {c}: {loc} is not its latest position"
        assert close_to(loc["latitude"], 10 + i / 10)
        assert loc["user"] == {"id": int(c) if c.isdigit() else c, "username": f"name-{c}"}, loc
        assert loc["ts"] == stored[c]["ts"], (loc, stored[c])
    # and it goes on live
    ing.post_ok(tokens[ids[1]], {"latitude": 1.0, "longitude": 5})
    (loc,) = v2.recv_locations()
    assert uid_of(loc) == ids[1] and loc["longitude"] == 5


# ---------------------------------------------------------------------------------
# 6. scale out: two gateways, two ingests, one Redis


def test_two_gateways_two_ingests(topology):
    t = topology(ingests=2, gateways=2)
    (ia, ib), (gx, gy) = t.ingests, t.gateways
    vx = gx.viewer(gx.admin_token(), "peyk.v1")
    vy = gy.viewer(gy.admin_token(), "echo-protocol")
    assert t.redis.client().pubsub_numsub(CHANNEL) == [(CHANNEL.encode(), 2)]
    ia.post_ok(ia.courier_token("71"), {"latitude": 7.1, "longitude": 7.1})
    ib.post_ok(ib.courier_token("72"), {"latitude": 7.2, "longitude": 7.2})
    for v in (vx, vy):
        seen = set()

        def both(loc):
            seen.add(uid_of(loc))
            return seen >= {"71", "72"}

        got = v.collect_until(both)
        assert sorted(uid_of(l) for l in got) == ["71", "72"], got
    # the two gateways agree on ts (set once, by the ingest that took the point)
    tx = {uid_of(l): l["ts"] for f in vx.frames if f.get("type") == "locations" for l in f["locations"]}
    ty = {uid_of(f): f["ts"] for f in vy.frames}
    assert tx == ty, (tx, ty)
    for s in t.ingests + t.gateways:
        assert s.metrics().value("peyk_broker_invalid_messages_total") == 0

