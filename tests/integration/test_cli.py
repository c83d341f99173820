"""Command line (PROTOCOL.md §1, §2 and the lead's CLI decisions): --help texts, unknown
flags, missing secret, --jwt-secret-file, `peyk token`."""

import re
import secrets
import time

import jwt
import pytest

from conftest import free_port, run_peyk

SERVE_FLAGS = ["--listen", "--threads", "--jwt-secret-file", "--jwt-leeway", "--update-interval",
               "--rate-limit", "--rate-burst", "--max-body", "--allowed-origin",
               "--ws-idle-timeout", "--queue-max-entries", "--queue-max-bytes", "--stall-timeout",
               "--drain-timeout", "--channel", "--redis", "--interval-watched", "--interval-active",
               "--interval-idle", "--interval-low-battery"]
SERVE_DEFAULTS = ["127.0.0.1:8082", "65536", "dlchannel"]
TOKEN_FLAGS = ["--role", "--sub", "--ttl", "--name", "--fleet", "--fleets", "--orders",
               "--jwt-secret-file"]


def test_help(peyk_bin):
    r = run_peyk(["--help"])
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "serve" in out and "token" in out, out


def test_serve_help_lists_every_flag_and_defaults(peyk_bin):
    r = run_peyk(["serve", "--help"])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    missing = [f for f in SERVE_FLAGS if f not in out]
    assert not missing, f"`peyk serve --help` lacks {missing}:\n{out}"
    missing = [d for d in SERVE_DEFAULTS if d not in out]
    assert not missing, f"`peyk serve --help` does not show the defaults {missing}:\n{out}"
    for flag, default in [("--jwt-leeway", "2"), ("--update-interval", "60"),
                          ("--interval-watched", "2s"), ("--interval-active", "10s"),
                          ("--interval-idle", "1m"), ("--interval-low-battery", "2"),
                          ("--rate-burst", "10"), ("--ws-idle-timeout", "40"),
                          ("--stall-timeout", "15"), ("--drain-timeout", "3")]:
        # the option's own entry: from its last mention to the next line starting with '-'
        idx = out.rfind(flag)
        entry = out[idx:]
        nxt = re.search(r"\n\s*-", entry[len(flag):])
        if nxt:
            entry = entry[:len(flag) + nxt.start()]
        assert re.search(rf"(?<![\d.]){default}(?![\d.])", entry), \
            f"default {default} of {flag} not shown in its help entry: {entry!r}"


def test_token_help(peyk_bin):
    r = run_peyk(["token", "--help"])
    assert r.returncode == 0, r.stderr
    missing = [f for f in TOKEN_FLAGS if f not in r.stdout]
    assert not missing, f"`peyk token --help` lacks {missing}:\n{r.stdout}"


@pytest.mark.parametrize("args", [["--bogus-flag"], ["serve", "--bogus-flag"],
                                  ["token", "--bogus-flag", "--role", "admin", "--sub", "1"]])
def test_unknown_flag(peyk_bin, args):
    r = run_peyk(args, env={"PEYK_JWT_SECRET": "s" * 32}, timeout=10)
    assert r.returncode != 0
    assert "bogus" in r.stderr, f"stderr should name the unknown flag: {r.stderr!r}"


def test_missing_secret_is_a_startup_error(peyk_bin):
    port = free_port()
    t0 = time.monotonic()
    r = run_peyk(["serve", "--listen", f"127.0.0.1:{port}"], timeout=10)
    assert r.returncode != 0, "peyk serve must refuse to start without a JWT secret"
    assert time.monotonic() - t0 < 5
    assert re.search(r"secret|PEYK_JWT_SECRET", r.stderr, re.I), f"unclear message: {r.stderr!r}"


def test_missing_secret_file_is_a_startup_error(peyk_bin, tmp_path):
    r = run_peyk(["serve", "--listen", f"127.0.0.1:{free_port()}",
                  "--jwt-secret-file", str(tmp_path / "nope")], timeout=10)
    assert r.returncode != 0
    assert r.stderr.strip()


def test_jwt_secret_file(server, tmp_path):
    secret = secrets.token_hex(32)
    path = tmp_path / "secret"
    path.write_text(secret)
    srv = server("--jwt-secret-file", str(path), secret=secret, use_env_secret=False)
    assert srv.post(srv.courier_token("1"), {"latitude": 1.0, "longitude": 1.0}).status_code == 200
    # a token signed with another key is refused
    bad = jwt.encode({"sub": "1", "role": "courier", "exp": int(time.time()) + 60}, "other",
                     algorithm="HS256")
    assert srv.post(bad, {"latitude": 1.0, "longitude": 1.0}).status_code == 401


def decode(token, secret):
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    return header, claims


def test_token_subcommand_courier(peyk_bin):
    secret = secrets.token_hex(32)
    r = run_peyk(["token", "--role", "courier", "--sub", "42", "--name", "ali", "--fleet", "store-7",
                  "--ttl", "1h"], env={"PEYK_JWT_SECRET": secret})
    assert r.returncode == 0, r.stderr
    tok = r.stdout.strip()
    assert tok.count(".") == 2 and "\n" not in tok, f"stdout should be just the token: {r.stdout!r}"
    header, claims = decode(tok, secret)
    assert header["alg"] == "HS256"
    assert claims["role"] == "courier"
    assert claims["sub"] == "42"
    assert claims["name"] == "ali"
    assert claims["fleet"] == "store-7"
    assert abs(claims["exp"] - (time.time() + 3600)) < 60


@pytest.mark.parametrize("ttl,seconds", [("30s", 30), ("10m", 600), ("1h", 3600), ("2d", 172800)])
def test_token_ttl_units(peyk_bin, ttl, seconds):
    secret = secrets.token_hex(16)
    r = run_peyk(["token", "--role", "admin", "--sub", "1", "--ttl", ttl],
                 env={"PEYK_JWT_SECRET": secret})
    assert r.returncode == 0, r.stderr
    _, claims = decode(r.stdout.strip(), secret)
    assert abs(claims["exp"] - (time.time() + seconds)) < 15, (ttl, claims)


def test_token_list_claims(peyk_bin):
    secret = secrets.token_hex(16)
    r = run_peyk(["token", "--role", "dispatcher", "--sub", "d1", "--fleets", "a,b", "--ttl", "10m"],
                 env={"PEYK_JWT_SECRET": secret})
    assert r.returncode == 0, r.stderr
    _, claims = decode(r.stdout.strip(), secret)
    assert claims["role"] == "dispatcher" and claims["fleets"] == ["a", "b"]
    r = run_peyk(["token", "--role", "customer", "--sub", "u1", "--orders", "A,B", "--ttl", "10m"],
                 env={"PEYK_JWT_SECRET": secret})
    assert r.returncode == 0, r.stderr
    _, claims = decode(r.stdout.strip(), secret)
    assert claims["role"] == "customer" and claims["orders"] == ["A", "B"]


def test_token_with_secret_file(peyk_bin, tmp_path):
    secret = secrets.token_hex(16)
    path = tmp_path / "secret"
    path.write_text(secret)
    r = run_peyk(["token", "--jwt-secret-file", str(path), "--role", "admin", "--sub", "1",
                  "--ttl", "1h"])
    assert r.returncode == 0, r.stderr
    decode(r.stdout.strip(), secret)


def test_token_without_secret_fails(peyk_bin):
    r = run_peyk(["token", "--role", "admin", "--sub", "1", "--ttl", "1h"])
    assert r.returncode != 0
    assert r.stdout.strip() == "", "no token may be printed without a secret"


def test_token_output_works_against_the_server(server):
    srv = server()
    env = {"PEYK_JWT_SECRET": srv.secret}

    def tok(*args):
        r = run_peyk(["token", *args], env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    admin = srv.viewer(tok("--role", "admin", "--sub", "1", "--ttl", "1h"), "peyk.v1")
    disp = srv.viewer(tok("--role", "dispatcher", "--sub", "2", "--fleets", "s1,s2", "--ttl", "1h"),
                      "peyk.v1")
    cust = srv.viewer(tok("--role", "customer", "--sub", "3", "--orders", "A1,A2", "--ttl", "1h"),
                      "peyk.v1")
    courier = tok("--role", "courier", "--sub", "10", "--name", "test_driver1", "--fleet", "s2",
                  "--ttl", "10m")
    r = srv.post(courier, {"latitude": 35.0001, "longitude": 53.12111, "orders": ["A2", "Z"]})
    assert r.status_code == 200, r.text
    for v, orders in [(admin, ["A2", "Z"]), (disp, ["A2", "Z"]), (cust, ["A2"])]:
        (loc,) = v.recv_locations()
        assert loc["user"] == {"id": 10, "username": "test_driver1"}, loc
        assert loc["orders"] == orders, loc
    # a courier token from `peyk token` may not watch
    assert srv.ws_status(courier) == 403


def test_second_server_on_a_busy_port_refuses_to_start(server, tmp_path):
    # SO_REUSEPORT must not let a second peyk silently take half of the first one's
    # connections: the second one fails with "address in use".
    srv = server()
    r = run_peyk(["serve", "--listen", f"127.0.0.1:{srv.port}", "--data-dir", str(tmp_path)],
                 timeout=10,
                 env={"PEYK_JWT_SECRET": "another-secret-0123456789abcdef0123"})
    assert r.returncode != 0
    assert "in use" in r.stderr, r.stderr
    assert srv.get("/healthz").status_code == 200
