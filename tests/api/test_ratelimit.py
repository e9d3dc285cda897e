"""Per-key token-bucket rate limit and daily submission quota, in Redis: 429 + Retry-After."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aredis

from service.ratelimit import Limited, Limiter, seconds_to_midnight
from tests.api.conftest import PY, bearer

pytestmark = [pytest.mark.redis, pytest.mark.api]


def _is_429(r, code: str) -> int:  # noqa: ANN001
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    retry = int(r.headers["retry-after"])
    assert retry >= 1
    return retry


def test_rate_limit_per_key(make_client, keystore) -> None:
    c = make_client(rate_limit_per_s=0.5, rate_limit_burst=3)
    _, alice = keystore.issue("alice")
    _, bob = keystore.issue("bob")
    for _ in range(3):
        assert c.get("/v1/languages", headers=bearer(alice)).status_code == 200
    r = c.get("/v1/languages", headers=bearer(alice))
    assert _is_429(r, "rate_limited") <= 2
    assert c.post("/v1/submissions", json=PY, headers=bearer(alice)).status_code == 429
    # another key has its own bucket; health endpoints are never limited
    assert c.get("/v1/limits", headers=bearer(bob)).status_code == 200
    for _ in range(10):
        assert c.get("/healthz").status_code == 200
    # a wrong key is 401, not a hit on anyone's bucket
    assert c.get("/v1/languages", headers=bearer("cfs_nope")).status_code == 401


def test_anonymous_callers_share_one_bucket(make_client) -> None:
    c = make_client(rate_limit_per_s=1, rate_limit_burst=2)
    assert [c.get("/v1/languages").status_code for _ in range(3)] == [200, 200, 429]


def test_zero_means_unlimited(make_client, keystore) -> None:
    c = make_client(rate_limit_per_s=0, daily_quota=0)
    _, key = keystore.issue("zed")
    for _ in range(30):
        assert c.get("/v1/languages", headers=bearer(key)).status_code == 200
    r = c.post("/v1/batches", json={"submissions": [PY] * 50}, headers=bearer(key))
    assert r.status_code == 202
    lim = c.get("/v1/limits", headers=bearer(key)).json()
    assert lim["rate_limit_per_s"] == 0 and lim["daily_quota"] == 0


def test_token_bucket_refills(api_redis_url) -> None:
    async def run() -> None:
        client = aredis.Redis.from_url(api_redis_url, decode_responses=True)
        lim = Limiter(client, rate=2, burst=2, quota=0)
        t = 1_000_000.0
        await lim.hit("k", t)
        await lim.hit("k", t)
        with pytest.raises(Limited) as exc:
            await lim.hit("k", t)
        assert exc.value.retry_after == 1
        await lim.hit("k", t + 0.5)  # one token back after 0.5 s at 2/s
        with pytest.raises(Limited):
            await lim.hit("k", t + 0.5)
        await lim.hit("k", t + 10)  # never more than the burst
        await lim.hit("k", t + 10)
        with pytest.raises(Limited):
            await lim.hit("k", t + 10)
        await client.aclose()

    asyncio.run(run())


def test_daily_quota_counts_batch_items(make_client, keystore) -> None:
    c = make_client(daily_quota=5)
    _, alice = keystore.issue("alice")
    _, bob = keystore.issue("bob")
    h = bearer(alice)
    assert c.post("/v1/submissions", json=PY, headers=h).status_code == 202
    assert c.post("/v1/batches", json={"submissions": [PY] * 3}, headers=h).status_code == 202
    assert c.get("/v1/limits", headers=h).json()["daily_quota_used"] == 4
    retry = _is_429(c.post("/v1/batches", json={"submissions": [PY] * 2}, headers=h),
                    "quota_exceeded")
    assert abs(retry - seconds_to_midnight(time.time())) <= 5
    # refused whole: nothing was counted, one more still fits
    assert c.post("/v1/submissions", json=PY, headers=h).status_code == 202
    _is_429(c.post("/v1/submissions", json=PY, headers=h), "quota_exceeded")
    # reading is not limited by the quota; other keys have their own
    assert c.get("/v1/languages", headers=h).status_code == 200
    assert c.post("/v1/batches", json={"submissions": [PY] * 5},
                  headers=bearer(bob)).status_code == 202


def test_idempotent_replays_are_free_and_refusals_release_the_key(make_client, keystore) -> None:
    c = make_client(daily_quota=1)
    _, key = keystore.issue("ivan")
    h = {**bearer(key), "Idempotency-Key": "same"}
    a = c.post("/v1/submissions", json=PY, headers=h)
    b = c.post("/v1/submissions", json=PY, headers=h)
    assert a.status_code == b.status_code == 202 and a.json()["id"] == b.json()["id"]
    h2 = {**bearer(key), "Idempotency-Key": "other"}
    _is_429(c.post("/v1/submissions", json=PY, headers=h2), "quota_exceeded")
    # the refused key was not burnt: the same body with it is refused again (not a 404/409)
    _is_429(c.post("/v1/submissions", json=PY, headers=h2), "quota_exceeded")
    _is_429(c.post("/v1/submissions", json={**PY, "code": "print(2)\n"}, headers=h2),
            "quota_exceeded")


def test_queue_full_is_429_and_does_not_spend_quota(make_client) -> None:
    c = make_client(max_queue_depth=2, daily_quota=100)
    assert c.post("/v1/batches", json={"submissions": [PY] * 2}).status_code == 202
    _is_429(c.post("/v1/submissions", json=PY), "queue_full")
    assert c.get("/v1/limits").json()["daily_quota_used"] == 2
