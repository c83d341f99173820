"""Many ingest and gateway processes behind HAProxy on a Redis Cluster (issue #7).

    couriers --POST--> HAProxy --> peyk ingest x2 --SPUBLISH/HSET--> Redis Cluster (3+3)
    viewers  --/ws --> HAProxy --> peyk gateway x3 <--SSUBSCRIBE--  (partitions: c, o)

One scenario, the issue's test requirement: a 3-master + 3-replica cluster built with
`redis-cli --cluster create` on loopback ports (cluster_fixtures.py), 2 `peyk ingest` and
3 `peyk gateway` with `--redis-cluster`, HAProxy with deploy/haproxy.cfg's settings;
couriers of three fleets (some carrying orders) post through HAProxy while admins,
dispatchers and customers (peyk.v1 and echo-protocol) watch through HAProxy:

1. every viewer gets exactly what it may see (checked on every location received, on
   every connection) and everything it may see arrives;
2. one gateway gets SIGTERM: its viewers see 1001, reconnect through HAProxy to the
   others, and a peyk.v1 viewer's new snapshot holds the latest positions it may see;
3. one master gets kill -9: until a replica is promoted, ingest answers 503 for couriers
   whose partitions (their own, or one of their orders') live on it and 200 for the
   others; after the promotion every courier is answered 200 again and viewers get the new
   positions, without restarting any peyk process;
4. latest wins (test_nothing_lost.py's rule): every location acknowledged with 200 reaches
   every viewer that may see it, or a newer one of the same courier does; no courier goes
   backwards (seq or ts) within a connection; at the end every admin holds each courier's
   last acknowledged location;
5. late viewers, once the couriers have stopped, get the last positions (from the
   snapshot, or for a customer from its order's partition keys right after it); a fresh
   gateway subscribes nothing without viewers, one `o` partition for a customer with one
   order, every `c` partition once an admin connects.

The same scenario also runs on a plain Redis (`--redis`; no master to kill), which checks
the HAProxy configuration and the roles on the topology peyk already had.

The sequence number of a courier's post travels as longitude = seq / 1000. Counts and
timings are printed (pytest -s)."""

import json
import os
import secrets
import signal
import threading
import time

import pytest
import requests
import websocket

from cluster_fixtures import haproxy, redis_cluster  # noqa: F401 - fixtures
from conftest import read_viewer_frames, stop_reader, uid_of, wait_until
from sanitizer import TIME_SCALE
from test_nothing_lost import check as latest_wins_violations

pytestmark = pytest.mark.cluster

SCALE = TIME_SCALE
PARTITIONS = int(os.environ.get("PEYK_CLUSTER_PARTITIONS", "16"))
PERIOD = 0.25  # every courier posts 4 times a second
CHANNEL = "dlchannel"

# ---------------------------------------------------------------------------------
# who is who

FLEETS = ["north", "south", "east"]


def make_couriers():
    """12 couriers, 4 per fleet; numeric and string ids; j=1 carries one order, j=2 two
    (of different customers), j=0 and j=3 none."""
    out = []
    for fi, fleet in enumerate(FLEETS):
        for j in range(4):
            k = fi * 4 + j
            cid = str(7000 + k) if k % 2 == 0 else f"cc-{fleet}-{j}"
            orders = {1: [f"o-{fi}1"], 2: [f"o-{fi}2a", f"o-{fi}2b"]}.get(j, [])
            out.append({"id": cid, "fleet": fleet, "orders": orders, "lat": 35.0 + k / 100})
    return out


COURIERS = make_couriers()
BY_ID = {c["id"]: c for c in COURIERS}

# (name, role, claims, protocol, how many viewers). Each group of three is spread over
# the three gateways by HAProxy's leastconn, so every gateway serves every kind.
VIEWERS = [
    ("admin-v1", "admin", {}, "peyk.v1", 3),
    ("admin-echo", "admin", {}, "echo-protocol", 3),
    ("disp-north", "dispatcher", {"fleets": ["north"]}, "peyk.v1", 3),
    ("disp-south-east", "dispatcher", {"fleets": ["south", "east"]}, "echo-protocol", 3),
    ("disp-nobody", "dispatcher", {"fleets": ["west"]}, "peyk.v1", 1),
    # two couriers, one order of each (o-02a's courier also carries o-02b, not hers)
    ("cust-two", "customer", {"orders": ["o-02a", "o-11", "o-99"]}, "peyk.v1", 3),
    ("cust-one", "customer", {"orders": ["o-12b"]}, "echo-protocol", 3),
    ("cust-nobody", "customer", {"orders": ["o-unknown"]}, "peyk.v1", 1),
]


# Connected at the end, once the couriers have stopped: what a gateway holds (its
# partitions' hashes read after subscribing, the live updates since) must reach them.
LATE_VIEWERS = [
    ("late-admin", "admin", {}, "peyk.v1", 2),
    ("late-disp-east", "dispatcher", {"fleets": ["east"]}, "peyk.v1", 2),
    ("late-cust", "customer", {"orders": ["o-21", "o-02b"]}, "peyk.v1", 2),
]


def visible(kind, claims, courier):
    """What the viewer may see of this courier: None, or the `orders` it must receive."""
    c = BY_ID[courier]
    if kind == "admin":
        return c["orders"]
    if kind == "dispatcher":
        return c["orders"] if c["fleet"] in claims["fleets"] else None
    mine = [o for o in c["orders"] if o in claims["orders"]]
    return mine or None


def seq_of(loc):
    return round(loc["longitude"] * 1000)


# ---------------------------------------------------------------------------------
# couriers


class Load(threading.Thread):
    """Every courier posts through HAProxy every PERIOD seconds; every answer recorded."""

    def __init__(self, base, secret):
        super().__init__(daemon=True)
        self.base = base
        self.tokens = {c["id"]: _mint(secret, "courier", c["id"], name=f"n-{c['id']}",
                                      fleet=c["fleet"]) for c in COURIERS}
        self.seq = {c["id"]: 0 for c in COURIERS}
        self.results = []  # (courier, seq, sent, done, status)
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.rounds = 0

    def run(self):
        session = requests.Session()
        next_tick = time.monotonic()
        while not self.halt.is_set():
            for c in COURIERS:
                cid = c["id"]
                self.seq[cid] += 1
                s = self.seq[cid]
                body = {"latitude": c["lat"], "longitude": s / 1000}
                if c["orders"]:
                    body["orders"] = c["orders"]
                sent = time.monotonic()
                try:
                    r = session.post(self.base + "/api/v1/locations", data=json.dumps(body),
                                     headers={"Authorization": f"Bearer {self.tokens[cid]}",
                                              "Content-Type": "application/json"},
                                     timeout=5 * SCALE)
                    status = r.status_code
                except requests.RequestException as e:
                    status = f"error {type(e).__name__}"
                    session.close()
                    session = requests.Session()
                with self.lock:
                    self.results.append((cid, s, sent, time.monotonic(), status))
            self.rounds += 1
            next_tick += PERIOD
            delay = next_tick - time.monotonic()
            if delay > 0:
                self.halt.wait(delay)
            else:
                next_tick = time.monotonic()

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def acked(self):
        return [(c, s, sent, done) for c, s, sent, done, st in self.snapshot() if st == 200]

    def latest_acked(self):
        out = {}
        for c, s, _, _ in self.acked():
            out[c] = max(s, out.get(c, 0))
        return out

    def stop(self):
        self.halt.set()
        self.join(10 * SCALE)
        assert not self.is_alive(), "the courier load did not stop"


def _mint(secret, role, sub, **claims):
    import jwt  # PyJWT, as in conftest.mint

    now = int(time.time())
    payload = {"sub": str(sub), "role": role, "iat": now, "exp": now + 3600}
    payload.update({k: v for k, v in claims.items() if v is not None})
    return jwt.encode(payload, secret, algorithm="HS256")


# ---------------------------------------------------------------------------------
# viewers


class Recorder:
    """One logical viewer across reconnects, through HAProxy: every location received
    (time, connection number, snapshot or live, courier, seq, the location), the gateway
    that served each connection, close codes, and whatever it should not have seen."""

    def __init__(self, name, kind, claims, proto, secret, ws_url, direct=None):
        self.name, self.kind, self.claims, self.proto = name, kind, claims, proto
        self.secret, self.ws_url = secret, ws_url
        self.direct = direct  # a gateway's name when connected to it, not through HAProxy
        self.received = []  # (t, conn_no, kind, courier, seq) -- test_nothing_lost's format
        self.locations = []  # (conn_no, location)
        self.connects = []  # (conn_no, t_handshake_start, t_ready)
        self.gateways = []  # X-Peyk-Server of each connection
        self.closes = []  # (conn_no, t, code)
        self.errors = []
        self.lock = threading.Lock()
        self.thread = None
        self.ws = None
        self.halt = threading.Event()

    @property
    def gateway(self):
        return self.gateways[-1]

    @property
    def conn_no(self):
        return len(self.connects) - 1

    def connect(self):
        conn_no = len(self.connects)
        token = _mint(self.secret, self.kind, f"{self.name}-{conn_no}", **self.claims)
        t0 = time.monotonic()
        ws = websocket.create_connection(self.ws_url, header=[f"Authorization: Bearer {token}"],
                                         subprotocols=[self.proto], timeout=5 * SCALE)
        assert ws.getsubprotocol() == self.proto, (self.name, ws.getsubprotocol())
        headers = ws.getheaders() or {}
        gw = self.direct or headers.get("x-peyk-server")
        assert gw, f"no X-Peyk-Server on the 101 through HAProxy: {headers!r}"
        if self.proto == "peyk.v1":
            first = json.loads(ws.recv())
            assert first.get("type") == "snapshot", f"{self.name}: first frame {first!r}"
            t = time.monotonic()
            self._record(conn_no, "snapshot", first["locations"], t)
        self.connects.append((conn_no, t0, time.monotonic()))
        self.gateways.append(gw)
        self.ws = ws
        self.halt.clear()
        self.thread = threading.Thread(target=self._read, args=(ws, conn_no), daemon=True)
        self.thread.start()

    def _record(self, conn_no, kind, locs, t):
        with self.lock:
            for l in locs:
                self.received.append((t, conn_no, kind, uid_of(l), seq_of(l)))
                self.locations.append((conn_no, l))

    def _read(self, ws, conn_no):
        def other(obj):
            if obj.get("type") != "status":
                self.errors.append((conn_no, f"unexpected frame {obj!r}"[:300]))

        read_viewer_frames(ws, self.proto, self.halt, conn_no, self.closes, self.errors,
                           lambda locs, t: self._record(conn_no, "live", locs, t), other)

    def closed(self):
        return self.closes and self.closes[-1][0] == self.conn_no

    def stop(self):
        stop_reader(self.halt, self.thread, self.ws)

    # ---- what it holds
    def may_see(self, courier):
        return visible(self.kind, self.claims, courier) is not None

    def held(self, conn_no=None):
        """{courier: highest seq} received on a connection (default: the current one)."""
        conn_no = self.conn_no if conn_no is None else conn_no
        out = {}
        with self.lock:
            for t, cn, kind, c, s in self.received:
                if cn == conn_no:
                    out[c] = max(s, out.get(c, 0))
        return out

    def missing(self, target):
        """Couriers it may see whose target seq its current connection has not reached."""
        h = self.held()
        return {c: (h.get(c), s) for c, s in target.items() if self.may_see(c) and h.get(c, 0) < s}

    def trespasses(self):
        """Locations it should not have received, or with `orders` it should not see."""
        bad = []
        with self.lock:
            locs = list(self.locations)
        for conn_no, l in locs:
            c = uid_of(l)
            if c not in BY_ID:
                bad.append(f"{self.name}: unknown courier {c!r}: {l!r}")
                continue
            want = visible(self.kind, self.claims, c)
            if want is None:
                bad.append(f"{self.name} (conn {conn_no}) received courier {c} of fleet "
                           f"{l.get('fleet')} orders {l.get('orders')}, which it may not see")
            elif sorted(l.get("orders", [])) != sorted(want):
                bad.append(f"{self.name} (conn {conn_no}): courier {c} with orders "
                           f"{l.get('orders')}, expected {want}")
            elif l.get("fleet") != BY_ID[c]["fleet"] or l["user"].get("username") != f"n-{c}":
                bad.append(f"{self.name}: courier {c} with fleet/name {l.get('fleet')}/"
                           f"{l['user'].get('username')}")
        return bad

    def ts_backwards(self):
        """Couriers whose ts went back within one connection."""
        last, bad = {}, []
        with self.lock:
            locs = list(self.locations)
        for conn_no, l in locs:
            key = (conn_no, uid_of(l))
            ts = l.get("ts")
            if not isinstance(ts, int):
                bad.append(f"{self.name}: location without an integer ts: {l!r}")
                continue
            if key in last and ts < last[key]:
                bad.append(f"{self.name} conn {conn_no}: courier {key[1]} ts {last[key]} -> {ts}")
            last[key] = max(ts, last.get(key, ts))
        return bad


def wait_all_hold(recs, target, timeout, what):
    """Until every viewer's current connection holds, for each courier it may see, at
    least the target seq."""

    def done():
        return all(not r.missing(target) for r in recs)

    def detail():
        return {r.name + f"#{recs.index(r)}": r.missing(target) for r in recs if r.missing(target)}

    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: after {timeout:.1f}s still missing (courier: (held, wanted)): "
                        f"{detail()}"[:4000])
        time.sleep(0.05)


# ---------------------------------------------------------------------------------
# the scenario


def start_peyk(server, broker_flags, ingests=2, gateways=3):
    secret = secrets.token_hex(32)
    ing = [server(*broker_flags, "--rate-limit", "0", role="ingest", secret=secret)
           for _ in range(ingests)]
    gws = [server(*broker_flags, role="gateway", secret=secret) for _ in range(gateways)]
    for s in ing + gws:
        s.wait_ready(20 * SCALE)
    return secret, ing, gws


def connect_viewers(secret, hp, viewers=VIEWERS):
    recs = []
    for name, kind, claims, proto, n in viewers:
        for _ in range(n):
            r = Recorder(name, kind, claims, proto, secret, hp.ws_url)
            r.connect()
            recs.append(r)
    return recs


def stop_gateway(recs, gws, hp):
    """SIGTERM to the gateway serving the most kinds of viewer; its viewers must see 1001
    and reconnect through HAProxy elsewhere; returns (victim name, its viewers, seconds)."""
    names = {f"gateway{i + 1}": g for i, g in enumerate(gws)}
    kinds = {}
    for r in recs:
        kinds.setdefault(r.gateway, set()).add((r.kind, r.proto))
    print(f"\nviewers per gateway: "
          f"{ {g: sum(1 for r in recs if r.gateway == g) for g in sorted(names)} }")
    victim = max(sorted(names), key=lambda g: len(kinds.get(g, ())))
    on_victim = [r for r in recs if r.gateway == victim]
    assert {k for k, _ in kinds.get(victim, ())} == {"admin", "dispatcher", "customer"} and \
        any(r.proto == "peyk.v1" for r in on_victim), \
        f"HAProxy did not spread every role over the gateways: {kinds}"
    gw = names[victim]
    t0 = time.monotonic()
    gw.send_signal(signal.SIGTERM)  # the drain
    wait_until(lambda: all(r.closed() for r in on_victim), 10 * SCALE, interval=0.02,
               what=f"close frames from {victim} to its {len(on_victim)} viewers")
    for r in on_victim:
        assert r.closes[-1][2] == 1001, f"{r.name}: close code {r.closes[-1][2]}, want 1001"
        r.connect()  # through HAProxy: lands on another gateway
        assert r.gateway != victim, f"{r.name} reconnected to the stopped {victim}"
    window = time.monotonic() - t0
    rc = gw.proc.wait(10 * SCALE)
    assert rc == 0, f"{victim} exited with {rc} after SIGTERM"
    # HAProxy's /readyz check takes it out
    hp.wait_servers(lambda st: st.startswith("DOWN"), 5 * SCALE, f"{victim} marked DOWN",
                    names=[victim])
    return victim, on_victim, window


def check_snapshots_after_reconnect(on_victim, load, allowance):
    """A peyk.v1 viewer's new snapshot holds the latest position, acknowledged before its
    handshake, of every courier it may see (admins, dispatchers: in the snapshot itself;
    customers: in it or in the frames right after it, the contract's late-partition case)."""
    acked = load.acked()
    bad, checked = [], 0
    for r in on_victim:
        if r.proto != "peyk.v1":
            continue
        conn_no, t_start, t_ready = r.connects[-1]
        before = {}
        for c, s, sent, done in acked:
            if done < t_start - allowance and r.may_see(c):
                before[c] = max(s, before.get(c, 0))
        with r.lock:
            snap = {}
            soon = {}
            for t, cn, kind, c, s in r.received:
                if cn != conn_no:
                    continue
                if kind == "snapshot":
                    snap[c] = max(s, snap.get(c, 0))
                if t <= t_ready + 2 * SCALE:
                    soon[c] = max(s, soon.get(c, 0))
        for c, s in before.items():
            checked += 1
            have = (soon if r.kind == "customer" else snap).get(c, -1)
            if have < s:
                where = "snapshot" if r.kind != "customer" else "snapshot + 2 s"
                bad.append(f"{r.name} on {r.gateway}: {where} has courier {c} at {have}, "
                           f"seq {s} was acknowledged before the handshake")
    return checked, bad


def partition_map(cluster):
    """{courier id: master port of its `c` hash}, {order id: master port of its `o` key},
    read from the keys ingest wrote (SCAN on every master)."""
    cmap, omap = {}, {}
    for key, port in cluster.scan(f"peyk:last:{CHANNEL}:c:*").items():
        for field in cluster.hgetall(key):
            assert field not in cmap, f"courier {field} in two partitions"
            cmap[field] = port
    # one key per order, peyk:last:dlchannel:o:{tag}:<order>, so that it can expire
    for key, port in cluster.scan(f"peyk:last:{CHANNEL}:o:*").items():
        order = key.split("}:", 1)[1]
        assert order not in omap, f"order {order} in two partitions"
        omap[order] = port
    return cmap, omap


def kill_master(cluster):
    """kill -9 of the master that serves some couriers' partitions but not all; returns
    what was observed."""
    cmap, omap = partition_map(cluster)
    assert set(cmap) == set(BY_ID), f"couriers in the c hashes: {sorted(cmap)}"
    all_orders = {o for c in COURIERS for o in c["orders"]}
    assert set(omap) == all_orders, f"orders in the o keys: {sorted(omap)} != {sorted(all_orders)}"
    geo = cluster.scan(f"peyk:geo:{CHANNEL}:c:*")
    assert geo, "no peyk:geo:dlchannel:c:{...} key on any master"

    def affected_by(port):
        return {c["id"] for c in COURIERS
                if cmap[c["id"]] == port or any(omap[o] == port for o in c["orders"])}

    masters = cluster.master_ports()
    choice = [(len(affected_by(p)), p) for p in masters
              if 0 < len(affected_by(p)) < len(COURIERS)]
    assert choice, f"no master holds only some couriers' partitions: {cmap} {omap}"
    dead = min(choice)[1]  # the fewest affected: most couriers keep being served
    affected = affected_by(dead)
    key = next(k for k, p in cluster.scan(f"peyk:last:{CHANNEL}:c:*").items() if p == dead) \
        if any(p == dead for p in cmap.values()) else \
        next(k for k, p in cluster.scan(f"peyk:last:{CHANNEL}:o:*").items() if p == dead)
    slot = cluster.keyslot(key)
    t_kill = time.monotonic()
    cluster.kill_master(dead)
    new = cluster.wait_promoted(dead, slot, 30 * SCALE)
    t_promoted = time.monotonic()
    return dict(dead=dead, new=new, slot=slot, affected=affected, t_kill=t_kill,
                t_promoted=t_promoted, cmap=cmap, omap=omap)


SUBSCRIBED = "peyk_cluster_partitions_subscribed"


def check_subscriptions_follow_viewers(server, broker_flags, secret, final):
    """A gateway subscribes only what its viewers need: nothing without viewers; for a
    customer, its order's `o` partition (then reads its keys: the courier's last position
    arrives although nobody posts); for an admin, every `c` partition. Connected directly,
    not through HAProxy. Returns its viewers."""
    gw = server(*broker_flags, role="gateway", secret=secret)
    gw.wait_ready(20 * SCALE)
    m = gw.metrics()
    assert m.has_family(SUBSCRIBED), f"gateway /metrics lacks {SUBSCRIBED}"
    assert m.sum(SUBSCRIBED) == 0, f"a gateway without viewers subscribed {m.sum(SUBSCRIBED)}"
    cust = Recorder("fresh-cust", "customer", {"orders": ["o-01"]}, "peyk.v1", secret,
                    gw.ws_url, direct="gateway4")
    cust.connect()
    wait_all_hold([cust], final, 3 * SCALE, "a customer on a fresh gateway")
    assert {uid_of(l) for _, l in cust.locations} == {"cc-north-1"}, cust.locations
    wait_until(lambda: gw.metrics().sum(SUBSCRIBED) == 1, 3 * SCALE, interval=0.05,
               what=f"one partition subscribed for one order ({gw.metrics().sum(SUBSCRIBED)})")
    admin = Recorder("fresh-admin", "admin", {}, "peyk.v1", secret, gw.ws_url, direct="gateway4")
    admin.connect()
    wait_all_hold([admin], final, 3 * SCALE, "an admin on a gateway that had only a customer")
    n = gw.metrics().sum(SUBSCRIBED)
    assert n >= PARTITIONS, f"a gateway with an admin subscribed {n} partitions, not all {PARTITIONS}"
    return [cust, admin]


def run_scenario(server, haproxy, broker_flags, cluster=None):
    t_start = time.monotonic()
    secret, ing, gws = start_peyk(server, broker_flags)
    hp = haproxy(ingests=ing, gateways=gws)
    t_up = time.monotonic()
    recs = connect_viewers(secret, hp)
    load = Load(hp.base, secret)
    load.start()
    windows = []
    report = {}
    try:
        # 1. everything a viewer may see arrives (snapshot or live)
        wait_until(lambda: load.rounds >= 4, 10 * SCALE, what="four rounds of posts")
        wait_all_hold(recs, load.latest_acked(), 10 * SCALE, "steady state")

        # 2. a gateway drains
        victim, on_victim, w = stop_gateway(recs, gws, hp)
        windows.append(w)
        report["gateway stop"] = f"{victim}, {len(on_victim)} viewers moved in {w:.2f}s"
        wait_all_hold(recs, load.latest_acked(), 10 * SCALE, "after the gateway stop")
        # a post acknowledged less than 0.2 s before the handshake may still be on its way
        # to the new gateway through Redis: it must then arrive live (checked below)
        checked, bad = check_snapshots_after_reconnect(on_victim, load, 0.2)
        assert checked > 0 and not bad, f"{checked} checked; " + "\n".join(bad[:20])
        report["snapshots checked"] = checked

        # 3. a master dies
        if cluster is not None:
            before = {s.port: s.metrics() for s in ing + gws if s.proc.poll() is None}
            k = kill_master(cluster)
            windows.append(k["t_promoted"] - k["t_kill"])
            # every courier answered 200 again, each for a post sent after the promotion
            def resumed():
                ok = {c for c, s, sent, done, st in load.snapshot()
                      if st == 200 and sent >= k["t_promoted"]}
                return ok >= set(BY_ID)
            wait_until(resumed, 15 * SCALE, interval=0.05,
                       what="every courier answered 200 after the promotion")
            t_resumed = time.monotonic()
            windows[-1] = t_resumed - k["t_kill"]
            wait_all_hold(recs, load.latest_acked(), 10 * SCALE, "after the failover")
            during = [x for x in load.snapshot() if k["t_kill"] <= x[2] < k["t_promoted"]]
            aff = {}
            unaff = {}
            for c, s, sent, done, st in during:
                d = aff if c in k["affected"] else unaff
                d.setdefault(c, {}).setdefault(st, 0)
                d[c][st] += 1
            report["master kill"] = (f"port {k['dead']} (slot {k['slot']}) -> {k['new']} promoted "
                                     f"after {k['t_promoted'] - k['t_kill']:.2f}s, all 200 again "
                                     f"after {t_resumed - k['t_kill']:.2f}s")
            report["affected couriers during the outage"] = aff
            report["unaffected couriers during the outage"] = unaff
            rounds = len(during) / len(COURIERS)
            assert any(503 in v for v in aff.values()), \
                f"no 503 for the couriers on the dead master {sorted(k['affected'])}: {aff}"
            if rounds >= 2:
                starved = [c for c in BY_ID if c not in k["affected"] and 200 not in unaff.get(c, {})]
                assert not starved, (f"couriers whose partitions were alive got no 200 during "
                                     f"the outage: {starved}: {unaff}")
            # each process found the new master by itself (no restart: same pids)
            for s in ing + gws:
                if s.proc.poll() is None:
                    m = s.metrics()
                    report[f"{s.role} {s.port} cluster metrics"] = {
                        n: m.sum(n) for n in ("peyk_cluster_nodes",
                                              "peyk_cluster_topology_refreshes_total",
                                              "peyk_cluster_redirects_total",
                                              "peyk_cluster_partitions_subscribed")
                        if m.has_family(n)}
                    refreshes = "peyk_cluster_topology_refreshes_total"
                    assert m.has_family(refreshes), f"{s.role} /metrics lacks {refreshes}"
                    assert m.sum(refreshes) > before[s.port].sum(refreshes), \
                        f"{s.role} {s.port}: no topology refresh counted across the failover"
                    if s.role == "gateway":
                        # it serves admins and dispatchers: every `c` partition subscribed
                        sub = m.sum("peyk_cluster_partitions_subscribed")
                        assert sub >= PARTITIONS, f"gateway {s.port}: {sub} partitions subscribed"
    finally:
        load.stop()
    # 4. latest wins, at the end and all along
    final = load.latest_acked()
    wait_all_hold(recs, final, 10 * SCALE, "the last acknowledged positions")
    # late viewers: admins and dispatchers find the last positions in their snapshot;
    # customers in it or in the frames right after (their gateway may subscribe the
    # orders' partitions only now, then reads their keys)
    late = connect_viewers(secret, hp, LATE_VIEWERS)
    for r in late:
        if r.kind != "customer":
            snap = r.held(0)
            short = {c: (snap.get(c), s) for c, s in final.items()
                     if r.may_see(c) and snap.get(c, 0) < s}
            assert not short, f"{r.name} on {r.gateway}: snapshot lacks the last positions {short}"
    wait_all_hold(late, final, 3 * SCALE, "late viewers")
    if cluster is not None:
        late += check_subscriptions_follow_viewers(server, broker_flags, secret, final)
    for r in recs + late:
        r.stop()
    results = load.snapshot()
    acked = sorted(load.acked(), key=lambda a: a[3])
    statuses = {}
    for *_, st in results:
        statuses[st] = statuses.get(st, 0) + 1
    max_lag = max(windows) + 5 * SCALE
    violations = []
    counts = {}
    for r in recs:
        mine = [a for a in acked if r.may_see(a[0])]
        cnt, v = latest_wins_violations(r, mine, max_lag)
        counts[r.name] = counts.get(r.name, 0) + cnt["acked"]
        violations += v
        violations += r.trespasses()
        violations += r.ts_backwards()
        violations += [f"{r.name}: {e}" for e in r.errors]
    for r in late:
        violations += r.trespasses() + r.ts_backwards() + [f"{r.name}: {e}" for e in r.errors]
        if r.kind == "customer":
            assert {uid_of(l) for _, l in r.locations} == {c for c in BY_ID if r.may_see(c)}
    for r in recs:
        if not any(r.may_see(c) for c in BY_ID):
            assert not r.received, f"{r.name} may see no courier but received {r.received[:5]}"
    # each admin holds every courier's last acknowledged position
    for r in recs:
        if r.kind == "admin":
            h = r.held()
            short = {c: (h.get(c), s) for c, s in final.items() if h.get(c, 0) < s}
            assert not short, f"{r.name} does not hold the last acknowledged positions: {short}"
    print(f"\n[{'cluster' if cluster else 'redis'}] up in {t_up - t_start:.1f}s "
          f"(cluster created in {getattr(cluster, 'create_seconds', 0):.1f}s); "
          f"{len(acked)} posts acknowledged of {len(results)}; answers {statuses}")
    for k_, v_ in report.items():
        print(f"  {k_}: {v_}")
    print(f"  haproxy gateway retries {hp.backend_counter('gateway', 'wretr')}, redispatches "
          f"{hp.backend_counter('gateway', 'wredis')}; ingest retries "
          f"{hp.backend_counter('ingest', 'wretr')}, redispatches {hp.backend_counter('ingest', 'wredis')}")
    print(f"  viewer-checks (acks checked per viewer kind): {counts}; total "
          f"{time.monotonic() - t_start:.1f}s")
    assert not violations, f"{len(violations)} violations:\n" + "\n".join(violations[:40])
    assert len(acked) >= len(COURIERS) * 4, f"only {len(acked)} posts acknowledged"
    return report


def test_cluster_haproxy_roles_gateway_stop_master_kill(server, redis_cluster, haproxy):
    run_scenario(server, haproxy,
                 ["--redis-cluster", redis_cluster.seeds(), "--cluster-partitions", PARTITIONS],
                 cluster=redis_cluster)


def test_haproxy_plain_redis_roles_gateway_stop(server, redis_server, haproxy):
    run_scenario(server, haproxy, ["--redis", redis_server.url])
