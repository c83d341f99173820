"""A viewer that never reads must not hurt anyone else (PROTOCOL.md §5, ARCHITECTURE
"hot path rules"): other viewers keep receiving the latest positions, memory stays
bounded (conflation), and with --stall-timeout the stalled viewer is closed and counted.

The stalled viewer is a raw socket with a tiny SO_RCVBUF that completes the handshake
and never calls recv(), so the kernel buffers on both sides fill up. Many couriers and
~4 KB locations make sure they do."""

import http.client
import json
import os
import socket
import threading
import time

import websocket

from conftest import uid_of, wait_until
from sanitizer import TIME_SCALE, memory_bounds_apply

N_COURIERS = 100
ORDERS_PER_POINT = 32  # x ~115-byte ids: ~4 KB per location (the server allows 32 x 128 B)
MAX_BATCH = 12  # 12 points of ~4 KB stay under the 64 KiB body limit


class LoadGen:
    def __init__(self, srv):
        self.srv = srv
        self.tokens = [srv.courier_token(str(1000 + i), name=f"load{i}", fleet="load")
                       for i in range(N_COURIERS)]
        self.orders = [[f"order-{1000 + i}-{k:02d}-" + "x" * 100 for k in range(ORDERS_PER_POINT)]
                       for i in range(N_COURIERS)]
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        self.last = {}  # courier id -> last latitude sent
        self.updates = 0
        self.bytes = 0

    @staticmethod
    def lat(ci, rnd, j):
        return round(10 + ci * 0.01 + (rnd * MAX_BATCH + j) * 0.00001, 6)

    def round(self, rnd, batch=1):
        """One request per courier: a single point (batch=1, which no conflation can merge
        with the next courier's) or a batch of points."""
        for ci, tok in enumerate(self.tokens):
            pts = [{"latitude": self.lat(ci, rnd, j), "longitude": 50.0, "orders": self.orders[ci]}
                   for j in range(batch)]
            body = json.dumps({"points": pts} if batch > 1 else pts[0])
            self.conn.request("POST", "/api/v1/locations", body=body,
                              headers={"Authorization": f"Bearer {tok}",
                                       "Content-Type": "application/json"})
            resp = self.conn.getresponse()
            data = resp.read()
            assert resp.status == 200, f"ingest answered {resp.status} under load: {data[:300]!r}"
            self.last[str(1000 + ci)] = pts[-1]["latitude"]
            self.updates += len(pts)
            self.bytes += len(body)

    def close(self):
        self.conn.close()


class Reader(threading.Thread):
    """Reads a websocket-client viewer continuously, keeping the latest latitude per courier."""

    def __init__(self, viewer):
        super().__init__(daemon=True)
        self.viewer = viewer
        self.latest = {}
        self.count = 0
        self.errors = []
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                locs = self.viewer.recv_locations(timeout=0.5)
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as e:
                self.errors.append(repr(e))
                return
            for l in locs:
                self.latest[uid_of(l)] = l["latitude"]
            self.count += len(locs)

    def caught_up(self, last):
        return all(abs(self.latest.get(c, -1) - lat) < 1e-9 for c, lat in last.items())

    def stop(self):
        self.stop_flag.set()
        self.join(3)


def rss_bound_kb():
    return int(os.environ.get("PEYK_RSS_GROWTH_BOUND_MB", "40")) * 1024


def test_stalled_viewer_does_not_hurt_others_and_memory_stays_bounded(server):
    srv = server("--rate-limit", "100000", "--rate-burst", "100000")
    good = srv.viewer(srv.admin_token(sub="good"), "peyk.v1")
    reader = Reader(good)
    reader.start()
    stalled = srv.raw_viewer(srv.admin_token(sub="stalled"), subprotocol="peyk.v1", rcvbuf=4096)
    gen = LoadGen(srv)
    try:
        gen.round(0)
        base_rss = srv.rss_kb()
        peak = base_rss
        # single points first, enough to fill the kernel buffers of the stalled socket...
        for rnd in range(1, 16):
            gen.round(rnd)
            peak = max(peak, srv.rss_kb())
        # ...then big batches for volume
        for rnd in range(16, 26):
            gen.round(rnd, batch=MAX_BATCH)
            peak = max(peak, srv.rss_kb())
        assert gen.updates >= 2000 and gen.bytes > 50e6
        wait_until(lambda: reader.caught_up(gen.last) or reader.errors, 15,
                   what="the reading viewer to receive every courier's latest position")
        assert not reader.errors, reader.errors
        assert reader.caught_up(gen.last)
        peak = max(peak, srv.rss_kb())
        growth = peak - base_rss
        print(f"pushed {gen.bytes / 1e6:.1f} MB in {gen.updates} updates; RSS {base_rss} kB -> "
              f"peak {peak} kB (growth {growth} kB); good viewer got {reader.count} locations")
        assert growth < rss_bound_kb(), (
            f"RSS grew by {growth // 1024} MB while {gen.bytes // 2**20} MB flowed past a stalled "
            f"viewer: its queue does not look bounded")
        # the server is still responsive
        assert srv.get("/healthz").status_code == 200
    finally:
        reader.stop()
        gen.close()
        stalled.close()


def test_stalled_viewer_closed_after_stall_timeout(server):
    srv = server("--rate-limit", "100000", "--rate-burst", "100000", "--stall-timeout", "2",
                 "--queue-max-entries", "1000000", "--queue-max-bytes", str(2 ** 31))
    good = srv.viewer(srv.admin_token(sub="good"), "echo-protocol")
    reader = Reader(good)
    reader.start()
    stalled = srv.raw_viewer(srv.admin_token(sub="stalled"), subprotocol="echo-protocol",
                             rcvbuf=4096)
    wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 2, 5, what="2 connections")
    gen = LoadGen(srv)
    try:
        for rnd in range(25):  # 2,500 single points, ~10 MB
            gen.round(rnd)
        t_loaded = time.monotonic()
        wait_until(lambda: srv.metrics().value("peyk_viewers_dropped_total", reason="stall") >= 1,
                   10, interval=0.1, what='peyk_viewers_dropped_total{reason="stall"} >= 1')
        dropped_after = time.monotonic() - t_loaded
        print(f"stalled viewer counted as dropped {dropped_after:.1f}s after the load ended")
        wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 1, 5,
                   what="peyk_ws_connections == 1 after the drop")
        # its TCP connection really is closed: draining it ends with EOF or a reset
        sock = stalled.sock
        sock.settimeout(5)
        drained = 0
        deadline = time.monotonic() + 10
        closed = False
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(1 << 20)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            drained += len(chunk)
        assert closed, f"the stalled viewer's socket is still open ({drained} bytes drained)"
        # meanwhile the good viewer got everything's latest position and is still connected
        wait_until(lambda: reader.caught_up(gen.last) or reader.errors, 15,
                   what="the reading viewer to receive every courier's latest position")
        assert not reader.errors, reader.errors
        assert reader.caught_up(gen.last)
    finally:
        reader.stop()
        gen.close()
        stalled.close()


def test_slow_viewer_gets_newest_per_courier_in_order(server):
    """peyk.v1 conflation: a viewer that pauses while data flows later receives, for every
    courier, positions in the order they were sent (never an older one after a newer one),
    ending with the newest; what it missed was conflated and counted. (An admin reads the
    shard's shared feed: once it is further behind than --feed-retain-bytes, it catches
    up with the newest location of each courier.)"""
    srv = server("--rate-limit", "100000", "--rate-burst", "100000",
                 "--feed-retain-bytes", str(1 << 20))
    raw = srv.raw_viewer(srv.admin_token(sub="paused"), subprotocol="peyk.v1", rcvbuf=4096)
    op, payload = raw.read_frame()
    assert op == 0x1 and json.loads(payload)["type"] == "snapshot"
    gen = LoadGen(srv)
    try:
        for rnd in range(15):  # 1,500 single points, ~6 MB: more than the socket buffers hold
            gen.round(rnd)
        seen = {}
        total = 0
        deadline = time.monotonic() + 15
        while not all(abs(seen.get(c, -1) - lat) < 1e-9 for c, lat in gen.last.items()):
            assert time.monotonic() < deadline, "the paused viewer never caught up"
            op, payload = raw.read_frame(timeout=deadline - time.monotonic())
            if op in (0x9, 0xA):
                continue
            assert op == 0x1, f"unexpected opcode {op}"
            frame = json.loads(payload)
            if frame.get("type") == "status":
                continue
            assert frame["type"] == "locations", frame
            for loc in frame["locations"]:
                cid, lat = uid_of(loc), loc["latitude"]
                assert lat > seen.get(cid, -1) - 1e-9, \
                    f"courier {cid}: got {lat} after the newer {seen[cid]}"
                seen[cid] = lat
                total += 1
        print(f"paused viewer received {total} of {gen.updates} locations")
        assert total < gen.updates, "nothing was conflated: the viewer's queue is not bounded"
        assert srv.metrics().value("peyk_viewer_catch_ups_total") > 0
    finally:
        gen.close()


# ---------------------------------------------------------------------------------
# 10,000 couriers past a viewer that never reads (issue 6, item 4)

N_MANY = int(os.environ.get("PEYK_SLOW_VIEWER_COURIERS", "10000"))
PROBE_EVERY = 50  # every 50th courier is in fleet "probe", watched by the healthy viewer
SCALE = TIME_SCALE


class LatencyReader(threading.Thread):
    """A healthy peyk.v1 viewer: for each location received, now - ts (seconds), tagged
    with the phase the test was in when it arrived."""

    def __init__(self, viewer):
        super().__init__(daemon=True)
        self.viewer = viewer
        self.phase = "warm-up"
        self.lat = {}
        self.count = 0
        self.errors = []
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                locs = self.viewer.recv_locations(timeout=0.5)
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as e:  # noqa: BLE001 - asserted on
                self.errors.append(repr(e))
                return
            now = time.time()
            bucket = self.lat.setdefault(self.phase, [])
            for l in locs:
                bucket.append(now - l["ts"] / 1e6)
            self.count += len(locs)

    def p50(self, phase):
        v = sorted(self.lat.get(phase, []))
        return v[len(v) // 2] if v else None

    def stop(self):
        self.stop_flag.set()
        self.join(3)


def publish_round(client, rnd, chunk=200, rate=5000):
    """One position for each of N_MANY couriers, straight on the Redis channel (PROTOCOL §4),
    ~300 bytes each, paced at `rate` messages/s (what a Python viewer can read without
    falling behind itself), each chunk stamped with `ts` just before it is sent."""
    t0 = time.monotonic()
    for start in range(0, N_MANY, chunk):
        delay = t0 + start / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pipe = client.pipeline(transaction=False)
        ts = time.time_ns() // 1000
        for i in range(start, min(start + chunk, N_MANY)):
            pipe.publish("dlchannel", json.dumps({
                "latitude": round(20 + i * 1e-4, 6), "longitude": round(40 + rnd * 1e-4, 6),
                "user": {"id": 100000 + i, "username": f"many-{i}"}, "ts": ts,
                "fleet": "probe" if i % PROBE_EVERY == 0 else f"fleet-{i % 7}",
                "orders": [f"order-{i}-{k}-" + "o" * 40 for k in range(4)]}))
        pipe.execute()


def test_10k_couriers_past_a_stalled_viewer(server, redis_server):
    """A viewer that never reads while 10,000 couriers update: the process RSS stays
    bounded, the viewer is closed and counted (stall or queue), and a healthy viewer's
    median latency with the stalled one connected stays close to its median without it.

    The stalled viewer is an admin (all 10,000 couriers); the healthy one a dispatcher of
    the fleet "probe" (every 50th courier), so that a Python client reading 200 of the
    10,000 positions a round measures the server, not its own backlog."""
    srv = server("--redis", redis_server.url, "--stall-timeout", str(6 * SCALE))
    srv.wait_ready()
    good = srv.viewer(srv.dispatcher_token(["probe"], sub="good"), "peyk.v1")
    reader = LatencyReader(good)
    reader.start()
    pub = redis_server.client()
    rounds = 2
    try:
        # warm-up: every courier known to the store, so later RSS growth is the stalled viewer's
        publish_round(pub, 0)
        n_probe = len(range(0, N_MANY, PROBE_EVERY))
        wait_until(lambda: reader.count >= n_probe, 20 * SCALE, what="warm-up delivered")
        base_rss = srv.rss_kb()
        reader.phase = "alone"
        for rnd in range(1, rounds + 1):
            publish_round(pub, rnd)
            time.sleep(0.25)
        wait_until(lambda: reader.count >= n_probe * (rounds + 1) or reader.errors,
                   20 * SCALE, what="phase 1 delivered")
        time.sleep(0.5)

        stalled = srv.raw_viewer(srv.admin_token(sub="stalled"), subprotocol="peyk.v1",
                                 rcvbuf=4096)
        wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 2, 5 * SCALE,
                   what="the stalled viewer connected")
        reader.phase = "with-stalled"
        peak = srv.rss_kb()
        t_stalled = time.monotonic()
        for rnd in range(rounds + 1, 2 * rounds + 1):
            publish_round(pub, rnd)
            peak = max(peak, srv.rss_kb())
            time.sleep(0.25)
        still_there = srv.metrics().value("peyk_ws_connections") == 2
        published = N_MANY * (2 * rounds + 1)
        wait_until(lambda: reader.count >= n_probe * (2 * rounds + 1) or reader.errors, 20 * SCALE,
                   what="phase 2 delivered to the healthy viewer")
        reader.phase = "after"
        # the stalled viewer is closed and counted
        dropped = lambda m: (m.value("peyk_viewers_dropped_total", reason="stall") +  # noqa: E731
                             m.value("peyk_viewers_dropped_total", reason="queue"))
        wait_until(lambda: dropped(srv.metrics()) >= 1, 15 * SCALE, interval=0.2,
                   what="the stalled viewer dropped (stall or queue)")
        dropped_after = time.monotonic() - t_stalled
        wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 1, 5 * SCALE,
                   what="peyk_ws_connections back to 1")
        peak = max(peak, srv.rss_kb())
        m = srv.metrics()
        assert not reader.errors, reader.errors
        p_alone, p_with = reader.p50("alone"), reader.p50("with-stalled")
        growth = peak - base_rss
        print(f"\n{N_MANY} couriers x {2 * rounds + 1} rounds ({published} messages); healthy viewer "
              f"p50 {p_alone * 1000:.1f} ms alone vs {p_with * 1000:.1f} ms with the stalled "
              f"viewer ({len(reader.lat['with-stalled'])} samples); stalled viewer dropped "
              f"{dropped_after:.1f}s after it connected (stall "
              f"{m.value('peyk_viewers_dropped_total', reason='stall'):.0f}, queue "
              f"{m.value('peyk_viewers_dropped_total', reason='queue'):.0f}), still connected "
              f"after the load: {still_there}; RSS {base_rss} -> peak {peak} kB "
              f"(+{growth} kB); conflated {m.value('peyk_conflated_total'):.0f}")
        assert still_there, "the stalled viewer was dropped before the load ended: " \
                            "the latency comparison would not be under stall"
        # generous: a stalled viewer may cost something, never a multiple
        assert p_with <= 3 * max(p_alone, 0.002), \
            f"healthy viewer's p50 went from {p_alone * 1000:.1f} to {p_with * 1000:.1f} ms"
        if memory_bounds_apply():
            assert growth < rss_bound_kb(), \
                f"RSS grew {growth} kB while a stalled viewer sat behind {N_MANY} couriers"
        assert srv.get("/healthz").status_code == 200
        stalled.close()
    finally:
        reader.stop()
