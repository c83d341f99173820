#!/usr/bin/python3
"""Issue #15's ingest benchmark: OsmAnd GET requests/s against the JSON API on one core.

`peyk ingest --redis --threads 1 --rate-limit 0` (history off, or --history sqlite:...) on
core 0; its redis-server and build/peyk-loadgen on core 1. The load generator runs a closed
loop on 64 keep-alive connections for 1,000 couriers with their own tokens
(`--publish-rate max --viewers 0`), once as JSON POSTs (`--ingest-format json`) and once as
the OsmAnd app's GET with the token as device id (`--ingest-format osmand`), alternating
for --rounds rounds so that drift on a shared machine hits both alike. Writes a Markdown
table (and the raw JSON reports) to --out.

    bench/apps_ingest.py --out bench/results/2026-12-06-apps-ingest.md
"""
import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_CORE, LOAD_CORE = "0", "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="5")
    ap.add_argument("--warmup", default="2")
    ap.add_argument("--history", default="off", help="off or sqlite (a fresh file)")
    a = ap.parse_args()
    peyk = os.path.join(ROOT, "build", "peyk")
    loadgen = os.path.join(ROOT, "build", "peyk-loadgen")
    raw = os.path.splitext(a.out)[0] + "-raw"
    os.makedirs(raw, exist_ok=True)
    secret = secrets.token_hex(32)
    env = dict(os.environ, PEYK_JWT_SECRET=secret)
    tmp = tempfile.mkdtemp(prefix="peyk-apps-bench-")
    rport, iport = free_port(), free_port()
    redis = subprocess.Popen(["taskset", "-c", LOAD_CORE, "redis-server", "--port", str(rport),
                              "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {"json": [], "osmand": []}
    try:
        if not wait_port(rport, redis):
            sys.exit("redis-server did not start")
        history = "off" if a.history == "off" else f"sqlite:{tmp}/h.sqlite"
        ingest = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, peyk, "ingest", "--redis", f"redis://127.0.0.1:{rport}",
             "--listen", f"127.0.0.1:{iport}", "--threads", "1", "--rate-limit", "0",
             "--history", history, "--log-level", "warn", "--max-connections-per-ip", "0"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(raw, "ingest.log"), "w"))
        try:
            if not wait_port(iport, ingest):
                sys.exit("peyk ingest did not start")
            for r in range(a.rounds):
                for fmt in ("json", "osmand"):
                    out = os.path.join(raw, f"{fmt}-{r}.json")
                    cmd = ["taskset", "-c", LOAD_CORE, loadgen, "--url",
                           f"ws://127.0.0.1:{iport}/ws", "--ingest-url",
                           f"http://127.0.0.1:{iport}", "--jwt-secret", secret, "--json", out,
                           "--viewers", "0", "--publisher", "http", "--ingest-format", fmt,
                           "--publish-rate", "max", "--couriers", "1000",
                           "--http-connections", "64", "--duration", a.duration,
                           "--warmup", a.warmup, "--server-pid", str(ingest.pid)]
                    with open(os.path.join(raw, f"{fmt}-{r}.txt"), "w") as f:
                        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=300)
                    if rc.returncode != 0:
                        sys.exit(f"loadgen failed ({fmt}, round {r}): see {raw}/{fmt}-{r}.txt")
                    with open(out) as f:
                        j = json.load(f)
                    results[fmt].append(j)
                    print(f"round {r} {fmt}: {j['publish']['ok_per_s']:,.0f}/s", flush=True)
        finally:
            ingest.terminate()
            ingest.wait(10)
    finally:
        redis.terminate()
        redis.wait(10)

    def row(fmt):
        rates = [j["publish"]["ok_per_s"] for j in results[fmt]]
        p50 = statistics.median(j["publish"]["rtt_us"].get("p50", 0) for j in results[fmt])
        p99 = statistics.median(j["publish"]["rtt_us"].get("p99", 0) for j in results[fmt])
        errors = sum(j["publish"]["non_2xx"] + j["publish"]["errors"] for j in results[fmt])
        # server CPU per answered request: steadier than 2xx/s when the cores are shared
        cost = statistics.median(j["server"]["cpu_percent"] / 100 / j["publish"]["ok_per_s"] * 1e6
                                 for j in results[fmt])
        return rates, p50, p99, errors, cost

    jr, jp50, jp99, jerr, jcost = row("json")
    orr, op50, op99, oerr, ocost = row("osmand")
    if jerr or oerr:  # a refused request is cheap: the comparison would be meaningless
        sys.exit(f"non-2xx answers or errors: json {jerr}, osmand {oerr}; see {raw}")
    ratio = statistics.median(orr) / statistics.median(jr)
    lines = [
        "# OsmAnd GET vs the JSON API on one ingest core (issue #15)",
        "",
        f"`peyk ingest --redis --threads 1 --rate-limit 0 --history {a.history}` on core 0; "
        "redis-server and peyk-loadgen on core 1; closed loop, 64 keep-alive connections, "
        f"1,000 couriers, {a.warmup} s warm-up, {a.duration} s measured, {a.rounds} rounds "
        "alternating. Produced by `bench/apps_ingest.py`; raw reports beside this file.",
        "",
        "| request | 2xx/s per round | median | rtt p50 | rtt p99 | server CPU per request | requests per core-second |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| JSON `POST /api/v1/locations` | {', '.join(f'{x:,.0f}' for x in jr)} | "
        f"{statistics.median(jr):,.0f} | {jp50 / 1000:.2f} ms | {jp99 / 1000:.2f} ms | "
        f"{jcost:.1f} µs | {1e6 / jcost:,.0f} |",
        f"| OsmAnd `GET /api/v1/osmand?id=TOKEN&...` | {', '.join(f'{x:,.0f}' for x in orr)} | "
        f"{statistics.median(orr):,.0f} | {op50 / 1000:.2f} ms | {op99 / 1000:.2f} ms | "
        f"{ocost:.1f} µs | {1e6 / ocost:,.0f} |",
        "",
        f"OsmAnd ÷ JSON, 2xx/s: {ratio:.3f}; per core-second: {jcost / ocost:.3f} (goal: "
        f"within 10 %, i.e. ≥ 0.90: {'met' if jcost / ocost >= 0.9 else '**not met**'} by "
        "the CPU measure).",
        "",
    ]
    with open(a.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
