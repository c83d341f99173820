"""Writes the seed corpus of fuzz/corpus/ (run from fuzz/ with Debian's python3 and
python3-jwt). Tokens are signed with the fuzz targets' key and expire in 2100."""
import jwt

S = "peyk-fuzz-secret-0123456789abcdef"
EXP = 4102444800


def w(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(f"corpus/{d}/{name}", "wb") as f:
        f.write(data)


def tok(c, alg="HS256", key=S):
    return jwt.encode(c, key, algorithm=alg)


ib = "fuzz_ingest_body"
w(ib, "one_point", '{"latitude": 35.7001, "longitude": 51.4011, "orders": ["A123"]}')
w(ib, "full_point", '{"latitude": 35.7001, "longitude": 51.4011, "accuracy": 6.5, "speed": 8.2, "heading": 270, "recorded_at": "2026-11-28T12:00:00Z", "orders": ["A123", "B7"]}')
w(ib, "batch", '{"points": [{"latitude": 35.7001, "longitude": 51.4011}, {"latitude": "35.7002", "longitude": "51.4013", "heading": 0}]}')
w(ib, "decimal_strings", '{"latitude": "-90", "longitude": "180.0000001", "accuracy": 0}')
w(ib, "bad_types", '{"latitude": true, "longitude": null, "orders": "A1", "recorded_at": 5}')
w(ib, "nested", '{"points": [[{"latitude": 1e308}]], "x": {"y": [1, 2, {"z": -0.0}]}}')
w(ib, "unicode", '{"latitude": 1, "longitude": 2, "orders": ["\\u00e9\\ud83d\\ude00", "\\u0000"], "recorded_at": "2026-11-28T12:00:00.123456+03:30"}')
w(ib, "empty_batch", '{"points": []}')

bd = "fuzz_broker_decode"
w(bd, "original", '{"latitude": 35.0001, "longitude": 53.12111, "user": {"id": 10, "username": "test_driver1"}}')
w(bd, "full", '{"latitude": 35.0001, "longitude": 53.12111, "user": {"id": 10, "username": "test_driver1"}, "ts": 1764331200123456, "recorded_at": "2026-11-28T12:00:00Z", "accuracy": 6.5, "speed": 8.2, "heading": 270, "fleet": "store-7", "orders": ["A123"]}')
w(bd, "string_id", '{"latitude": -1.5, "longitude": 0, "user": {"id": "courier-7", "username": ""}, "ts": 0}')
w(bd, "big_id", '{"latitude": 1, "longitude": 1, "user": {"id": 9223372036854775808, "username": "x"}, "ts": -5}')
w(bd, "leading_zero", '{"latitude": 1, "longitude": 1, "user": {"id": "007"}, "orders": [], "fleet": null}')
w(bd, "float_id", '{"latitude": 1, "longitude": 1, "user": {"id": 1.5e3}, "ts": 1.0e15}')

j = "fuzz_jwt"  # first byte: the fuzz target's clock step
claims = [
    ("courier", {"sub": "10", "role": "courier", "name": "test_driver1", "fleet": "store-7", "exp": EXP}),
    ("courier_int_sub", {"sub": 10, "role": "courier", "exp": EXP, "nbf": 1700000000}),
    ("admin", {"sub": "1", "role": "admin", "exp": EXP}),
    ("dispatcher", {"sub": "3", "role": "dispatcher", "fleets": ["store-7", "store-9"], "exp": EXP}),
    ("customer", {"sub": "c1", "role": "customer", "orders": ["A123", "B7"], "exp": EXP}),
    ("expired", {"sub": "1", "role": "admin", "exp": 1800000100}),
    ("not_yet", {"sub": "1", "role": "admin", "exp": EXP, "nbf": 1900000000}),
    ("bad_role", {"sub": "1", "role": "root", "exp": EXP}),
]
for n, c in claims:
    w(j, n, b"\x00" + tok(c).encode())
w(j, "hs512", b"\x00" + tok({"sub": "1", "role": "admin", "exp": EXP}, "HS512").encode())
w(j, "wrong_key", b"\x00" + tok({"sub": "1", "role": "admin", "exp": EXP}, key="other").encode())
w(j, "alg_none", b"\x00eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwicm9sZSI6ImFkbWluIiwiZXhwIjo0MTAyNDQ0ODAwfQ.")
w(j, "garbage", b"\x05not.a.token")

h = "fuzz_http_request"
ct, at, cu = tok(claims[0][1]), tok(claims[2][1]), tok(claims[4][1])
body = '{"latitude": 35.7001, "longitude": 51.4011, "orders": ["A123"]}'
w(h, "ingest", f"POST /api/v1/locations HTTP/1.1\r\nHost: peyk\r\nAuthorization: Bearer {ct}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}")
chunk = f"{len(body):x}\r\n{body}\r\n0\r\n\r\n"
w(h, "ingest_chunked", f"POST /api/v1/locations HTTP/1.1\r\nHost: peyk\r\nAuthorization: Bearer {ct}\r\nContent-Type: application/json; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}")
w(h, "ingest_admin_token", f"POST /api/v1/locations HTTP/1.1\r\nHost: peyk\r\nAuthorization: Bearer {at}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}")
w(h, "ingest_get", "GET /api/v1/locations HTTP/1.1\r\nHost: peyk\r\n\r\n")
w(h, "pipelined", "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\nGET /api/v1/config HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
w(h, "whoami", f"GET /api/v1/whoami HTTP/1.1\r\nHost: peyk\r\nAuthorization: Bearer {cu}\r\n\r\n")
ws = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
w(h, "ws_header", f"GET /ws HTTP/1.1\r\nHost: peyk:8082\r\n{ws}Authorization: Bearer {at}\r\nSec-WebSocket-Protocol: peyk.v1, echo-protocol\r\n\r\n")
w(h, "ws_query", f"GET /ws?token={cu}&x=1 HTTP/1.1\r\nHost: peyk\r\nOrigin: https://panel.example\r\n{ws}\r\n")
w(h, "ws_cookie", f"GET /ws HTTP/1.1\r\nHost: peyk\r\nOrigin: http://evil.example\r\nCookie: a=b; peyk_token={at}\r\n{ws}\r\n")
w(h, "ws_no_upgrade", "GET /ws HTTP/1.1\r\nHost: peyk\r\n\r\n")
w(h, "http10", "GET /nope?token=abc#frag HTTP/1.0\r\n\r\n")

ap = "fuzz_app_requests"
w(ap, "osmand_get", "qid=abc&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&altitude=224.0&speed=0.0")
w(ap, "osmand_location", "qid=123456&timestamp=1377177267&location=60.0,30.0&bearing=7.1&batt=87&charge=true")
w(ap, "osmand_local_time", "qlat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&deviceid=3538&speed_unit=mps")
w(ap, "traccar_form", "qid=tok&lat=35.7&lon=51.4&timestamp=1764331200&accuracy=6.5&altitude=1200.0&speed=15.55&bearing=270.0&batt=64&charge=true")
w(ap, "traccar9_json", 'j{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"battery":{"level":1,"is_charging":false},"extras":{}},"device_id":"48241179"}')
w(ap, "traccar_batch", 'j{"device_id":"t","location":[{"timestamp":"2026-01-01T10:00:00Z","coords":{"latitude":1,"longitude":2}},{"coords":{"latitude":1.1,"longitude":2.1}}]}')
w(ap, "traccar_sdk_json", 'j[{"id":"tok","lat":35.7,"lon":51.4,"timestamp":1764331200,"speed":15.55,"batt":42,"charge":false}]')
w(ap, "owntracks", 'o{"_type":"location","acc":12,"alt":1210,"batt":57,"bs":2,"lat":35.7001,"lon":51.4011,"tid":"JJ","tst":1764331200,"vel":36,"cog":270}')
w(ap, "owntracks_other", 'o{"_type":"transition","event":"enter","tst":1}')
