"""A server with no built panel (issue #17 item 7): GET / answers a short HTML page saying
how to build it; every other unknown path stays a JSON 404."""

import pytest


@pytest.mark.parametrize("path", ["/", "/track"])
def test_missing_panel_page_says_how_to_build_it(server, tmp_path, path):
    (tmp_path / "unrelated.txt").write_text("not a panel")  # a directory without index.html
    srv = server("--web-root", str(tmp_path))
    r = srv.get(path)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/html"), r.headers
    assert "npm run build" in r.text and "--web-root" in r.text, r.text
    assert "not built" in r.text
    assert str(tmp_path) not in r.text  # no server path shown to whoever asks
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "script" not in csp, csp
    head = srv.http.head(srv.base + path, timeout=5)
    assert head.status_code == 404 and head.text == ""


@pytest.mark.parametrize("path", ["/nope", "/index.htm", "/api/v1/nope", "/assets/app.js"])
def test_other_unknown_paths_stay_json_404s(server, tmp_path, path):
    srv = server("--web-root", str(tmp_path))
    r = srv.get(path)
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json", r.headers
    assert r.json()["error"] == "not_found"


def test_a_built_panel_is_served_as_before(server, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>the real panel</title>")
    srv = server("--web-root", str(tmp_path))
    r = srv.get("/")
    assert r.status_code == 200
    assert "the real panel" in r.text
