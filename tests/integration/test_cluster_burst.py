"""Issue #12, finding 2: the last point of a burst, in the Redis Cluster topology.

    couriers --POST--> HAProxy --> peyk ingest x2 --SPUBLISH--> Redis Cluster (3+3)
    viewers  --/ws --> HAProxy --> peyk gateway x3 <--SSUBSCRIBE--

20 couriers each POST one point in turn (nothing else is posted); 6 admins and 6 other
viewers (dispatchers, customers) watch through HAProxy. Every viewer must hold every point
it may see soon after the last one was acknowledged: a point must not wait for later
traffic to be delivered. Then a master is killed: once a replica took over and ingest
answers 200 again for every courier, the same holds for the points posted since.

The bound is a delivery deadline (2 s after the last 200, scaled for sanitizers), not a
latency measurement: the finding was 4-12 s for the burst's last point, 5-25 s after a
failover. The delays measured are printed (pytest -s).

NOTE: this does not reproduce the finding: it passes on the code the finding was filed
against (6ff30fc), with 16 or 64 partitions, with or without waiting for the gateways'
subscriptions (worst delay 0.03 s). It stays as the delivery bound the finding asks for."""

import json
import time

import pytest
import requests

from cluster_fixtures import haproxy, redis_cluster  # noqa: F401 - fixtures
from sanitizer import TIME_SCALE
from test_cluster import PARTITIONS, Recorder, _mint, start_peyk

pytestmark = pytest.mark.cluster

SCALE = TIME_SCALE
DEADLINE = 2.0 * SCALE  # every point at every viewer, after the last 200
FLEETS = ["north", "south"]
COURIERS = [{"id": f"b-{i}" if i % 2 else str(9100 + i), "fleet": FLEETS[i % 2],
             "orders": [f"bo-{i}"] if i % 5 == 0 else []} for i in range(20)]
BY_ID = {c["id"]: c for c in COURIERS}

# 6 admins, 6 others: (name, role, claims, protocol)
VIEWERS = [(f"admin-{i}", "admin", {}, "peyk.v1" if i % 2 else "echo-protocol")
           for i in range(6)] + [
    ("disp-north-0", "dispatcher", {"fleets": ["north"]}, "peyk.v1"),
    ("disp-north-1", "dispatcher", {"fleets": ["north"]}, "echo-protocol"),
    ("disp-south", "dispatcher", {"fleets": ["south"]}, "peyk.v1"),
    ("cust-0", "customer", {"orders": ["bo-0", "bo-5"]}, "peyk.v1"),
    ("cust-1", "customer", {"orders": ["bo-10"]}, "echo-protocol"),
    ("cust-2", "customer", {"orders": ["bo-15"]}, "peyk.v1"),
]


def may_see(rec, courier):
    c = BY_ID[courier]
    if rec.kind == "admin":
        return True
    if rec.kind == "dispatcher":
        return c["fleet"] in rec.claims["fleets"]
    return any(o in rec.claims["orders"] for o in c["orders"])


class Couriers:
    """The 20 couriers, posting through HAProxy; the seq of a point travels as
    longitude = seq / 1000 (test_cluster.Recorder reads it back)."""

    def __init__(self, base, secret):
        self.base = base
        self.tokens = {c["id"]: _mint(secret, "courier", c["id"], name=f"n-{c['id']}",
                                      fleet=c["fleet"]) for c in COURIERS}
        self.seq = 0
        self.acked = {}  # courier -> newest seq answered 200
        self.session = requests.Session()

    def post(self, c):
        self.seq += 1
        body = {"latitude": 30.0 + COURIERS.index(c) / 100, "longitude": self.seq / 1000}
        if c["orders"]:
            body["orders"] = c["orders"]
        try:
            r = self.session.post(self.base + "/api/v1/locations", data=json.dumps(body),
                                  headers={"Authorization": f"Bearer {self.tokens[c['id']]}",
                                           "Content-Type": "application/json"},
                                  timeout=5 * SCALE)
            status = r.status_code
        except requests.RequestException as e:
            self.session = requests.Session()
            status = f"error {type(e).__name__}"
        if status == 200:
            self.acked[c["id"]] = self.seq
        return status

    def burst(self):
        """Each courier posts one point, in turn; returns {courier: status}."""
        return {c["id"]: self.post(c) for c in COURIERS}


def arrival(rec, courier, seq):
    """When rec's current connection first held courier at seq or newer (None: not yet)."""
    with rec.lock:
        times = [t for t, cn, _, c, s in rec.received if cn == rec.conn_no and c == courier and s >= seq]
    return min(times) if times else None


def wait_delivered(recs, target, t_ref, what):
    """Until every viewer holds, for each courier it may see, target's seq or newer; fails
    when that takes longer than DEADLINE after t_ref. Returns the worst delay (s) after t_ref
    and its (viewer, courier)."""
    want = [(r, c, s) for r in recs for c, s in target.items() if may_see(r, c)]
    deadline = t_ref + DEADLINE

    def late():
        return [(r.name, c, s) for r, c, s in want if arrival(r, c, s) is None]

    while late() and time.monotonic() < deadline + 0.5:
        time.sleep(0.02)
    # the whole picture, for the failure message: when did the late ones arrive, if at all
    missing = late()
    if missing:
        grace = time.monotonic() + 15 * SCALE
        while late() and time.monotonic() < grace:
            time.sleep(0.05)
    worst, who = 0.0, None
    for r, c, s in want:
        t = arrival(r, c, s)
        d = (t - t_ref) if t is not None else float("inf")
        if d > worst:
            worst, who = d, (r.name, c)
    if missing:
        pytest.fail(f"{what}: {len(missing)} of {len(want)} (viewer, courier) points not delivered "
                    f"within {DEADLINE:.1f}s of the last 200, e.g. {missing[:6]}; the worst arrived "
                    f"{worst:.2f}s after it ({who})")
    return worst, who


def wait_subscribed(gws, n):
    """Until every gateway has every `c` partition subscribed (each serves admins)."""
    def done():
        return all(g.metrics().sum("peyk_cluster_partitions_subscribed") >= n for g in gws)

    deadline = time.monotonic() + 20 * SCALE
    while not done():
        assert time.monotonic() < deadline, "the gateways did not subscribe every partition"
        time.sleep(0.05)


def setup_topology(server, redis_cluster, haproxy):
    flags = ["--redis-cluster", redis_cluster.seeds(), "--cluster-partitions", PARTITIONS]
    secret, ing, gws = start_peyk(server, flags)
    hp = haproxy(ingests=ing, gateways=gws)
    recs = []
    for name, kind, claims, proto in VIEWERS:
        r = Recorder(name, kind, claims, proto, secret, hp.ws_url)
        r.connect()
        recs.append(r)
    gw_of = {r.gateway for r in recs if r.kind == "admin"}
    assert len(gw_of) == 3, f"HAProxy did not spread the admins over the 3 gateways: {gw_of}"
    wait_subscribed(gws, PARTITIONS)
    for g in gws:
        g.wait_ready(10 * SCALE)
    return secret, ing, gws, hp, recs


def check_bursts(couriers, recs, rounds, what):
    delays = []
    for i in range(rounds):
        statuses = couriers.burst()
        t_last = time.monotonic()
        assert all(s == 200 for s in statuses.values()), f"{what} burst {i}: {statuses}"
        worst, who = wait_delivered(recs, dict(couriers.acked), t_last, f"{what} burst {i}")
        delays.append(worst)
        time.sleep(0.5)  # quiet between bursts: no later traffic pushes a late point out
    return delays


def test_burst_last_point_arrives(server, redis_cluster, haproxy):
    secret, ing, gws, hp, recs = setup_topology(server, redis_cluster, haproxy)
    couriers = Couriers(hp.base, secret)
    try:
        # nothing was posted before: the first burst is the finding's scenario, the later
        # ones follow quiet seconds (pings on idle links)
        delays = check_bursts(couriers, recs, 3, "")
        time.sleep(3)
        delays += check_bursts(couriers, recs, 1, "after 3 s of quiet")
        print(f"\n[burst] worst delay after the last 200, per burst: "
              f"{', '.join(f'{d:.3f}s' for d in delays)}")
    finally:
        for r in recs:
            r.stop()
    for r in recs:
        assert not r.errors, f"{r.name}: {r.errors}"


def test_burst_after_failover(server, redis_cluster, haproxy):
    secret, ing, gws, hp, recs = setup_topology(server, redis_cluster, haproxy)
    couriers = Couriers(hp.base, secret)
    try:
        check_bursts(couriers, recs, 1, "before the failover")
        # the master of the most couriers' hashes
        owners = {}
        for key, port in redis_cluster.scan("peyk:last:dlchannel:c:*").items():
            owners[port] = owners.get(port, 0) + len(redis_cluster.hgetall(key))
        dead = max(owners, key=owners.get)
        key = next(k for k, p in redis_cluster.scan("peyk:last:dlchannel:c:*").items() if p == dead)
        slot = redis_cluster.keyslot(key)
        t_kill = time.monotonic()
        redis_cluster.kill_master(dead)
        redis_cluster.wait_promoted(dead, slot, 30 * SCALE)
        t_promoted = time.monotonic()
        # bursts until one is answered 200 for every courier: ingest accepts again
        rounds = 0
        while True:
            statuses = couriers.burst()
            rounds += 1
            if all(s == 200 for s in statuses.values()):
                break
            assert time.monotonic() - t_promoted < 20 * SCALE, f"ingest still refuses: {statuses}"
            time.sleep(0.1)
        t_accept = time.monotonic()
        worst, who = wait_delivered(recs, dict(couriers.acked), t_accept, "after the failover")
        delays = check_bursts(couriers, recs, 2, "after the failover")
        print(f"\n[failover] {dead} killed, promoted after {t_promoted - t_kill:.2f}s, all 200 "
              f"after {t_accept - t_kill:.2f}s ({rounds} bursts); every point delivered "
              f"{worst:.3f}s after the accepting burst ({who}); later bursts: "
              f"{', '.join(f'{d:.3f}s' for d in delays)}")
    finally:
        for r in recs:
            r.stop()
    for r in recs:
        assert not r.errors, f"{r.name}: {r.errors}"
