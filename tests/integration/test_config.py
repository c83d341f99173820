"""Options from a configuration file (--config FILE, PEYK_CONFIG) and the environment
(PEYK_<OPTION>), their precedence (flag > env > file > default), `peyk config check` and
its masking of secrets (README "Configuration")."""

import os
import secrets
import tempfile

import jwt
import pytest

from conftest import Server, run_peyk


@pytest.fixture
def conf_file():
    paths = []

    def write(text, name="peyk.conf"):
        d = tempfile.mkdtemp(prefix="peyk-conf-")
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        paths.append(path)
        return path

    yield write
    for p in paths:
        os.unlink(p)
        os.rmdir(os.path.dirname(p))


def config_interval(srv):
    r = srv.get("/api/v1/config")
    assert r.status_code == 200, r.text
    return r.json()["update_interval_seconds"]


def check(args, env=None):
    return run_peyk(["config", "check", *args], env=env)


def setting_line(out, name):
    """The `name = value  # source` line of `peyk config check`'s output."""
    for line in out.splitlines():
        if line.split(" ", 1)[0] == name:
            return line
    raise AssertionError(f"no line for {name} in:\n{out}")


def test_file_sets_a_running_servers_options(server, conf_file):
    path = conf_file("# peyk serve, from a file\n"
                     "[serve]\n"
                     "update-interval = 7\n"
                     "max-body = 2048\n"
                     "[ingest]\n"
                     "update-interval = 99   # another command's section\n")
    srv = server("--config", path)
    assert config_interval(srv) == 7
    courier = srv.courier_token()
    r = srv.post(courier, {"latitude": 35.7, "longitude": 51.4})
    assert r.status_code == 200, r.text
    assert r.json()["update_interval_seconds"] == 7
    # max-body = 2048 from the file: a bigger body is refused before it is read whole.
    big = '{"latitude": 35.7, "longitude": 51.4, "pad": "' + "x" * 4000 + '"}'
    assert srv.post(courier, big).status_code == 413


def test_environment_sets_a_running_servers_options(server):
    srv = server(env={"PEYK_UPDATE_INTERVAL": "9",
                      # Not options: the test runner's and the key itself; never fatal.
                      "PEYK_TEST_TIME_SCALE": "1", "PEYK_BIN": "/x/peyk",
                      "PEYK_NOT_AN_OPTION": "1"})
    assert config_interval(srv) == 9


def test_precedence_flag_env_file_default(server, conf_file):
    path = conf_file("update-interval = 7\nrate-burst = 4\nmax-body = 3000\n")
    env = {"PEYK_CONFIG": path, "PEYK_UPDATE_INTERVAL": "8", "PEYK_RATE_BURST": "5"}
    srv = server("--update-interval", "9", env=env)
    assert config_interval(srv) == 9  # the flag over env and file
    srv = server(env=env)
    assert config_interval(srv) == 8  # env over file
    srv = server(env={"PEYK_CONFIG": path})
    assert config_interval(srv) == 7  # file over default

    r = check(["serve", "--update-interval", "9"],
              env={**env, "PEYK_JWT_SECRET": secrets.token_hex(32)})
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "update-interval" in setting_line(out, "update-interval")
    assert setting_line(out, "update-interval").endswith("# flag"), out
    assert "= 5" in setting_line(out, "rate-burst")
    assert setting_line(out, "rate-burst").endswith("# env PEYK_RATE_BURST"), out
    assert "= 3000" in setting_line(out, "max-body")
    assert setting_line(out, "max-body").endswith(f"# file {path}:3"), out
    assert setting_line(out, "listen").endswith("# default"), out
    assert f"# config file: {path}" in out


def test_config_check_ok_and_masks_every_secret(conf_file):
    jwt_key = secrets.token_hex(32)
    previous = secrets.token_hex(32)
    redis_pw = "redispw" + secrets.token_hex(8)
    pg_pw = "pgpw" + secrets.token_hex(8)
    key_file = conf_file(jwt_key + "\n", name="jwt-secret")
    pw_file = conf_file(redis_pw + "\n", name="redis-password")
    path = conf_file(f"[gateway]\n"
                     f"jwt-secret-file = {key_file}\n"
                     f"redis-password-file = {pw_file}\n"
                     f"history = postgres://peyk:{pg_pw}@127.0.0.1:5432/peyk\n")
    r = check(["gateway", "--config", path, "--redis", "redis://127.0.0.1:6379"],
              env={"PEYK_JWT_PREVIOUS_SECRET": previous})
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    for secret in (jwt_key, previous, redis_pw, pg_pw):
        assert secret not in out, f"a secret's value was printed:\n{out}"
    assert setting_line(out, "history").startswith("history"), out
    assert "postgres://peyk:***@127.0.0.1:5432/peyk" in setting_line(out, "history")
    assert key_file in setting_line(out, "jwt-secret-file")  # the path is no secret
    assert "# ok" in r.stdout

    # A password inside a URL given in the environment, and the key in PEYK_JWT_SECRET.
    r = check(["serve"], env={"PEYK_REDIS": f"redis://:{redis_pw}@127.0.0.1:6379",
                              "PEYK_JWT_SECRET": jwt_key})
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert redis_pw not in out and jwt_key not in out, out
    assert "redis://:***@127.0.0.1:6379" in setting_line(out, "redis")
    assert "env PEYK_JWT_SECRET" in out


@pytest.mark.parametrize("args,env,expect", [
    # values the command's own checks refuse
    (["serve", "--jwt-leeway", "9"], {}, "--jwt-leeway must be 0..5"),
    (["serve"], {"PEYK_MAX_BODY": "10"}, "--max-body must be"),
    (["serve"], {"PEYK_MAX_BODY": "lots"}, "PEYK_MAX_BODY"),
    # what the command checks before it listens
    (["serve", "--listen", "127.0.0.1:99999"], {}, "port"),
    (["ingest"], {}, "needs --redis"),
    (["serve", "--redis", "http://nope"], {}, "redis"),
])
def test_config_check_refuses_invalid_settings(args, env, expect):
    full_env = {"PEYK_JWT_SECRET": secrets.token_hex(32), **env}
    r = check(args, env=full_env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert expect in r.stderr, r.stderr
    assert full_env["PEYK_JWT_SECRET"] not in r.stdout + r.stderr


def test_config_check_refuses_a_missing_or_short_key():
    r = check(["serve"])
    assert r.returncode == 2
    assert "no JWT secret" in r.stderr, r.stderr
    r = check(["serve"], env={"PEYK_JWT_SECRET": "short-key"})
    assert r.returncode == 2
    assert "short-key" not in r.stdout + r.stderr
    r = check(["demo"])  # the demo makes a throwaway key
    assert r.returncode == 0, r.stderr
    assert "throwaway" in r.stdout


@pytest.mark.parametrize("text,line,what", [
    ("listen = 127.0.0.1:1\nlisen = 127.0.0.1:2\n", 2, "unknown key 'lisen'"),
    ("[serve]\n# comment\nnot-a-flag = 1\n", 3, "unknown key 'not-a-flag' in [serve]"),
    ("[srve]\nlisten = 127.0.0.1:1\n", 1, "unknown section [srve]"),
    ("threads = lots\n", 1, "threads"),
    ("max-body = 2048\nmax-body = 4096\n", 2, "given twice"),
])
def test_file_errors_name_the_line(conf_file, text, line, what):
    path = conf_file(text)
    for args in (["serve", "--config", path], ["config", "check", "serve", "--config", path]):
        r = run_peyk(args, env={"PEYK_JWT_SECRET": secrets.token_hex(32)})
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"{path}:{line}" in r.stderr, r.stderr
        assert what in r.stderr, r.stderr


def test_missing_config_file_is_an_error():
    r = run_peyk(["serve", "--config", "/nonexistent/peyk.conf"],
                 env={"PEYK_JWT_SECRET": secrets.token_hex(32)})
    assert r.returncode == 2
    assert "cannot read --config /nonexistent/peyk.conf" in r.stderr


def test_token_reads_its_section(conf_file):
    key = secrets.token_hex(32)
    key_file = conf_file(key, name="jwt-secret")
    path = conf_file(f"jwt-secret-file = {key_file}\n"
                     "[token]\nrole = dispatcher\nsub = d7\nfleets = north,south\n"
                     "[serve]\nlisten = 127.0.0.1:1\n")
    r = run_peyk(["token", "--config", path, "--sub", "d8"])
    assert r.returncode == 0, r.stderr
    claims = jwt.decode(r.stdout.strip(), key, algorithms=["HS256"])
    assert claims["role"] == "dispatcher"
    assert claims["sub"] == "d8"  # the flag over the file
    assert claims["fleets"] == ["north", "south"]


def test_help_names_the_config_file_and_environment():
    r = run_peyk(["serve", "--help"])
    assert r.returncode == 0
    assert "--config" in r.stdout and "PEYK_" in r.stdout
    r = run_peyk(["config", "--help"])
    assert r.returncode == 0 and "config check" in r.stdout
