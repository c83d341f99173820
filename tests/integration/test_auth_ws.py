"""WebSocket gateway authentication and authorisation (PROTOCOL.md §2, §5):
status codes of the upgrade, token carriers, Origin checks."""

import time

import pytest
import requests

from conftest import mint, unsigned_token, uid_of

CARRIERS = ["header", "query", "cookie"]


@pytest.mark.parametrize("carrier", CARRIERS)
def test_101_with_each_token_carrier(server, carrier):
    srv = server()
    v = srv.viewer(srv.admin_token(), "peyk.v1", carrier=carrier)
    assert v.subprotocol == "peyk.v1"
    assert v.snapshot == []
    # the connection is live: it receives a location posted afterwards
    srv.post_ok(srv.courier_token("11"), {"latitude": 35.1, "longitude": 51.1})
    (loc,) = v.recv_locations()
    assert uid_of(loc) == "11"


def test_401_without_token(server):
    srv = server()
    assert srv.ws_status(None) == 401


@pytest.mark.parametrize("carrier", CARRIERS)
def test_401_invalid_tokens(server, carrier):
    srv = server()
    now = int(time.time())
    tokens = {
        "bad_signature": mint("wrong-" + srv.secret, "admin", "1"),
        "expired": srv.admin_token(exp=now - 60),
        "alg_none": unsigned_token({"sub": "1", "role": "admin", "exp": now + 3600}),
        "hs512": srv.admin_token(alg="HS512"),
        "garbage": "garbage",
        "no_exp": srv.admin_token(omit_exp=True),
        "nbf_future": srv.admin_token(nbf=now + 60),
    }
    got = {kind: srv.ws_status(tok, carrier=carrier) for kind, tok in tokens.items()}
    assert got == {kind: 401 for kind in tokens}


def test_401_plain_http_get_without_token(server):
    # the check happens before the upgrade: a plain GET without a token is refused too
    srv = server()
    r = requests.get(srv.base + "/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                "Sec-WebSocket-Version": "13",
                                                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
                     timeout=5)
    assert r.status_code == 401


@pytest.mark.parametrize("carrier", CARRIERS)
def test_403_courier_token(server, carrier):
    srv = server()
    assert srv.ws_status(srv.courier_token("12"), carrier=carrier) == 403


@pytest.mark.parametrize("role,claims", [("admin", {}), ("dispatcher", {"fleets": ["f1"]}),
                                         ("customer", {"orders": ["A1"]})])
def test_101_viewer_roles(server, role, claims):
    srv = server()
    assert srv.ws_status(srv.token(role, "v-1", **claims), proto="peyk.v1") == 101


def test_origin_rules_default(server):
    srv = server()
    tok = srv.admin_token()
    # websocket-client sends Origin: http://127.0.0.1:PORT by default (same host) -> allowed
    assert srv.ws_status(tok) == 101
    assert srv.ws_status(tok, origin=f"http://127.0.0.1:{srv.port}") == 101
    # no Origin (not a browser) -> allowed
    assert srv.ws_status(tok, suppress_origin=True) == 101
    # other hosts / other ports -> 403
    assert srv.ws_status(tok, origin="http://evil.example.com") == 403
    assert srv.ws_status(tok, origin=f"http://127.0.0.1:{srv.port + 1 if srv.port < 65535 else 1}") == 403
    assert srv.ws_status(tok, origin=f"http://evil.example.com:{srv.port}") == 403
    assert srv.ws_status(tok, origin="null") == 403


def test_origin_checked_for_every_carrier(server):
    srv = server()
    for carrier in CARRIERS:
        assert srv.ws_status(srv.admin_token(), carrier=carrier, origin="http://evil.example.com") == 403


def test_allowed_origin_flag(server):
    srv = server("--allowed-origin", "https://panel.example.com",
                 "--allowed-origin", "http://ops.example.org:8080")
    tok = srv.admin_token()
    assert srv.ws_status(tok, origin="https://panel.example.com") == 101
    assert srv.ws_status(tok, origin="http://ops.example.org:8080") == 101
    assert srv.ws_status(tok, origin="https://evil.example.com") == 403
    assert srv.ws_status(tok, origin="http://ops.example.org:9090") == 403
    assert srv.ws_status(tok, suppress_origin=True) == 101
