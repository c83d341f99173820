"""Fixtures for the many-processes topology of issue #7: a Redis Cluster (3 masters + 3
replicas) on loopback ports and HAProxy in front of peyk, its config derived from
deploy/haproxy.cfg.

    redis_cluster  RedisCluster: 6 redis-server processes joined with
                   `redis-cli --cluster create ... --cluster-replicas 1`; helpers to find
                   which master serves a key or slot, kill -9 a master and wait until a
                   replica took over its slots.
    haproxy        factory: haproxy(ingests=[Server...], gateways=[Server...]) writes a
                   config from deploy/haproxy.cfg with the test's ports and starts
                   `haproxy -db -f cfg` in the foreground; stopped at the end.

Both fail (never skip) without redis-server, redis-cli, haproxy or redis-py: a skipped
test is not a pass. Their logs are attached to a failing test's report."""

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import REDIS_SERVER, ROOT, free_port, redis_py, wait_until
from sanitizer import TIME_SCALE

REDIS_CLI = os.environ.get("PEYK_REDIS_CLI", shutil.which("redis-cli") or "redis-cli")
HAPROXY = os.environ.get("PEYK_HAPROXY", shutil.which("haproxy") or "/usr/sbin/haproxy")
HAPROXY_CFG = os.path.join(ROOT, "deploy", "haproxy.cfg")


def require_cluster_tools():
    missing = []
    if shutil.which(REDIS_SERVER) is None:
        missing.append("redis-server")
    if shutil.which(REDIS_CLI) is None:
        missing.append("redis-cli")
    if redis_py is None:
        missing.append("python3-redis (redis-py)")
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed (scripts/setup.sh installs them)")


def require_haproxy():
    if shutil.which(HAPROXY) is None:
        pytest.fail(f"haproxy not found ({HAPROXY}); scripts/setup.sh installs it")


# ---------------------------------------------------------------------------------
# Redis Cluster


class ClusterNode:
    def __init__(self, port, bus_port, base_dir):
        self.port = port
        self.bus_port = bus_port
        self.dir = os.path.join(base_dir, str(port))
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = None

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def start(self, node_timeout_ms, full_coverage):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf",
                 # the bus port is the port + 10000 unless set: ephemeral ports are too high
                 "--cluster-port", str(self.bus_port),
                 "--cluster-node-timeout", str(node_timeout_ms),
                 "--cluster-require-full-coverage", "yes" if full_coverage else "no",
                 "--save", "", "--appendonly", "no", "--dir", self.dir,
                 # a replica's first sync starts at once (the default waits 5 s for others)
                 "--repl-diskless-sync-delay", "0"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout=2.0):
        return redis_py.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout,
                              socket_connect_timeout=timeout)

    def call(self, *args, timeout=2.0):
        c = self.client(timeout)
        try:
            return c.execute_command(*args)
        finally:
            c.close()

    def info(self):
        """CLUSTER INFO as a dict (empty when the node does not answer)."""
        try:
            raw = self.call("CLUSTER", "INFO")
        except redis_py.RedisError:
            return {}
        if isinstance(raw, bytes):
            raw = raw.decode()
        if isinstance(raw, dict):
            return {k: str(v) for k, v in raw.items()}
        return dict(line.split(":", 1) for line in raw.splitlines() if ":" in line)

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def log_text(self, limit=3000):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""


class RedisCluster:
    """6 redis-server processes on free loopback ports, joined as 3 masters with one
    replica each. `--cluster-require-full-coverage no`: with a master down, the slots of
    the other masters keep being served (what lets peyk answer 200 for couriers whose
    partitions live elsewhere); pass full_coverage=True for Redis's default."""

    def __init__(self, masters=3, replicas=1, node_timeout_ms=1000, full_coverage=False):
        self.dir = tempfile.mkdtemp(prefix="peyk-cluster-")
        self.node_timeout_ms = node_timeout_ms
        ports = set()
        while len(ports) < 2 * masters * (1 + replicas):
            ports.add(free_port())
        ports = sorted(ports)
        n = masters * (1 + replicas)
        self.nodes = [ClusterNode(p, b, self.dir) for p, b in zip(ports[:n], ports[n:])]
        self.create_output = ""
        try:
            self._create(node_timeout_ms, full_coverage, replicas)
        except BaseException:  # pytest.fail included: no redis-server left behind
            self.stop()
            raise

    def _create(self, node_timeout_ms, full_coverage, replicas):
        for n in self.nodes:
            n.start(node_timeout_ms, full_coverage)
        for n in self.nodes:
            wait_until(lambda: self._ping(n), 5, interval=0.01,
                       what=f"cluster node {n.port} to answer PING")
        t0 = time.monotonic()
        r = subprocess.run([REDIS_CLI, "--cluster", "create", *[n.addr for n in self.nodes],
                            "--cluster-replicas", str(replicas), "--cluster-yes"],
                           capture_output=True, text=True, timeout=60)
        self.create_output = r.stdout + r.stderr
        assert r.returncode == 0, f"redis-cli --cluster create failed:\n{self.create_output}"
        self.wait_ok(20 * TIME_SCALE, want_known=len(self.nodes))
        # A replica that never synced counts as too stale to take over
        # (cluster-replica-validity-factor): wait until each has its master's data.
        self.wait_replication(20 * TIME_SCALE)
        self.create_seconds = time.monotonic() - t0

    @staticmethod
    def _ping(n):
        if not n.alive():
            raise AssertionError(f"redis-server {n.port} exited:\n{n.log_text()}")
        try:
            return n.call("PING", timeout=0.5)
        except redis_py.RedisError:
            return False

    # ---- addresses
    def node(self, port):
        return next(n for n in self.nodes if n.port == port)

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def seeds(self, count=3):
        """'127.0.0.1:P1,...' of the first live masters (the --redis-cluster flag)."""
        return ",".join(f"127.0.0.1:{p}" for p in self.master_ports()[:count])

    # ---- state
    def wait_ok(self, timeout, want_known=None):
        """Until every live node reports cluster_state:ok (and, with want_known, knows that
        many nodes) and all 16384 slots are assigned."""

        def ok():
            for n in self.live():
                i = n.info()
                if i.get("cluster_state") != "ok" or i.get("cluster_slots_assigned") != "16384":
                    return False
                if want_known and i.get("cluster_known_nodes") != str(want_known):
                    return False
            return True

        wait_until(ok, timeout, interval=0.05,
                   what=f"cluster_state:ok on every live node ({self.summary()})")

    def wait_replication(self, timeout):
        """Until every live replica reports master_link_status:up."""

        def synced():
            n_up = 0
            for n in self.live():
                c = n.client()
                try:
                    info = c.info("replication")
                except redis_py.RedisError:
                    return False
                finally:
                    c.close()
                if info.get("role") == "slave":
                    if info.get("master_link_status") != "up":
                        return False
                    n_up += 1
            return n_up > 0

        wait_until(synced, timeout, interval=0.05, what="every replica in sync with its master")

    def nodes_table(self):
        """CLUSTER NODES of a live node: [{id, port, flags, master, slots}]."""
        raw = self.ask_live("CLUSTER", "NODES")
        if isinstance(raw, dict):  # redis-py may parse it
            raw = "\n".join(f"{v['node_id']} {k} {v['flags']} {v.get('master_id', '-')} "
                            f"0 0 0 {v.get('connected')} " for k, v in raw.items())
        if isinstance(raw, bytes):
            raw = raw.decode()
        out = []
        for line in raw.splitlines():
            parts = line.split()
            if len(parts) < 8:
                continue
            port = int(re.match(r"[^:]*:(\d+)", parts[1]).group(1))
            out.append({"id": parts[0], "port": port, "flags": parts[2].split(","),
                        "master": parts[3], "slots": parts[8:]})
        return out

    def slot_owners(self):
        """{slot range (start, end): master port} from CLUSTER SLOTS of a live node."""
        out = {}
        for entry in self.ask_live("CLUSTER", "SLOTS"):
            start, end, master = entry[0], entry[1], entry[2]
            out[(int(start), int(end))] = int(master[1])
        return out

    def ask_live(self, *command):
        """The answer to `command` of the first live node that gives one."""
        for n in self.live():
            try:
                return n.call(*command)
            except redis_py.RedisError:
                continue
        raise AssertionError(f"no live cluster node answers {' '.join(command)}")

    def master_ports(self):
        return sorted(set(self.slot_owners().values()))

    def master_of_slot(self, slot):
        for (a, b), port in self.slot_owners().items():
            if a <= slot <= b:
                return port
        return None

    def keyslot(self, key):
        return int(self.live()[0].call("CLUSTER", "KEYSLOT", key))

    def master_of_key(self, key):
        return self.master_of_slot(self.keyslot(key))

    def replicas_of(self, master_port):
        table = self.nodes_table()
        mid = next(r["id"] for r in table if r["port"] == master_port)
        return [r["port"] for r in table if r["master"] == mid]

    def scan(self, pattern):
        """{key (str): master port} for the keys matching pattern on every live master."""
        out = {}
        for port in self.master_ports():
            c = self.node(port).client()
            try:
                for k in c.scan_iter(match=pattern, count=1000):
                    out[k.decode()] = port
            finally:
                c.close()
        return out

    def hgetall(self, key):
        c = self.node(self.master_of_key(key)).client()
        try:
            return {k.decode(): v for k, v in c.hgetall(key).items()}
        finally:
            c.close()

    # ---- faults
    def kill_master(self, port):
        """kill -9 of a master; returns (its slot ranges, its replicas' ports)."""
        owned = [r for r, p in self.slot_owners().items() if p == port]
        assert owned, f"{port} is not a master serving slots ({self.summary()})"
        replicas = self.replicas_of(port)
        self.node(port).kill()
        return owned, replicas

    def wait_promoted(self, dead_port, slot, timeout):
        """Until a replica serves `slot` instead of the dead master and every live node
        reports cluster_state:ok; returns the new master's port."""

        def promoted():
            try:
                p = self.master_of_slot(slot)
            except AssertionError:
                return None
            if p is None or p == dead_port or not self.node(p).alive():
                return None
            i = self.node(p).info()
            return p if i.get("cluster_state") == "ok" else None

        new = wait_until(promoted, timeout, interval=0.05,
                         what=f"a replica to take over slot {slot} from {dead_port} ({self.summary()})")
        self.wait_ok(timeout)
        return new

    def summary(self):
        parts = []
        for n in self.nodes:
            if not n.alive():
                parts.append(f"{n.port}:dead")
                continue
            i = n.info()
            parts.append(f"{n.port}:{i.get('cluster_state', '?')}/{i.get('cluster_known_nodes', '?')}")
        return " ".join(parts)

    def stop(self):
        for n in self.nodes:
            n.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        out = [f"redis-cli --cluster create:\n{self.create_output[-3000:]}"]
        for n in self.nodes:
            out.append(f"--- node {n.port} ({'alive' if n.alive() else 'dead'})\n{n.log_text(2000)}")
        return "\n".join(out)


@pytest.fixture
def redis_cluster(request):
    """A fresh 3-master + 3-replica Redis Cluster on loopback ports, killed and removed
    at the end of the test."""
    require_cluster_tools()
    c = RedisCluster()
    request.node._peyk_cluster = c
    yield c
    c.stop()


# ---------------------------------------------------------------------------------
# HAProxy


def haproxy_config(template, port, stats_port, servers, extra_backend_lines=()):
    """deploy/haproxy.cfg with the test's ports: `servers` maps a backend name to
    [(server name, port)]. Lines marked "# host:" are dropped; logs go to stderr."""
    out = []
    section = None
    skipping = False
    for line in template.splitlines():
        stripped = line.strip()
        if skipping:
            if stripped == "":
                skipping = False
                out.append(line)
            continue
        if "# host:" in line:
            continue
        if re.match(r"^\S", line):
            section = line.split()
            if section[0] == "global":
                out.append(line)
                out.append("    log stderr format short local0 info")
                continue
            if section[0] == "defaults":
                out.append(line)
                out.append("    option dontlog-normal  # test: log only errors, retries, aborts")
                continue
        m = re.match(r"^\s*# servers:(\S+)\s*$", line)
        if m:
            name = m.group(1)
            assert name in servers, f"the test has no servers for backend {name}"
            out.append(line)
            for sname, sport in servers[name]:
                out.append(f"    server {sname} 127.0.0.1:{sport} check")
            skipping = True
            continue
        if stripped.startswith("bind ") and section:
            if section[0] == "frontend":
                out.append(f"    bind 127.0.0.1:{port}")
                continue
            if section[0] == "listen" and section[1] == "stats":
                out.append(f"    bind 127.0.0.1:{stats_port}")
                continue
        if stripped.startswith("maxconn "):
            # this machine's descriptor limit (20,000) is below the production figure
            out.append("    maxconn 4000")
            continue
        if section and section[0] == "backend" and stripped.startswith("balance "):
            out.append(line)
            out.extend(f"    {x}" for x in extra_backend_lines)
            continue
        out.append(line)
    text = "\n".join(out) + "\n"
    for name in servers:
        assert f"# servers:{name}" in text, f"no '# servers:{name}' marker in {HAPROXY_CFG}"
    return text


class HAProxy:
    """haproxy -db -f cfg (foreground) on a free loopback port; `servers` maps a backend
    to [(name, peyk Server)]. Each response names the server that answered in
    X-Peyk-Server (test only), so a viewer knows its gateway."""

    def __init__(self, servers):
        self.dir = tempfile.mkdtemp(prefix="peyk-haproxy-")
        self.port = free_port()
        self.stats_port = free_port()
        self.servers = {b: list(s) for b, s in servers.items()}
        with open(HAPROXY_CFG) as f:
            template = f.read()
        self.cfg_text = haproxy_config(
            template, self.port, self.stats_port,
            {b: [(n, s.port) for n, s in lst] for b, lst in self.servers.items()},
            extra_backend_lines=["http-response set-header X-Peyk-Server %s"])
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(self.cfg_text)
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", self.cfg], capture_output=True, text=True)
        assert check.returncode == 0, f"haproxy -c refused the derived config:\n{check.stdout}{check.stderr}\n{self.cfg_text}"
        self.log = os.path.join(self.dir, "haproxy.log")
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        try:
            wait_until(self._answers, 10 * TIME_SCALE, interval=0.05, what="haproxy to answer")
            self.wait_servers(lambda st: st.startswith("UP") and "/" not in st, 10 * TIME_SCALE,
                              "every server UP by its /readyz check")
        except BaseException:
            self.stop()
            raise

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"haproxy exited with {self.proc.returncode}:\n{self.log_text()}")
        try:
            return requests.get(f"http://127.0.0.1:{self.stats_port}/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stats(self):
        """{(backend, server): {csv field: value}} from the stats page."""
        r = requests.get(f"http://127.0.0.1:{self.stats_port}/;csv", timeout=2)
        r.raise_for_status()
        text = r.text.lstrip("# ")
        out = {}
        for row in csv.DictReader(io.StringIO(text)):
            out[(row["pxname"], row["svname"])] = row
        return out

    def server_status(self):
        """{(backend, server): status} for the peyk servers ('UP', 'DOWN', 'UP 1/2', ...)."""
        return {k: v["status"] for k, v in self.stats().items()
                if k[0] in self.servers and k[1] not in ("FRONTEND", "BACKEND")}

    def wait_servers(self, pred, timeout, what, names=None):
        def check():
            st = self.server_status()
            sel = {k: v for k, v in st.items() if names is None or k[1] in names}
            return sel and all(pred(v) for v in sel.values())

        wait_until(check, timeout, interval=0.05,
                   what=f"haproxy: {what} ({self.server_status() if self.proc.poll() is None else 'exited'})")

    def backend_counter(self, backend, field):
        """A BACKEND row counter ('wretr' retries, 'wredis' redispatches, ...)."""
        v = self.stats()[(backend, "BACKEND")].get(field) or "0"
        return int(v)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # hard stop: close everything now
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def log_text(self, limit=20000):
        try:
            with open(self.log, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else "...\n" + text[-limit:]


@pytest.fixture
def haproxy(request):
    """Factory: haproxy(ingests=[...], gateways=[...]) starts HAProxy in front of those
    peyk Servers (servers named ingest1.., gateway1..) and waits until it routes to
    every one; stopped at the end of the test."""
    require_haproxy()
    started = []

    def start(ingests=(), gateways=()):
        hp = HAProxy({"ingest": [(f"ingest{i + 1}", s) for i, s in enumerate(ingests)],
                      "gateway": [(f"gateway{i + 1}", s) for i, s in enumerate(gateways)]})
        started.append(hp)
        request.node._peyk_haproxy = hp
        return hp

    yield start
    for hp in started:
        hp.stop()
        shutil.rmtree(hp.dir, ignore_errors=True)
