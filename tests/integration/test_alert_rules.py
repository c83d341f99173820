"""deploy/prometheus/peyk.rules.yml: valid for promtool, its unit tests pass, and every
metric (and label) a rule's expression names is exported by a running peyk."""

import os
import re
import shutil
import subprocess

import yaml

from conftest import ROOT

RULES = os.path.join(ROOT, "deploy", "prometheus", "peyk.rules.yml")
RULE_TESTS = os.path.join(ROOT, "deploy", "prometheus", "peyk.rules.test.yml")
# Series Prometheus adds to every scrape itself.
SYNTHETIC = {"up"}
# A selector: metric{matchers}.
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is missing: scripts/setup.sh installs it (Debian package prometheus)"
    return path


def rules():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"]]


def test_promtool_check_rules():
    r = subprocess.run([promtool(), "check", "rules", RULES], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_promtool_rule_unit_tests():
    r = subprocess.run([promtool(), "test", "rules", RULE_TESTS], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_alerts_the_issue_asks_for_exist():
    names = {r["alert"] for r in rules()}
    for wanted in ("PeykNotReady", "PeykIngestErrors", "PeykDeliveryLatencyHigh",
                   "PeykViewersDropped", "PeykHistoryUnavailable"):
        assert wanted in names, f"{wanted} missing from {RULES}"


def test_every_metric_a_rule_names_is_exported(server):
    srv = server()
    # Traffic, so that labelled series and histograms have samples: a viewer receives a
    # courier's location (delivery latency), ingest answers 200.
    viewer = srv.viewer(srv.admin_token(), "peyk.v1")
    courier = srv.courier_token()
    srv.post_ok(courier, {"latitude": 35.7, "longitude": 51.4})
    viewer.recv_locations()
    metrics = srv.metrics()

    labels_of = {}  # metric -> label names seen on its series
    for key in metrics:
        name, _, rest = key.partition("{")
        labels_of.setdefault(name, set()).update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', rest))

    problems = []
    for rule in rules():
        expr = rule["expr"]
        selectors = SELECTOR.findall(expr)
        named = {m for m, _ in selectors}
        # A bare peyk_* name (no braces) is a metric too.
        named |= set(re.findall(r"\bpeyk_[a-z0-9_]+\b", expr))
        assert named, f"{rule['alert']}: no metric found in {expr!r}"
        for metric in named - SYNTHETIC:
            if not metrics.has_family(metric) and metric not in labels_of:
                problems.append(f"{rule['alert']}: {metric} is not exported by peyk")
        for metric, matchers in selectors:
            if metric in SYNTHETIC:
                continue
            for label, _, _ in MATCHER.findall(matchers):
                if label == "job":  # Prometheus's target label
                    continue
                if label not in labels_of.get(metric, set()):
                    problems.append(f"{rule['alert']}: {metric} has no label {label!r}")
    assert not problems, "\n".join(problems) + "\n\n/metrics:\n" + metrics.text
