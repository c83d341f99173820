"""The Redis broker (PROTOCOL.md §1, §4, §6): `peyk serve --redis`. Fails when
redis-server is not installed (scripts/setup.sh installs it). Redis is spoken to with raw RESP (no client library)."""

import json
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import free_port, uid_of, wait_until

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.usefixtures("require_redis")


@pytest.fixture
def require_redis():
    assert REDIS is not None, "redis-server is not installed (scripts/setup.sh installs it)"


def resp_cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Redis:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="peyk-redis-")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ping, 5, what="redis-server to answer PING")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(resp_cmd("PING"))
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def publish(self, channel, message):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(resp_cmd("PUBLISH", channel, message))
            reply = s.recv(64)
            assert reply.startswith(b":"), reply
            return int(reply[1:].strip())  # number of subscribers that got it

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"


class Subscriber:
    """A raw RESP subscriber, to see what peyk publishes."""

    def __init__(self, port, channel):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.sock.sendall(resp_cmd("SUBSCRIBE", channel))
        kind, _, _ = self.read_push()
        assert kind == b"subscribe"

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bulk(self):
        n = int(self._line()[1:])
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read_push(self):
        head = self._line()
        assert head.startswith(b"*3"), head
        kind = self._bulk()
        channel = self._bulk()
        if kind == b"message":
            return kind, channel, self._bulk()
        return kind, channel, self._line()

    def close(self):
        self.sock.close()


@pytest.fixture
def redis():
    r = Redis()
    yield r
    r.stop()
    shutil.rmtree(r.dir, ignore_errors=True)


def wait_ready(srv, timeout=10):
    wait_until(lambda: srv.get("/readyz").status_code == 200, timeout, what="/readyz 200")


def test_external_publisher_reaches_viewers(server, redis):
    srv = server("--redis", redis.url)
    wait_ready(srv)
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    cust = srv.viewer(srv.customer_token(["A9"]), "echo-protocol")
    before = int(time.time() * 1e6)
    msg = {"latitude": 35.0001, "longitude": 53.12111, "user": {"id": 10, "username": "test_driver1"}}
    assert redis.publish("dlchannel", json.dumps(msg)) >= 1
    (loc,) = admin.recv_locations()
    assert loc["user"] == {"id": 10, "username": "test_driver1"}
    assert abs(loc["latitude"] - 35.0001) < 1e-9 and abs(loc["longitude"] - 53.12111) < 1e-9
    # the gateway sets ts on receipt when the publisher left it out
    assert isinstance(loc.get("ts"), int) and loc["ts"] >= before - 5_000_000, loc
    # the customer may not see courier 10 (no shared order)
    cust.assert_silent(0.3)


def test_invalid_broker_messages_counted_not_forwarded(server, redis):
    srv = server("--redis", redis.url)
    wait_ready(srv)
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    bad = ["not json", "[]", json.dumps({"longitude": 1.0, "user": {"id": 1}}),
           json.dumps({"latitude": 91, "longitude": 1.0, "user": {"id": 1}}),
           json.dumps({"latitude": 1.0, "longitude": 1.0})]
    for b in bad:
        redis.publish("dlchannel", b)
    redis.publish("dlchannel", json.dumps({"latitude": 2.0, "longitude": 2.0,
                                            "user": {"id": "mark", "username": "m"}}))
    locs = admin.collect_until(lambda l: uid_of(l) == "mark")
    assert [uid_of(l) for l in locs] == ["mark"], f"invalid messages were forwarded: {locs}"
    assert srv.metrics().value("peyk_broker_invalid_messages_total") == len(bad)
    assert srv.get("/readyz").status_code == 200  # never fatal


def test_ingest_publishes_broker_format(server, redis):
    srv = server("--redis", redis.url)
    wait_ready(srv)
    sub = Subscriber(redis.port, "dlchannel")
    try:
        srv.post_ok(srv.courier_token("10", name="test_driver1", fleet="store-7"),
                    {"latitude": 35.0001, "longitude": 53.12111, "accuracy": 6.5,
                     "orders": ["A123"], "user": {"id": 5, "username": "body"}})
        kind, channel, data = sub.read_push()
        assert kind == b"message" and channel == b"dlchannel"
        msg = json.loads(data)
        assert msg["user"] == {"id": 10, "username": "test_driver1"}
        assert abs(msg["latitude"] - 35.0001) < 1e-9
        assert msg["fleet"] == "store-7" and msg["orders"] == ["A123"]
        assert isinstance(msg["ts"], int)
    finally:
        sub.close()


def test_channel_flag(server, redis):
    srv = server("--redis", redis.url, "--channel", "otherchan")
    wait_ready(srv)
    admin = srv.viewer(srv.admin_token(), "peyk.v1")
    redis.publish("dlchannel", json.dumps({"latitude": 1.0, "longitude": 1.0, "user": {"id": 1}}))
    redis.publish("otherchan", json.dumps({"latitude": 2.0, "longitude": 2.0, "user": {"id": 2}}))
    locs = admin.collect_until(lambda l: uid_of(l) == "2")
    assert [uid_of(l) for l in locs] == ["2"]


def test_two_servers_share_redis(server, redis):
    a = server("--redis", redis.url)
    b = server("--redis", redis.url, secret=a.secret)
    wait_ready(a)
    wait_ready(b)
    v = b.viewer(b.admin_token(), "peyk.v1")
    a.post_ok(a.courier_token("77"), {"latitude": 7.0, "longitude": 7.0})
    (loc,) = v.recv_locations()
    assert uid_of(loc) == "77"


def test_reconnect_after_redis_restart(server, redis):
    srv = server("--redis", redis.url)
    wait_ready(srv)
    v = srv.viewer(srv.admin_token(), "peyk.v1")
    redis.stop()
    wait_until(lambda: srv.get("/readyz").status_code == 503, 5, what="/readyz 503 without Redis")
    r = srv.post(srv.courier_token("8"), {"latitude": 8.0, "longitude": 8.0})
    assert r.status_code == 503 and r.headers.get("Retry-After"), (r.status_code, r.headers)
    redis.start()
    t0 = time.monotonic()
    wait_ready(srv, timeout=8)
    print(f"ready again {time.monotonic() - t0:.1f}s after Redis came back")
    assert srv.metrics().value("peyk_broker_connected") == 1
    srv.post_ok(srv.courier_token("9"), {"latitude": 9.0, "longitude": 9.0})
    (loc,) = v.recv_locations()
    assert uid_of(loc) == "9"
