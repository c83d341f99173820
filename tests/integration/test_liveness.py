"""Time and liveness (PROTOCOL.md §12; issue #12, findings 4 and 5): a `ts` from the future
does not freeze a courier, two ingest processes whose clocks disagree do not drop each
other's points, a silent courier is sent as offline and later forgotten, and a churn of
distinct couriers gives its memory back."""

import json
import os
import threading
import time

from conftest import raw_ws_connect, uid, wait_until
from sanitizer import TIME_SCALE, memory_bounds_apply

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def skewed_env(offset):
    """An environment whose wall clock runs `offset` ahead (Debian's libfaketime); the
    monotonic clock stays real, as a skewed NTP-less machine's would."""
    assert os.path.exists(FAKETIME_LIB), "faketime is not installed (scripts/setup.sh installs it)"
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           "FAKETIME_NO_CACHE": "1"}
    # ASan wants its runtime first in the library list; libfaketime only wraps the clock.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    return env


def point(lat, **extra):
    return {"latitude": lat, "longitude": 51.4, **extra}


def lat_of(admin, courier, want, timeout=5.0):
    """Waits until the v1 viewer receives `courier` at latitude `want`."""
    admin.collect_until(lambda l: str(l["user"]["id"]) == courier and l["latitude"] == want,
                        timeout=timeout)


def test_far_future_ts_on_the_channel_does_not_freeze_the_courier(server, redis_server):
    gw = server("--redis", redis_server.url, "--rate-limit", "0").wait_ready()
    admin = gw.viewer(gw.admin_token(), proto="peyk.v1")
    # Any program may publish on the channel; this one's clock (or a bug) says year 2255.
    redis_server.publish("dlchannel", json.dumps(
        {"latitude": 1, "longitude": 1, "user": {"id": 10}, "ts": 9000000000000000000}))
    got = admin.collect_until(lambda l: l["user"]["id"] == 10)
    assert got[-1]["ts"] < time.time() * 1e6 + 5e6, "the future ts was passed on as it was"
    courier = gw.courier_token(sub="10")
    gw.post_ok(courier, point(35.5))
    lat_of(admin, "10", 35.5)  # before: answered 200 and delivered to nobody
    assert gw.metrics().get("peyk_ts_clamped_total", 0) >= 1


def test_recorded_at_in_the_future_is_refused(server):
    srv = server("--rate-limit", "0")
    courier = srv.courier_token()
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    r = srv.post(courier, point(35.5, recorded_at=future))
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "recorded_at"
    near = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    srv.post_ok(courier, point(35.6, recorded_at=near))  # within the 5 s allowed


def test_two_ingests_with_skewed_clocks_lose_no_point(server, redis_server):
    """Ingest A's clock runs 3 s ahead of ingest B's. A courier's point through A, then its
    next through B: B's `ts` is older, yet it is the newer point and must be shown."""
    secret = "s" * 64
    gw = server("--redis", redis_server.url, role="gateway", secret=secret).wait_ready()
    fast = server("--redis", redis_server.url, "--rate-limit", "0", role="ingest", secret=secret,
                  env=skewed_env("+3s")).wait_ready()
    slow = server("--redis", redis_server.url, "--rate-limit", "0", role="ingest",
                  secret=secret).wait_ready()
    courier_id = uid("skew")
    courier = gw.courier_token(sub=courier_id)
    admin = gw.viewer(gw.admin_token(), proto="peyk.v1")
    fast.post_ok(courier, point(10.0))
    lat_of(admin, courier_id, 10.0)
    slow.post_ok(courier, point(20.0))
    lat_of(admin, courier_id, 20.0)  # before: dropped as older than the point through A
    slow.post_ok(courier, point(30.0))
    lat_of(admin, courier_id, 30.0)
    late = gw.viewer(gw.admin_token(sub="admin-2"), proto="peyk.v1")
    mine = [l for l in late.snapshot if str(l["user"]["id"]) == courier_id]
    assert [l["latitude"] for l in mine] == [30.0]


def test_silent_courier_goes_offline_then_is_forgotten(server):
    srv = server("--rate-limit", "0", "--offline-after", "1s", "--courier-ttl", "4s")
    quiet_id, busy_id = uid("quiet"), uid("busy")
    quiet = srv.courier_token(sub=quiet_id, fleet="f1")
    busy = srv.courier_token(sub=busy_id, fleet="f1")
    admin = srv.viewer(srv.admin_token(), proto="peyk.v1")
    dispatcher = srv.viewer(srv.dispatcher_token(["f1"]), proto="peyk.v1")
    srv.post_ok(quiet, point(35.1, orders=["q-1"]))
    customer = srv.viewer(srv.customer_token(["q-1"]), proto="peyk.v1")
    assert [str(l["user"]["id"]) for l in customer.snapshot] == [quiet_id]
    stop = threading.Event()

    def keep_posting():
        while not stop.is_set():
            srv.post(busy, point(35.2))
            stop.wait(0.25)

    t = threading.Thread(target=keep_posting, daemon=True)
    t.start()
    try:
        for viewer in (admin, dispatcher, customer):
            offline = set()
            deadline = time.monotonic() + 8
            while quiet_id not in offline:
                assert time.monotonic() < deadline, f"no offline status for {quiet_id}"
                frame = viewer.recv_json(timeout=max(0.1, deadline - time.monotonic()))
                if frame["type"] == "status":
                    for c in frame["couriers"]:
                        assert c["state"] == "offline", frame
                        offline.add(str(c["id"]))
            assert busy_id not in offline, "a courier that keeps posting was reported offline"
        # A viewer that connects later is told in its snapshot's wake.
        late = srv.viewer(srv.admin_token(sub="admin-late"), proto="peyk.v1")
        assert quiet_id in {str(l["user"]["id"]) for l in late.snapshot}
        status = late.recv_json()
        while status["type"] != "status":
            status = late.recv_json()
        assert quiet_id in {str(c["id"]) for c in status["couriers"]}
        # Past the TTL it is gone from every snapshot; the busy one stays.
        def forgotten():
            v = srv.viewer(srv.admin_token(sub=uid("a")), proto="peyk.v1")
            ids = {str(l["user"]["id"]) for l in v.snapshot}
            v.close()
            return quiet_id not in ids and busy_id in ids
        wait_until(forgotten, 10, interval=0.5, what="the quiet courier forgotten")
        m = srv.metrics()
        assert m.get("peyk_couriers_forgotten_total", 0) >= 1
        assert m.get("peyk_couriers_offline_total", 0) >= 1
        again = srv.viewer(srv.customer_token(["q-1"], sub="cust-2"), proto="peyk.v1")
        assert again.snapshot == []
    finally:
        stop.set()
        t.join(5)


def drain_raw(ws, stop):
    """Reads and discards what a raw viewer is sent, so it never stalls."""
    ws.sock.settimeout(0.5)
    while not stop.is_set():
        try:
            if not ws.sock.recv(1 << 20):
                return
        except OSError:
            continue


CHURN = int(os.environ.get("PEYK_CHURN_COURIERS", "2000000"))


def test_churn_of_distinct_couriers_returns_memory(server, redis_server):
    """2,000,000 distinct couriers, each seen once, with a short TTL: the store, the feed's
    courier table and the allocator give the memory back (before: every courier was kept
    for good, and past 1,000,000 new ones were silently not stored)."""
    gw = server("--redis", redis_server.url, "--threads", "1", "--offline-after", "1s",
                "--courier-ttl", "3s").wait_ready()
    admin = raw_ws_connect(gw.port, gw.admin_token(), subprotocol="peyk.v1")
    stop = threading.Event()
    reader = threading.Thread(target=drain_raw, args=(admin, stop), daemon=True)
    reader.start()
    try:
        time.sleep(0.5)
        baseline = gw.rss_kb()
        r = redis_server.client()
        peak = baseline
        sent = 0
        chunk = 20000
        while sent < CHURN:
            pipe = r.pipeline(transaction=False)
            for i in range(sent, min(sent + chunk, CHURN)):
                pipe.publish("dlchannel", '{"latitude":35.1,"longitude":51.2,"user":{"id":"churn-%d"}}' % i)
            pipe.execute()
            sent += chunk
            # Paced: Redis drops a subscriber more than 32 MB behind (client-output-buffer-
            # limit pubsub), and this measures memory, not the subscriber's speed.
            wait_until(lambda: gw.metrics().get("peyk_messages_in_total", 0) >= sent - 4 * chunk,
                       60 * TIME_SCALE, interval=0.05, what="the gateway keeping up")
            if sent % 200000 == 0:
                peak = max(peak, gw.rss_kb())
        wait_until(lambda: gw.metrics().get("peyk_messages_in_total", 0) >= CHURN, 120 * TIME_SCALE,
                   interval=0.5, what=f"the gateway taking {CHURN} messages")
        peak = max(peak, gw.rss_kb())
        wait_until(lambda: gw.metrics().get("peyk_couriers", -1) == 0, 30 * TIME_SCALE, interval=0.5,
                   what="every churned courier forgotten")
        assert gw.metrics().get("peyk_couriers_forgotten_total", 0) >= CHURN
        time.sleep(1.0)  # the sweep after the last forget trims the heap
        after = gw.rss_kb()
        print(f"churn {CHURN}: RSS baseline {baseline} kB, peak {peak} kB, after {after} kB")
        if not memory_bounds_apply():
            return  # a sanitizer's allocator keeps freed memory (quarantine, shadow)
        assert after <= baseline + 64 * 1024, \
            f"RSS {after} kB after the churn, baseline {baseline} kB (peak {peak} kB)"
    finally:
        stop.set()
        reader.join(5)
        admin.close()


def parse_frames(data):
    """(fin, opcode, payload) of each server frame (unmasked) in `data`."""
    out, i = [], 0
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        n, hdr = b1 & 0x7F, 2
        if n == 126:
            n, hdr = int.from_bytes(data[i + 2:i + 4], "big"), 4
        elif n == 127:
            n, hdr = int.from_bytes(data[i + 2:i + 10], "big"), 10
        if i + hdr + n > len(data):
            break
        out.append((bool(b0 & 0x80), b0 & 0x0F, data[i + hdr:i + hdr + n]))
        i += hdr + n
    return out


def test_slow_reader_of_a_large_snapshot_is_not_dropped(server, redis_server):
    """A phone on a slow link taking a 5 MB snapshot at ~1 MB/s makes progress all along:
    it must not be dropped as stalled (before: the stall timeout measured the one write's
    duration, so it was dropped after --stall-timeout and reconnected into another)."""
    couriers = 50000
    gw = server("--redis", redis_server.url, "--stall-timeout", "2").wait_ready()
    r = redis_server.client()
    pipe = r.pipeline(transaction=False)
    for i in range(couriers):
        pipe.publish("dlchannel", '{"latitude":35.1,"longitude":51.2,"user":{"id":"slow-%d",'
                     '"username":"a courier with a longish display name"},"speed":8.25}' % i)
    pipe.execute()
    wait_until(lambda: gw.metrics().get("peyk_messages_in_total", 0) >= couriers, 30 * TIME_SCALE,
               interval=0.2, what="the couriers stored")
    ws = raw_ws_connect(gw.port, gw.admin_token(), subprotocol="peyk.v1", rcvbuf=32768)
    data = bytearray(ws.buf)
    started = time.monotonic()
    ws.sock.settimeout(5 * TIME_SCALE)
    try:
        while True:
            frames = parse_frames(data)
            if frames and any(fin for fin, op, _ in frames):
                break
            chunk = ws.sock.recv(32768)  # about 32 KB every 30 ms: ~1 MB/s
            assert chunk, "the server closed the connection during the snapshot"
            data += chunk
            time.sleep(0.03)
    finally:
        ws.close()
    took = time.monotonic() - started
    frames = parse_frames(data)
    message = b"".join(p for fin, op, p in frames)
    assert frames[0][1] == 1 and all(op == 0 for _, op, _ in frames[1:]), "not one text message"
    snapshot = json.loads(message)
    assert snapshot["type"] == "snapshot"
    assert len(snapshot["locations"]) == couriers
    print(f"snapshot of {len(message)} bytes in {len(frames)} fragments, read in {took:.1f} s")
    assert took > 2, "the reader was not slower than the stall timeout: the test proves nothing"
    assert gw.metrics().value("peyk_viewers_dropped_total", reason="stall") == 0
