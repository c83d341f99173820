"""Scenario (f) of bench/run: reconnect storms (issue #12, finding 1).

Part 1: `peyk serve --redis ... --threads 1 --rate-limit 0` on core 0 holds N couriers
(each published once on the channel), 100 echo admins receive 1,000 msg/s, then M
peyk.v1 customers connect at once (each tracking the order of a courier in the store).
Part 2: the same store, the same admins, then K peyk.v1 admins connect at once (each
snapshot holds all N couriers). Each part runs on a fresh server and Redis.

Three load generators run on core 1: the filler (`--publish-count N`), the admins' run
(`--interval 0.25`, left running until SIGINT) and the storm (`--idle`), which marks
the admins' run with SIGUSR1 when it starts connecting and when every viewer has
connected (or failed) and has its snapshot (`--notify-pid`): the admins' report then
splits its window into before / during / after. bench/README.md describes the report.
"""
import json
import os
import signal
import subprocess
import threading
import time

ADMINS, ADMIN_RATE = 100, 1000
BEFORE_S, AFTER_S = 5, 3
GOAL_P99_US, GOAL_CONNECT_S = 50_000, 2.0


def sizes(quick):
    """couriers, customers, v1 admins."""
    return (20_000, 500, 20) if quick else (200_000, 2000, 200)


def metric(port, name):
    import http.client
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return None


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def load_avg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class RssGuard(threading.Thread):
    """Samples the server's VmRSS every 100 ms (the peak is reported) and kills it past
    `limit` bytes: today's code keeps every admin's snapshot string until it is written,
    and this machine is shared."""

    def __init__(self, pid, limit):
        super().__init__(daemon=True)
        self.pid, self.limit = pid, limit
        self.peak, self.killed = 0, False
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(0.1):
            r = rss_bytes(self.pid)
            if r is None:
                return
            self.peak = max(self.peak, r)
            if r > self.limit:
                self.killed = True
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return

    def stop(self):
        self.halt.set()
        self.join(2)


def mem_limit():
    with open("/proc/meminfo") as f:
        info = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in f}
    return min(12 << 30, int(info.get("MemAvailable", 8 << 30) * 0.6))


class StormServer:
    """peyk serve --redis on core 0, its redis-server on core 1, the store filled."""

    def __init__(self, h, ctx, couriers):
        self.h, self.ctx = h, ctx
        self.redis = h.Redis(ctx.raw)
        self.proc = None
        try:
            # The filler publishes faster than a subscriber of one core drains: a bigger
            # pub/sub output buffer than Redis's default 32 MB keeps it from being cut.
            subprocess.run(["redis-cli", "-p", str(self.redis.port), "config", "set",
                            "client-output-buffer-limit", "pubsub 1gb 512mb 60"],
                           capture_output=True, check=True)
            self.port = h.free_port()
            env = dict(os.environ, PEYK_JWT_SECRET=ctx.secret)
            self.proc = h.Proc(["taskset", "-c", h.SERVER_CORE, ctx.peyk, "serve", "--redis",
                                f"redis://127.0.0.1:{self.redis.port}", "--listen",
                                f"127.0.0.1:{self.port}", "--threads", "1", "--rate-limit", "0",
                                "--history", "off",  # no tracks: storms only publish on Redis
                                "--log-level", "warn"] + h.PEYK_LOAD_FLAGS,
                               os.path.join(ctx.raw, f"f-serve-{self.port}.log"), env=env)
            self.pid = self.proc.pid
            deadline = time.time() + 20
            while h.http_status(self.port, "/readyz") != 200:
                if time.time() > deadline or self.proc.p.poll() is not None:
                    raise RuntimeError(f"peyk serve --redis not ready (log: {self.proc.log.name})")
                time.sleep(0.05)
            self.fill(couriers)
        except Exception:
            self.stop()
            raise

    def fill(self, couriers):
        t0 = time.time()
        j, err = run_loadgen(self.h, self.ctx, self, "f-fill", [
            "--viewers", 0, "--publisher", "redis", "--redis", f"127.0.0.1:{self.redis.port}",
            "--publish-rate", 50000, "--publish-count", couriers, "--couriers", couriers,
            "--warmup", 0, "--duration", 120])
        if j is None:
            raise RuntimeError("filling the store failed: " + " ".join(err))
        deadline = time.time() + 120
        while (metric(self.port, "peyk_messages_in_total") or 0) < couriers:
            if time.time() > deadline:
                raise RuntimeError(f"peyk took in {metric(self.port, 'peyk_messages_in_total')} "
                                   f"of {couriers} messages in 120 s")
            time.sleep(0.1)
        time.sleep(0.5)  # the last messages reach the store just after they are counted
        self.fill_s = time.time() - t0
        self.rss_filled = rss_bytes(self.pid)

    def stop(self):
        if self.proc:
            self.proc.stop()
        self.redis.stop()


def run_loadgen(h, ctx, server, tag, args, background=False):
    """peyk-loadgen on core 1 against `server`; its JSON (or None and why), or with
    `background` the Popen and its output paths."""
    out = os.path.join(ctx.raw, f"{tag}.json")
    txt = os.path.join(ctx.raw, f"{tag}.txt")
    cmd = ["taskset", "-c", h.LOAD_CORE, ctx.loadgen, "--url", f"ws://127.0.0.1:{server.port}/ws",
           "--jwt-secret", ctx.secret, "--json", out] + [str(a) for a in args]
    if os.path.exists(out):
        os.unlink(out)
    f = open(txt, "w")
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    if background:
        return p, f, out, txt
    try:
        p.wait(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    f.close()
    return read_json(p.returncode, out, txt)


def read_json(rc, out, txt):
    if rc != 0 or not os.path.exists(out):
        with open(txt) as t:
            return None, t.read().strip().splitlines()[-1:] or ["no output"]
    with open(out) as f:
        return json.load(f), None


def wait_line(path, text, proc, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path) as f:
            if text in f.read():
                return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def storm_part(h, ctx, couriers, tag, storm_args):
    """A fresh server holding `couriers`; the admins' run; the storm (a loadgen run with
    `storm_args`) marking it. Returns a dict for the report."""
    res = {"load_before": load_avg()}
    try:
        server = StormServer(h, ctx, couriers)
    except RuntimeError as e:
        return {"error": str(e)}
    guard = RssGuard(server.pid, mem_limit())
    res.update(fill_s=server.fill_s, rss_filled=server.rss_filled, rss_limit=guard.limit)
    admins = None
    try:
        admins, f, out, txt = run_loadgen(h, ctx, server, f"f-{tag}-admins", [
            "--viewers", ADMINS, "--protocol", "echo", "--publisher", "redis",
            "--redis", f"127.0.0.1:{server.redis.port}", "--publish-rate", ADMIN_RATE,
            "--couriers", couriers, "--warmup", 1, "--duration", 900, "--interval", 0.25,
            "--connect-concurrency", ADMINS, "--server-pid", server.pid], background=True)
        if not wait_line(txt, "window:", admins, 60):
            return {"error": f"the admins' run did not start (see {txt})"}
        guard.start()
        time.sleep(BEFORE_S)
        storm, err = run_loadgen(h, ctx, server, f"f-{tag}-storm", storm_args + [
            "--server-pid", server.pid, "--notify-pid", admins.pid])
        time.sleep(AFTER_S)
        admins.send_signal(signal.SIGINT)  # ends its window; it reports and exits
        try:
            admins.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(admins.pid, signal.SIGKILL)
            admins.wait()
        f.close()
        guard.stop()
        adm, aerr = read_json(admins.returncode, out, txt)
        res.update(storm=storm, storm_error=err, admins=adm, admins_error=aerr,
                   rss_peak=guard.peak, killed=guard.killed,
                   server_alive=server.proc.p.poll() is None)
    finally:
        guard.stop()
        if admins and admins.poll() is None:
            os.killpg(admins.pid, signal.SIGKILL)
        server.stop()
    return res


def run(ctx, h):
    """Scenario (f): both parts; results in ctx.results["f"]."""
    couriers, customers, v1_admins = sizes(ctx.quick)
    res = {"couriers": couriers, "customers": customers, "v1_admins": v1_admins}
    if "peyk-serve" not in ctx.servers:
        return
    if h.over_budget(ctx):
        res["error"] = "skipped: time budget spent"
        ctx.results["f"] = res
        return
    h.log(f"(f) storm: {couriers:,} couriers, {ADMINS} echo admins at {ADMIN_RATE}/s, "
          f"{customers:,} v1 customers at once")
    res["customers_part"] = storm_part(h, ctx, couriers, "customers", [
        "--viewers", customers, "--role", "customer", "--protocol", "v1", "--couriers", couriers,
        "--connect-concurrency", 500, "--idle", "--duration", 0.5, "--snapshot-timeout", 120])
    log_part(h, res["customers_part"])
    if not h.over_budget(ctx):
        h.log(f"(f) storm: {v1_admins} v1 admins at once, each snapshot {couriers:,} couriers")
        res["admins_part"] = storm_part(h, ctx, couriers, "admins", [
            "--viewers", v1_admins, "--role", "admin", "--protocol", "v1", "--couriers", couriers,
            "--connect-concurrency", v1_admins, "--idle", "--duration", 0.5,
            "--snapshot-timeout", 300])
        log_part(h, res["admins_part"])
    ctx.results["f"] = res


def phases(adm):
    """before, during, after (None where missing) from the admins' run."""
    p = (adm or {}).get("phases") or []
    return (p + [None, None, None])[:3] if len(p) >= 2 else (None, None, None)


def log_part(h, part):
    if "error" in part:
        h.log("    error:", part["error"])
        return
    before, during, _ = phases(part.get("admins"))
    s = part.get("storm") or {}
    v = s.get("viewers", {})
    h.log(f"    connected {v.get('connected')}/{v.get('requested')} (failed {v.get('failed')}), "
          f"all connected {v.get('all_connected_s')} s, all snapshots {v.get('all_snapshots_s')} s; "
          f"admins p99 before {h.fmt_ms(p99(before))}, during {h.fmt_ms(p99(during))}, worst "
          f"1-s window {fmt_rate(during)}; server RSS peak {part.get('rss_peak', 0) / 2**20:.0f} MiB")


def p99(phase):
    return phase["latency_us"]["p99"] if phase and phase["latency_us"]["count"] else None


def fmt_rate(phase):
    if not phase or phase.get("worst_second_per_s") is None:
        return "–"
    return f"{phase['worst_second_per_s']:,.0f}/s"


def fmt_s(x):
    return "–" if x is None else f"{x:.2f} s"


def report(ctx, out, h):
    res = ctx.results.get("f")
    if res is None:
        return
    n, m, k = res["couriers"], res["customers"], res["v1_admins"]
    out.append(f"## (f) Reconnect storm: {n:,} couriers in the store, {ADMINS} echo admins at "
               f"{ADMIN_RATE:,} msg/s\n")
    if "error" in res:
        out.append(f"Not run: {res['error']}\n")
        return
    out.append(f"`peyk serve --redis … --threads 1 --rate-limit 0` on core 0, its redis-server "
               f"on core 1. Each part: a fresh server; {n:,} couriers published once each on the "
               f"channel (`peyk-loadgen --publish-count`), then {ADMINS} echo-protocol admins "
               f"receiving {ADMIN_RATE:,} msg/s (loadgen on core 1), {BEFORE_S} s measured, then "
               f"the storm (a second loadgen on core 1), then {AFTER_S} s more. **During** = from "
               "the storm's first connect until every viewer had connected or failed and had its "
               "snapshot; the worst 1-s window is the fewest deliveries in any second (four "
               "0.25-s intervals) overlapping it; the longest gap is the longest time one admin "
               "went without a location. Connect timeout 10 s per viewer (the loadgen's default). "
               "Part 1: "
               f"{m:,} peyk.v1 customers at once (`--connect-concurrency 500`), customer c tracks "
               f"order o<c+1>, carried by courier c+1 of the store. Part 2: {k} peyk.v1 admins "
               f"at once, each snapshot {n:,} couriers.\n")
    out.append("| part | load avg before | storm: connected / failed | all connected after "
               "| all snapshots after | snapshot locations | admins p99 before | p99 during "
               "| deliveries/s before | during (mean) | worst 1-s window | longest gap "
               "| server RSS filled → peak | others |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for key, label, want in (("customers_part", f"{m:,} v1 customers", m),
                             ("admins_part", f"{k} v1 admins", k * n)):
        part = res.get(key)
        if part is None:
            continue
        if "error" in part:
            out.append(f"| {label} | not run: {part['error']} |" + " |" * 12)
            continue
        s = part.get("storm") or {}
        adm = part.get("admins") or {}
        before, during, _ = phases(adm)
        v = s.get("viewers", {})
        snap = s.get("deliveries", {}).get("snapshot_locations")
        rate = lambda p: f"{p['deliveries_per_s']:,.0f}" if p else "–"  # noqa: E731
        gap = during["delivery_gap_us"]["max"] if during else None
        other = adm.get("other_processes_cpu_percent")
        storm_cell = (f"{v.get('connected', 0):,} / {v.get('failed', 0):,}" if s
                      else f"storm run failed: {' '.join(part.get('storm_error') or [])}")
        rss = (f"{(part.get('rss_filled') or 0) / 2**20:,.0f} → {part['rss_peak'] / 2**20:,.0f} MiB"
               + (" (**killed** past the memory guard)" if part.get("killed") else ""))
        out.append(f"| {label} | {part['load_before']} | {storm_cell} "
                   f"| {fmt_s(v.get('all_connected_s'))} | {fmt_s(v.get('all_snapshots_s'))} "
                   f"| {'–' if snap is None else f'{snap:,} of {want:,}'} "
                   f"| {h.fmt_ms(p99(before))} | {h.fmt_ms(p99(during))} | {rate(before)} "
                   f"| {rate(during)} | {fmt_rate(during)} | {h.fmt_ms(gap)} | {rss} "
                   f"| {'–' if other is None else f'{other:.0f} %'} |")
        if part.get("admins_error"):
            out.append(f"\nThe admins' run failed: {' '.join(part['admins_error'])}\n")
    cp = res.get("customers_part") or {}
    if "storm" in cp and cp.get("storm"):
        _, during, _ = phases(cp.get("admins"))
        v = cp["storm"]["viewers"]
        ok_p99 = p99(during) is not None and p99(during) < GOAL_P99_US
        ok_conn = (v.get("failed") == 0 and v.get("all_connected_s") is not None
                   and v["all_connected_s"] <= GOAL_CONNECT_S)
        out.append(f"\nGoals (issue #12): live p99 during the storm < {GOAL_P99_US // 1000} ms: "
                   f"{'**met**' if ok_p99 else 'not met'} ({h.fmt_ms(p99(during))}); every "
                   f"customer connected within {GOAL_CONNECT_S:.0f} s: "
                   f"{'**met**' if ok_conn else 'not met'} ({v.get('connected', 0):,} connected, "
                   f"{v.get('failed', 0):,} failed, the last after {fmt_s(v.get('all_connected_s'))}).")
    out.append("\n`others`: CPU of processes other than the server and the admins' loadgen over the "
               "admins' whole window (the storm's loadgen and redis-server included); this "
               "machine's 2 cores are shared with other work, so figures taken with much of it "
               "are noisy.\n")
