"""(h) the update-interval policy (issue #15, PROTOCOL.md §10): what it saves.

`peyk serve --threads 1 --history off` on core 0 and `peyk simulate --couriers 1000` on
core 1; the simulated couriers follow `update_interval_seconds` each (they carry 1–3
orders while delivering and none on the way back). 5 % of them (couriers 1..50) are
watched: 50 peyk.v1 admin viewers each focus one (`{"type":"focus","courier":N}`). Two
runs of the same length:
- `policy`: peyk's defaults (watched 2 s, active 10 s, idle 60 s);
- `fixed 2 s`: every interval 2 s (`--interval-watched 2 --interval-active 2
  --interval-idle 2`), what a tracker without the policy would ask to keep watched
  couriers as fresh.
Reported: ingest requests/s (the couriers' messages, from /metrics), and the freshness of
the watched couriers — the age of their newest point as one of the admins sees it,
sampled every 0.25 s (p50/p99) — and the saving: 1 − messages/s with the policy ÷ fixed.

Standard library only (a minimal WebSocket client below). Run by `bench/run --scenarios h`.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import struct
import threading
import time
import urllib.request

COURIERS = 1000
WATCHED = 50  # 5 %
MODES = (
    ("policy", []),
    ("fixed 2 s", ["--interval-watched", "2", "--interval-active", "2", "--interval-idle", "2"]),
)


def _jwt(secret, claims):
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


class Ws:
    """A client WebSocket (RFC 6455) over a plain socket: masked text frames out,
    unfragmented text frames in (what peyk sends)."""

    def __init__(self, port, token, proto="peyk.v1"):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {proto}\r\n"
                        f"Authorization: Bearer {token}\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise RuntimeError("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"upgrade refused: {head.splitlines()[0]!r}")

    def send_text(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv(self):
        """The next frame: (opcode, payload)."""
        self._need(2)
        op, ln = self.buf[0] & 0x0F, self.buf[1] & 0x7F
        off = 2
        if ln == 126:
            self._need(4)
            ln, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif ln == 127:
            self._need(10)
            ln, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + ln)
        payload, self.buf = self.buf[off:off + ln], self.buf[off + ln:]
        return op, payload

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def _ingest_total(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(v) for v in re.findall(r'^peyk_ingest_requests_total\{status="200"\} (\S+)',
                                           text, re.M))


def _pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _one(ctx, run_mod, label, flags, seconds, warm):
    port = run_mod.free_port()
    env = dict(os.environ, PEYK_JWT_SECRET=ctx.secret)
    tag = label.replace(" ", "-")
    srv = run_mod.Proc(["taskset", "-c", run_mod.SERVER_CORE, ctx.peyk, "serve", "--listen",
                        f"127.0.0.1:{port}", "--threads", "1", "--rate-limit", "0", "--history",
                        "off", "--log-level", "warn"] + run_mod.PEYK_LOAD_FLAGS + flags,
                       os.path.join(ctx.raw, f"h-{tag}-serve.log"), env=env)
    sim = viewers = None
    halt = threading.Event()
    try:
        if not run_mod.wait_port(port, srv.p):
            raise RuntimeError(f"peyk serve did not start (log: {srv.log.name})")
        sim = run_mod.Proc(["taskset", "-c", run_mod.LOAD_CORE, ctx.peyk, "simulate", "--target",
                            f"http://127.0.0.1:{port}", "--couriers", str(COURIERS),
                            "--duration", str(int(seconds + warm + 30))],
                           os.path.join(ctx.raw, f"h-{tag}-simulate.log"), env=env)
        exp = int(time.time()) + 3600
        viewers = []
        for c in range(1, WATCHED + 1):
            ws = Ws(port, _jwt(ctx.secret, {"sub": f"bench-admin-{c}", "role": "admin", "exp": exp}))
            ws.send_text(json.dumps({"type": "focus", "courier": c}))
            viewers.append(ws)
        # One of them keeps the newest ts of each watched courier; the others are drained.
        newest = {}
        lock = threading.Lock()

        def read(ws, record):
            try:
                while not halt.is_set():
                    op, payload = ws.recv()
                    if op == 8:
                        return
                    if not record or op != 1:
                        continue
                    frame = json.loads(payload)
                    for loc in frame.get("locations", []):
                        uid = loc.get("user", {}).get("id")
                        if isinstance(uid, int) and uid <= WATCHED and loc.get("ts"):
                            with lock:
                                newest[uid] = max(newest.get(uid, 0), loc["ts"])
            except (EOFError, OSError, ValueError):
                return

        threads = [threading.Thread(target=read, args=(ws, i == 0), daemon=True)
                   for i, ws in enumerate(viewers)]
        for t in threads:
            t.start()
        time.sleep(warm)  # every courier has posted once and learned its interval
        n0, t0 = _ingest_total(port), time.time()
        ages = []
        while time.time() - t0 < seconds:
            time.sleep(0.25)
            now_us = time.time() * 1e6
            with lock:
                ages += [(now_us - ts) / 1e6 for ts in newest.values()]
        n1, t1 = _ingest_total(port), time.time()
        return {"label": label, "msgs_per_s": (n1 - n0) / (t1 - t0), "seconds": t1 - t0,
                "watched_seen": len(newest), "age_p50": _pct(ages, 0.5), "age_p99": _pct(ages, 0.99)}
    finally:
        halt.set()
        for ws in viewers or []:
            ws.close()
        if sim:
            sim.stop()
        srv.stop()


def run(ctx, run_mod):
    # Idle couriers post every 60 s: the warm-up holds two of their posts (the first ones
    # are spread over the first interval), the window a few more.
    seconds, warm = (40, 70) if ctx.quick else (180, 130)
    results = []
    if "peyk-serve" not in ctx.servers:
        ctx.results["h"] = results
        return
    for label, flags in MODES:
        run_mod.log(f"(h) interval policy: {label}")
        try:
            r = _one(ctx, run_mod, label, flags, seconds, warm)
        except (RuntimeError, OSError) as e:
            results.append({"label": label, "error": str(e)})
            continue
        results.append(r)
        run_mod.log(f"    {r['msgs_per_s']:,.1f} msg/s, watched age p50 {r['age_p50']:.2f} s "
                    f"p99 {r['age_p99']:.2f} s")
    ctx.results["h"] = results


def report(ctx, out, run_mod):
    res = ctx.results.get("h")
    if res is None:
        return
    out.append("## (h) The update-interval policy: messages saved, freshness kept\n")
    out.append(f"`peyk serve` on core 0, `peyk simulate --couriers {COURIERS:,}` on core 1 (each "
               "courier follows the interval it is answered; 1–3 orders while delivering, none "
               f"on the way back); couriers 1–{WATCHED} ({WATCHED / COURIERS:.0%}) watched: "
               f"{WATCHED} peyk.v1 admins each focus one. `policy`: the defaults (watched 2 s, "
               "active 10 s, idle 60 s); `fixed 2 s`: every interval 2 s. Messages/s = ingest "
               "200s/s over the window after a warm-up; age = now − `ts` of the newest point of "
               "a watched courier, as a focusing admin receives it, sampled every 0.25 s.\n")
    out.append("| intervals | messages/s | watched seen | age p50 | age p99 | window |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for r in res:
        if "error" in r:
            out.append(f"| {r['label']} | not run: {r['error']} | | | | |")
            continue
        fmt = lambda v: "–" if v is None else f"{v:.2f} s"  # noqa: E731
        out.append(f"| {r['label']} | {r['msgs_per_s']:,.1f} | {r['watched_seen']}/{WATCHED} "
                   f"| {fmt(r['age_p50'])} | {fmt(r['age_p99'])} | {r['seconds']:.0f} s |")
    got = {r["label"]: r["msgs_per_s"] for r in res if "error" not in r}
    if got.get("policy") and got.get("fixed 2 s"):
        out.append(f"\nSaving: the policy sends {1 - got['policy'] / got['fixed 2 s']:.0%} fewer "
                   "messages than a fixed 2 s interval.")
    out.append("")
