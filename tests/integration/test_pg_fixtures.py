"""The PostgreSQL fixture itself (pg_fixtures.py), so that a failing history test is about
peyk, not about the fixture: the URL works with its password over TCP and a wrong one is
refused, stop/start keep the data, a crash recovers, backends can be terminated."""

import os
import subprocess

import pytest

from pg_fixtures import PG_BIN, postgres_server  # noqa: F401 - fixture


def psql_url(url, query):
    return subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-A", "-t", "-d", url, "-c", query],
                          capture_output=True, text=True, timeout=30)


def test_url_authenticates_with_its_password_over_tcp(postgres_server):
    r = psql_url(postgres_server.url, "SELECT current_user || '@' || current_database()")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "peyk@peyk"
    wrong = postgres_server.url.replace(postgres_server.password, "nope")
    r = psql_url(wrong, "SELECT 1")
    assert r.returncode != 0
    assert "password authentication failed" in r.stderr


def test_stop_start_keeps_data_and_crash_recovers(postgres_server):
    pg = postgres_server
    pg.sql("CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)")
    pg.stop()
    assert psql_url(pg.url, "SELECT 1").returncode != 0
    pg.start()
    assert pg.scalar("SELECT sum(v) FROM t") == "3"
    pg.sql("INSERT INTO t VALUES (4)")
    pg.crash()
    pg.start()
    assert pg.scalar("SELECT sum(v) FROM t") == "7"
    assert pg.sql("SELECT NULL::int, 'a'") == [[None, "a"]]
    with pytest.raises(AssertionError):
        pg.sql("SELECT * FROM missing")


def test_terminate_backends_and_new_database(postgres_server):
    pg = postgres_server
    url = pg.new_database("other")
    holder = subprocess.Popen([os.path.join(PG_BIN, "psql"), "-X", "-d", url + "?application_name=peyk",
                               "-c", "SELECT pg_sleep(30)"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from conftest import wait_until
        wait_until(lambda: pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                     "application_name = 'peyk'", db="postgres") == "1",
                   10, what="the session to appear")
        assert pg.terminate_backends() == 1
        assert holder.wait(10) != 0
    finally:
        holder.kill()
        holder.wait()
