"""The HTTP contract (CONTRACT.md) against the compose stack: endpoints, errors, idempotency."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def client(api_url: str):
    with httpx.Client(base_url=api_url, timeout=120) as c:
        yield c


def test_health_ready_metrics(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "codefeedback_http_requests_total" in metrics.text


def test_request_id_echoed_and_generated(client: httpx.Client) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers[
        "x-request-id"] == "abc-123"
    assert len(client.get("/v1/submissions/nope").headers["x-request-id"]) >= 16


def test_languages_and_their_examples_are_accepted(client: httpx.Client) -> None:
    langs = {lang["id"]: lang for lang in client.get("/v1/languages").json()}
    assert {"python", "c"} <= set(langs)
    for lang_id in langs:
        info = client.get(f"/v1/languages/{lang_id}").json()
        assert info["files"]["solution"] and info["test_kinds"] and info["example"]
        body = {"language": lang_id, **info["example"]}
        r = client.post("/v1/submissions", params={"wait": 60}, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["verdict"] == "accepted", r.json()["feedback"]
    assert client.get("/v1/languages/py").json()["id"] == "python"
    assert client.get("/v1/languages/cobol").status_code == 404


def test_limits_endpoint(client: httpx.Client) -> None:
    lim = client.get("/v1/limits").json()
    assert lim["defaults"] == {"time_s": 10, "memory_mb": 512, "output_kb": 64}
    assert lim["maximums"]["time_s"] >= 60 and lim["maximums"]["memory_mb"] >= 4096
    assert lim["maximums"]["output_kb"] >= 1024 and lim["minimums"]["memory_mb"] <= 64
    assert lim["max_batch"] >= 1000


def test_submit_async_then_read(client: httpx.Client) -> None:
    r = client.post("/v1/submissions", json={"language": "python", "code": "print(6 * 7)\n",
                                             "metadata": {"sample": 7}})
    assert r.status_code == 202
    body = r.json()
    assert body["status"] in ("queued", "running") and body["verdict"] is None
    assert r.headers["location"] == f"/v1/submissions/{body['id']}"
    for _ in range(30):
        got = client.get(f"/v1/submissions/{body['id']}", params={"wait": 10}).json()
        if got["status"] == "completed":
            break
    assert got["verdict"] == "accepted" and got["run"]["stdout"] == "42\n"
    assert got["metadata"] == {"sample": 7} and got["tests"] is None
    assert got["environment"]["image"].startswith("codefeedback-runner-python@sha256:")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"language": "cobol", "code": "x"}, 422, "unknown_language"),
    ({"code": "x"}, 422, "validation_error"),
    ({"language": "python", "code": "x", "limits": {"time_s": 61}}, 422, "limit_out_of_range"),
    ({"language": "python", "code": "x", "limits": {"time_s": -1}}, 422, "validation_error"),
    ({"language": "python", "code": "x", "limits": {"memory_mb": 10**9}}, 422,
     "limit_out_of_range"),
    ({"language": "python", "code": "x", "files": {"../etc/passwd": "x"}}, 422,
     "validation_error"),
    ({"language": "python", "code": "x", "files": {"/abs": "x"}}, 422, "validation_error"),
    ({"language": "python", "code": "x", "files": {"conftest.py": "x"}}, 422,
     "reserved_file_name"),
    ({"language": "python", "code": "x", "tests": {"calls": {"function": "f", "cases": [
        {"args": [1], "expected": 1}], "signature": {"params": ["set[int]"],
                                                    "returns": "int"}}}}, 422,
     "unsupported_signature"),
    ({"language": "python", "code": "x", "tests": {"calls": {"function": "f", "cases": [
        {"args": [1, 2], "expected": 1}], "signature": "(int) -> int"}}}, 422,
     "unsupported_signature"),
    ({"language": "python", "code": "x", "tests": {"io_checker": {"kind": "tokens"}}}, 422,
     "validation_error"),
    ({"language": "python", "code": "x\u0000"}, 422, "validation_error"),
    ({"language": "python", "code": "x", "surprise": 1}, 422, "validation_error"),
    ({"language": "python", "code": "x", "files": {f"f{i}.txt": "x" for i in range(101)}},
     422, "validation_error"),
])
def test_bad_submissions(client: httpx.Client, body: dict, status: int, code: str) -> None:
    r = client.post("/v1/submissions", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


def test_malformed_bodies(client: httpx.Client) -> None:
    hdr = {"content-type": "application/json"}
    cases = [
        (b"{nope", hdr, 400), (b"\xff\xfe{}", hdr, 400), (b"[" * 100000 + b"]" * 100000, hdr, 400),
        (b'{"language": "python", "code": "x", "limits": {"time_s": 1e309}}', hdr, 422),
        (b"language=python", {"content-type": "application/x-www-form-urlencoded"}, 415),
    ]
    for raw, headers, status in cases:
        r = client.post("/v1/submissions", content=raw, headers=headers)
        assert r.status_code == status, (raw[:40], r.text)
        assert set(r.json()["error"]) == {"code", "message"}


def test_body_over_8mb_is_413(client: httpx.Client) -> None:
    big = b'{"language": "python", "code": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    r = client.post("/v1/submissions", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert client.get("/healthz").status_code == 200


def test_code_over_1mb_is_422(client: httpx.Client) -> None:
    r = client.post("/v1/submissions", json={"language": "python", "code": "#" * 1_100_000})
    assert r.status_code == 422


def test_unknown_ids_are_404(client: httpx.Client) -> None:
    for sub_id in ("nope", "sub_" + "A" * 22, "x" * 500, "../../etc"):
        r = client.get(f"/v1/submissions/{sub_id}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.get("/v1/batches/bat_missing").status_code == 404


def test_idempotency_key(client: httpx.Client) -> None:
    key = f"idem-{time.time()}"
    body = {"language": "python", "code": "print(1)\n"}
    a = client.post("/v1/submissions", json=body, headers={"Idempotency-Key": key})
    b = client.post("/v1/submissions", json=body, headers={"Idempotency-Key": key})
    assert a.json()["id"] == b.json()["id"]
    c = client.post("/v1/submissions", json={**body, "code": "print(2)\n"},
                    headers={"Idempotency-Key": key})
    assert c.status_code == 409 and c.json()["error"]["code"] == "idempotency_conflict"


def test_batch_drains_in_order(client: httpx.Client) -> None:
    subs = [{"language": "python", "code": f"print({i})\n", "static_analysis": False,
             "tests": {"io": [{"stdin": "", "stdout": f"{i if i % 3 else -1}\n"}]}}
            for i in range(12)]
    r = client.post("/v1/batches", json={"submissions": subs})
    assert r.status_code == 202
    batch = r.json()
    assert len(batch["submission_ids"]) == 12
    for _ in range(120):
        got = client.get(f"/v1/batches/{batch['id']}").json()
        if got["status"] == "completed":
            break
        time.sleep(1)
    assert got["total"] == 12 and got["completed"] == 12
    assert [s["id"] for s in got["submissions"]] == batch["submission_ids"]
    assert got["verdicts"] == {"accepted": 8, "wrong_answer": 4}


def test_batch_with_one_invalid_item_names_its_index(client: httpx.Client) -> None:
    subs = [{"language": "python", "code": "print(1)"}] * 3 + [{"language": "python"}]
    r = client.post("/v1/batches", json={"submissions": subs})
    assert r.status_code == 422 and "submissions[3]" in r.json()["error"]["message"]


@pytest.mark.order_last
def test_batch_of_1000_is_accepted(client: httpx.Client) -> None:
    """Runs last: its jobs are left to drain while the stack is torn down (see bench/)."""
    subs = [{"language": "python", "code": f"print({i})\n", "static_analysis": False}
            for i in range(1000)]
    r = client.post("/v1/batches", json={"submissions": subs})
    assert r.status_code == 202, r.text
    batch = client.get(f"/v1/batches/{r.json()['id']}").json()
    assert batch["total"] == 1000 and len(batch["submissions"]) == 1000
    ready = client.get("/readyz").json()
    assert ready["queue_depth"] >= 1
