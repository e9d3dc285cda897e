"""SDK logic in isolation: requests on the wire, retries and Retry-After, error mapping, batch
iteration order. The service is replaced by an httpx.MockTransport; sleeps are recorded, never
slept, so nothing here depends on timing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from codefeedback.client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    WaitTimeout,
    parse_retry_after,
)
from codefeedback.models import Submission, Verdict

SUB = {"language": "python", "code": "print(1)\n"}


def resource(sid: str, status: str = "completed", verdict: str | None = "accepted", **kw):
    body = {"id": sid, "status": status, "language": "python",
            "verdict": verdict if status == "completed" else None, "feedback": "", **kw}
    return body


def err(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": f"{code} msg"}},
                          headers=headers or {})


class Script:
    """A MockTransport handler answering from a queue and recording every request."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(handler, **kw) -> tuple[Client, list[float]]:
    slept: list[float] = []
    kw.setdefault("base_url", "http://cf.test")
    c = Client(transport=httpx.MockTransport(handler), sleep=slept.append, **kw)
    return c, slept


def test_submit_sends_contract_body_key_and_wait():
    h = Script(httpx.Response(200, json=resource("s1")))
    c, _ = make_client(h, api_key="k-123")
    res = c.submit(Submission(language="python", code="x=1\n"), wait=5)
    assert res.verdict == Verdict.accepted
    req = h.requests[0]
    assert req.method == "POST" and req.url.path == "/v1/submissions"
    assert req.url.params["wait"] == "5"
    assert req.headers["authorization"] == "Bearer k-123"
    assert req.headers["idempotency-key"]
    body = json.loads(req.content)
    assert body["language"] == "python" and body["code"] == "x=1\n"
    assert "tests" not in body  # None fields are left out, the service applies its defaults


def test_wait_is_capped_at_contract_maximum():
    h = Script(httpx.Response(200, json=resource("s1")))
    c, _ = make_client(h)
    c.submit(SUB, wait=600)
    assert h.requests[0].url.params["wait"] == "60"


def test_invalid_submission_fails_locally_without_a_request():
    h = Script()
    c, _ = make_client(h)
    with pytest.raises(Exception, match="tests|unknown|extra"):
        c.submit({"language": "python", "code": "x", "testz": {}})
    assert h.requests == []


def test_retry_after_seconds_is_honoured_and_idempotency_key_reused():
    h = Script(err(429, "queue_full", {"Retry-After": "7"}),
               err(503, "unavailable", {"Retry-After": "2"}),
               httpx.Response(202, json=resource("s1", status="queued")))
    c, slept = make_client(h)
    res = c.submit(SUB)
    assert res.status.value == "queued"
    assert slept == [7.0, 2.0]
    keys = {r.headers["idempotency-key"] for r in h.requests}
    assert len(keys) == 1, "a retried POST must carry the same Idempotency-Key"


def test_backoff_without_retry_after_grows_and_stays_within_bounds():
    h = Script(err(502, "bad_gateway"), err(500, "boom"), err(504, "timeout"),
               httpx.Response(200, json=resource("s1")))
    policy = RetryPolicy(max_retries=5, base_delay=1.0, max_delay=3.0)
    c, slept = make_client(h, retry=policy)
    c.get("s1")
    assert len(slept) == 3
    for attempt, d in enumerate(slept):
        top = min(3.0, 1.0 * 2**attempt)
        assert top / 2 <= d <= top


def test_gives_up_after_max_retries_with_typed_error():
    h = Script(*[err(429, "rate_limited", {"Retry-After": "1"}) for _ in range(3)])
    c, slept = make_client(h, max_retries=2)
    with pytest.raises(RateLimitError) as ei:
        c.get("x")
    assert ei.value.status_code == 429 and ei.value.code == "rate_limited"
    assert slept == [1.0, 1.0] and len(h.requests) == 3


def test_retry_after_beyond_cap_raises_instead_of_hanging():
    h = Script(err(429, "rate_limited", {"Retry-After": "100000"}))
    c, slept = make_client(h)
    with pytest.raises(RateLimitError):
        c.get("x")
    assert slept == []


@pytest.mark.parametrize("status,cls", [(400, BadRequestError), (422, BadRequestError),
                                        (401, AuthenticationError), (404, NotFoundError),
                                        (409, ConflictError)])
def test_client_errors_are_not_retried(status, cls):
    h = Script(err(status, "some_reason", {"X-Request-ID": "rid-1"}))
    c, slept = make_client(h)
    with pytest.raises(cls) as ei:
        c.get("x")
    assert ei.value.request_id == "rid-1" and ei.value.message == "some_reason msg"
    assert slept == [] and len(h.requests) == 1


def test_server_error_without_contract_body_still_maps():
    h = Script(*[httpx.Response(500, text="<html>oops</html>") for _ in range(2)])
    c, _ = make_client(h, max_retries=1)
    with pytest.raises(ServerError) as ei:
        c.get("x")
    assert "oops" in ei.value.message


def test_transport_errors_are_retried_then_raise_connection_error():
    h = Script(httpx.ConnectError("refused"), httpx.Response(200, json=resource("a")))
    c, slept = make_client(h)
    assert c.get("a").id == "a" and len(slept) == 1
    h2 = Script(*[httpx.ConnectError("refused") for _ in range(2)])
    c2, _ = make_client(h2, max_retries=1)
    with pytest.raises(APIConnectionError):
        c2.get("a")


def test_parse_retry_after_http_date():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(date, now=now.timestamp()) == pytest.approx(30)
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("-3") == 0.0


def test_run_polls_until_completed():
    h = Script(httpx.Response(202, json=resource("s1", status="queued")),
               httpx.Response(200, json=resource("s1", status="running")),
               httpx.Response(200, json=resource("s1", verdict="wrong_answer")))
    c, slept = make_client(h, poll_interval=0.1, max_poll_interval=0.2)
    res = c.run(SUB)
    assert res.verdict == Verdict.wrong_answer
    assert [r.url.path for r in h.requests] == ["/v1/submissions", "/v1/submissions/s1",
                                                "/v1/submissions/s1"]
    assert slept == [0.1]


def test_wait_timeout_names_the_id():
    h = Script(*[httpx.Response(200, json=resource("s9", status="running"))] * 3)
    c, _ = make_client(h)
    with pytest.raises(WaitTimeout) as ei:
        c.wait("s9", timeout=0)
    assert ei.value.ids == ["s9"]


def batch_body(states: list[str | None], full: bool = False) -> dict:
    subs = []
    for i, v in enumerate(states):
        entry = {"id": f"s{i}", "status": "completed" if v else "running", "verdict": v}
        if full:
            entry.update(language="python", feedback="")
        subs.append(entry)
    done = sum(1 for v in states if v)
    return {"id": "b1", "status": "completed" if done == len(states) else "running",
            "total": len(states), "completed": done, "verdicts": {}, "submissions": subs}


def test_iter_batch_yields_in_completion_order_once_each_and_fetches_summaries():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batches":
            return httpx.Response(202, json={"id": "b1", "submission_ids": ["s0", "s1", "s2"]})
        if request.url.path == "/v1/batches/b1":
            polls.append(1)
            states = [[None, "accepted", None], [None, "accepted", "wrong_answer"],
                      ["compile_error", "accepted", "wrong_answer"]][min(len(polls), 3) - 1]
            return httpx.Response(200, json=batch_body(states))
        sid = request.url.path.rsplit("/", 1)[1]
        fetched.append(sid)
        verdict = {"s0": "compile_error", "s1": "accepted", "s2": "wrong_answer"}[sid]
        return httpx.Response(200, json=resource(sid, verdict=verdict, feedback="full"))

    polls: list[int] = []
    fetched: list[str] = []
    c, _ = make_client(handler)
    out = list(c.run_batch([SUB, SUB, SUB]))
    assert [i for i, _ in out] == [1, 2, 0]
    assert [r.verdict.value for _, r in out] == ["accepted", "wrong_answer", "compile_error"]
    assert fetched == ["s1", "s2", "s0"] and all(r.feedback == "full" for _, r in out)
    assert all(r.language == "python" for _, r in out)


def test_run_batch_chunks_and_offsets_indices():
    created: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batches":
            n = len(json.loads(request.content)["submissions"])
            created.append(n)
            bid = f"b{len(created)}"
            return httpx.Response(202, json={"id": bid, "submission_ids": []})
        n = created[int(request.url.path[-1]) - 1]
        return httpx.Response(200, json=batch_body(["accepted"] * n, full=True))

    c, _ = make_client(handler)
    out = list(c.run_batch(iter([SUB] * 5), chunk_size=2))
    assert created == [2, 2, 1]
    assert [i for i, _ in out] == [0, 1, 2, 3, 4]


def test_languages_parses_list():
    h = Script(httpx.Response(200, json=[{"id": "python", "name": "Python", "version": "3.11",
                                          "test_kinds": ["unit", "script", "io"]}]))
    c, _ = make_client(h)
    langs = c.languages()
    assert langs[0].id == "python" and "script" in langs[0].test_kinds


def test_env_configures_base_url_and_key(monkeypatch):
    monkeypatch.setenv("CODEFEEDBACK_URL", "http://env.test:9/")
    monkeypatch.setenv("CODEFEEDBACK_API_KEY", "envkey")
    h = Script(httpx.Response(200, json=resource("a")))
    c = Client(transport=httpx.MockTransport(h))
    c.get("a")
    assert str(h.requests[0].url) == "http://env.test:9/v1/submissions/a"
    assert h.requests[0].headers["authorization"] == "Bearer envkey"


def test_async_client_retries_and_iterates():
    slept: list[float] = []

    async def fake_sleep(d: float) -> None:
        slept.append(d)

    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if request.url.path == "/v1/submissions":
            if calls["n"] == 1:
                return err(429, "queue_full", {"Retry-After": "3"})
            return httpx.Response(200, json=resource("s1"))
        if request.url.path == "/v1/batches":
            return httpx.Response(202, json={"id": "b1", "submission_ids": ["s0", "s1"]})
        return httpx.Response(200, json=batch_body(["accepted", "runtime_error"], full=True))

    async def main():
        async with AsyncClient("http://cf.test", transport=httpx.MockTransport(handler),
                               sleep=fake_sleep) as c:
            res = await c.run(SUB)
            items = [(i, r.verdict.value) async for i, r in c.run_batch([SUB, SUB])]
            return res, items

    res, items = asyncio.run(main())
    assert res.verdict == Verdict.accepted and slept == [3.0]
    assert items == [(0, "accepted"), (1, "runtime_error")]
