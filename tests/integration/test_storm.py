"""Reconnect storms (issue #12, finding 1): viewers connecting at once must not stop
live delivery to everyone else, and every snapshot holds every courier its viewer may see.

`peyk serve --redis ... --threads 1` (one delivering thread, as in bench (f)) holds N
couriers, each published once on the channel. Echo-protocol admins receive a steady
stream of new points; then many peyk.v1 viewers connect at once. Asserted:
- the admins' stream keeps flowing through the storm: no admin goes longer than
  GAP_BOUND_S without a new point (today each snapshot is built on the delivering
  thread, and a storm of them stops delivery for everyone);
- every customer connects and its snapshot holds its courier (found through the order
  it tracks), and nothing else;
- every reconnecting admin's snapshot holds every courier, also past 200,000.

All clients are raw non-blocking sockets driven by one selectors loop, so a storm is
hundreds of upgrade requests sent within milliseconds, and a multi-megabyte snapshot is
read without websocket-client's pure-Python UTF-8 check.

Sizes (env): PEYK_STORM_COURIERS (100000), PEYK_STORM_CUSTOMERS (500), PEYK_STORM_ADMINS
(20 reconnecting v1 admins), PEYK_STORM_BIG_COURIERS (250000, the no-cap test);
scripts/test.sh scales them down for sanitizer builds. The gap bound and the deadlines
stretch with sanitizer.TIME_SCALE."""

import base64
import json
import os
import selectors
import socket
import struct
import threading
import time

from conftest import wait_until
from sanitizer import TIME_SCALE

# 100,000 couriers: on the code before issue #12 a storm then stops delivery for seconds
# (500 customers: 8 s; 20 admins: 4 s), well past the bound; at 20,000 the pauses were
# 0.3-0.7 s, too close to it to tell.
COURIERS = int(os.environ.get("PEYK_STORM_COURIERS", "100000"))
CUSTOMERS = int(os.environ.get("PEYK_STORM_CUSTOMERS", "500"))
V1_ADMINS = int(os.environ.get("PEYK_STORM_ADMINS", "20"))
BIG_COURIERS = int(os.environ.get("PEYK_STORM_BIG_COURIERS", "250000"))
ECHO_ADMINS = 20
STREAM_RATE = 200  # new points per second on the channel, each to every echo admin
GAP_BOUND_S = 1.0 * TIME_SCALE  # longest an echo admin may go without a point in the storm


def location(i, ts_us, lat_step=0):
    return (f'{{"latitude":{35.6 + (i % 1000) * 0.0003 + lat_step * 1e-6:.6f},'
            f'"longitude":{51.3 + (i // 1000 % 1000) * 0.0003:.6f},'
            f'"user":{{"id":{i},"username":"c{i}"}},"ts":{ts_us},'
            f'"fleet":"fleet-{i % 10}","orders":["o{i}"]}}')


def fill(srv, redis_server, n, chunk=10000):
    """Publishes couriers 1..n once each (courier i carries order o<i>) and waits until
    the gateway took them all in."""
    r = redis_server.client()
    # The gateway drains the channel on one thread; a backlog past Redis's default 32 MB
    # would cut the subscriber, so it gets room (and the publisher waits for it anyway).
    r.config_set("client-output-buffer-limit", "pubsub 0 0 0")
    base = srv.metrics().value("peyk_messages_in_total")
    sent = 0
    while sent < n:
        pipe = r.pipeline(transaction=False)
        ts = int(time.time() * 1e6)
        for i in range(sent + 1, min(n, sent + chunk) + 1):
            pipe.publish("dlchannel", location(i, ts))
        pipe.execute()
        sent = min(n, sent + chunk)
        wait_until(lambda: srv.metrics().value("peyk_messages_in_total") - base >= sent - 5 * chunk,
                   30 * TIME_SCALE, interval=0.05, what=f"the gateway to take in {sent} messages")
    wait_until(lambda: srv.metrics().value("peyk_messages_in_total") - base >= n,
               60 * TIME_SCALE, interval=0.05, what=f"the gateway to take in all {n} messages")
    time.sleep(0.3)  # counted on receipt; stored a moment later


class Publisher(threading.Thread):
    """STREAM_RATE new points per second on the channel, for couriers already in the store
    that no customer tracks (the last 1,000 ids)."""

    def __init__(self, redis_server, n):
        super().__init__(daemon=True)
        self.r = redis_server.client()
        self.ids = list(range(max(CUSTOMERS + 1, n - 999), n + 1))
        self.halt = threading.Event()
        self.sent = 0

    def run(self):
        start = time.monotonic()
        while not self.halt.is_set():
            due = int((time.monotonic() - start) * STREAM_RATE)
            while self.sent < due:
                i = self.ids[self.sent % len(self.ids)]
                self.r.publish("dlchannel", location(i, int(time.time() * 1e6), self.sent % 997))
                self.sent += 1
            time.sleep(0.002)

    def stop(self):
        self.halt.set()
        self.join(5)


class Conn:
    """One WebSocket client on a non-blocking socket: the upgrade, then frames. Data
    messages go to on_message(conn, payload, t); pings are answered."""

    def __init__(self, port, token, proto, tag):
        self.tag, self.proto = tag, proto
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {proto}\r\n"
                        f"Authorization: Bearer {token}\r\n\r\n").encode()
        self.state = "connecting"  # -> upgrading -> open -> closed
        self.status = None
        self.error = None
        self.buf = bytearray()
        self.message = bytearray()  # a fragmented message so far
        self.opened_at = None
        self.first = None  # the first data message (peyk.v1: the snapshot) and its time
        self.first_at = None
        self.times = []  # receipt time of each data message after the first (echo: all)

    def fileno(self):
        return self.sock.fileno()

    def on_writable(self):
        self.sock.send(self.request)  # ~400 bytes into an empty socket buffer
        self.state = "upgrading"

    def on_readable(self, now):
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            return self.close(f"recv: {e}")
        if not data:
            return self.close("closed by the server")
        self.buf += data
        if self.state == "upgrading":
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            del self.buf[:end + 4]
            self.status = int(head[0].split()[1])
            proto = [h.split(":", 1)[1].strip() for h in head[1:]
                     if h.lower().startswith("sec-websocket-protocol:")]
            if self.status != 101 or proto != [self.proto]:
                return self.close(f"upgrade answered {self.status}, protocol {proto}")
            self.state = "open"
            self.opened_at = now
        self.frames(now)

    def frames(self, now):
        buf, at = self.buf, 0
        while len(buf) - at >= 2:
            b0, b1 = buf[at], buf[at + 1]
            n, hdr = b1 & 0x7F, 2
            if n == 126:
                if len(buf) - at < 4:
                    break
                n, hdr = struct.unpack_from("!H", buf, at + 2)[0], 4
            elif n == 127:
                if len(buf) - at < 10:
                    break
                n, hdr = struct.unpack_from("!Q", buf, at + 2)[0], 10
            if len(buf) - at < hdr + n:
                break
            op, payload = b0 & 0x0F, buf[at + hdr:at + hdr + n]
            at += hdr + n
            if op == 0x9:
                self.send_control(0xA, bytes(payload))
            elif op == 0x8:
                self.close(f"close frame {bytes(payload[:2]).hex()}")
                break
            elif op in (0x0, 0x1, 0x2):
                self.message += payload
                if b0 & 0x80:
                    self.on_message(bytes(self.message), now)
                    self.message = bytearray()
        del buf[:at]

    def on_message(self, payload, now):
        if self.first is None and self.proto == "peyk.v1":
            self.first, self.first_at = payload, now
        else:
            self.times.append(now)

    def send_control(self, op, payload):
        mask = os.urandom(4)
        frame = bytes([0x80 | op, 0x80 | len(payload)]) + mask + \
            bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.sock.send(frame)
        except OSError:
            pass

    def close(self, why=None):
        if self.state != "closed":
            self.error = self.error or why
            self.state = "closed"
            try:
                self.sock.close()
            except OSError:
                pass


class Clients:
    """Every connection of a test, driven by one selectors loop on the test's thread."""

    def __init__(self, srv):
        self.srv = srv
        self.sel = selectors.DefaultSelector()
        self.conns = []

    def open(self, tokens, proto, tag):
        batch = []
        for k, tok in enumerate(tokens):
            c = Conn(self.srv.port, tok, proto, f"{tag}{k}")
            self.sel.register(c, selectors.EVENT_WRITE)
            batch.append(c)
        self.conns += batch
        return batch

    def run(self, seconds=None, until=None, timeout=None):
        """Serves every connection for `seconds`, or until until() holds (failing after
        `timeout`)."""
        start = time.monotonic()
        while True:
            now = time.monotonic()
            if seconds is not None and now - start >= seconds:
                return
            if until is not None and until():
                return
            if timeout is not None and now - start >= timeout:
                raise AssertionError(f"timed out after {timeout:.0f} s: " + self.summary())
            for key, events in self.sel.select(0.05):
                c = key.fileobj
                if events & selectors.EVENT_WRITE and c.state == "connecting":
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        c.close(f"connect: {os.strerror(err)}")
                    else:
                        c.on_writable()
                        self.sel.modify(c, selectors.EVENT_READ)
                elif events & selectors.EVENT_READ:
                    c.on_readable(time.monotonic())
                if c.state == "closed":
                    self.sel.unregister(c)

    def summary(self):
        states = {}
        for c in self.conns:
            states[c.state] = states.get(c.state, 0) + 1
        errors = sorted({c.error for c in self.conns if c.error})[:5]
        return f"connection states {states}, errors {errors}"

    def close(self):
        for c in self.conns:
            c.close()
        self.sel.close()


def longest_gap(times, start, end):
    """The longest time without a message over [start, end] (the edges count)."""
    inside = [t for t in times if start <= t <= end]
    before = [t for t in times if t < start]
    after = [t for t in times if t > end]
    points = ([before[-1]] if before else [start]) + inside + ([after[0]] if after else [end])
    return max(b - a for a, b in zip(points, points[1:]))


def snapshot_ids(conn):
    obj = json.loads(conn.first)
    assert obj.get("type") == "snapshot", f"{conn.tag}: first frame {conn.first[:200]!r}"
    return obj["locations"]


def storm(srv, redis_server, n, tokens, what):
    """The common scenario: n couriers in the store, the echo admins' stream, then a
    peyk.v1 viewer per token connecting at once. Returns (clients, echo admins, storm
    viewers, storm start, storm end)."""
    fill(srv, redis_server, n)
    clients = Clients(srv)
    admins = clients.open([srv.admin_token(f"echo-{k}") for k in range(ECHO_ADMINS)],
                          "echo-protocol", "echo")
    clients.run(until=lambda: all(c.state == "open" for c in admins), timeout=10 * TIME_SCALE)
    pub = Publisher(redis_server, n)
    pub.start()
    try:
        clients.run(seconds=2)
        assert all(c.times for c in admins), "the echo admins receive nothing before the storm"
        start = time.monotonic()
        viewers = clients.open(tokens, "peyk.v1", what)
        done = lambda: all(c.first is not None or c.state == "closed" for c in viewers)  # noqa: E731
        clients.run(until=done, timeout=120 * TIME_SCALE)
        end = time.monotonic()
        clients.run(seconds=1.5)
    finally:
        pub.stop()
    print(f"\n{what}: {len(viewers)} at once over {n:,} couriers, all settled in "
          f"{end - start:.2f} s; {pub.sent} points published in the stream")
    return clients, admins, viewers, start, end


def assert_stream_kept_flowing(admins, start, end, what):
    gaps = sorted((longest_gap(c.times, start, end), c.tag) for c in admins)
    print(f"echo admins' longest gap during the storm: {gaps[-1][0] * 1000:.0f} ms "
          f"(median admin {gaps[len(gaps) // 2][0] * 1000:.0f} ms)")
    assert all(c.state == "open" for c in admins), \
        f"echo admins closed during the storm: {[c.error for c in admins if c.state != 'open']}"
    worst, tag = gaps[-1]
    assert worst <= GAP_BOUND_S, (
        f"live delivery stopped during the {what} storm: echo admin {tag} went {worst:.2f} s "
        f"without a point (bound {GAP_BOUND_S:.1f} s; the storm lasted {end - start:.2f} s; "
        f"{sum(1 for g, _ in gaps if g > GAP_BOUND_S)} of {len(gaps)} admins past the bound)")


def test_customers_connecting_at_once_do_not_stop_live_delivery(server, redis_server):
    srv = server("--redis", redis_server.url, "--threads", "1", "--rate-limit", "0").wait_ready()
    # customer k tracks order o<k>, carried by courier k of the store
    tokens = [srv.customer_token([f"o{k}"], sub=f"cust-{k}") for k in range(1, CUSTOMERS + 1)]
    clients, admins, customers, start, end = storm(srv, redis_server, COURIERS, tokens,
                                                   "customer")
    try:
        failed = [(c.tag, c.error) for c in customers if c.first is None]
        assert not failed, f"{len(failed)} of {len(customers)} customers got no snapshot: {failed[:5]}"
        for k, c in enumerate(customers, start=1):
            locs = snapshot_ids(c)
            ids = [str(l["user"]["id"]) for l in locs]
            assert ids == [str(k)], f"customer of o{k}: snapshot holds couriers {ids[:10]}"
            assert locs[0]["orders"] == [f"o{k}"], f"customer of o{k}: {locs[0]!r}"
        assert_stream_kept_flowing(admins, start, end, "customer")
    finally:
        clients.close()


def test_admins_reconnecting_at_once_get_every_courier_without_stopping_delivery(
        server, redis_server):
    srv = server("--redis", redis_server.url, "--threads", "1", "--rate-limit", "0").wait_ready()
    tokens = [srv.admin_token(f"v1-admin-{k}") for k in range(V1_ADMINS)]
    clients, admins, v1, start, end = storm(srv, redis_server, COURIERS, tokens, "admin")
    try:
        failed = [(c.tag, c.error) for c in v1 if c.first is None]
        assert not failed, f"{len(failed)} of {len(v1)} admins got no snapshot: {failed[:5]}"
        want = set(range(1, COURIERS + 1))
        for c in v1:
            ids = [l["user"]["id"] for l in snapshot_ids(c)]
            assert len(ids) == len(set(ids)), f"{c.tag}: a courier twice in the snapshot"
            missing = want - set(ids)
            assert not missing, (f"{c.tag}: the snapshot lacks {len(missing)} of {COURIERS} "
                                 f"couriers, e.g. {sorted(missing)[:5]}")
        assert_stream_kept_flowing(admins, start, end, "admin")
    finally:
        clients.close()


def test_admin_snapshot_holds_every_courier_past_200000(server, redis_server):
    """No silent cap (§12): today a snapshot stops at 200,000 couriers."""
    srv = server("--redis", redis_server.url, "--threads", "1", "--rate-limit", "0").wait_ready()
    fill(srv, redis_server, BIG_COURIERS, chunk=25000)
    clients = Clients(srv)
    try:
        (admin,) = clients.open([srv.admin_token("big")], "peyk.v1", "big")
        clients.run(until=lambda: admin.first is not None or admin.state == "closed",
                    timeout=60 * TIME_SCALE)
        assert admin.first is not None, f"no snapshot: {admin.error}"
        ids = {l["user"]["id"] for l in snapshot_ids(admin)}
        print(f"\nsnapshot of {len(admin.first) / 2**20:.0f} MiB holds {len(ids):,} of "
              f"{BIG_COURIERS:,} couriers")
        assert len(ids) == BIG_COURIERS, (
            f"the admin's snapshot holds {len(ids):,} of the {BIG_COURIERS:,} couriers in the "
            f"store (missing e.g. {sorted(set(range(1, BIG_COURIERS + 1)) - ids)[:5]})")
    finally:
        clients.close()
