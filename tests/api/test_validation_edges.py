"""Query parameters, headers and sizes at the edge: always a 4xx JSON error, never a 500."""

from __future__ import annotations

import pytest

from tests.api.conftest import PY

pytestmark = [pytest.mark.redis, pytest.mark.api]


def _err(r, status: int, code: str | None = None) -> None:  # noqa: ANN001
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code
    assert r.headers["x-request-id"]


@pytest.mark.parametrize("wait", ["-1", "61", "nan", "NaN", "inf", "-inf", "1e309", "abc", "",
                                  "0x10"])
def test_wait_bounds(make_client, wait: str) -> None:
    c = make_client()
    _err(c.post(f"/v1/submissions?wait={wait}", json=PY), 422, "validation_error")
    _err(c.get(f"/v1/submissions/sub_x?wait={wait}"), 422, "validation_error")


def test_wait_in_bounds(make_client) -> None:
    c = make_client()
    r = c.post("/v1/submissions?wait=0.2", json=PY)
    assert r.status_code == 202  # no worker here: still queued after the wait
    assert c.get(r.headers["location"] + "?wait=0.1").json()["status"] == "queued"


@pytest.mark.parametrize("key", ["x" * 201, "has space", "tab\tkey", "caf\u00e9", ""])
def test_idempotency_key_charset_and_length(make_client, key: str) -> None:
    c = make_client()
    r = c.post("/v1/submissions", json=PY, headers={"Idempotency-Key": key.encode("latin-1")})
    _err(r, 422, "validation_error")
    assert "Idempotency-Key" in r.json()["error"]["message"]


def test_idempotency_key_printable_ascii_is_fine(make_client) -> None:
    c = make_client()
    key = "A-z_0.9:~!@#$%^&*()[]{}<>/?|" + "k" * 150
    a = c.post("/v1/submissions", json=PY, headers={"Idempotency-Key": key})
    b = c.post("/v1/submissions", json=PY, headers={"Idempotency-Key": key})
    assert a.status_code == 202 and a.json()["id"] == b.json()["id"]


def test_batch_query_and_ids(make_client) -> None:
    c = make_client()
    _err(c.get("/v1/batches/bat_x?full=maybe"), 422, "validation_error")
    _err(c.get("/v1/batches/bat_x?full=true"), 404, "not_found")
    _err(c.get("/v1/batches/" + "b" * 5000), 404, "not_found")
    _err(c.get("/v1/submissions/" + "s" * 5000), 404, "not_found")
    _err(c.get("/v1/languages/" + "l" * 5000), 404, "not_found")


def test_headers_too_large_is_431(make_client) -> None:
    c = make_client(max_header_bytes=4096)
    _err(c.get("/v1/languages", headers={"X-Junk": "j" * 5000}), 431, "headers_too_large")
    many = {f"X-H{i}": "v" for i in range(150)}
    _err(c.get("/v1/languages", headers=many), 431, "headers_too_large")
    _err(c.post("/v1/submissions", json=PY, headers={"X-Junk": "j" * 5000}), 431)
    assert c.get("/v1/languages", headers={"X-Junk": "j" * 1000}).status_code == 200


def test_url_too_long_is_414(make_client) -> None:
    c = make_client()
    _err(c.get("/v1/submissions/x?wait=1&pad=" + "p" * 9000), 414, "uri_too_long")


def test_batch_edges(make_client) -> None:
    c = make_client(max_batch=3)
    _err(c.post("/v1/batches", json={"submissions": [PY] * 4}), 422, "batch_too_large")
    _err(c.post("/v1/batches", json={"submissions": []}), 422)
    _err(c.post("/v1/batches", json={"submissions": {}}), 422)
    _err(c.post("/v1/batches", json=[PY]), 422)
    _err(c.post("/v1/batches", json={"submissions": [PY], "x": 1}), 422)
    _err(c.post("/v1/batches", json={"submissions": [PY, 5]}), 422)
    _err(c.post("/v1/batches", content=b"\xff", headers={"content-type": "application/json"}),
         400, "invalid_utf8")


@pytest.mark.parametrize("body", [
    {"language": "python", "code": "x", "files": {"a/b": "x"}},
    {"language": "python", "code": "x", "files": {"..": "x"}},
    {"language": "python", "code": "x", "files": {"x" * 101: "x"}},
    {"language": "python", "code": "x", "files": {"a\nb": "x"}},
    {"language": "python", "code": "x", "files": {"ok.txt": "a\u0000b"}},
    {"language": "python", "code": "x", "limits": {"time_s": "nan"}},
    {"language": "python", "code": "x", "limits": {"memory_mb": 1.5}},
    {"language": "python", "code": "x", "limits": {"output_kb": 10**30}},
    {"language": "python", "code": "x", "feedback_max_chars": 10**9},
    {"language": "python", "code": "x", "tests": {"calls": {"function": "1f", "cases": [{}]}}},
    {"language": "p" * 51, "code": "x"},
    {"language": "", "code": "x"},
    {"language": "python", "code": "x", "stdin": "\u0000"},
    {"language": "python", "code": "x", "problem": "\u0000"},
])
def test_more_bad_fields_are_422(make_client, body: dict) -> None:
    c = make_client()
    _err(c.post("/v1/submissions", json=body), 422)


def test_json_oddities(make_client) -> None:
    c = make_client()
    hdr = {"content-type": "application/json"}
    for raw, status in [(b'{"language": "python", "code": "x", "limits": {"time_s": NaN}}', 400),
                        (b'{"language": "python", "code": "x", "limits": {"time_s": Infinity}}', 400),
                        (b'"just a string"', 422), (b"null", 422), (b"[]", 422), (b"1e999", 422),
                        (b'{"language": "python", "code": "x", "metadata": {"a": -1e400}}', 422),
                        (b'{"language": "python", "code": "\\ud800"}', 422)]:
        r = c.post("/v1/submissions", content=raw, headers=hdr)
        assert r.status_code == status, (raw, r.text)
        assert set(r.json()["error"]) == {"code", "message"}
