"""Scenario (g) of bench/run: the history store alone (issue #13's benchmarks).

Runs the two store benches of the build, each pinned to the server's core (core 0):

- build/peyk-history-bench (bench/micro/history_bench.cpp): the SQLite backend. Writes with
  appends of 100 points (10,000 couriers, 3,000,000 points, 100,000 points in flight) and of
  1 point (300,000 points, 4,000 in flight), then 40 courier-days (43,200 points each, one
  every 2 s) read back as one page each, 5 times over (200 reads: p50/p99), and the file's
  bytes per point (after a TRUNCATE checkpoint; free pages not counted).
- build/src/history/peyk-history-pg-bench (src/history/postgres_bench.cpp): the PostgreSQL
  backend against a PostgreSQL 15 the tool starts itself (fsync on, shared_buffers=128MB)
  as its child: appends of 1 point (200,000, 1,024 in flight) and of 100 (1,000,000, 64 in
  flight), one courier-day read 7 times (median, best, worst), bytes per point in the
  partitions (table + indexes).

Then one courier-day as JSON over HTTP, the issue's own measure: `peyk serve` on core 0
recording into SQLite (a temporary directory) and into PostgreSQL 15 (started by the bench,
also on core 0), 43,200 points with `recorded_at` over yesterday POSTed in batches of 300,
then `GET /api/v1/couriers/{id}/track` of that day timed from core 1 (request to last byte;
50 reads after one untimed).

Neither tool can put its producer thread on another core than the store's writer (they are
one process, and the store's threads have no names to pin them by), so each tool runs whole
on core 0 with its producer: the store, the thread feeding it, and for PostgreSQL the
database server, share the server's one core. Core 1 is left idle.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

# Issue #13's goals.
SQLITE_WRITE_GOAL = 200_000   # points/s
PG_WRITE_GOAL = 100_000       # points/s
DAY_P99_GOAL_MS = 20.0        # one courier-day, SQLite
SQLITE_BYTES_GOAL = 48.0      # bytes per point on disk with indexes, SQLite


def _num(x):
    return float(x.replace(",", ""))


def parse_sqlite(text):
    r = {}
    m = re.search(r"write, appends of 100: (\d+) couriers, (\d+) points: (\d+) points/s "
                  r"\((\d+) commits, (\d+) points each\)", text)
    if m:
        r["w100"] = {"couriers": int(m[1]), "points": int(m[2]), "rate": _num(m[3]),
                     "commits": int(m[4]), "per_commit": _num(m[5])}
    m = re.search(r"write, appends of 1: (\d+) couriers, (\d+) points: (\d+) points/s "
                  r"\((\d+) commits\)", text)
    if m:
        r["w1"] = {"couriers": int(m[1]), "points": int(m[2]), "rate": _num(m[3]),
                   "commits": int(m[4])}
    m = re.search(r"read, courier-day of 43,200 points as one page \((\d+) couriers in the file, "
                  r"(\d+) reads\): p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms", text)
    if m:
        r["day"] = {"couriers": int(m[1]), "reads": int(m[2]), "p50": _num(m[3]),
                    "p99": _num(m[4]), "max": _num(m[5])}
    disks = re.findall(r"disk: ([\d.]+) MiB used \((\d+) free pages\) for (\d+) points = "
                       r"([\d.]+) B/point", text)
    # The first after the 100-point writes (phase 1), the second after the courier-days.
    r["disk"] = [{"mib": _num(d[0]), "free_pages": int(d[1]), "points": int(d[2]),
                  "bytes": _num(d[3])} for d in disks]
    failed = re.findall(r"!! (.*)", text)
    if failed:
        r["failures"] = failed
    return r


def parse_pg(text):
    r = {}
    for m in re.finditer(r"(\d+) points in appends of (\d+), (\d+) in flight: ([\d.]+) s, "
                         r"(\d+) points/s, (\d+) transactions \((\d+) points each\), (\d+) failed",
                         text):
        r[f"w{m[2]}"] = {"points": int(m[1]), "in_flight": int(m[3]), "secs": _num(m[4]),
                         "rate": _num(m[5]), "commits": int(m[6]), "per_commit": _num(m[7]),
                         "failed": int(m[8])}
    m = re.search(r"read one courier-day \(43,200 points\): median ([\d.]+) ms, best ([\d.]+) ms, "
                  r"worst ([\d.]+) ms", text)
    if m:
        r["day"] = {"median": _num(m[1]), "best": _num(m[2]), "worst": _num(m[3])}
    m = re.search(r"on disk: (\d+) points, ([\d.]+) bytes/point in all \(table ([\d.]+), indexes "
                  r"and the rest ([\d.]+)\)", text)
    if m:
        r["disk"] = {"points": int(m[1]), "bytes": _num(m[2]), "table": _num(m[3]),
                     "rest": _num(m[4])}
    return r


def _run_tool(ctx, run, tag, cmd, timeout=900):
    path = os.path.join(ctx.raw, f"{tag}.txt")
    t0 = time.time()
    with open(path, "w") as f:
        try:
            p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    with open(path) as f:
        text = f.read()
    return text, rc, time.time() - t0


def run(ctx, run_mod):
    build_dir = os.path.dirname(ctx.peyk)
    res = {"quick": ctx.quick}
    core = run_mod.SERVER_CORE

    tool = os.path.join(build_dir, "peyk-history-bench")
    if run_mod.over_budget(ctx):
        res["sqlite"] = {"error": "skipped: time budget spent"}
    elif not os.access(tool, os.X_OK):
        res["sqlite"] = {"error": f"{tool} is missing (cmake --build ... --target peyk_history_bench)"}
    else:
        run_mod.log("(g) SQLite store: peyk-history-bench")
        d = tempfile.mkdtemp(prefix="peyk-bench-hist-")
        cmd = ["taskset", "-c", core, tool, os.path.join(d, "db")] + (["--quick"] if ctx.quick else [])
        try:
            text, rc, secs = _run_tool(ctx, run_mod, "g-sqlite", cmd)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        r = parse_sqlite(text)
        r.update({"cmd": " ".join(cmd[3:4] + cmd[5:]), "rc": rc, "secs": secs, "text": text})
        if rc != 0:
            r["error"] = f"exit {rc} (see {os.path.relpath(ctx.raw, run_mod.ROOT)}/g-sqlite.txt)"
        res["sqlite"] = r
        run_mod.log(f"    {secs:.0f} s: " + ", ".join(
            f"{k} {v['rate']:,.0f}/s" for k, v in r.items() if k in ("w100", "w1")))

    tool = os.path.join(build_dir, "src", "history", "peyk-history-pg-bench")
    if run_mod.over_budget(ctx):
        res["pg"] = {"error": "skipped: time budget spent"}
    elif not os.access(tool, os.X_OK):
        res["pg"] = {"error": f"{tool} is missing (PostgreSQL backend not built)"}
    else:
        run_mod.log("(g) PostgreSQL store: peyk-history-pg-bench")
        cmd = ["taskset", "-c", core, tool] + (["--points", "100000"] if ctx.quick else [])
        text, rc, secs = _run_tool(ctx, run_mod, "g-pg", cmd)
        r = parse_pg(text)
        r.update({"cmd": " ".join(cmd[3:]), "rc": rc, "secs": secs, "text": text})
        if rc != 0:
            r["error"] = f"exit {rc}: " + (text.strip().splitlines() or ["no output"])[-1][:200]
        res["pg"] = r
        run_mod.log(f"    {secs:.0f} s: " + ", ".join(
            f"{k} {v['rate']:,.0f}/s" for k, v in r.items() if k in ("w100", "w1")))
    reads = 10 if ctx.quick else 50
    for backend in ("sqlite", "pg"):
        if run_mod.over_budget(ctx):
            res[f"json_{backend}"] = {"error": "skipped: time budget spent"}
            continue
        run_mod.log(f"(g) one courier-day as JSON over HTTP, peyk serve --history {backend}")
        r = json_day(ctx, run_mod, backend, reads)
        res[f"json_{backend}"] = r
        run_mod.log("    " + (r.get("error") or f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms"))
    ctx.results["g"] = res


def _jwt(secret, claims):
    """An HS256 token (PROTOCOL.md, Roles and tokens), standard library only."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def json_day(ctx, run_mod, backend, reads):
    """One courier-day as JSON over HTTP: `peyk serve` on core 0 recording into `backend`
    (SQLite in a temporary directory, or a PostgreSQL 15 of the bench's own, also on core
    0); 43,200 points (one every 2 s over yesterday, UTC) POSTed in batches of 300 with
    `recorded_at`; 11 s later (the SQLite backend has moved them from `recent` into
    `points`) `GET /api/v1/couriers/{id}/track` for that day, `reads` times, from this
    process on core 1, each timed from the request to the last byte of the answer."""
    os.sched_setaffinity(0, {int(run_mod.LOAD_CORE)})
    tmp = tempfile.mkdtemp(prefix="peyk-bench-day-")
    pg = proc = None
    try:
        if backend == "sqlite":
            history = f"sqlite:{tmp}/h.sqlite"
        else:
            pg = run_mod.PgServer(ctx.raw, core=run_mod.SERVER_CORE)
            history = pg.url
        port = run_mod.free_port()
        env = dict(os.environ, PEYK_JWT_SECRET=ctx.secret)
        proc = run_mod.Proc(["taskset", "-c", run_mod.SERVER_CORE, ctx.peyk, "serve", "--listen",
                             f"127.0.0.1:{port}", "--threads", "1", "--rate-limit", "0",
                             "--history", history, "--data-dir", tmp, "--log-level", "warn"]
                            + run_mod.PEYK_LOAD_FLAGS,
                            os.path.join(ctx.raw, f"g-day-{backend}-serve.log"), env=env)
        if not run_mod.wait_port(port, proc.p):
            return {"error": f"peyk serve did not start (log: {proc.log.name})"}
        deadline = time.time() + 20
        while run_mod.http_status(port, "/readyz") != 200:
            if time.time() > deadline:
                return {"error": "peyk serve not ready within 20 s"}
            time.sleep(0.05)
        now = int(time.time())
        exp = now + 3600
        courier = _jwt(ctx.secret, {"sub": "day-courier", "role": "courier",
                                    "name": "Day Courier", "fleet": "f1", "exp": exp})
        admin = _jwt(ctx.secret, {"sub": "bench-admin", "role": "admin", "exp": exp})
        day0 = (now // 86400 - 1) * 86400  # yesterday 00:00 UTC
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        t0 = time.time()
        for start in range(0, 43_200, 300):
            pts = []
            for i in range(start, start + 300):
                t = day0 + 2 * i
                pts.append({"latitude": round(35.7 + (i % 1000) * 1e-5, 6),
                            "longitude": round(51.4 + (i % 777) * 1e-5, 6),
                            "accuracy": 5 + i % 20, "speed": (i % 150) / 10,
                            "heading": i % 360, "orders": [f"A{i // 300}"],
                            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))})
            c.request("POST", "/api/v1/locations", body=json.dumps({"points": pts}),
                      headers={"Authorization": f"Bearer {courier}",
                               "Content-Type": "application/json"})
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                return {"error": f"POST answered {r.status}: {body[:200]!r}"}
        write_s = time.time() - t0
        time.sleep(11)
        path = (f"/api/v1/couriers/day-courier/track?from={day0 * 1000}"
                f"&to={(day0 + 86400) * 1000}&limit=50000")
        ms, size, npoints = [], 0, 0
        for k in range(reads + 1):
            t = time.perf_counter()
            c.request("GET", path, headers={"Authorization": f"Bearer {admin}"})
            r = c.getresponse()
            body = r.read()
            dt = (time.perf_counter() - t) * 1000
            if r.status != 200:
                return {"error": f"GET answered {r.status}: {body[:200]!r}"}
            if k == 0:  # the first read also warms the caches: checked, not counted
                doc = json.loads(body)
                npoints = len(doc["points"])
                size = len(body)
                continue
            ms.append(dt)
        c.close()
        ms.sort()
        pct = lambda q: ms[min(len(ms) - 1, int(q * (len(ms) - 1) + 0.5))]  # noqa: E731
        return {"reads": len(ms), "p50": pct(0.5), "p99": pct(0.99), "max": ms[-1],
                "points": npoints, "bytes": size, "write_s": write_s}
    except Exception as e:  # noqa: BLE001 - reported in the table
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        if proc:
            proc.stop()
        if pg:
            pg.close()
        shutil.rmtree(tmp, ignore_errors=True)
        os.sched_setaffinity(0, set(range(os.cpu_count())))


def _verdict(ok):
    return "not measured" if ok is None else ("**met**" if ok else "**not met**")


def goal_rows(res):
    """(measure, this run, goal, verdict) rows."""
    rows = []
    s, p = res.get("sqlite", {}), res.get("pg", {})
    for key, what in (("w100", "appends of 100"), ("w1", "appends of 1")):
        w = s.get(key)
        detail = ""
        if w and key == "w100":
            detail = (f" ({w['couriers']:,} couriers, {w['points']:,} points, "
                      f"{w['per_commit']:,.0f} points a commit)")
        elif w:
            detail = (f" ({w['points']:,} points, one courier each, 4,000 in flight, "
                      f"{w['points'] / max(1, w['commits']):,.0f} points a commit)")
        rows.append((f"SQLite: points written/s, {what}",
                     f"{w['rate']:,.0f}/s{detail}" if w else "–",
                     f"≥ {SQLITE_WRITE_GOAL:,}/s",
                     _verdict(None if not w else w["rate"] >= SQLITE_WRITE_GOAL)))
    for key, what in (("w100", "appends of 100"), ("w1", "appends of 1")):
        w = p.get(key)
        detail = (f" ({w['points']:,} points, {w['in_flight']:,} appends in flight, "
                  f"{w['per_commit']:,.0f} points a transaction)") if w else ""
        rows.append((f"PostgreSQL: points written/s, {what}",
                     f"{w['rate']:,.0f}/s{detail}" if w else "–",
                     f"≥ {PG_WRITE_GOAL:,}/s",
                     _verdict(None if not w else w["rate"] >= PG_WRITE_GOAL)))
    d = s.get("day")
    rows.append(("SQLite: one courier-day (43,200 points) read as one page",
                 (f"p50 {d['p50']:.1f} ms, p99 {d['p99']:.1f} ms, max {d['max']:.1f} ms "
                  f"({d['reads']} reads over {d['couriers']} couriers)") if d else "–",
                 f"p99 ≤ {DAY_P99_GOAL_MS:.0f} ms (as JSON)",
                 _verdict(None if not d else d["p99"] <= DAY_P99_GOAL_MS)
                 + (" for the store's read; the JSON encoding and HTTP are not in this figure"
                    if d else "")))
    for key, label, goal in (("json_sqlite", "SQLite", True), ("json_pg", "PostgreSQL", False)):
        j = res.get(key)
        if not j:
            continue
        if j.get("error"):
            rows.append((f"{label}: one courier-day as JSON over HTTP (peyk serve)",
                         f"not run: {j['error']}", "", "–"))
            continue
        rows.append((f"{label}: one courier-day as JSON over HTTP (`GET /api/v1/couriers/{{id}}/track`, "
                     "peyk serve on core 0, one courier in the store)",
                     f"p50 {j['p50']:.1f} ms, p99 {j['p99']:.1f} ms, max {j['max']:.1f} ms "
                     f"({j['reads']} reads of {j['points']:,} points, {j['bytes'] / 1e6:.1f} MB each)",
                     f"p99 ≤ {DAY_P99_GOAL_MS:.0f} ms" if goal else "none in the issue",
                     _verdict(j["p99"] <= DAY_P99_GOAL_MS) if goal else
                     ("within SQLite's 20 ms" if j["p99"] <= DAY_P99_GOAL_MS else "over SQLite's 20 ms")))
    d = p.get("day")
    rows.append(("PostgreSQL: one courier-day (43,200 points) read as one page",
                 (f"median {d['median']:.1f} ms, worst of 7 {d['worst']:.1f} ms, best "
                  f"{d['best']:.1f} ms (7 reads: the tool gives no p99; the worst of 7 stands "
                  "in for it)") if d else "–",
                 "none in the issue (SQLite's is p99 ≤ 20 ms)",
                 "–" if not d else ("within SQLite's 20 ms" if d["worst"] <= DAY_P99_GOAL_MS
                                    else "over SQLite's 20 ms")))
    disks = s.get("disk") or []
    names = ["after the 100-point writes (10,000 couriers, ~300 points each)",
             "after the courier-days (40 couriers × 43,200 points)"]
    if res.get("quick"):
        names = ["after the 100-point writes", "after the courier-days (10 couriers)"]
    for i, dk in enumerate(disks[:2]):
        rows.append((f"SQLite: bytes per point on disk, indexes included, {names[i]}",
                     f"{dk['bytes']:.1f} B ({dk['mib']:.1f} MiB for {dk['points']:,} points)",
                     f"≤ {SQLITE_BYTES_GOAL:.0f} B",
                     _verdict(dk["bytes"] <= SQLITE_BYTES_GOAL)))
    dk = p.get("disk")
    rows.append(("PostgreSQL: bytes per point on disk, indexes included",
                 (f"{dk['bytes']:.1f} B (table {dk['table']:.1f}, indexes and the rest "
                  f"{dk['rest']:.1f}; {dk['points']:,} points)") if dk else "–",
                 "none in the issue", "–"))
    return rows


def report(ctx, out, run_mod):
    res = ctx.results.get("g")
    if res is None:
        return
    out.append("## (g) History store: points written/s, a courier-day read, bytes per point\n")
    out.append("The two backends alone (issue #13's benchmarks), then a courier-day through HTTP. Each store tool runs "
               "whole on **core 0** (`taskset -c 0`): the store's writer, readers and "
               "checkpointer, the producer thread feeding it (the tools are one process and "
               "cannot put it elsewhere), and for PostgreSQL the database server the tool "
               "starts as its child (PostgreSQL 15, fsync on, shared_buffers=128MB). Core 1 "
               "is idle. SQLite: WAL, `synchronous=FULL` (every commit fsyncs the WAL), a "
               "fresh file in a temporary directory under /tmp. An append completes only once "
               "committed, so points/s counts durable points. The courier-day rows \"as JSON "
               "over HTTP\" are the issue's own measure: `peyk serve --threads 1` on core 0 "
               "recording into SQLite or into a PostgreSQL 15 the bench starts (also on core 0), "
               "one courier's 43,200 points (one every 2 s over yesterday, with `recorded_at`) "
               "POSTed in batches of 300, then after 11 s (SQLite has moved them into `points`) "
               "`GET /api/v1/couriers/{id}/track?from=…&to=…&limit=50000` timed from core 1, "
               "request to last byte, one untimed read first.\n")
    for key, label in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
        r = res.get(key, {})
        if r.get("error"):
            out.append(f"{label}: **{r['error']}**\n")
        elif r.get("failures"):
            out.append(f"{label}: the tool reported failures: {'; '.join(r['failures'][:3])}\n")
    out.append("| measure | this run | goal (issue #13) | |")
    out.append("|---|---|---|---|")
    for m, v, g, ok in goal_rows(res):
        out.append(f"| {m} | {v} | {g} | {ok} |")
    out.append("")
    for key, label in (("sqlite", "peyk-history-bench"), ("pg", "peyk-history-pg-bench")):
        r = res.get(key, {})
        if r.get("text"):
            out.append(f"`{r['cmd']}` ({r['secs']:.0f} s) printed:\n")
            out.append("```")
            out.append(r["text"].rstrip())
            out.append("```\n")
