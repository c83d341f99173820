"""Operations and connection lifecycle (PROTOCOL.md §5, §6): health, readiness, metrics,
SIGTERM drain (and its --drain-window), token expiry (4001), dead peers dropped after
--ws-idle-timeout."""

import signal
import socket
import threading
import time

import pytest
import websocket

from conftest import free_port, run_peyk, uid_of, wait_until
from sanitizer import TIME_SCALE


def test_healthz_and_readyz(server):
    srv = server()
    assert srv.get("/healthz").status_code == 200
    assert srv.get("/readyz").status_code == 200  # the in-process broker is always connected


def test_metrics_exposition(server):
    srv = server()
    v = srv.viewer(srv.admin_token(), "peyk.v1")
    srv.post_ok(srv.courier_token("1"), {"latitude": 1.0, "longitude": 1.0})
    v.recv_locations()
    r = srv.get("/metrics")
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers.get("Content-Type")
    m = srv.metrics()
    for family in ["peyk_ws_connections", "peyk_messages_in_total", "peyk_deliveries_total",
                   "peyk_conflated_total", "peyk_broker_connected",
                   "peyk_broker_invalid_messages_total", "peyk_ingest_requests_total",
                   "peyk_delivery_latency_seconds_bucket", "peyk_delivery_latency_seconds_sum",
                   "peyk_delivery_latency_seconds_count"]:
        assert m.has_family(family), f"/metrics lacks {family}:\n{m.text}"
    assert m.types.get("peyk_ws_connections") == "gauge"
    assert m.types.get("peyk_broker_connected") == "gauge"
    assert m.types.get("peyk_delivery_latency_seconds") == "histogram"
    assert m.value("peyk_broker_connected") == 1
    assert m.value("peyk_ws_connections") == 1
    assert m.value("peyk_ingest_requests_total", status="200") == 1

    # histogram consistency
    buckets = sorted(((float(k.split('le="')[1].split('"')[0]), val) for k, val in m.items()
                      if k.startswith("peyk_delivery_latency_seconds_bucket")), key=lambda t: t[0])
    assert buckets and buckets[-1][0] == float("inf"), buckets
    counts = [c for _, c in buckets]
    assert counts == sorted(counts), f"buckets must be cumulative: {buckets}"
    assert counts[-1] == m.value("peyk_delivery_latency_seconds_count") >= 1
    assert 0 <= m.value("peyk_delivery_latency_seconds_sum") < 10


def test_metrics_track_activity(server):
    srv = server()
    m0 = srv.metrics()
    assert m0.value("peyk_ws_connections") == 0
    v1 = srv.viewer(srv.admin_token(sub="a1"), "peyk.v1")
    v2 = srv.viewer(srv.admin_token(sub="a2"), "echo-protocol")
    wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 2, 5, what="2 connections")
    tok = srv.courier_token("2")
    for i in range(3):
        srv.post_ok(tok, {"latitude": 1.0 + i, "longitude": 1.0})
        v1.recv_locations()
        v2.recv_locations()
    srv.post(tok, "{not json")
    srv.post(None, {"latitude": 1.0, "longitude": 1.0})
    m1 = srv.metrics()
    d = lambda name, **l: m1.value(name, **l) - m0.value(name, **l)
    assert d("peyk_messages_in_total") >= 3
    assert d("peyk_deliveries_total") >= 6
    assert d("peyk_ingest_requests_total", status="200") == 3
    assert d("peyk_ingest_requests_total", status="400") == 1
    assert d("peyk_ingest_requests_total", status="401") == 1
    assert d("peyk_delivery_latency_seconds_count") >= 6
    assert m1.value("peyk_broker_invalid_messages_total") == 0
    v1.close()
    v2.close()
    wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 0, 5,
               what="peyk_ws_connections back to 0")


def test_sigterm_closes_viewers_with_1001_and_exits_0(server):
    srv = server()
    viewers = [srv.viewer(srv.admin_token(sub=f"a{i}"), p)
               for i, p in enumerate(["peyk.v1", "echo-protocol", None])]
    srv.post_ok(srv.courier_token("3"), {"latitude": 1.0, "longitude": 1.0})
    for v in viewers:
        v.recv_locations()
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    codes = [v.expect_close(timeout=4) for v in viewers]
    assert codes == [1001, 1001, 1001]
    rc = srv.proc.wait(timeout=4.5)
    elapsed = time.monotonic() - t0
    assert rc == 0, f"exit status after SIGTERM: {rc}"
    assert elapsed < 3 + 1, f"took {elapsed:.1f}s, drain window is 3s"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


def test_sigterm_drain_window_bounds_unresponsive_viewers(server):
    srv = server("--drain-timeout", "1")
    good = srv.viewer(srv.admin_token(), "peyk.v1")
    # never reads, never answers the close handshake
    srv.raw_viewer(srv.admin_token(sub="raw"), subprotocol="peyk.v1", rcvbuf=4096)
    wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 2, 5, what="2 connections")
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    assert good.expect_close(timeout=3) == 1001
    rc = srv.proc.wait(timeout=4)
    elapsed = time.monotonic() - t0
    assert rc == 0
    assert elapsed < 1 + 1.5, f"exit took {elapsed:.1f}s with --drain-timeout 1"


def _watch_closes(viewers, timeout):
    """One thread per viewer waiting for its close frame; returns (results, threads) where
    results gets (monotonic time, close code or the exception) per viewer."""
    results = []
    lock = threading.Lock()

    def watch(v):
        try:
            code = v.expect_close(timeout=timeout)
        except Exception as e:  # no close frame, reset...
            code = e
        with lock:
            results.append((time.monotonic(), code))

    threads = [threading.Thread(target=watch, args=(v,), daemon=True) for v in viewers]
    for th in threads:
        th.start()
    return results, threads


def test_sigterm_drain_window_spreads_closes(server):
    n, window = 40, 2.0
    srv = server("--drain-window", str(window), "--threads", "2")
    viewers = [srv.viewer(srv.admin_token(sub=f"dw{i}"), "echo-protocol") for i in range(n)]
    wait_until(lambda: srv.metrics().value("peyk_ws_connections") == n, 5,
               what=f"{n} connections")
    results, threads = _watch_closes(viewers, timeout=window + 6)
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    # at once: not ready, and a new viewer is told to go elsewhere, while the port still
    # answers (a load balancer's health check sees 503, not a refused connection)
    # (the signal is handled asynchronously: allow it a moment, more under a sanitizer)
    wait_until(lambda: srv.get("/readyz").status_code == 503, 0.5 * TIME_SCALE, interval=0.01,
               what="/readyz to answer 503 right after SIGTERM")
    assert srv.ws_status(srv.admin_token(sub="late")) == 503
    # in the middle of the window: some viewers closed by the drain, not all, and the
    # process still serves
    while time.monotonic() - t0 < window / 2:
        time.sleep(0.02)
    assert srv.proc.poll() is None, "peyk exited in the middle of its drain window"
    assert srv.get("/readyz").status_code == 503
    dropped = srv.metrics().value("peyk_viewers_dropped_total", reason="drain")
    assert 0 < dropped < n, f"{dropped} of {n} viewers closed by the drain halfway through it"
    for th in threads:
        th.join(window + 7)
    rc = srv.proc.wait(timeout=5)
    assert rc == 0, f"exit status after SIGTERM: {rc}"

    codes = [c for _, c in results]
    assert len(codes) == n and all(c == 1001 for c in codes), codes
    times = sorted(t - t0 for t, _ in results)
    assert times[-1] - times[0] >= window / 2, \
        f"closes not spread over the {window}s window: first {times[0]:.2f}s, last {times[-1]:.2f}s"
    early = sum(1 for t in times if t < window * 0.2)
    assert early <= n // 2, f"{early} of {n} viewers closed in the first 20% of the window"
    late = sum(1 for t in times if t >= window / 2)
    assert late >= n // 4, f"only {late} of {n} viewers closed in the second half of the window"
    err = srv.stderr_text()
    assert f"draining {n} viewers over 2s" in err, err
    assert f"{n} of {n} viewers closed with 1001" in err, err


def test_second_signal_cuts_the_drain_window_short(server):
    n = 6
    srv = server("--drain-window", "60")
    viewers = [srv.viewer(srv.admin_token(sub=f"cut{i}"), "peyk.v1") for i in range(n)]
    wait_until(lambda: srv.metrics().value("peyk_ws_connections") == n, 5,
               what=f"{n} connections")
    results, threads = _watch_closes(viewers, timeout=8)
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    wait_until(lambda: srv.get("/readyz").status_code == 503, 2, what="/readyz 503")
    time.sleep(0.5)
    # 6 viewers over 60 s: the first is due after ~10 s
    assert results == [], f"viewers closed early in a 60s window: {results}"
    assert srv.metrics().value("peyk_ws_connections") == n
    t1 = time.monotonic()
    srv.send_signal(signal.SIGINT)
    for th in threads:
        th.join(9)
    rc = srv.proc.wait(timeout=5)
    assert rc == 0, f"exit status after a second signal: {rc}"
    assert [c for _, c in results] == [1001] * n, results
    assert all(t - t1 < 3 for t, _ in results), [t - t1 for t, _ in results]
    assert time.monotonic() - t0 < 20, "the second signal did not cut the 60s window short"
    assert "again: closing the remaining" in srv.stderr_text()


def test_ingest_sigterm_answers_the_request_in_flight(server, redis_server):
    srv = server("--redis", redis_server.url, "--drain-window", "5", role="ingest")
    srv.wait_ready()
    body = b'{"latitude": 1.5, "longitude": 2.5}'
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"POST /api/v1/locations HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: Bearer " + srv.courier_token("88").encode() + b"\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
    time.sleep(0.2)  # the head is read, the body is not complete: a request in flight
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert srv.proc.poll() is None, "peyk ingest exited with a request in flight"
    # no viewers, so no window: the listener is closed at once
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
    s.sendall(body[10:])
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    s.close()
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 200"), head[:300]
    assert b"connection: close" in head.lower(), head[:300]
    rc = srv.proc.wait(timeout=3)
    assert rc == 0, f"exit status after SIGTERM: {rc}"
    assert time.monotonic() - t0 < 3 + 1  # --drain-timeout 3 bounds it anyway


def test_drain_window_defaults_by_role(peyk_bin):
    for command, default in [("gateway", "5"), ("serve", "0")]:
        r = run_peyk([command, "--help"])
        assert r.returncode == 0, r.stderr
        entry = r.stdout.split("--drain-window", 1)[1].split("\n  -", 1)[0]
        assert f"(={default})" in entry, f"`peyk {command} --help`: --drain-window {entry!r}"
    r = run_peyk(["gateway", "--drain-window", "-1"], env={"PEYK_JWT_SECRET": "x" * 32})
    assert r.returncode == 2 and "--drain-window" in r.stderr, r.stderr


def test_token_expiry_closes_with_4001(server):
    srv = server()
    exp = int(time.time()) + 3
    viewers = [srv.viewer(srv.admin_token(sub="exp-v1", exp=exp), "peyk.v1"),
               srv.viewer(srv.dispatcher_token(["f1"], sub="exp-e", exp=exp), "echo-protocol")]
    keep = srv.viewer(srv.admin_token(sub="long-lived"), "peyk.v1")
    for v in viewers:
        code = v.expect_close(timeout=exp - time.time() + 7)
        closed_at = time.time()
        assert code == 4001, f"close code at token exp: {code}"
        assert closed_at >= exp - 1, f"closed {exp - closed_at:.1f}s before exp"
    wait_until(lambda: srv.metrics().value("peyk_viewers_dropped_total", reason="expired") >= 2,
               3, what='peyk_viewers_dropped_total{reason="expired"} >= 2')
    wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 1, 3,
               what="peyk_ws_connections == 1 (only the long-lived viewer left)")
    # a viewer with a longer-lived token is untouched
    srv.post_ok(srv.courier_token("4"), {"latitude": 1.0, "longitude": 1.0})
    (loc,) = keep.recv_locations()
    assert uid_of(loc) == "4"


def test_dead_peer_dropped_after_idle_timeout(server):
    srv = server("--ws-idle-timeout", "2")
    # a well-behaved viewer (websocket-client answers pings while it reads) in a thread
    good = srv.viewer(srv.admin_token(sub="good"), "peyk.v1")
    stop = threading.Event()
    received, errors = [], []

    def reader():
        while not stop.is_set():
            try:
                received.extend(good.recv_locations(timeout=0.3))
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as e:  # closed, reset...
                errors.append(e)
                return

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        raw = srv.raw_viewer(srv.admin_token(sub="dead"), subprotocol="peyk.v1")
        t0 = time.monotonic()
        opcodes = []
        ended = None
        while time.monotonic() - t0 < 8:
            try:
                op, _ = raw.read_frame(timeout=8 - (time.monotonic() - t0))
                opcodes.append(op)
            except (EOFError, ConnectionResetError):
                ended = time.monotonic() - t0
                break
            except socket.timeout:
                break
        assert ended is not None, f"dead peer still connected after 8s (frames: {opcodes})"
        assert 0x9 in opcodes, f"the server should ping an idle peer before dropping it: {opcodes}"
        assert ended >= 1.5, f"dropped after {ended:.1f}s, before the 2s idle timeout"
        assert ended <= 6, f"dropped only after {ended:.1f}s with --ws-idle-timeout 2"
        wait_until(lambda: srv.metrics().value("peyk_viewers_dropped_total", reason="idle") >= 1, 3,
                   what='peyk_viewers_dropped_total{reason="idle"} >= 1')
        # the good viewer stays connected well past the idle timeout, then still receives
        while time.monotonic() - t0 < 5:
            time.sleep(0.1)
        assert not errors, f"the pong-answering viewer was disconnected: {errors}"
        srv.post_ok(srv.courier_token("5"), {"latitude": 5.0, "longitude": 5.0})
        wait_until(lambda: any(uid_of(l) == "5" for l in received) or errors, 3,
                   what="the good viewer to receive a location")
        assert not errors, errors
        assert srv.metrics().value("peyk_ws_connections") == 1
    finally:
        stop.set()
        th.join(2)


def test_broker_down_readyz_503_and_ingest_503(server):
    closed = free_port()  # nothing listens there
    srv = server("--redis", f"redis://127.0.0.1:{closed}")
    assert srv.get("/healthz").status_code == 200
    r = srv.get("/readyz")
    assert r.status_code == 503, f"/readyz with the broker down answered {r.status_code}"
    assert srv.metrics().value("peyk_broker_connected", default=-1) == 0
    r = srv.post(srv.courier_token("6"), {"latitude": 1.0, "longitude": 1.0})
    assert r.status_code == 503, f"ingest with the broker down answered {r.status_code}: {r.text}"
    assert "error" in r.json()
    assert r.headers.get("Retry-After", "").strip().isdigit(), "503 must carry Retry-After"


def test_client_ping_and_garbage_do_not_hurt(server):
    srv = server()
    v = srv.viewer(srv.admin_token(), "peyk.v1")
    # RFC 6455: a ping is answered with a pong carrying the same payload
    v.ws.ping(b"hello")
    v.ws.settimeout(5)
    op, data = v.ws.recv_data(control_frame=True)
    assert op == websocket.ABNF.OPCODE_PONG and data == b"hello", (op, data)
    # a malformed HTTP request and an unknown path get an error, not a crash
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"GARBAGE\x00\x01 /\r\n\r\n")
    try:
        reply = s.recv(4096)
    except ConnectionResetError:
        reply = b""
    s.close()
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:100]
    assert srv.get("/no/such/path").status_code == 404
    # the viewer still works
    srv.post_ok(srv.courier_token("7"), {"latitude": 7.0, "longitude": 7.0})
    (loc,) = v.recv_locations()
    assert uid_of(loc) == "7"
    assert srv.get("/healthz").status_code == 200


def test_whoami_and_config(server):
    srv = server("--update-interval", "5", "--tiles", "https://tiles.example/{z}/{x}/{y}.png")
    tok = srv.admin_token(sub="7", name="Sara")
    r = srv.get("/api/v1/whoami", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == "7" and r.json()["role"] == "admin" and r.json()["name"] == "Sara"
    assert srv.get("/api/v1/whoami").status_code == 401
    bad = srv.get("/api/v1/whoami", headers={"Authorization": "Bearer x.y.z"})
    assert bad.status_code == 401 and "x.y.z" not in bad.text
    cfg = srv.get("/api/v1/config").json()
    assert cfg["update_interval_seconds"] == 5
    assert cfg["tiles"]["url"] == "https://tiles.example/{z}/{x}/{y}.png"
