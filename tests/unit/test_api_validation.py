"""API input handling without a worker: every bad input is a 4xx JSON error, never a 500.

The app talks to a real redis-server (the `redis_url` fixture, a database of its own): with
`CFS_AUTH=auto` every `/v1/*` call asks Redis whether keys were issued.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import ApiSettings

pytestmark = [pytest.mark.redis]


@pytest.fixture(scope="module")
def client(redis_url: str):
    url = redis_url.rsplit("/", 1)[0] + "/4"
    import redis

    redis.Redis.from_url(url).flushdb()
    app = create_app(ApiSettings(redis_url=url, queue_name="cfs-unit-validation"),
                     configure_logging=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(("body", "code"), [
    ({"language": "cobol", "code": "x"}, "unknown_language"),
    ({"language": "python", "code": "x", "limits": {"memory_mb": 8}}, "limit_out_of_range"),
    ({"language": "python", "code": "x", "limits": {"output_kb": 5000}}, "limit_out_of_range"),
    ({"language": "python", "code": "x", "limits": {"time_s": 0}}, "validation_error"),
    ({"language": "python", "code": "x", "files": {".hidden": "x"}}, "validation_error"),
    ({"language": "python", "code": "x", "files": {"a b": "x"}}, "validation_error"),
    ({"language": "python", "code": "x", "files": {"solution.py": "x"}}, "reserved_file_name"),
    ({"language": "c", "code": "x", "files": {"Makefile": "x"}}, "reserved_file_name"),
    ({"language": "python", "code": 5}, "validation_error"),
    ({"language": "python", "code": "x", "tests": {"io": []}}, "validation_error"),
    ({"language": "python", "code": "x", "metadata": {"k": "v" * 20000}}, "validation_error"),
])
def test_invalid_submission_is_422(client: TestClient, body: dict, code: str) -> None:
    r = client.post("/v1/submissions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert "x-request-id" in r.headers


def test_bad_json_and_media_type(client: TestClient) -> None:
    assert client.post("/v1/submissions", content=b"{", headers={
        "content-type": "application/json"}).status_code == 400
    assert client.post("/v1/submissions", content=b"\xc3\x28", headers={
        "content-type": "application/json"}).json()["error"]["code"] == "invalid_utf8"
    deep = b"[" * 50000 + b"]" * 50000
    assert client.post("/v1/submissions", content=deep, headers={
        "content-type": "application/json"}).status_code == 400
    assert client.post("/v1/submissions", content=b"x", headers={
        "content-type": "text/plain"}).status_code == 415
    assert client.post("/v1/submissions", content=b"", headers={
        "content-type": "application/json"}).status_code == 400


def test_oversized_body_is_413_with_json(client: TestClient) -> None:
    r = client.post("/v1/submissions", content=b"x" * (8 * 1024 * 1024 + 1),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_unknown_route_and_method(client: TestClient) -> None:
    assert client.get("/v2/whatever").json()["error"]["code"] == "not_found"
    assert client.delete("/v1/submissions").status_code == 405


def test_openapi_documents_the_request_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/submissions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/Submission")
    assert "Submission" in spec["components"]["schemas"]
    assert "Limits" in spec["components"]["schemas"]


def test_languages_need_no_broker(client: TestClient) -> None:
    langs = client.get("/v1/languages").json()
    for lang in langs:
        assert lang["example"] and lang["test_kinds"] and lang["severity_mapping"]
