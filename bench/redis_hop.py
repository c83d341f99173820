#!/usr/bin/python3
"""The latency the Redis hop adds: publish-to-viewer latency of

  (a) `peyk serve`                       ingest and gateway in one process, in-process broker
  (b) `peyk ingest` -> Redis -> `peyk gateway`   two processes meeting on Redis
  (c) `peyk serve --redis`               one process, but through Redis (PUBLISH + SUBSCRIBE)

For each: couriers POST at a fixed pace (default 2000 posts at 200/s over 20 couriers,
--rate-limit 0) and one admin viewer (its own process, so the poster does not share its
GIL) timestamps every location on receipt; latency = receipt time - the location's `ts`
(microseconds, stamped by ingest when the point entered the system). Also reports the
POST round trip (for Redis it includes the PUBLISH/HSET/GEOADD acknowledgement).

Not a test: prints a table. Needs build/peyk (or $PEYK_BIN), redis-server and Debian's
python3-redis / python3-websocket / python3-requests / python3-jwt (as the integration
tests do). Everything runs on loopback; a private redis-server is started and stopped.

    /usr/bin/python3 bench/redis_hop.py [--posts 2000] [--rate 200] [--couriers 20]
"""

import argparse
import json
import multiprocessing as mp
import os
import secrets
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import requests  # noqa: E402
import websocket  # noqa: E402

import conftest as C  # noqa: E402  (Server, RedisServer: the integration tests' helpers)


def viewer_proc(url, token, proto, expected, ready, out):
    """Child process: connect, then record receipt time - ts for every location."""
    ws = websocket.create_connection(url, header=[f"Authorization: Bearer {token}"],
                                     subprotocols=[proto], timeout=10)
    if proto == "peyk.v1":
        ws.recv()  # snapshot
    ready.set()
    lat = []
    deadline = time.monotonic() + 120
    try:
        while len(lat) < expected and time.monotonic() < deadline:
            data = ws.recv()
            now = time.time_ns() // 1000
            obj = json.loads(data)
            locs = obj["locations"] if proto == "peyk.v1" else [obj]
            for l in locs:
                lat.append((str(l["user"]["id"]), round(l["longitude"] * 1e6), now - l["ts"]))
    except websocket.WebSocketTimeoutException:
        pass
    ws.close()
    out.put(lat)


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(p / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def run(name, ingest, gateway, args):
    couriers = [str(1000 + i) for i in range(args.couriers)]
    tokens = {c: ingest.courier_token(c) for c in couriers}
    admin = gateway.admin_token()
    warm = args.warmup
    total = warm + args.posts
    q, ready = mp.Queue(), mp.Event()
    p = mp.Process(target=viewer_proc, args=(gateway.ws_url, admin, args.proto, total, ready, q))
    p.start()
    if not ready.wait(10):
        raise SystemExit(f"{name}: the viewer did not connect")
    s = requests.Session()
    rtt = []
    period = 1.0 / args.rate
    t0 = time.monotonic()
    for n in range(total):
        due = t0 + n * period
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        c = couriers[n % len(couriers)]
        # longitude carries n so that every post is a distinct, identifiable point
        body = {"latitude": 35.0, "longitude": n / 1e6}
        t = time.perf_counter()
        r = s.post(ingest.base + "/api/v1/locations", json=body,
                   headers={"Authorization": f"Bearer {tokens[c]}"}, timeout=5)
        if n >= warm:
            rtt.append((time.perf_counter() - t) * 1e6)
        if r.status_code != 200:
            raise SystemExit(f"{name}: POST answered {r.status_code}: {r.text[:200]}")
    elapsed = time.monotonic() - t0
    lat = q.get(timeout=30)
    p.join(10)
    measured = sorted(l for _, seq, l in lat if seq >= warm)
    rtt.sort()
    return {"name": name, "sent": args.posts, "got": len(measured), "rate": total / elapsed,
            "p50": pct(measured, 50), "p90": pct(measured, 90), "p99": pct(measured, 99),
            "max": measured[-1] if measured else float("nan"),
            "rtt50": pct(rtt, 50), "rtt99": pct(rtt, 99)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=200.0, help="posts per second")
    ap.add_argument("--couriers", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=100, help="posts sent first and not measured")
    ap.add_argument("--proto", default="peyk.v1", choices=["peyk.v1", "echo-protocol"])
    args = ap.parse_args()
    if not C.have_binary():
        raise SystemExit(f"no peyk binary at {C.PEYK_BIN}")

    secret = secrets.token_hex(32)
    # --history off: the hop itself is measured (serve records tracks by default)
    flags = ["--rate-limit", "0", "--history", "off", "--log-level", "warn"]
    rows = []
    procs = []

    def start(*a, role="serve"):
        s = C.Server([*a, *flags], role=role, secret=secret)
        procs.append(s)
        return s.wait_ready()

    redis = C.RedisServer()
    try:
        srv = start()
        rows.append(run("(a) serve, in-process broker", srv, srv, args))
        srv.stop()
        ing = start("--redis", redis.url, role="ingest")
        gw = start("--redis", redis.url, role="gateway")
        rows.append(run("(b) ingest -> Redis -> gateway", ing, gw, args))
        ing.stop()
        gw.stop()
        both = start("--redis", redis.url)
        rows.append(run("(c) serve --redis", both, both, args))
        both.stop()
    finally:
        for s in procs:
            s.stop()
            s.cleanup_files()
        redis.stop()

    print(f"\npublish-to-viewer latency (receipt - ts), {args.posts} posts at {args.rate:g}/s, "
          f"{args.couriers} couriers, viewer {args.proto}; µs")
    head = (f"{'setup':34} {'recv':>5} {'rate/s':>7} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}"
            f"   {'POST p50':>8} {'POST p99':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['name']:34} {r['got']:>5} {r['rate']:>7.0f} {r['p50']:>7.0f} {r['p90']:>7.0f} "
              f"{r['p99']:>7.0f} {r['max']:>7.0f}   {r['rtt50']:>8.0f} {r['rtt99']:>8.0f}")
    a, b = rows[0], rows[1]
    print(f"\nadded by the Redis hop (b - a): p50 {b['p50'] - a['p50']:+.0f} µs, "
          f"p99 {b['p99'] - a['p99']:+.0f} µs")


if __name__ == "__main__":
    main()
