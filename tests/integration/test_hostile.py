"""Hostile clients (issue 6, item 3): slowloris, bodies that never finish, oversized heads,
a flood of abandoned connections, WebSocket frames over the limit, fragmentation with
control frames in between, invalid UTF-8, viewers that talk, and 50,000 viewers in churn.

Everything here is a raw socket: a client library would refuse to send what these tests
send. Each test checks that the hostile peer is cut off (by the documented timeout,
limit or close code), that nothing leaks (descriptors in /proc/PID/fd, RSS), and that
the server keeps serving well-behaved clients meanwhile.

PEYK_TEST_TIME_SCALE (default 1; 3 under ASan, 5 under TSan: sanitizer.py) stretches
every deadline; under a sanitizer RSS bounds are reported, not asserted;
PEYK_CHURN_VIEWERS (default 50000) and PEYK_FLOOD_CONNECTIONS (default 10000) size the
two big scenarios."""

import base64
import errno
import json
import os
import selectors
import socket
import struct
import time

import pytest

from conftest import read_http_response, uid_of, wait_until
from sanitizer import SANITIZER, TIME_SCALE, memory_bounds_apply

SCALE = TIME_SCALE
CHURN_VIEWERS = int(os.environ.get("PEYK_CHURN_VIEWERS", "50000"))
FLOOD_CONNECTIONS = int(os.environ.get("PEYK_FLOOD_CONNECTIONS", "10000"))
RSS_BOUND_MB = float(os.environ.get("PEYK_HOSTILE_RSS_BOUND_MB", "64"))

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h: pick the port at connect() by the 4-tuple


# ---------------------------------------------------------------------------------
# helpers


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fd_count(pid, quiet=0.5):
    """The server's descriptor count once it has not changed for `quiet` seconds (times
    SCALE): a connection the client just closed is released asynchronously, later still
    under a sanitizer, and must not be counted in a baseline."""
    quiet *= SCALE
    last, changed = fd_count(pid), time.monotonic()
    deadline = changed + 10 * SCALE
    while time.monotonic() - changed < quiet and time.monotonic() < deadline:
        time.sleep(0.05)
        n = fd_count(pid)
        if n != last:
            last, changed = n, time.monotonic()
    return last


def connect(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_peer(sock, timeout):
    """Reads until the peer closes (EOF or reset); returns (closed, seconds, bytes read)."""
    t0 = time.monotonic()
    got = b""
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, time.monotonic() - t0, got
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False, time.monotonic() - t0, got
        except (ConnectionResetError, BrokenPipeError):
            return True, time.monotonic() - t0, got
        if not chunk:
            return True, time.monotonic() - t0, got
        got += chunk


def still_serves(srv):
    assert srv.get("/healthz").status_code == 200


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One client frame, as hostile as asked: any opcode, FIN, RSV bits, a lying length."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def expect_close_code(raw, timeout=5):
    """Reads frames until the server's close frame; returns its code (None: closed bare)."""
    deadline = time.monotonic() + timeout * SCALE
    while True:
        try:
            op, payload = raw.read_frame(timeout=max(0.01, deadline - time.monotonic()))
        except (EOFError, ConnectionResetError):
            return None
        if op == 0x8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def tcp_closed_after(raw, timeout=5):
    closed, _, _ = closed_by_peer(raw.sock, timeout * SCALE)
    return closed


def viewer_gets(srv, v, courier, lat):
    """A location posted now reaches the (websocket-client) viewer v."""
    srv.post_ok(srv.courier_token(courier), {"latitude": lat, "longitude": 1.0})
    got = v.collect_until(lambda l: uid_of(l) == courier and abs(l["latitude"] - lat) < 1e-9,
                          timeout=5 * SCALE)
    assert got


# ---------------------------------------------------------------------------------
# HTTP: slowloris, unfinished bodies, oversized heads


def test_slowloris_head_is_cut_at_the_header_timeout(server):
    srv = server("--header-timeout", str(1 * SCALE), "--keepalive-timeout", str(6 * SCALE))
    t0 = srv.metrics().value("peyk_http_timeouts_total")
    # (a) a head dribbled one header line every 200 ms: never complete
    drib = connect(srv.port)
    drib.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    start = time.monotonic()
    cut = None
    i = 0
    while time.monotonic() - start < 6 * SCALE:
        try:
            drib.sendall(f"X-Drip-{i}: {'a' * 10}\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            cut = time.monotonic() - start
            break
        i += 1
        closed, _, data = closed_by_peer(drib, 0.2)
        if closed:
            cut = time.monotonic() - start
            break
        assert data == b"", f"answered an unfinished head: {data[:200]!r}"
    assert cut is not None, "a dribbled head was never cut off"
    assert 0.8 * SCALE <= cut <= 3 * SCALE, f"cut after {cut:.2f}s with --header-timeout {SCALE}"
    # (b) a fresh connection that sends nothing at all is closed at the same deadline
    mute = connect(srv.port)
    closed, took, _ = closed_by_peer(mute, 5 * SCALE)
    assert closed and took <= 3 * SCALE, f"a mute connection was kept {took:.2f}s"
    # (c) an idle keep-alive connection is NOT a slowloris: it may wait past the header
    # timeout (up to --keepalive-timeout) and then send a normal request
    ka = connect(srv.port)
    ka.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = read_http_response(ka)
    assert status == 200
    time.sleep(2 * SCALE)
    ka.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = read_http_response(ka)
    assert status == 200, "an idle keep-alive connection was cut at the header timeout"
    still_serves(srv)
    wait_until(lambda: srv.metrics().value("peyk_http_timeouts_total") >= t0 + 2, 3 * SCALE,
               what="two header timeouts counted in peyk_http_timeouts_total")
    print(f"slowloris: dribbled {i} header lines, cut after {cut:.2f}s (--header-timeout "
          f"{SCALE:g}s); mute connection cut after {took:.2f}s")
    for s in (drib, mute, ka):
        s.close()


def test_unfinished_body_is_cut_at_the_body_timeout_and_others_are_served(server):
    srv = server("--header-timeout", str(5 * SCALE), "--body-timeout", str(1.5 * SCALE))
    tok = srv.courier_token("body-1")
    head = (f"POST /api/v1/locations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()
    stuck = connect(srv.port)
    stuck.sendall(head + b'{"latitude": 1')  # 14 of the 1000 bytes promised, then nothing
    drip = connect(srv.port)
    drip.sendall(head)
    start = time.monotonic()
    # while both hang, a well-behaved courier is served
    srv.post_ok(srv.courier_token("body-2"), {"latitude": 2.0, "longitude": 2.0})
    still_serves(srv)
    # the dripping one sends a byte every 100 ms: progress, but the body deadline is total
    cut_drip = None
    while time.monotonic() - start < 6 * SCALE:
        try:
            drip.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            cut_drip = time.monotonic() - start
            break
        closed, _, data = closed_by_peer(drip, 0.1)
        if closed:
            cut_drip = time.monotonic() - start
            break
        assert data == b""
    closed, _, data = closed_by_peer(stuck, 6 * SCALE)
    cut_stuck = time.monotonic() - start
    assert closed, "a body that never finishes held its connection open"
    assert not data.startswith(b"HTTP/1.1 200"), "answered 200 for a body never received"
    assert cut_stuck <= 4 * SCALE, f"stuck body cut after {cut_stuck:.2f}s (--body-timeout 1.5)"
    assert cut_drip is not None and 1.2 * SCALE <= cut_drip <= 4 * SCALE, \
        f"dripped body cut after {cut_drip}s (--body-timeout 1.5)"
    # nothing of the unfinished bodies was published; the server still takes posts
    assert srv.metrics().value("peyk_ingest_requests_total", status="200") == 1
    srv.post_ok(tok, {"latitude": 3.0, "longitude": 3.0})
    print(f"unfinished body cut after {cut_stuck:.2f}s, dripped body after {cut_drip:.2f}s "
          f"(--body-timeout {1.5 * SCALE:g}s)")
    stuck.close()
    drip.close()


@pytest.mark.parametrize("what", ["one huge header", "many headers", "huge target",
                                  "huge header after the limit flag"])
def test_oversized_heads_get_431_or_close(server, what):
    args = ("--max-header", "2048") if what == "huge header after the limit flag" else ()
    srv = server(*args)
    if what == "many headers":
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
            f"X-{i}: v\r\n".encode() for i in range(20000)) + b"\r\n"
    elif what == "huge target":
        head = b"GET /healthz?" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    elif what == "one huge header":
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 1_000_000 + b"\r\n\r\n"
    else:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 3000 + b"\r\n\r\n"
    s = connect(srv.port)
    try:
        s.sendall(head)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading and closed: acceptable
    try:
        status, _, body = read_http_response(s, timeout=5 * SCALE)
    except (AssertionError, ConnectionResetError, BrokenPipeError):
        status = None  # closed without an answer
    s.close()
    assert status in (431, None), f"{what}: answered {status}"
    if status == 431:
        assert json.loads(body)["error"] == "headers_too_large"
    still_serves(srv)
    # a head just under the default limit is served
    ok = connect(srv.port)
    ok.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fit: " + b"f" * 1500 + b"\r\n\r\n")
    assert read_http_response(ok)[0] == 200
    ok.close()


def test_pipelined_requests_never_read_are_cut_and_cost_bounded_memory(server):
    """20,000 pipelined GET /metrics (~100 MB of answers) from a client that never reads:
    the server writes one answer at a time, so its memory does not grow with the backlog,
    and the write that cannot progress is cut at --body-timeout -- the descriptor is
    released while the client still has not read a byte."""
    srv = server("--body-timeout", str(2 * SCALE))
    srv.get("/healthz")
    srv.http.close()
    fd0, rss0 = settled_fd_count(srv.pid), srv.rss_kb()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    # Counted only once accepted: until then the descriptor check below passes at once.
    wait_until(lambda: fd_count(srv.pid) > fd0, 5 * SCALE, what="the server to accept")
    s.setblocking(False)
    req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
    pending = req * 20
    start = time.monotonic()
    while pending and time.monotonic() - start < 5 * SCALE:
        try:
            pending = pending[s.send(pending):]
        except BlockingIOError:
            time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            break
    sent = 20000 - len(pending) // (len(req) // 1000)
    wait_until(lambda: fd_count(srv.pid) <= fd0, 10 * SCALE, interval=0.1,
               what="the server to close a connection whose answers are never read")
    took = time.monotonic() - start
    peak = srv.rss_kb()
    still_serves(srv)
    s.close()
    print(f"pipelined {sent} requests, read nothing; the server closed the connection after "
          f"{took:.1f}s (--body-timeout {2 * SCALE:g}s); RSS {rss0} -> {peak} kB")
    assert took >= 1.5 * SCALE, f"closed after {took:.1f}s, before the write deadline"
    if memory_bounds_apply():
        assert peak - rss0 < 16 * 1024, f"RSS grew {peak - rss0} kB behind a client that never reads"


def test_connection_limit_refuses_at_accept_and_recovers(server):
    srv = server("--max-http-connections", "20", "--header-timeout", str(30 * SCALE))
    srv.http.close()
    time.sleep(0.2)
    fd0 = fd_count(srv.pid)
    held = [connect(srv.port) for _ in range(20)]
    wait_until(lambda: fd_count(srv.pid) >= fd0 + 20, 5 * SCALE, what="20 HTTP connections held")
    extra = connect(srv.port)
    closed, took, _ = closed_by_peer(extra, 3 * SCALE)
    assert closed, "a connection over --max-http-connections was kept"
    assert fd_count(srv.pid) <= fd0 + 20
    # a held connection still works
    held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_http_response(held[0])[0] == 200
    for s in held:
        s.close()
    # once they are gone, new connections are served again
    wait_until(lambda: _healthz_raw(srv.port), 5 * SCALE, what="a new connection served")
    assert srv.metrics().value("peyk_http_refused_total") >= 1
    print(f"connection 21 of --max-http-connections 20 closed after {took * 1000:.0f} ms")


def _healthz_raw(port):
    try:
        s = connect(port, timeout=2)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status = read_http_response(s, timeout=2)[0]
        s.close()
        return status == 200
    except (OSError, AssertionError):
        return False


# ---------------------------------------------------------------------------------
# a flood of abandoned connections


def open_many(port, n, first_bytes):
    """Opens n non-blocking connections (each sends first_bytes(i) if not empty)."""
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", port))
        assert err in (0, errno.EINPROGRESS), os.strerror(err)
        socks.append(s)
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_WRITE, i)
    pending = len(socks)
    deadline = time.monotonic() + 30 * SCALE
    while pending:
        assert time.monotonic() < deadline, f"{pending} connects still pending"
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            sel.unregister(s)
            pending -= 1
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            assert err == 0, f"connect failed: {os.strerror(err)}"
            data = first_bytes(key.data)
            if data:
                try:
                    s.send(data)
                except BlockingIOError:
                    pass
    sel.close()
    return socks


def abandon(socks, rst_every=2):
    for i, s in enumerate(socks):
        if i % rst_every == 0:  # half go away with a reset, half with a FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def test_flood_of_abandoned_connections_leaks_nothing(server):
    """FLOOD_CONNECTIONS connections opened at once, a third sending nothing, a third half a
    head, a third a whole request whose answer it never reads; then left alone. The header
    timeout (and, for the answered third, the keep-alive timeout) closes them from the
    server's side; after two such floods the descriptor count
    is back to its baseline and RSS has stopped growing."""
    # One address stands for many here (the per-address limit has its own test).
    # The timeouts leave time to open the whole flood first: at 2 s, on a machine busy
    # with builds, the first connections were closed before the last were opened and the
    # peak never reached 90 % (seen once here).
    srv = server("--header-timeout", str(5 * SCALE), "--keepalive-timeout", str(6 * SCALE),
                 "--max-http-connections", str(FLOOD_CONNECTIONS + 1000),
                 "--max-connections-per-ip", "0")
    srv.get("/healthz")
    srv.http.close()
    time.sleep(0.2)
    fd0, rss0 = fd_count(srv.pid), srv.rss_kb()
    half = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-"
    whole = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    firsts = lambda i: (b"", half, whole)[i % 3]  # noqa: E731
    figures = []
    for rnd in range(2):
        t0 = time.monotonic()
        socks = open_many(srv.port, FLOOD_CONNECTIONS, firsts)
        opened = time.monotonic() - t0
        peak_fd = wait_until(lambda: (lambda n: n if n >= fd0 + FLOOD_CONNECTIONS * 0.9 else 0)(
            fd_count(srv.pid)), 20 * SCALE, interval=0.1,
            what=f"the server to accept ~{FLOOD_CONNECTIONS} connections")
        peak_rss = srv.rss_kb()
        # the client keeps every socket open: only the server's timeouts can free them
        wait_until(lambda: fd_count(srv.pid) <= fd0 + 2, 30 * SCALE, interval=0.2,
                   what=f"server descriptors back to the baseline {fd0} while the client "
                        f"still holds its {FLOOD_CONNECTIONS} sockets")
        freed = time.monotonic() - t0
        abandon(socks)
        still_serves(srv)
        srv.http.close()
        figures.append((opened, peak_fd, peak_rss, freed, srv.rss_kb()))
    time.sleep(0.5)
    fd1, rss1 = fd_count(srv.pid), srv.rss_kb()
    for i, (opened, peak_fd, peak_rss, freed, rss_after) in enumerate(figures):
        print(f"flood {i + 1}: {FLOOD_CONNECTIONS} connections opened in {opened:.2f}s, server fds "
              f"{fd0} -> {peak_fd} -> back after {freed:.1f}s; RSS {rss0} -> peak {peak_rss} -> "
              f"{rss_after} kB")
    assert fd1 <= fd0 + 2, f"descriptors leaked: {fd0} before, {fd1} after"
    # glibc keeps freed memory for reuse, so the first flood may raise RSS; a leak would
    # make the second flood raise it again by about as much
    growth_second = figures[1][4] - figures[0][4]
    if memory_bounds_apply():
        assert growth_second < 8 * 1024, \
            f"RSS grew {growth_second} kB more over the second flood: a per-connection leak"
        # absolute: 10,000 connections' buffers, kept by the allocator, not a leak (see above)
        assert rss1 - rss0 < 2 * RSS_BOUND_MB * 1024, f"RSS {rss0} -> {rss1} kB after the floods"
    else:
        print(f"RSS bounds not asserted under {SANITIZER} sanitizer")
    m = srv.metrics()
    assert m.value("peyk_http_timeouts_total") >= FLOOD_CONNECTIONS * 2 / 3 * 2 * 0.9


# ---------------------------------------------------------------------------------
# WebSocket frames


@pytest.fixture
def ws_server(server):
    srv = server()
    return srv


def raw_admin(srv, proto="echo-protocol"):
    return srv.raw_viewer(srv.admin_token(sub="raw-" + os.urandom(3).hex()), subprotocol=proto)


def test_ws_message_over_the_limit_closes_1009(ws_server):
    srv = ws_server
    good = srv.viewer(srv.admin_token(sub="good"), "echo-protocol")
    cases = {
        "one 5000-byte text frame": [ws_frame(0x1, b"x" * 5000)],
        "fragments adding up past 4096": [ws_frame(0x1, b"y" * 3000, fin=False),
                                         ws_frame(0x0, b"y" * 3000)],
        "a header claiming 2^62 bytes": [ws_frame(0x2, b"", length=1 << 62)],
    }
    for what, frames in cases.items():
        raw = raw_admin(srv)
        for f in frames:
            raw.sock.sendall(f)
        code = expect_close_code(raw)
        assert code == 1009, f"{what}: close code {code}, expected 1009 (message too big)"
        assert tcp_closed_after(raw), f"{what}: TCP connection left open after the close"
        raw.close()
    viewer_gets(srv, good, "after-1009", 1.5)
    assert srv.metrics().value("peyk_ws_connections") == 1


def test_ws_fragments_with_control_frames_interleaved_are_valid(ws_server):
    """RFC 6455 §5.4: control frames may be injected in the middle of a fragmented message.
    The server answers the ping in the middle (same payload), keeps the connection, and the
    viewer keeps receiving; a UTF-8 character split across two fragments is valid too."""
    srv = ws_server
    raw = raw_admin(srv)
    raw.sock.sendall(ws_frame(0x1, b'{"he', fin=False) + ws_frame(0x9, b"mid-ping") +
                     ws_frame(0x0, b'llo":', fin=False) + ws_frame(0xA, b"unsolicited") +
                     ws_frame(0x9, b"") + ws_frame(0x0, b' "\xd9', fin=False) +
                     ws_frame(0x0, b'\xbe"}'))  # U+067E (Persian peh) split over two frames
    pongs = []
    deadline = time.monotonic() + 5 * SCALE
    while len(pongs) < 2:
        op, payload = raw.read_frame(timeout=max(0.01, deadline - time.monotonic()))
        assert op != 0x8, f"server closed a valid fragmented message: {payload!r}"
        if op == 0xA:
            pongs.append(payload)
    assert pongs == [b"mid-ping", b""], pongs
    # a binary message in 50 fragments of 10 bytes, with a ping after every fifth
    frames = b""
    for i in range(50):
        frames += ws_frame(0x2 if i == 0 else 0x0, bytes([i]) * 10, fin=(i == 49))
        if i % 5 == 4:
            frames += ws_frame(0x9, f"p{i}".encode())
    raw.sock.sendall(frames)
    got = []
    while len(got) < 10:
        op, payload = raw.read_frame(timeout=max(0.01, deadline + 5 - time.monotonic()))
        assert op != 0x8, f"closed: {payload!r}"
        if op == 0xA:
            got.append(payload)
    assert got == [f"p{i}".encode() for i in range(4, 50, 5)]
    # still a working viewer
    srv.post_ok(srv.courier_token("frag"), {"latitude": 4.0, "longitude": 4.0})
    while True:
        op, payload = raw.read_frame(timeout=5 * SCALE)
        if op == 0x1:
            assert uid_of(json.loads(payload)) == "frag"
            break


@pytest.mark.parametrize("what,frames,codes", [
    ("invalid UTF-8 in a text frame", [ws_frame(0x1, b'{"a": "\xff\xfe"}')], (1007,)),
    ("overlong encoding of '/'", [ws_frame(0x1, b"\xc0\xaf")], (1007,)),
    ("UTF-16 surrogate", [ws_frame(0x1, b"\xed\xa0\x80")], (1007,)),
    ("invalid UTF-8 in the second fragment",
     [ws_frame(0x1, b"ok", fin=False), ws_frame(0x0, b"\x80\x80")], (1007,)),
    ("a message ending in the middle of a character", [ws_frame(0x1, b"ok\xd9")], (1007,)),
    ("fragments ending in the middle of a character",
     [ws_frame(0x1, b"ok", fin=False), ws_frame(0x0, b"\xd9")], (1007,)),
    ("continuation without a first frame", [ws_frame(0x0, b"x")], (1002,)),
    ("a new message inside a fragmented one",
     [ws_frame(0x1, b"a", fin=False), ws_frame(0x1, b"b")], (1002,)),
    ("a fragmented ping", [ws_frame(0x9, b"p", fin=False)], (1002,)),
    ("a ping of 126 bytes", [ws_frame(0x9, b"p" * 126)], (1002,)),
    ("RSV bits without an extension", [ws_frame(0x1, b"x", rsv=0b100)], (1002,)),
    ("reserved opcode 0x3", [ws_frame(0x3, b"x")], (1002,)),
    ("an unmasked client frame", [ws_frame(0x1, b"x", mask=False)], (1002,)),
    ("a close code 999", [ws_frame(0x8, struct.pack("!H", 999))], (1002,)),
])
def test_ws_protocol_violations_close_with_the_rfc_code(ws_server, what, frames, codes):
    srv = ws_server
    raw = raw_admin(srv)
    for f in frames:
        raw.sock.sendall(f)
    code = expect_close_code(raw)
    assert code in codes, f"{what}: close code {code}, expected one of {codes}"
    assert tcp_closed_after(raw), f"{what}: TCP connection left open"
    raw.close()
    wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 0, 5 * SCALE,
               what="the viewer to be gone from peyk_ws_connections")
    still_serves(srv)


def test_ws_message_ending_mid_character_with_an_empty_final_fragment_closes_1007(ws_server):
    srv = ws_server
    raw = raw_admin(srv)
    raw.sock.sendall(ws_frame(0x1, b"ok\xd9", fin=False) + ws_frame(0x0, b""))
    code = expect_close_code(raw, timeout=1)
    raw.close()
    assert code == 1007, f"close code {code}"


def _chatter():
    """2,001 frames at once: text that looks like commands, binary, a spoofed location."""
    burst = b"".join(ws_frame(0x1, json.dumps({"type": "subscribe", "courier": i}).encode())
                     for i in range(1000))
    burst += b"".join(ws_frame(0x2, os.urandom(200)) for _ in range(1000))
    burst += ws_frame(0x1, b'{"latitude": 1, "longitude": 2, "user": {"id": "spoof"}}')
    return burst


def test_viewer_that_talks_is_ignored_and_others_keep_receiving(ws_server):
    """An echo-protocol viewer has nothing to say: text, binary, JSON that looks like a
    command, a burst of 2,000 frames -- none of it changes what anyone receives or crashes
    the server, and the viewer stays a viewer."""
    srv = ws_server
    good = srv.viewer(srv.admin_token(sub="good"), "peyk.v1")
    chatty = raw_admin(srv, "echo-protocol")
    chatty.sock.sendall(_chatter())
    viewer_gets(srv, good, "talk-1", 6.5)
    # the chatty viewer is still a viewer (ignored, not closed) and got no spoofed location
    deadline = time.monotonic() + 5 * SCALE
    while True:
        op, payload = chatty.read_frame(timeout=max(0.01, deadline - time.monotonic()))
        assert op != 0x8, f"a talking viewer was closed: {payload!r}"
        if op == 0x1:
            loc = json.loads(payload)  # echo-protocol: one location per frame
            assert uid_of(loc) != "spoof", "a viewer's frame was fanned out"
            if uid_of(loc) == "talk-1":
                break
    assert good.frames and all(uid_of(l) != "spoof" for f in good.frames
                               for l in f.get("locations", []))
    assert srv.metrics().value("peyk_messages_in_total") == 1
    still_serves(srv)


def test_peyk_v1_viewer_that_floods_is_closed_and_others_keep_receiving(ws_server):
    """A peyk.v1 viewer may send client messages (focus, PROTOCOL.md §11), a few a second:
    the same burst closes it with a policy code (1008 for the flood, or 1003 for binary),
    and nothing it sent reaches anyone."""
    srv = ws_server
    good = srv.viewer(srv.admin_token(sub="good"), "peyk.v1")
    chatty = raw_admin(srv, "peyk.v1")
    op, payload = chatty.read_frame()
    assert op == 0x1 and json.loads(payload)["type"] == "snapshot"
    try:
        chatty.sock.sendall(_chatter())
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while the burst was being sent
    deadline = time.monotonic() + 5 * SCALE
    while True:
        try:
            op, payload = chatty.read_frame(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionResetError:
            break  # closed while its burst was unread: the kernel resets instead (no code)
        if op == 0x8:
            code = int.from_bytes(payload[:2], "big")
            assert code in (1003, 1008), f"close code {code} {payload!r}"
            break
    viewer_gets(srv, good, "talk-2", 6.5)
    assert all(uid_of(l) != "spoof" for f in good.frames for l in f.get("locations", []))
    assert srv.metrics().value("peyk_messages_in_total") == 1
    still_serves(srv)


# ---------------------------------------------------------------------------------
# 50,000 viewers in churn


def _handshake(port, token, proto):
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET /ws HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             f"Authorization: Bearer {token}"]
    if proto:
        lines.append(f"Sec-WebSocket-Protocol: {proto}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Churn:
    """Keeps `window` viewers in flight: each connects (from one of several loopback source
    addresses), upgrades, reads its 101 (and snapshot), then leaves in one of four ways:
    a reset, a bare FIN, a WebSocket close frame, or mid-handshake (half the request)."""

    LEAVE = ("rst", "fin", "close-frame", "rst", "fin", "close-frame", "mid-handshake")

    def __init__(self, port, tokens, total, window, sources):
        self.port, self.tokens, self.total, self.window = port, tokens, total, window
        self.sources = sources
        self.sel = selectors.DefaultSelector()
        self.started = self.done = self.upgraded = self.refused = 0
        self.errors = {}

    def _start(self):
        i = self.started
        self.started += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((self.sources[i % len(self.sources)], 0))
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            self.errors[os.strerror(err)] = self.errors.get(os.strerror(err), 0) + 1
            s.close()
            self.done += 1
            return
        proto = ("peyk.v1", "echo-protocol", None)[i % 3]
        st = {"i": i, "leave": self.LEAVE[i % len(self.LEAVE)], "buf": b"", "phase": "connect",
              "req": _handshake(self.port, self.tokens[i % len(self.tokens)], proto)}
        self.sel.register(s, selectors.EVENT_WRITE, st)

    def _finish(self, s, how):
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        if how == "rst":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif how == "close-frame":
            try:
                s.send(ws_frame(0x8, struct.pack("!H", 1000)))
            except OSError:
                pass
        s.close()
        self.done += 1

    def run(self, timeout):
        deadline = time.monotonic() + timeout
        while self.done < self.total:
            while self.started < self.total and self.started - self.done < self.window:
                self._start()
            assert time.monotonic() < deadline, \
                f"churn stalled: {self.done} of {self.total} done, errors {self.errors}"
            for key, _ in self.sel.select(timeout=1):
                s, st = key.fileobj, key.data
                if st["phase"] == "connect":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        self.errors[os.strerror(err)] = self.errors.get(os.strerror(err), 0) + 1
                        self._finish(s, "fin")
                        continue
                    if st["leave"] == "mid-handshake":
                        try:
                            s.send(st["req"][:40])
                        except OSError:
                            pass
                        self._finish(s, "rst")
                        continue
                    try:
                        s.send(st["req"])
                    except OSError as e:
                        self.errors[str(e)] = self.errors.get(str(e), 0) + 1
                        self._finish(s, "fin")
                        continue
                    st["phase"] = "head"
                    self.sel.modify(s, selectors.EVENT_READ, st)
                    continue
                try:
                    chunk = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    self.errors[str(e)] = self.errors.get(str(e), 0) + 1
                    self._finish(s, "fin")
                    continue
                if not chunk:
                    self.errors["eof before 101"] = self.errors.get("eof before 101", 0) + 1
                    self._finish(s, "fin")
                    continue
                st["buf"] += chunk
                if b"\r\n\r\n" in st["buf"]:
                    status = st["buf"].split(b" ", 2)[1]
                    if status == b"101":
                        self.upgraded += 1
                    else:
                        self.refused += 1
                    self._finish(s, st["leave"])
        self.sel.close()


def loopback_sources(n):
    """127.0.0.2.. that can be bound (all of 127/8 is local on Linux)."""
    out = []
    for i in range(2, 2 + n):
        addr = f"127.0.0.{i}"
        s = socket.socket()
        try:
            s.bind((addr, 0))
            out.append(addr)
        except OSError:
            pass
        finally:
            s.close()
    return out or ["127.0.0.1"]


def test_50k_viewers_churn_and_everything_returns_to_baseline(server):
    srv = server()
    watcher = srv.viewer(srv.admin_token(sub="watcher"), "peyk.v1")
    srv.post_ok(srv.courier_token("churn-seed"), {"latitude": 5.0, "longitude": 5.0})
    watcher.collect_until(lambda l: uid_of(l) == "churn-seed", timeout=5 * SCALE)
    srv.http.close()
    time.sleep(0.2)
    fd0, rss0 = fd_count(srv.pid), srv.rss_kb()
    m0 = srv.metrics()
    srv.http.close()
    tokens = [srv.admin_token(sub=f"churn-{k}") for k in range(50)]
    tokens += [srv.dispatcher_token(["f1", "f2"], sub=f"churn-d{k}") for k in range(25)]
    tokens += [srv.customer_token([f"o{k}"], sub=f"churn-c{k}") for k in range(25)]
    sources = loopback_sources(8)
    t0 = time.monotonic()
    churn = Churn(srv.port, tokens, CHURN_VIEWERS, window=1000, sources=sources)
    churn.run(timeout=180 * SCALE)
    took = time.monotonic() - t0
    peak_rss = srv.rss_kb()
    # everyone left: every gauge and the descriptor count go back to where they were
    wait_until(lambda: srv.metrics().value("peyk_ws_connections") == 1, 20 * SCALE,
               interval=0.2, what="peyk_ws_connections back to 1 (the watcher)")
    wait_until(lambda: fd_count(srv.pid) <= fd0 + 2, 20 * SCALE, interval=0.2,
               what=f"server descriptors back to {fd0}")
    m1 = srv.metrics()
    srv.http.close()
    fd1, rss1 = fd_count(srv.pid), srv.rss_kb()
    accepted = m1.value("peyk_ws_accepted_total") - m0.value("peyk_ws_accepted_total")
    print(f"churn: {CHURN_VIEWERS} viewers through {len(sources)} source addresses in {took:.1f}s "
          f"({CHURN_VIEWERS / took:.0f}/s), {churn.upgraded} upgraded, {churn.refused} refused, "
          f"errors {churn.errors}; ws accepted {accepted:.0f}; fds {fd0} -> {fd1}; RSS {rss0} -> "
          f"peak {peak_rss} -> {rss1} kB")
    expected_upgrades = CHURN_VIEWERS - CHURN_VIEWERS // len(Churn.LEAVE)
    assert churn.refused == 0, f"{churn.refused} upgrades refused"
    assert churn.upgraded >= expected_upgrades * 0.99, \
        f"only {churn.upgraded} of ~{expected_upgrades} upgrades answered 101 ({churn.errors})"
    assert accepted >= churn.upgraded * 0.99
    if memory_bounds_apply():
        assert rss1 - rss0 < RSS_BOUND_MB * 1024, f"RSS {rss0} -> {rss1} kB after the churn"
    # the long-lived viewer saw nothing odd and still receives
    viewer_gets(srv, watcher, "after-churn", 9.0)
