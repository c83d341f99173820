"""Fixtures for peyk's black-box integration tests.

The tests start the real binary (build/peyk, or $PEYK_BIN) on a free loopback port
and talk to it only over HTTP / WebSocket / signals, as PROTOCOL.md describes.
Tokens are minted with PyJWT, independently of the server.
"""

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import jwt
import pytest
import requests
import websocket

try:  # Debian's python3-redis (redis-py); only the Redis tests need it
    import redis as redis_py
except ImportError:  # pragma: no cover - reported by the redis_server fixture
    redis_py = None

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEYK_BIN = os.environ.get("PEYK_BIN", os.path.join(ROOT, "build", "peyk"))
REDIS_SERVER = os.environ.get("PEYK_REDIS_SERVER", shutil.which("redis-server") or "redis-server")
START_TIMEOUT = 10.0
RECV_TIMEOUT = 5.0


def have_binary():
    return os.path.isfile(PEYK_BIN) and os.access(PEYK_BIN, os.X_OK)


def require_binary():
    if not have_binary():
        # A missing binary is a failure, never a skip: a skipped test is not a pass.
        pytest.fail(f"peyk binary not found at {PEYK_BIN} (build it with `cmake --build build`)")


# ---------------------------------------------------------------------------------
# small utilities


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Polls pred() until it returns a truthy value; returns it or fails at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")
        time.sleep(interval)


def run_peyk(args, env=None, timeout=10, input=None):
    """Runs a short peyk command (help, token, failing serve) and returns CompletedProcess."""
    require_binary()
    full_env = clean_env()
    if env:
        full_env.update(env)
    return subprocess.run([PEYK_BIN, *args], env=full_env, capture_output=True, text=True,
                          timeout=timeout, input=input)


def clean_env():
    env = dict(os.environ)
    env.pop("PEYK_JWT_SECRET", None)
    return env


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims):
    """A token with alg "none" and an empty signature (must always be rejected)."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    return f"{header}.{payload}."


def mint(secret, role, sub, ttl=3600, alg="HS256", exp=None, omit_exp=False, **claims):
    now = int(time.time())
    payload = {"sub": str(sub), "role": role, "iat": now}
    if not omit_exp:
        payload["exp"] = exp if exp is not None else now + int(ttl)
    for k, v in claims.items():
        if v is not None:
            payload[k] = v
    return jwt.encode(payload, secret, algorithm=alg)


def uid(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------------
# Prometheus text parsing

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?\s*$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def series_key(name, labels):
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


class Metrics(dict):
    """{'name{a="1",b="2"}': value} with labels sorted; .types maps family -> type."""

    def __init__(self, text):
        super().__init__()
        self.text = text
        self.types = {}
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3]
                continue
            m = _SAMPLE.match(line)
            if not m:
                raise AssertionError(f"unparsable metrics line: {line!r}")
            name, labels, value = m.group(1), m.group(2), m.group(3)
            lab = dict(_LABEL.findall(labels or ""))
            self[series_key(name, lab)] = float(value)

    def value(self, name, default=0.0, **labels):
        return self.get(series_key(name, labels), default)

    def has_family(self, name):
        if name in self.types:
            return True
        return any(k == name or k.startswith(name + "{") for k in self)

    def sum(self, name):
        return sum(v for k, v in self.items() if k == name or k.startswith(name + "{"))


# ---------------------------------------------------------------------------------
# WebSocket viewers


class ViewerClosed(Exception):
    def __init__(self, code, reason=b""):
        super().__init__(f"websocket closed by server, code={code} reason={reason!r}")
        self.code = code
        self.reason = reason


def _close_code(data):
    if data and len(data) >= 2:
        return struct.unpack("!H", data[:2])[0], data[2:]
    return None, b""


class Viewer:
    """A websocket-client connection plus helpers that understand both subprotocols."""

    def __init__(self, ws, proto, read_snapshot=True):
        self.ws = ws
        self.proto = proto
        self.snapshot = None
        self.frames = []  # every decoded data frame, in order
        if proto == "peyk.v1" and read_snapshot:
            first = self.recv_json()
            assert isinstance(first, dict) and first.get("type") == "snapshot", \
                f"first peyk.v1 frame must be a snapshot, got {first!r}"
            assert isinstance(first.get("locations"), list), f"snapshot without a list: {first!r}"
            self.snapshot = first["locations"]

    @property
    def subprotocol(self):
        return self.ws.getsubprotocol()

    def recv_json(self, timeout=RECV_TIMEOUT):
        """Next data frame as JSON; raises ViewerClosed on a close frame, timeout on none."""
        self.ws.settimeout(timeout)
        while True:
            opcode, data = self.ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                # websocket-client has answered the close frame; like a browser, also
                # close the TCP connection now
                code, reason = _close_code(data)
                self.ws.shutdown()
                raise ViewerClosed(code, reason)
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                obj = json.loads(data)
                self.frames.append(obj)
                return obj

    def recv_locations(self, timeout=RECV_TIMEOUT):
        """Location objects of the next frame that carries locations (status frames skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.01, deadline - time.monotonic())
            obj = self.recv_json(left)
            if self.proto == "peyk.v1":
                assert isinstance(obj, dict) and "type" in obj, f"peyk.v1 frame without type: {obj!r}"
                if obj["type"] == "locations":
                    assert isinstance(obj["locations"], list)
                    return obj["locations"]
                if obj["type"] == "status":
                    continue
                raise AssertionError(f"unexpected peyk.v1 frame: {obj!r}")
            assert isinstance(obj, dict) and "latitude" in obj and "user" in obj, \
                f"echo-protocol frame must be one location object, got {obj!r}"
            return [obj]

    def collect_until(self, pred, timeout=RECV_TIMEOUT):
        """Receives locations until one satisfies pred; returns all received (incl. that one)."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching location within {timeout}s; received {got!r}")
            try:
                locs = self.recv_locations(left)
            except websocket.WebSocketTimeoutException:
                raise AssertionError(f"no matching location within {timeout}s; received {got!r}")
            got.extend(locs)
            if any(pred(l) for l in locs):
                return got

    def expect_close(self, timeout=RECV_TIMEOUT):
        """Reads (discarding data) until the server's close frame; returns its code."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no close frame within {timeout}s")
            try:
                self.recv_json(left)
            except ViewerClosed as e:
                return e.code
            except websocket.WebSocketTimeoutException:
                raise AssertionError(f"no close frame within {timeout}s")

    def assert_silent(self, duration):
        """Asserts that no location frame arrives within duration seconds."""
        try:
            locs = self.recv_locations(duration)
        except websocket.WebSocketTimeoutException:
            return
        raise AssertionError(f"expected no frame, got {locs!r}")

    def close(self):
        try:
            self.ws.close(timeout=0.5)
        except Exception:
            pass


def uid_of(loc):
    return str(loc["user"]["id"])


# ---------------------------------------------------------------------------------
# raw sockets (for what websocket-client cannot do: never read, never pong)


def read_viewer_frames(ws, proto, halt, conn_no, closes, errors, on_locations, on_other=None):
    """A recording viewer's read loop, until `halt` is set or the connection ends: each
    batch of live locations goes to on_locations(locs, t); a close is appended to `closes`
    as (conn_no, t, code), a failure to `errors` as (conn_no, text); other peyk.v1 frames
    go to on_other(obj), if given."""
    ws.settimeout(0.2)
    while not halt.is_set():
        try:
            op, frame = ws.recv_data_frame(control_frame=True)
        except websocket.WebSocketTimeoutException:
            continue
        except Exception as e:  # noqa: BLE001 - recorded, asserted on by the caller
            errors.append((conn_no, repr(e)))
            return
        if op == websocket.ABNF.OPCODE_CLOSE:
            closes.append((conn_no, time.monotonic(), _close_code(frame.data)[0]))
            return
        if op not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            continue
        obj = json.loads(frame.data)
        t = time.monotonic()
        if proto != "peyk.v1":
            on_locations([obj], t)
        elif obj.get("type") == "locations":
            on_locations(obj["locations"], t)
        elif on_other:
            on_other(obj)


def stop_reader(halt, thread, ws):
    """Stops a read_viewer_frames thread (if started) and closes its connection."""
    halt.set()
    if thread:
        thread.join(3)
    try:
        ws.close(timeout=0.5)
    except Exception:  # noqa: BLE001 - already closed or broken: nothing to stop
        pass


def read_http_head(sock, timeout=RECV_TIMEOUT):
    """Reads an HTTP response head; returns (status, headers dict lowercased, leftover bytes)."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before a full response head: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def read_http_response(sock, timeout=RECV_TIMEOUT):
    """Reads a whole HTTP response (Content-Length or until close); returns (status, headers, body)."""
    status, headers, body = read_http_head(sock, timeout)
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        raw = body
        out = b""
        while True:
            while b"\r\n" not in raw:
                c = sock.recv(65536)
                if not c:
                    return status, headers, out
                raw += c
            size_line, raw = raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(raw) < size + 2:
                c = sock.recv(65536)
                if not c:
                    break
                raw += c
            if size == 0:
                break
            out += raw[:size]
            raw = raw[size + 2:]
        body = out
    else:
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return status, headers, body


class RawWs:
    """A WebSocket client on a bare socket: it reads only when asked and never pongs."""

    def __init__(self, sock, leftover=b""):
        self.sock = sock
        self.buf = leftover

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("raw ws read timed out")
            self.sock.settimeout(left)
            chunk = self.sock.recv(262144)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk

    def read_frame(self, timeout=RECV_TIMEOUT):
        """Returns (opcode, payload). EOFError when the server closed the TCP connection."""
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        opcode = b0 & 0x0F
        masked = b1 & 0x80
        n = b1 & 0x7F
        hdr = 2
        if n == 126:
            self._fill(4, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            hdr = 4
        elif n == 127:
            self._fill(10, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            hdr = 10
        if masked:
            hdr += 4
        self._fill(hdr + n, deadline)
        payload = self.buf[hdr:hdr + n]
        self.buf = self.buf[hdr + n:]
        return opcode, payload

    def send_frame(self, opcode, payload=b""):
        mask = os.urandom(4)
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_ws_connect(port, token, path="/ws", subprotocol=None, rcvbuf=None, timeout=RECV_TIMEOUT):
    """Performs the opening handshake on a raw socket; returns RawWs or raises on non-101."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             f"Authorization: Bearer {token}"]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, headers, rest = read_http_head(sock, timeout)
    if status != 101:
        sock.close()
        raise AssertionError(f"raw websocket handshake answered {status}, expected 101")
    return RawWs(sock, rest)


# ---------------------------------------------------------------------------------
# the server under test


class Server:
    """One peyk process: `peyk <role> --listen 127.0.0.1:<port> ...args` (role: serve,
    ingest or gateway)."""

    def __init__(self, args, env=None, secret=None, use_env_secret=True, port=None, role="serve",
                 preexec_fn=None, data_dir="auto", cwd=None):
        require_binary()
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.secret = secret or secrets.token_hex(32)
        self.base = f"http://{self.host}:{self.port}"
        self.ws_url = f"ws://{self.host}:{self.port}/ws"
        self.role = role
        self.args = [role, "--listen", f"{self.host}:{self.port}", *[str(a) for a in args]]
        # `serve` and `demo` record tracks in <--data-dir>/history.sqlite by default
        # (./peyk-data): each server gets a private directory unless the test names one,
        # gives --history, or passes data_dir=None to keep the default (then `cwd` matters).
        self.data_dir = None
        names = {a.split("=", 1)[0] for a in self.args}
        if data_dir == "auto" and role in ("serve", "demo") and not names & {"--data-dir", "--history"}:
            self.data_dir = tempfile.mkdtemp(prefix="peyk-data-")
            self.args += ["--data-dir", self.data_dir]
        self.env = clean_env()
        if use_env_secret:
            self.env["PEYK_JWT_SECRET"] = self.secret
        if env:
            self.env.update(env)
        self._stderr = tempfile.NamedTemporaryFile(prefix="peyk-stderr-", suffix=".log", delete=False)
        self._stdout = tempfile.NamedTemporaryFile(prefix="peyk-stdout-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([PEYK_BIN, *self.args], env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._stdout, stderr=self._stderr,
                                     preexec_fn=preexec_fn, cwd=cwd)
        self.pid = self.proc.pid
        self.http = requests.Session()
        self._viewers = []
        self._raw = []
        self.signalled = False
        self._wait_healthy()

    # ---- process
    def _wait_healthy(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"peyk exited with {self.proc.returncode} during start-up; "
                                     f"args={self.args}\nstderr:\n{self.stderr_text()}")
            try:
                r = requests.get(self.base + "/healthz", timeout=1)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"peyk did not answer GET /healthz 200 within {START_TIMEOUT}s; "
                             f"args={self.args}\nstderr:\n{self.stderr_text()}")

    def stderr_text(self, limit=20000):
        try:
            with open(self._stderr.name, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else "...\n" + text[-limit:]

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc status")

    def send_signal(self, sig):
        self.signalled = True
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self, timeout=8.0):
        """SIGTERM, then SIGKILL; returns the exit status (negative: killed by signal)."""
        for v in self._viewers:
            v.close()
        for r in self._raw:
            r.close()
        self.http.close()
        if self.proc.poll() is None:
            self.signalled = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return "killed-after-timeout"
        return self.proc.returncode

    def cleanup_files(self):
        for f in (self._stderr, self._stdout):
            try:
                f.close()
                os.unlink(f.name)
            except OSError:
                pass
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def stdout_text(self):
        try:
            with open(self._stdout.name, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # ---- tokens
    def token(self, role, sub, **kw):
        return mint(self.secret, role, sub, **kw)

    def courier_token(self, sub=None, name=None, fleet=None, **kw):
        return mint(self.secret, "courier", sub if sub is not None else uid("c"), name=name,
                    fleet=fleet, **kw)

    def admin_token(self, sub="admin-1", **kw):
        return mint(self.secret, "admin", sub, **kw)

    def dispatcher_token(self, fleets, sub="disp-1", **kw):
        return mint(self.secret, "dispatcher", sub, fleets=list(fleets), **kw)

    def customer_token(self, orders, sub="cust-1", **kw):
        return mint(self.secret, "customer", sub, orders=list(orders), **kw)

    # ---- HTTP
    def post(self, token, body, content_type="application/json", headers=None, timeout=5):
        h = {}
        if content_type is not None:
            h["Content-Type"] = content_type
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if headers:
            h.update(headers)
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        return self.http.post(self.base + "/api/v1/locations", data=data, headers=h, timeout=timeout)

    def post_ok(self, token, body):
        r = self.post(token, body)
        assert r.status_code == 200, f"POST answered {r.status_code}: {r.text[:500]}"
        return r

    def get(self, path, **kw):
        kw.setdefault("timeout", 5)
        return requests.get(self.base + path, **kw)

    def metrics(self):
        r = self.get("/metrics")
        assert r.status_code == 200, f"/metrics answered {r.status_code}"
        return Metrics(r.text)

    def ready(self):
        """True when GET /readyz answers 200 (the broker is connected)."""
        try:
            return self.get("/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout=10):
        wait_until(self.ready, timeout, what=f"/readyz 200 from peyk {self.role} (pid {self.pid})")
        return self

    # ---- WebSocket
    def viewer(self, token, proto=None, carrier="header", origin=None, suppress_origin=False,
               read_snapshot=True, timeout=RECV_TIMEOUT, path="/ws"):
        v = Viewer(self.connect_ws(token, proto, carrier, origin, suppress_origin, timeout, path),
                   proto, read_snapshot)
        self._viewers.append(v)
        return v

    def connect_ws(self, token, proto=None, carrier="header", origin=None, suppress_origin=False,
                   timeout=RECV_TIMEOUT, path="/ws"):
        url = f"ws://{self.host}:{self.port}{path}"
        kw = {"timeout": timeout}
        if token is not None:
            if carrier == "header":
                kw["header"] = [f"Authorization: Bearer {token}"]
            elif carrier == "query":
                url += ("&" if "?" in url else "?") + "token=" + token
            elif carrier == "cookie":
                kw["cookie"] = f"peyk_token={token}"
            else:
                raise ValueError(carrier)
        if proto:
            kw["subprotocols"] = [proto]
        if origin is not None:
            kw["origin"] = origin
        if suppress_origin:
            kw["suppress_origin"] = True
        return websocket.create_connection(url, **kw)

    def ws_status(self, token, **kw):
        """The HTTP status of an upgrade attempt: 101 on success, else the refusal's status."""
        try:
            ws = self.connect_ws(token, **kw)
        except websocket.WebSocketBadStatusException as e:
            return e.status_code
        ws.close(timeout=0.5)
        return 101

    def raw_viewer(self, token, **kw):
        r = raw_ws_connect(self.port, token, **kw)
        self._raw.append(r)
        return r


# ---------------------------------------------------------------------------------
# Redis (a private redis-server per test, spoken to with redis-py)


class RedisServer:
    """A redis-server on a free loopback port, without persistence. kill() is `kill -9`;
    start() again reuses the same port (what a restarted Redis looks like to peyk)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="peyk-redis-")
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = None
        self._clients = []
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout=5.0):
        assert self.proc is None or self.proc.poll() is not None, "redis-server already running"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self.dir],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ping, timeout, interval=0.01, what=f"redis-server on port {self.port} to answer PING")
        return self

    def ping(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}:\n{self.log_text()}")
        c = redis_py.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5,
                           socket_connect_timeout=0.5)
        try:
            return c.ping()
        except redis_py.RedisError:
            return False
        finally:
            c.close()

    def client(self, **kw):
        """A redis-py client (closed at teardown)."""
        kw.setdefault("socket_timeout", 5)
        kw.setdefault("socket_connect_timeout", 2)
        c = redis_py.Redis(host="127.0.0.1", port=self.port, **kw)
        self._clients.append(c)
        return c

    def publish(self, channel, message):
        """PUBLISH (str or bytes, sent as is); returns the number of subscribers reached."""
        return self.client().publish(channel, message)

    def subscribe(self, channel):
        """A Subscription whose SUBSCRIBE Redis has confirmed."""
        return Subscription(self.client(), channel)

    def kill(self):
        """SIGKILL (no shutdown, no goodbye to the clients) and wait for the process."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients.clear()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self, limit=5000):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""


class Subscription:
    """A redis-py pub/sub subscriber on one channel."""

    def __init__(self, client, channel):
        self.channel = channel
        self.pubsub = client.pubsub()
        self.pubsub.subscribe(channel)
        deadline = time.monotonic() + RECV_TIMEOUT
        while True:  # wait for Redis to confirm, so nothing published after this is missed
            m = self.pubsub.get_message(timeout=0.1)
            if m and m["type"] == "subscribe":
                break
            if time.monotonic() >= deadline:
                raise AssertionError(f"SUBSCRIBE {channel} not confirmed within {RECV_TIMEOUT}s")

    def next_message(self, timeout=RECV_TIMEOUT):
        """The next message's data (bytes); fails after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no message on {self.channel} within {timeout}s")
            m = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=min(left, 0.5))
            if m and m["type"] == "message":
                return m["data"]

    def close(self):
        try:
            self.pubsub.close()
        except Exception:
            pass


def require_redis():
    """Redis tests fail (never skip) without redis-server or python3-redis."""
    if shutil.which(REDIS_SERVER) is None:
        pytest.fail("redis-server is not installed (scripts/setup.sh installs it)")
    if redis_py is None:
        pytest.fail("python3-redis (redis-py) is not installed (scripts/setup.sh installs it)")


@pytest.fixture
def redis_server(request):
    """A private redis-server on a free loopback port, stopped (killed if need be) and
    its directory removed at the end of the test."""
    require_redis()
    r = RedisServer()
    request.node._peyk_redis = r
    yield r
    r.stop()
    shutil.rmtree(r.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------
# pytest wiring


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cluster: needs a Redis Cluster (redis-server, redis-cli) and haproxy; "
        "fails, never skips, when they are missing")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed and rep.when in ("call", "setup"):
        for srv in getattr(item, "_peyk_servers", []):
            rep.sections.append((f"peyk stderr (pid {srv.pid}, args {' '.join(srv.args)})",
                                 srv.stderr_text()))
        r = getattr(item, "_peyk_redis", None)
        if r is not None:
            rep.sections.append((f"redis-server log (port {r.port})", r.log_text()))
        c = getattr(item, "_peyk_cluster", None)  # cluster_fixtures.py
        if c is not None:
            rep.sections.append((f"Redis Cluster ({c.summary()})", c.log_text()))
        hp = getattr(item, "_peyk_haproxy", None)
        if hp is not None:
            rep.sections.append((f"haproxy log (port {hp.port})", hp.log_text()))


_CRASH_MARKERS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:",
                  "terminate called", "Segmentation fault")


@pytest.fixture
def server(request):
    """Factory: server(*extra_flags, env=None, secret=None, role="serve") starts
    `peyk <role>` (serve, ingest or gateway) and waits until it is healthy. Every server
    started is stopped (SIGTERM, then SIGKILL) at the end of the test; a crash (signal or
    sanitizer report) fails the test in teardown."""
    started = []
    request.node._peyk_servers = started

    def start(*args, **kw):
        srv = Server(list(args), **kw)
        started.append(srv)
        return srv

    yield start

    problems = []
    for srv in started:
        already_dead = srv.proc.poll() is not None
        rc = srv.stop()
        stderr = srv.stderr_text()
        if already_dead and not srv.signalled:
            problems.append(f"peyk (pid {srv.pid}) died during the test with status {rc}")
        elif rc == "killed-after-timeout":
            problems.append(f"peyk (pid {srv.pid}) did not exit within 8s of SIGTERM")
        elif isinstance(rc, int) and rc < 0 and rc not in (-signal.SIGTERM, -signal.SIGKILL):
            problems.append(f"peyk (pid {srv.pid}) died from signal {-rc}")
        if any(m in stderr for m in _CRASH_MARKERS):
            problems.append(f"peyk (pid {srv.pid}) printed a crash/sanitizer report")
        if problems:
            problems.append(f"stderr of pid {srv.pid}:\n{stderr}")
        srv.cleanup_files()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def peyk_bin():
    require_binary()
    return PEYK_BIN
