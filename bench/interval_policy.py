#!/usr/bin/env python3
"""The update-interval policy's effect (issue #15, PROTOCOL.md §10).

1,000 simulated couriers (`peyk simulate`, which posts at the `update_interval_seconds`
each answer gives it) against one `peyk serve`; 5 % of them (50) are watched: each is
focused by a dispatcher of its fleet over peyk.v1. Two runs:

  policy  the defaults: watched 2 s, carrying orders 10 s, idle 60 s
  fixed   every courier 2 s (--interval-watched/active/idle 2s)

Reported: ingest requests/s (posts answered 200) over the measuring window, and the
freshness of the watched couriers as their dispatchers see them: every 200 ms, the age
of the newest position each dispatcher holds for its focused courier (now - its `ts`).

    /usr/bin/python3 bench/interval_policy.py [--warmup 70] [--measure 60] [--out FILE]

Needs build/peyk and python3-websocket. Not a pass/fail test.
"""

import argparse
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import jwt
import websocket

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PEYK = os.environ.get("PEYK_BIN", os.path.join(ROOT, "build", "peyk"))
COURIERS = 1000
FLEETS = 20          # the simulator's courier i works for store-<i % fleets>
WATCHED = 50         # 5 %


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ok_posts(base):
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    m = re.search(r'^peyk_ingest_requests_total\{status="200"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else 0


class Watcher(threading.Thread):
    """A dispatcher of courier `cid`'s fleet that focuses it and tracks its newest ts."""

    def __init__(self, url, token, cid):
        super().__init__(daemon=True)
        self.cid = cid
        self.newest_ts = None
        self.stop = False
        self.ws = websocket.create_connection(url, header=[f"Authorization: Bearer {token}"],
                                              subprotocols=["peyk.v1"], timeout=1)
        self.last_focus = 0

    def run(self):
        while not self.stop:
            now = time.monotonic()
            if now - self.last_focus > 3:  # until the store knows the courier's fleet
                self.ws.send(json.dumps({"type": "focus", "courier": self.cid}))
                self.last_focus = now
            try:
                op, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:
                return
            if op != websocket.ABNF.OPCODE_TEXT:
                continue
            obj = json.loads(data)
            for loc in obj.get("locations", []):
                if str(loc["user"]["id"]) == self.cid:
                    ts = loc.get("ts")
                    if ts and (self.newest_ts is None or ts > self.newest_ts):
                        self.newest_ts = ts


def run(name, flags, warmup, measure):
    secret = secrets.token_hex(32)
    env = dict(os.environ, PEYK_JWT_SECRET=secret)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([PEYK, "serve", "--listen", f"127.0.0.1:{port}", "--history", "off",
                            "--rate-limit", "0", *flags], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sim = None
    watchers = []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        sim = subprocess.Popen([PEYK, "simulate", "--target", base, "--couriers", str(COURIERS),
                                "--fleets", str(FLEETS), "--duration", str(warmup + measure + 5)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        exp = int(time.time()) + 3600
        for k in range(WATCHED):
            cid = str(k * (COURIERS // WATCHED) + 1)
            fleet = f"store-{int(cid) % FLEETS}"
            tok = jwt.encode({"sub": f"d{k}", "role": "dispatcher", "fleets": [fleet], "exp": exp},
                             secret, algorithm="HS256")
            w = Watcher(f"ws://127.0.0.1:{port}/ws", tok, cid)
            w.start()
            watchers.append(w)
        time.sleep(warmup)
        n0, t0 = ok_posts(base), time.monotonic()
        ages = []
        while time.monotonic() - t0 < measure:
            now_us = time.time_ns() // 1000
            for w in watchers:
                if w.newest_ts:
                    ages.append((now_us - w.newest_ts) / 1e6)
            time.sleep(0.2)
        n1, t1 = ok_posts(base), time.monotonic()
        rate = (n1 - n0) / (t1 - t0)
        ages.sort()
        q = lambda p: ages[min(len(ages) - 1, int(p * len(ages)))]
        seen = sum(1 for w in watchers if w.newest_ts)
        return {"name": name, "posts_per_s": rate, "age_p50": q(0.5), "age_p95": q(0.95),
                "age_max": ages[-1], "age_mean": statistics.fmean(ages), "watched_seen": seen,
                "samples": len(ages)}
    finally:
        for w in watchers:
            w.stop = True
            try:
                w.ws.close()
            except Exception:
                pass
        if sim and sim.poll() is None:
            sim.terminate()
            sim.wait(10)
        srv.terminate()
        srv.wait(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=float, default=70)
    ap.add_argument("--measure", type=float, default=60)
    ap.add_argument("--out")
    a = ap.parse_args()
    rows = [run("policy (2 s watched / 10 s orders / 60 s idle)", [], a.warmup, a.measure),
            run("fixed 2 s", ["--interval-watched", "2s", "--interval-active", "2s",
                              "--interval-idle", "2s"], a.warmup, a.measure)]
    lines = [f"# Update interval policy: {COURIERS} simulated couriers, {WATCHED} watched "
             f"(focused by a dispatcher each)", "",
             f"`/usr/bin/python3 bench/interval_policy.py --warmup {a.warmup:g} "
             f"--measure {a.measure:g}` on {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; one `peyk serve` "
             "(--history off), `peyk simulate` and the watchers on the same machine.", "",
             "| run | posts/s | watched couriers' position age p50 / p95 / max (s) | watched seen |",
             "|---|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['posts_per_s']:.1f} | {r['age_p50']:.2f} / "
                     f"{r['age_p95']:.2f} / {r['age_max']:.2f} | {r['watched_seen']}/{WATCHED} |")
    saving = 1 - rows[0]["posts_per_s"] / rows[1]["posts_per_s"]
    lines += ["", f"Saving: {saving:.0%} of the posts (each one a radio wake-up on a courier's "
                  "phone and a request to ingest). A courier's new interval takes effect at its "
                  "next post, so a courier that becomes watched while idle is fresh only after "
                  "up to one idle interval (60 s); the warm-up covers that."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
