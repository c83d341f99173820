"""Connection limits (PROTOCOL.md §12, issue #12 finding 6): viewers per token, viewers
per process, connections per address, the descriptor reserve that keeps /healthz,
/metrics and ingest answering when viewers exhaust descriptors, and auth before body."""

import base64
import json
import os
import resource
import socket
import time

import pytest

from conftest import RECV_TIMEOUT, read_http_head, read_http_response, uid, wait_until


def upgrade(port, token, timeout=RECV_TIMEOUT):
    """A WebSocket upgrade on a raw socket. Returns (status, headers, body, sock): on 101
    the socket stays open (the viewer lives) and body is b""; otherwise it is closed."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET /ws HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             f"Authorization: Bearer {token}"]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, headers, rest = read_http_head(sock, timeout)
    if status == 101:
        return status, headers, b"", sock
    body = rest
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    sock.close()
    return status, headers, body, None


def assert_limit_refusal(status, headers, body, want_status, want_code):
    assert status == want_status, (status, headers, body)
    assert "retry-after" in headers, headers
    assert headers.get("content-type", "").startswith("application/json"), headers
    obj = json.loads(body)
    assert obj["error"] == want_code and obj["message"], obj


def http_get(port, path, timeout=RECV_TIMEOUT, keep=False):
    """GET on a new connection; returns (status, headers, body[, sock if keep])."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    conn = "keep-alive" if keep else "close"
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: {conn}\r\n\r\n"
                 .encode())
    if keep:
        status, headers, rest = read_http_head(sock, timeout)
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            rest += sock.recv(65536)
        return status, headers, rest, sock
    status, headers, body = read_http_response(sock, timeout)
    sock.close()
    return status, headers, body


def test_one_token_gets_16_viewers_and_the_17th_is_refused_429(server):
    srv = server()
    token = srv.customer_token(["A1"], sub="cust-many")
    held = []
    try:
        for i in range(16):
            status, headers, body, sock = upgrade(srv.port, token)
            assert status == 101, f"viewer {i + 1} of 16: {status} {body!r}"
            held.append(sock)
        status, headers, body, _ = upgrade(srv.port, token)
        assert_limit_refusal(status, headers, body, 429, "too_many_viewers")
        # another identity has its own share
        other = upgrade(srv.port, srv.customer_token(["A1"], sub="cust-other"))
        assert other[0] == 101
        held.append(other[3])
        # the share comes back when a viewer leaves
        held.pop(0).close()

        def again():
            status, _, _, sock = upgrade(srv.port, token)
            if sock:
                held.append(sock)
            return status == 101
        wait_until(again, 10, interval=0.1, what="a slot back after a viewer left")
        m = srv.metrics()
        assert m.value("peyk_limit_refused_total", limit="per_token") >= 1
    finally:
        for s in held:
            s.close()


def test_max_viewers_refuses_the_next_with_503(server):
    srv = server("--max-viewers", "3")
    held = []
    try:
        for i in range(3):
            status, _, body, sock = upgrade(srv.port, srv.admin_token(sub=f"adm-{i}"))
            assert status == 101, (i, status, body)
            held.append(sock)
        status, headers, body, _ = upgrade(srv.port, srv.admin_token(sub="adm-4"))
        assert_limit_refusal(status, headers, body, 503, "server_full")
        assert srv.metrics().value("peyk_limit_refused_total", limit="max_viewers") >= 1
        # health, metrics and ingest are not viewers
        assert srv.get("/healthz").status_code == 200
        srv.post_ok(srv.courier_token(), {"latitude": 1, "longitude": 2})
    finally:
        for s in held:
            s.close()


def test_connections_per_address_http_and_websocket_together(server):
    srv = server("--max-connections-per-ip", "4")
    held = []
    try:
        for i in range(2):
            status, _, body, sock = upgrade(srv.port, srv.admin_token(sub=f"ip-{i}"))
            assert status == 101, (status, body)
            held.append(sock)
        for _ in range(2):
            status, _, _, sock = http_get(srv.port, "/healthz", keep=True)
            assert status == 200
            held.append(sock)
        # a fifth connection from 127.0.0.1: HTTP and upgrades alike are refused
        status, headers, body = http_get(srv.port, "/healthz")
        assert_limit_refusal(status, headers, body, 429, "too_many_connections")
        status, headers, body, _ = upgrade(srv.port, srv.admin_token(sub="ip-x"))
        assert_limit_refusal(status, headers, body, 429, "too_many_connections")
        held.pop().close()  # an HTTP connection leaves, then a viewer
        held.pop(0).close()

        def answered():
            status = http_get(srv.port, "/metrics")[0]
            return status == 200
        wait_until(answered, 10, interval=0.1, what="a slot back for 127.0.0.1")
        m = srv.metrics()
        assert m.value("peyk_limit_refused_total", limit="per_ip") >= 2
    finally:
        for s in held:
            s.close()


def _nofile_1024():
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def test_viewers_exhausting_descriptors_leave_health_metrics_and_ingest_working(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 and hard > soft:  # this test holds ~1,000 sockets itself
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    srv = server("--threads", "2", "--rate-limit", "0", preexec_fn=_nofile_1024)
    with open(f"/proc/{srv.pid}/limits") as f:
        assert any(l.startswith("Max open files") and " 1024 " in l for l in f), \
            "the child should run with RLIMIT_NOFILE 1024 (soft and hard)"
    held = []
    refused = None
    try:
        for i in range(1100):
            status, headers, body, sock = upgrade(srv.port, srv.admin_token(sub=f"fd-{i}"),
                                                  timeout=10)
            if status != 101:
                refused = (status, headers, body)
                break
            held.append(sock)
        assert refused is not None, "1,100 viewers admitted under a limit of 1,024 descriptors"
        assert_limit_refusal(*refused, 503, "server_full")
        assert len(held) >= 800, f"only {len(held)} viewers before the refusal"
        # the reserve: what keeps the service up
        assert http_get(srv.port, "/healthz")[0] == 200
        status, _, body = http_get(srv.port, "/metrics")
        assert status == 200
        assert b'peyk_limit_refused_total{limit="descriptors"}' in body
        srv.post_ok(srv.courier_token(sub="fd-courier"), {"latitude": 35.7, "longitude": 51.4})
        # and a viewer admitted before the exhaustion still gets the point (the newest:
        # these raw viewers never answer a ping)
        sock = held[-1]
        sock.settimeout(10)
        data = b""
        while b"fd-courier" not in data:
            chunk = sock.recv(65536)
            assert chunk, "viewer closed"
            data += chunk
        print(f"{len(held)} viewers admitted under RLIMIT_NOFILE 1024, then {refused[0]}")
    finally:
        for s in held:
            s.close()


def _post_head(port, headers, timeout):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    lines = ["POST /api/v1/locations HTTP/1.1", f"Host: 127.0.0.1:{port}", *headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


@pytest.mark.parametrize("length", [60_000, 50_000_000])
def test_unauthenticated_post_is_answered_401_before_its_body(server, length):
    # A long body timeout: without auth on the head, the answer would wait for the body.
    srv = server("--body-timeout", "300")
    for auth in ([], ["Authorization: Bearer not.a.token"]):
        sock = _post_head(srv.port, ["Content-Type: application/json",
                                     f"Content-Length: {length}", *auth], timeout=30)
        try:
            status, headers, body = read_http_response(sock, timeout=30)
        except socket.timeout:
            pytest.fail(f"no answer to a {length}-byte POST {auth} whose body was never sent")
        finally:
            sock.close()
        assert status == 401, (status, body)
        assert json.loads(body)["error"], body
        assert headers.get("connection", "").lower() == "close"


def test_authorized_post_head_is_checked_before_the_body(server):
    srv = server("--body-timeout", "300")
    token = srv.courier_token(sub=uid("c"))
    # too large for --max-body: 413 at once, without reading it
    sock = _post_head(srv.port, ["Content-Type: application/json", "Content-Length: 50000000",
                                 f"Authorization: Bearer {token}"], timeout=30)
    status, _, body = read_http_response(sock, timeout=30)
    sock.close()
    assert status == 413, (status, body)
    # a dispatcher may not post: 403 at once
    sock = _post_head(srv.port, ["Content-Type: application/json", "Content-Length: 100",
                                 f"Authorization: Bearer {srv.dispatcher_token(['f1'])}"],
                      timeout=30)
    status, _, body = read_http_response(sock, timeout=30)
    sock.close()
    assert status == 403, (status, body)
    # Expect: 100-continue is answered once the head is accepted, then the body is read
    payload = json.dumps({"latitude": 1.5, "longitude": 2.5}).encode()
    sock = _post_head(srv.port, ["Content-Type: application/json",
                                 f"Content-Length: {len(payload)}", "Expect: 100-continue",
                                 f"Authorization: Bearer {token}"], timeout=30)
    status, _, rest = read_http_head(sock, timeout=30)
    assert status == 100
    sock.sendall(payload)
    status, _, body = read_http_response(sock, timeout=30)
    sock.close()
    assert status == 200, (status, body)


def test_a_rejected_post_with_its_body_sent_still_reads_its_answer(server):
    """The body is not read after a refusal; the client that sent it anyway must still
    get the answer (no reset under it)."""
    srv = server()
    big = b"x" * 60_000
    for _ in range(20):
        sock = _post_head(srv.port, ["Content-Type: application/json",
                                     f"Content-Length: {len(big)}"], timeout=10)
        sock.sendall(big)
        status, _, body = read_http_response(sock, timeout=10)
        sock.close()
        assert status == 401, (status, body)
