"""The Debian package (cmake/package.cmake, issue #17 item 2): built with CPack, lintian
clean of errors, installed with dpkg -i on this machine, run from its installed config
(the panel served from /usr/share/peyk/web) as its system user, reinstalled (the key
kept), removed (the conffile kept) and purged (everything gone).

Needs root and the Release build (build/peyk with web/dist built: scripts/setup.sh);
skipped otherwise, and when a peyk package is already installed (it is not ours to
remove)."""

import glob
import os
import pwd
import shutil
import stat
import subprocess
import time

import pytest
import requests

from conftest import PEYK_BIN, ROOT, free_port, mint

BUILD = os.path.join(ROOT, "build")


def run(cmd, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def installed():
    r = run(["dpkg-query", "-W", "-f=${Status}", "peyk"])
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def default_env():
    env = {}
    with open("/etc/default/peyk") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


@pytest.fixture(scope="module")
def deb():
    if os.geteuid() != 0:
        pytest.skip("installing a package needs root")
    if os.path.realpath(PEYK_BIN) != os.path.realpath(os.path.join(BUILD, "peyk")):
        pytest.skip("packages the Release build only (PEYK_BIN is another build)")
    if not os.path.exists(os.path.join(ROOT, "web", "dist", "index.html")):
        pytest.skip("web/dist is not built (scripts/setup.sh builds it)")
    if installed():
        pytest.skip("a peyk package is already installed on this machine")
    for old in glob.glob(os.path.join(BUILD, "peyk_*.deb")):
        os.unlink(old)
    r = run(["cpack", "-G", "DEB"], cwd=BUILD)
    assert r.returncode == 0, r.stdout + r.stderr
    (path,) = glob.glob(os.path.join(BUILD, "peyk_*.deb"))
    yield path
    if installed() or run(["dpkg-query", "-W", "peyk"]).returncode == 0:
        run(["dpkg", "--purge", "peyk"])


def test_lintian_finds_no_errors(deb):
    lintian = shutil.which("lintian")
    assert lintian, "lintian is missing: scripts/setup.sh installs it"
    r = run([lintian, "--no-tag-display-limit", deb])
    errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
    assert not errors, r.stdout + r.stderr


def test_install_run_reinstall_remove_purge(deb):
    r = run(["dpkg", "-i", deb])
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.access("/usr/bin/peyk", os.X_OK)
    assert os.path.isfile("/usr/share/peyk/web/index.html")
    assert os.path.isfile("/lib/systemd/system/peyk@.service")
    assert os.path.isfile("/etc/peyk/peyk.conf")
    user = pwd.getpwnam("peyk")
    st = os.stat("/var/lib/peyk")
    assert st.st_uid == user.pw_uid and stat.S_IMODE(st.st_mode) == 0o750
    st = os.stat("/etc/default/peyk")
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == user.pw_gid
    key = default_env()["PEYK_JWT_SECRET"]
    assert len(key) == 64

    # The installed binary, its installed config, as its user; only the port is a flag.
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **default_env()}
    check = run(["/usr/bin/peyk", "config", "check", "serve", "--config", "/etc/peyk/peyk.conf"],
                env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert key not in check.stdout + check.stderr
    assert "/usr/share/peyk/web  # file /etc/peyk/peyk.conf" in check.stdout, check.stdout
    port = free_port()
    # setpriv execs peyk as the user (no wrapper process in between to take the SIGTERM).
    proc = subprocess.Popen(["setpriv", "--reuid=peyk", "--regid=peyk", "--init-groups",
                             "/usr/bin/peyk", "serve", "--config",
                             "/etc/peyk/peyk.conf", "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "installed peyk did not start"
            time.sleep(0.05)
        page = requests.get(base + "/", timeout=5)
        assert page.status_code == 200
        with open("/usr/share/peyk/web/index.html") as f:
            assert page.text == f.read()
        courier = mint(key, "courier", "77")
        r = requests.post(base + "/api/v1/locations", json={"latitude": 35.7, "longitude": 51.4},
                          headers={"Authorization": f"Bearer {courier}"}, timeout=5)
        assert r.status_code == 200, r.text
        assert os.path.exists("/var/lib/peyk/history.sqlite")  # the data directory, written
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out

    # Reinstall (an upgrade's path): the key is kept.
    r = run(["dpkg", "-i", deb])
    assert r.returncode == 0, r.stdout + r.stderr
    assert default_env()["PEYK_JWT_SECRET"] == key

    # Remove: the program goes, the configuration and the data stay.
    r = run(["dpkg", "-r", "peyk"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert not os.path.exists("/usr/bin/peyk")
    assert not os.path.exists("/usr/share/peyk/web/index.html")
    assert os.path.exists("/etc/peyk/peyk.conf") and os.path.exists("/etc/default/peyk")
    assert os.path.exists("/var/lib/peyk/history.sqlite")

    # Purge: nothing is left, not even the user.
    r = run(["dpkg", "-P", "peyk"])
    assert r.returncode == 0, r.stdout + r.stderr
    for path in ("/etc/peyk/peyk.conf", "/etc/default/peyk", "/var/lib/peyk"):
        assert not os.path.exists(path), path
    with pytest.raises(KeyError):
        pwd.getpwnam("peyk")
