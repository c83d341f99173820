"""PostgreSQL fixtures for the integration tests of history (PROTOCOL.md §7, `--history
postgres://...`).

A private PostgreSQL 15 per test (or per module): `initdb` in a fresh temporary directory,
`postgres` on a free loopback port with its socket in that directory, both run as the
`postgres` user (initdb refuses root) when the tests run as root, as the current user
otherwise. SQL runs through `psql` as the superuser over the Unix socket, so no Python
driver is needed. A missing binary fails the test, it never skips it.

    from pg_fixtures import postgres_server  # noqa: F401 - fixture

    def test_tracks(postgres_server, server):
        srv = server("--history", postgres_server.url)
        ...
        assert postgres_server.scalar("SELECT count(*) FROM peyk_points") == "3"
        postgres_server.stop()    # fast shutdown: peyk sees the database go away
        postgres_server.start()   # same port, same data

API of the yielded object (PostgresServer):
    .url                 postgres://peyk:PASSWORD@127.0.0.1:PORT/peyk (role `peyk` owns `peyk`)
    .port, .password, .dir
    .start()             start again (same port and data); waits until it accepts connections
    .stop()              fast shutdown (SIGINT): sessions closed, data kept
    .crash()             immediate shutdown (SIGQUIT): like a crash, WAL recovery at start()
    .sql(query, db=None) rows of the last statement, as lists of strings (NULL as None)
    .scalar(query, db=None)
    .terminate_backends(application_name="peyk")  pg_terminate_backend; returns how many
    .new_database(name)  another database owned by `peyk` on this server; returns its url
    .log_text()          the tail of the server log (printed when a test using it fails)

fsync is on (a 200 promises durability, and tests may check it).
"""

import atexit
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import free_port, wait_until

PG_BIN = os.environ.get("PEYK_PG_BIN", "/usr/lib/postgresql/15/bin")
_SEP = "\x1f"  # field separator
_NULL = "\x02"  # how psql shows a NULL


_template = None  # an initdb'd data directory, copied for each server (initdb takes seconds)


def _initdb_template(run_as):
    global _template
    if _template is None:
        top = tempfile.mkdtemp(prefix="peyk-pg-template-")
        atexit.register(shutil.rmtree, top, True)
        if run_as:
            os.chown(top, run_as["user"], run_as["group"])
        data = os.path.join(top, "data")
        r = subprocess.run(
            [os.path.join(PG_BIN, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync",
             "--no-instructions"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, **run_as)
        if r.returncode != 0:
            pytest.fail(f"initdb failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        _template = data
    return _template


def require_postgres():
    """PostgreSQL tests fail (never skip) without the server binaries."""
    for tool in ("initdb", "postgres", "pg_isready", "psql"):
        path = os.path.join(PG_BIN, tool)
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} not found: install postgresql-15 (scripts/setup.sh installs it) "
                        "or set PEYK_PG_BIN")


class PostgresServer:
    def __init__(self, port=None, fsync=True):
        self.port = port or free_port()
        self.fsync = fsync
        self.dir = tempfile.mkdtemp(prefix="peyk-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.password = "pw-" + secrets.token_hex(8)
        self.proc = None
        self._as = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")  # created by Debian's postgresql-common
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        # cp -a keeps the owner and the 0700 mode postgres insists on.
        subprocess.run(["cp", "-a", _initdb_template(self._as), self.data], check=True)
        self.start()
        self.sql(f"CREATE ROLE peyk LOGIN PASSWORD '{self.password}'", db="postgres")
        self.sql("CREATE DATABASE peyk OWNER peyk", db="postgres")

    @property
    def url(self):
        return self.url_of("peyk")

    def url_of(self, db):
        return f"postgres://peyk:{self.password}@127.0.0.1:{self.port}/{db}"

    def start(self, timeout=30.0):
        assert self.proc is None or self.proc.poll() is not None, "postgres already running"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p", str(self.port),
                 "-k", self.dir, "-c", "listen_addresses=127.0.0.1",
                 "-c", f"fsync={'on' if self.fsync else 'off'}",
                 "-c", "max_connections=100", "-c", "shared_buffers=32MB"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **self._as)
        wait_until(self._accepting, timeout, interval=0.05,
                   what=f"postgres on port {self.port} to accept connections")
        return self

    def _accepting(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"postgres exited with {self.proc.returncode}:\n{self.log_text()}")
        r = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", self.dir,
                            "-p", str(self.port), "-d", "postgres", "-U", "postgres"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0

    def _signal(self, sig, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def stop(self):
        """Fast shutdown: every session is closed, committed data stays."""
        self._signal(signal.SIGINT)

    def crash(self):
        """Immediate shutdown, as a crash: the next start() replays the WAL."""
        self._signal(signal.SIGQUIT)

    def sql(self, query, db="peyk"):
        """Runs `query` as the superuser; the rows of its last statement (NULL as None)."""
        r = subprocess.run(
            [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-F", _SEP,
             "-v", "ON_ERROR_STOP=1", "-P", "null=" + _NULL, "-h", self.dir, "-p", str(self.port),
             "-U", "postgres", "-d", db, "-c", query],
            capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"psql failed ({r.returncode}) on {query!r}: {r.stderr.strip()}")
        rows = []
        for line in r.stdout.split("\n"):  # not splitlines(): values may hold \x1c-\x1e
            if line:
                rows.append([None if f == _NULL else f for f in line.split(_SEP)])
        return rows

    def scalar(self, query, db="peyk"):
        rows = self.sql(query, db)
        assert rows and rows[0], f"no value from {query!r}"
        return rows[0][0]

    def terminate_backends(self, application_name="peyk"):
        return int(self.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE application_name = '{application_name}'", db="postgres"))

    def new_database(self, name):
        self.sql(f"CREATE DATABASE {name} OWNER peyk", db="postgres")
        return self.url_of(name)

    def log_text(self, limit=5000):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        # Immediate shutdown: the directory is removed next, so the fast shutdown's final
        # checkpoint (about 2 s with fsync on) would be written for nothing.
        self.crash()
        shutil.rmtree(self.dir, ignore_errors=True)


def _report(request, pg):
    rep = getattr(request.node, "rep_call", None)  # set by conftest's makereport hook
    if rep is not None and rep.failed:
        print(f"--- postgres log (port {pg.port}) ---\n{pg.log_text()}")


@pytest.fixture
def postgres_server(request):
    """A private PostgreSQL (fsync on) for one test, stopped and removed at its end."""
    require_postgres()
    pg = PostgresServer()
    yield pg
    _report(request, pg)
    pg.close()


@pytest.fixture(scope="module")
def postgres_shared():
    """One PostgreSQL for a module's tests; isolate them with .new_database(name)."""
    require_postgres()
    pg = PostgresServer()
    yield pg
    pg.close()
