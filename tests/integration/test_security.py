"""Security review of the auth paths (issue 6, item 6; docs/security.md is the threat
model that points here): algorithm confusion, key rotation and `kid`, the clock-skew
window, tokens kept out of logs, metrics and error bodies, the Origin allow-list on /ws,
and what the ingest API answers to a CORS preflight. Issue 12, finding 7: short keys
refused at start, a single Redis's password from a file, security headers on the panel's
files, no cookie with `--allowed-origin '*'`."""

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time

import jwt
import pytest
import requests
import websocket

from conftest import (PEYK_BIN, REDIS_SERVER, b64url, clean_env, free_port, mint, run_peyk,
                      uid, wait_until)

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
except ImportError:  # pragma: no cover - python3-cryptography comes with python3-jwt
    rsa = None


def hs256_raw(header, claims, key):
    """A token signed with HMAC-SHA256 over any header, with any key bytes (PyJWT refuses
    a PEM public key as an HMAC secret -- which is the attack)."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def claims(role="admin", sub="1", **kw):
    now = int(time.time())
    c = {"sub": sub, "role": role, "iat": now, "exp": now + 600}
    c.update(kw)
    return c


def forged_tokens(srv, role):
    """Every token an attacker without the key might try."""
    out = {}
    c = claims(role)
    for alg in ("none", "None", "NONE"):
        h = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        out[f"alg {alg}, empty signature"] = f"{h}.{b64url(json.dumps(c).encode())}."
    out["alg none, HMAC appended"] = hs256_raw({"alg": "none"}, c, srv.secret.encode())
    out["HS512 with the right key"] = jwt.encode(c, srv.secret, algorithm="HS512")
    out["HS384 with the right key"] = jwt.encode(c, srv.secret, algorithm="HS384")
    out["HS256 with a wrong key"] = jwt.encode(c, "not-the-key" * 4, algorithm="HS256")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem_pub = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    out["RS256 with an attacker's RSA key"] = jwt.encode(c, rsa_key, algorithm="RS256")
    out["HS256 keyed with an RSA public key (PEM)"] = hs256_raw({"alg": "HS256", "typ": "JWT"}, c,
                                                               pem_pub)
    out["RS256 header, HMAC keyed with the PEM"] = hs256_raw({"alg": "RS256"}, c, pem_pub)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    out["ES256 with an attacker's EC key"] = jwt.encode(c, ec_key, algorithm="ES256")
    attacker = b"attacker-key-attacker-key-attack"
    out["jwk header carrying the attacker's key"] = hs256_raw(
        {"alg": "HS256", "jwk": {"kty": "oct", "k": b64url(attacker)}}, c, attacker)
    out["jku header pointing at the attacker"] = hs256_raw(
        {"alg": "HS256", "jku": "http://127.0.0.1:9/keys.json"}, c, attacker)
    out["unknown kid, attacker key"] = hs256_raw({"alg": "HS256", "kid": "attacker"}, c, attacker)
    # the right key but a tampered payload (role escalation)
    good = srv.courier_token("esc")
    h, p, s = good.split(".")
    esc = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    esc["role"] = role
    out["payload swapped under a valid signature"] = f"{h}.{b64url(json.dumps(esc).encode())}.{s}"
    return out


def test_algorithm_confusion_and_forged_tokens_are_refused_everywhere(server):
    assert rsa is not None, "python3-cryptography is needed (it comes with python3-jwt)"
    srv = server()
    for what, tok in forged_tokens(srv, "courier").items():
        r = srv.post(tok, {"latitude": 1.0, "longitude": 1.0})
        assert r.status_code == 401, f"ingest, {what}: {r.status_code} {r.text}"
    for what, tok in forged_tokens(srv, "admin").items():
        for carrier in ("header", "query", "cookie"):
            assert srv.ws_status(tok, carrier=carrier) == 401, f"/ws ({carrier}), {what}"
        r = srv.get("/api/v1/whoami", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 401, f"whoami, {what}: {r.status_code}"
    m = srv.metrics()
    assert m.value("peyk_ingest_requests_total", status="200") == 0
    assert m.value("peyk_ws_accepted_total") == 0


def test_key_rotation_previous_key_accepted_kid_ignored(server):
    old, new = "old-" + "k" * 40, "new-" + "k" * 40
    srv = server(secret=new, env={"PEYK_JWT_PREVIOUS_SECRET": old})
    ok_old = mint(old, "courier", "rot-1")
    ok_new = mint(new, "courier", "rot-2")
    with_kid = jwt.encode(claims("courier", "rot-3"), new, algorithm="HS256",
                          headers={"kid": "2026-11"})
    third = mint("third-" + "k" * 40, "courier", "rot-4")
    for tok, want in ((ok_old, 200), (ok_new, 200), (with_kid, 200), (third, 401)):
        r = srv.post(tok, {"latitude": 1.0, "longitude": 1.0})
        assert r.status_code == want, (r.status_code, r.text)
    assert srv.ws_status(mint(old, "admin", "a")) == 101
    # once the rotation is over (no previous key), the old key's tokens are refused
    srv2 = server(secret=new)
    assert srv2.post(mint(old, "courier", "rot-5"), {"latitude": 1.0, "longitude": 1.0}) \
        .status_code == 401
    assert srv2.post(mint(new, "courier", "rot-6"), {"latitude": 1.0, "longitude": 1.0}) \
        .status_code == 200


def test_clock_skew_window(server):
    srv = server("--rate-limit", "0")  # leeway: the default 2 s
    now = int(time.time())
    cases = [
        ({"exp": now - 1}, 200),  # expired 1 s ago: within the leeway
        ({"exp": now - 4}, 401),
        ({"exp": now + 60, "nbf": now + 1}, 200),  # valid in 1 s: within the leeway
        ({"exp": now + 60, "nbf": now + 5}, 401),
    ]
    for extra, want in cases:
        tok = jwt.encode({"sub": uid("skew"), "role": "courier", **extra}, srv.secret,
                         algorithm="HS256")
        r = srv.post(tok, {"latitude": 1.0, "longitude": 1.0})
        assert r.status_code == want, f"{extra}: {r.status_code} {r.text}"
    srv0 = server("--jwt-leeway", "0")
    tok = jwt.encode({"sub": "z", "role": "courier", "exp": now - 1}, srv0.secret, algorithm="HS256")
    assert srv0.post(tok, {"latitude": 1.0, "longitude": 1.0}).status_code == 401


def test_tokens_never_reach_logs_metrics_or_error_bodies(server):
    srv = server("--log-level", "debug")
    admin = srv.admin_token(sub="log-admin")
    courier = srv.courier_token("log-courier")
    expired = srv.admin_token(sub="log-exp", exp=int(time.time()) - 3600)
    garbage = "eyJhbGciOiJIUzI1NiJ9.SECRETMARKER" + "x" * 20 + ".c2ln"
    secrets_used = [admin, courier, expired, garbage]
    # the upgrade with each carrier: accepted, refused 401 (expired, garbage), 403 (courier)
    assert srv.ws_status(admin, carrier="query") == 101
    assert srv.ws_status(admin, carrier="cookie") == 101
    assert srv.ws_status(expired, carrier="query") == 401
    assert srv.ws_status(garbage, carrier="query") == 401
    assert srv.ws_status(courier, carrier="query") == 403
    for path in (f"/ws?%74oken={courier}", f"/ws?x=1&access_token={courier}",
                 f"/ws?jwt={courier}&token={courier}", f"/nope?token={admin}",
                 f"/healthz?token={admin}", f"/ws?token={garbage}#frag"):
        try:
            ws = websocket.create_connection(f"ws://127.0.0.1:{srv.port}{path}", timeout=5)
            ws.close()
        except websocket.WebSocketException:
            pass
    # error bodies never echo the token
    bodies = []
    for tok in (garbage, expired, courier):
        r = srv.post(tok, {"latitude": 1.0, "longitude": 1.0})
        bodies.append(r.text)
        r = srv.get("/api/v1/whoami", headers={"Authorization": f"Bearer {tok}"})
        bodies.append(r.text)
        r = requests.get(f"{srv.base}/ws?token={tok}", timeout=5)  # not an upgrade: 426
        bodies.append(r.text)
    r = srv.post(courier, {"latitude": 1.0, "longitude": 1.0}, headers={"Cookie": f"peyk_token={admin}"})
    bodies.append(r.text)
    metrics_text = srv.metrics().text
    srv.stop()
    logs = srv.stderr_text(limit=10**7)
    with open(srv._stdout.name, "rb") as f:
        logs += f.read().decode("utf-8", "replace")
    assert "http GET /ws?token=[redacted] 101" in logs, f"no access log at debug:\n{logs[-3000:]}"
    assert "%74oken=[redacted]" in logs, logs[-3000:]
    for tok in secrets_used:
        sig = tok.rsplit(".", 1)[1]
        payload = tok.split(".")[1]
        for where, text in (("the log", logs), ("/metrics", metrics_text),
                            ("an error body", "\n".join(bodies))):
            assert payload not in text and (len(sig) < 8 or sig not in text), \
                f"a token reached {where}:\n{text[-2000:]}"
    assert "SECRETMARKER" not in logs + metrics_text + "".join(bodies)
    print(f"access log at debug: {logs.count(' http ')} lines, none with a token; "
          f"{len(bodies)} error bodies checked")


@pytest.mark.parametrize("allowed,origin,want", [
    (None, "http://127.0.0.1:{port}", 101),
    (None, None, 101),  # not a browser
    (None, "http://localhost:{port}", 403),
    (None, "http://127.0.0.1:{port}.evil.example", 403),
    (None, "http://evil.example", 403),
    (None, "http://127.0.0.1:1", 403),
    (None, "null", 403),
    (None, "http://127.0.0.1:{port}@evil.example", 403),
    ("https://panel.example", "https://panel.example", 101),
    ("https://panel.example", "https://panel.example.evil", 403),
    ("https://panel.example", "http://panel.example", 403),
    ("https://panel.example", "https://evil.example", 403),
    ("https://panel.example", "http://127.0.0.1:{port}", 403),  # the list replaces same-host
])
def test_origin_allow_list(server, allowed, origin, want):
    srv = server(*(("--allowed-origin", allowed) if allowed else ()))
    kw = {"suppress_origin": True} if origin is None else {"origin": origin.format(port=srv.port)}
    # the cookie is what a browser would send on its own (cross-site WebSocket hijacking)
    assert srv.ws_status(srv.admin_token(), carrier="cookie", **kw) == want, (allowed, origin)


def test_ingest_answers_no_cors_and_takes_no_ambient_credentials(server):
    """Courier apps are not web pages: the ingest API grants no cross-origin access. A
    preflight is refused (405, no Access-Control-Allow-* headers), so a page on another
    origin can neither send Authorization nor read an answer; and the API takes its token
    only from Authorization, never from a cookie or the query, so a cross-site form post
    carries no credentials (CSRF)."""
    srv = server()
    r = requests.options(f"{srv.base}/api/v1/locations", timeout=5, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 405, r.status_code
    assert not any(h.lower().startswith("access-control-") for h in r.headers), dict(r.headers)
    courier = srv.courier_token("cors-1")
    r = srv.post(courier, {"latitude": 1.0, "longitude": 1.0}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 200
    assert not any(h.lower().startswith("access-control-") for h in r.headers), dict(r.headers)
    # ambient credentials do nothing on the ingest API
    r = srv.post(None, {"latitude": 1.0, "longitude": 1.0}, headers={"Cookie": f"peyk_token={courier}"})
    assert r.status_code == 401
    r = srv.http.post(f"{srv.base}/api/v1/locations?token={courier}", timeout=5,
                      data=json.dumps({"latitude": 1.0, "longitude": 1.0}),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    # a form post (a "simple" cross-site request) is not JSON: refused before any effect
    r = srv.post(courier, "latitude=1&longitude=1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    r = srv.post(courier, '{"latitude": 1, "longitude": 1}', content_type="text/plain")
    assert r.status_code == 415


# ---------------------------------------------------------------------------------
# issue 12, finding 7


@pytest.mark.parametrize("env", [
    {"PEYK_JWT_SECRET": "k" * 31},
    {"PEYK_JWT_SECRET": "z9Q"},  # short, and in no word of the message
    {"PEYK_JWT_SECRET": "k" * 40, "PEYK_JWT_PREVIOUS_SECRET": "old-" + "k" * 27},
])
def test_a_key_under_32_bytes_is_refused_at_start(peyk_bin, env):
    for role in ("serve", "gateway"):
        args = [role, "--listen", f"127.0.0.1:{free_port()}"]
        if role == "gateway":
            args += ["--redis", f"redis://127.0.0.1:{free_port()}"]
        try:
            r = run_peyk(args, env=env, timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`peyk {role}` started with a key under 32 bytes ({env})")
        assert r.returncode != 0, r
        assert "32" in r.stderr and "secret" in r.stderr.lower(), r.stderr
        for v in env.values():
            assert v not in r.stderr, "the key itself must never be printed"


def test_a_32_byte_key_starts_and_demo_still_takes_a_short_one(server, tmp_path):
    srv = server(secret="k" * 32)
    assert srv.get("/healthz").status_code == 200
    env = clean_env()
    env["PEYK_JWT_SECRET"] = "short"
    proc = subprocess.Popen([PEYK_BIN, "demo", "--couriers", "0", "--listen",
                             f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out = ""
        deadline = time.monotonic() + 15
        while "peyk demo is running" not in out and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out += line
        assert "peyk demo is running" in out, (out, proc.poll())
    finally:
        proc.terminate()
        proc.wait(10)


def _redis_with_password(tmp_path, password):
    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path), "--requirepass", password],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import redis as redis_py

    def up():
        try:
            return redis_py.Redis(host="127.0.0.1", port=port, password=password,
                                  socket_timeout=0.5).ping()
        except redis_py.RedisError:
            return False
    wait_until(up, 10, what="redis-server with a password")
    return proc, port


def test_single_redis_takes_its_password_from_a_file(server, tmp_path):
    if not shutil.which(REDIS_SERVER) and not os.path.isfile(REDIS_SERVER):
        pytest.fail("redis-server is required (scripts/setup.sh installs it)")
    password = "pw-" + uid("r")
    proc, port = _redis_with_password(tmp_path, password)
    try:
        pw_file = tmp_path / "redis-password"
        pw_file.write_text(password + "\n")
        srv = server("--redis", f"redis://127.0.0.1:{port}", "--redis-password-file", str(pw_file))
        srv.wait_ready()
        viewer = srv.viewer(srv.admin_token())
        courier = srv.courier_token(sub="pw-courier")
        srv.post_ok(courier, {"latitude": 3.5, "longitude": 4.5})
        viewer.collect_until(lambda l: str(l["user"]["id"]) == "pw-courier", timeout=10)
        with open(f"/proc/{srv.pid}/cmdline", "rb") as f:
            assert password.encode() not in f.read(), "the password is visible in ps"
        assert password not in srv.stderr_text()
        assert password not in srv.get("/metrics").text
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_wrong_redis_password_file_never_gets_ready(server, tmp_path):
    proc, port = _redis_with_password(tmp_path, "right-" + uid("r"))
    try:
        pw_file = tmp_path / "redis-password"
        pw_file.write_text("wrong-password")
        srv = server("--redis", f"redis://127.0.0.1:{port}", "--redis-password-file", str(pw_file))
        time.sleep(1.5)
        assert srv.get("/readyz").status_code == 503
        r = srv.post(srv.courier_token(), {"latitude": 1, "longitude": 1})
        assert r.status_code == 503, r.text
        assert "wrong-password" not in srv.stderr_text()
    finally:
        proc.terminate()
        proc.wait(10)


def test_panel_files_carry_csp_nosniff_and_referrer_policy(server, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>p</title>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a.js").write_text("console.log(1)")
    srv = server("--web-root", str(tmp_path), "--tiles",
                 "https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    for path in ("/", "/assets/a.js"):
        r = srv.get(path)
        assert r.status_code == 200, path
        csp = r.headers.get("Content-Security-Policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        assert directives.get("frame-ancestors") == ["'none'"], csp
        assert directives.get("default-src") == ["'none'"], csp
        assert directives.get("script-src") == ["'self'"], csp
        assert "https://*.tiles.example.org" in directives.get("img-src", []), csp
        assert f"ws://127.0.0.1:{srv.port}" in directives.get("connect-src", []), csp
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert r.headers.get("Referrer-Policy") == "no-referrer"
    # the config the panel reads names the same tile server the policy allows
    assert srv.get("/api/v1/config").json()["tiles"]["url"].startswith("https://{s}.tiles.example.org/")


def test_any_origin_takes_no_cookie(server):
    srv = server("--allowed-origin", "*")
    admin = srv.admin_token()
    evil = {"origin": "https://evil.example"}
    # a page on any site could make the browser send the cookie: not a credential here
    assert srv.ws_status(admin, carrier="cookie", **evil) == 401
    assert srv.ws_status(admin, carrier="header", **evil) == 101
    assert srv.ws_status(admin, carrier="query", **evil) == 101
    # with a list of origins the cookie still works for them
    srv2 = server("--allowed-origin", "https://panel.example")
    assert srv2.ws_status(srv2.admin_token(), carrier="cookie",
                          origin="https://panel.example") == 101
