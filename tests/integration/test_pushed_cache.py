"""Pushed completion, batch chunks and the result cache, on a real redis-server.

Three layers, nothing mocked:
- the completion listener (service/completion.py) and Store.complete's script on a real
  redis-server: a published id resolves a waiter, reconnects, the slow-poll fallback;
- the real app (FastAPI TestClient) on a real Redis with nobody consuming its queue: what
  POST /v1/batches puts on the queue, cache hits answered without a message;
- the host stack (uvicorn + Celery worker + Docker sandboxes): ?wait, batch ?wait, and a
  cache hit end to end.
No timing is asserted beyond correctness bounds (a wait returns before its deadline).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis as redis_lib
from fastapi.testclient import TestClient

from codefeedback.models import Feedback, Submission, Verdict
from service import cache
from service.app import create_app
from service.completion import RESYNC, Completions, wait_batch, wait_record
from service.config import ApiSettings
from service.store import DONE_CHANNEL, QUEUED, SUB, AsyncStore, Store, new_id
from workers.names import CHUNK_TASK_NAME, TASK_NAME

pytestmark = [pytest.mark.redis]

DB = 7  # not the host stack's database (0) nor tests/api's (5)
PY_OK = {"language": "python", "code": "def add(a, b):\n    return a + b\n",
         "tests": {"script": "assert add(1, 2) == 3\n"}, "static_analysis": False}
PY_WRONG = {**PY_OK, "code": "def add(a, b):\n    return a - b\n"}
DIGEST = "sha256:" + "c" * 64


def db_url(redis_url: str, db: int = DB) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture
def url(redis_url: str) -> Iterator[str]:
    u = db_url(redis_url)
    r = redis_lib.Redis.from_url(u)
    r.flushdb()
    yield u
    r.flushdb()


class CountingStore(AsyncStore):
    """The real store, counting how often a waiter reads (a sleep loop would read often)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, 3600)
        self.reads = 0

    async def get(self, sub_id: str) -> dict[str, str] | None:
        self.reads += 1
        return await super().get(sub_id)

    async def without_result(self, ids: list[str]) -> list[bool]:
        self.reads += 1
        return await super().without_result(ids)


def feedback(verdict: Verdict = Verdict.accepted) -> Feedback:
    return Feedback(verdict=verdict, feedback=f"Verdict: {verdict.value}.")


async def until(pred: Any, seconds: float = 20) -> None:
    """Wait for a condition (a correctness bound, not a speed claim)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not pred():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.02)


async def complete_in_thread(url: str, sub_id: str, fb: Feedback) -> bool:
    """What a worker does: the sync Store, from another thread."""
    st = Store.from_url(url, 3600)
    try:
        return await asyncio.to_thread(st.complete, sub_id, fb)
    finally:
        st.r.close()


# --------------------------------------------------------- listener + script on real Redis
def test_complete_writes_once_and_publishes_in_the_same_script(url: str) -> None:
    r = redis_lib.Redis.from_url(url, decode_responses=True)
    st = Store(r, 3600)
    listener = redis_lib.Redis.from_url(url, decode_responses=True).pubsub(
        ignore_subscribe_messages=True)
    listener.subscribe(DONE_CHANNEL)
    listener.get_message(timeout=1)  # the subscribe confirmation

    async def make() -> tuple[str, list[str]]:
        ast = AsyncStore(url, 3600)
        one = await ast.create(Submission(**PY_OK), "anonymous")
        batch = await ast.create_many([Submission(**PY_OK)] * 2, "anonymous", "bat_x")
        await ast.r.aclose()
        return one, batch

    one, batch = asyncio.run(make())
    assert int(r.get(QUEUED)) == 3
    assert st.complete(one, feedback()) is True
    assert st.complete(one, feedback(Verdict.wrong_answer)) is False  # write-once
    assert st.complete("sub_does_not_exist", feedback()) is False
    assert st.complete(batch[0], feedback()) is True
    got = []
    while (msg := listener.get_message(timeout=1)) is not None:
        got.append(msg["data"])
    # one message per written result; a batch item names its batch
    assert got == [one, f"{batch[0]} bat_x"]
    rec = r.hgetall(SUB + one)
    assert rec["status"] == "completed" and rec["verdict"] == "accepted"
    assert Feedback.model_validate_json(rec["result"]).verdict == Verdict.accepted
    assert "counted" not in rec and 0 < r.ttl(SUB + one) <= 3600
    assert int(r.get(QUEUED)) == 1  # the one batch item still waiting
    assert not r.exists(SUB + "sub_does_not_exist")  # no record conjured up
    listener.close()


def test_a_published_id_resolves_its_waiter(url: str) -> None:
    async def run() -> None:
        hub = Completions(url)
        store = CountingStore(url)
        sub_id = await store.create(Submission(**PY_OK), "anonymous")
        loop = asyncio.get_running_loop()
        start = loop.time()
        waiter = asyncio.create_task(wait_record(hub, store, sub_id, 30))
        await until(lambda: hub.up and hub.watching == 1)
        await asyncio.sleep(1.0)  # time enough for a polling waiter to show itself
        assert not waiter.done()
        assert await complete_in_thread(url, sub_id, feedback()) is True
        rec = await waiter
        assert rec is not None and json.loads(rec["result"])["verdict"] == "accepted"
        assert loop.time() - start < 30  # woken, not timed out
        # the first read, one when the listener subscribed, one after the wake-up (at most
        # one more poll step if subscribing took long): a 10-100 ms loop reads 10+ times
        assert store.reads <= 4
        assert hub.watching == 0  # the watch is gone with its waiter
        await hub.close()
        await store.r.aclose()

    asyncio.run(run())


def test_a_waiter_times_out_at_its_wait(url: str) -> None:
    async def run() -> None:
        hub = Completions(url)
        store = CountingStore(url)
        sub_id = await store.create(Submission(**PY_OK), "anonymous")
        rec = await wait_record(hub, store, sub_id, 1.0)
        assert rec is not None and "result" not in rec and rec["status"] == "queued"
        assert store.reads <= 4  # first read, a re-read when subscribed, the last read
        assert await wait_record(hub, store, "sub_unknown", 30) is None  # at once
        other = await wait_record(hub, store, sub_id, 30, owner="k_someone_else")
        assert other is not None and "result" not in other  # at once, for the caller's 404
        await hub.close()
        await store.r.aclose()

    asyncio.run(run())


def test_listener_reconnects_after_its_connection_is_killed(url: str) -> None:
    async def run() -> None:
        hub = Completions(url)
        store = CountingStore(url)
        first = await store.create(Submission(**PY_OK), "anonymous")
        waiter = asyncio.create_task(wait_record(hub, store, first, 30))
        await until(lambda: hub.up and hub.subscriptions == 1)
        r = redis_lib.Redis.from_url(url, decode_responses=True)
        ours = [c for c in r.client_list() if c.get("name") == hub.client_name]
        assert len(ours) == 1
        r.client_kill_filter(_id=ours[0]["id"])
        await until(lambda: hub.subscriptions >= 2 and hub.up)  # back, subscribed again
        assert not waiter.done()
        assert await complete_in_thread(url, first, feedback()) is True
        rec = await waiter
        assert rec is not None and rec.get("result")
        await hub.close()
        await store.r.aclose()
        r.close()

    asyncio.run(run())


def test_waiters_fall_back_to_a_slow_poll_while_the_listener_is_down(url: str) -> None:
    from tests.conftest import free_port

    async def run() -> None:
        hub = Completions(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
        store = CountingStore(url)
        sub_id = await store.create(Submission(**PY_OK), "anonymous")
        waiter = asyncio.create_task(wait_record(hub, store, sub_id, 30))
        await until(lambda: store.reads >= 2)  # polling
        assert not hub.up
        assert await complete_in_thread(url, sub_id, feedback()) is True
        rec = await waiter
        assert rec is not None and rec.get("result")
        await hub.close()
        await store.r.aclose()

    asyncio.run(run())


def test_batch_waiter_wakes_on_its_items_and_reads_little(url: str) -> None:
    async def run() -> None:
        hub = Completions(url)
        store = CountingStore(url)
        ids = await store.create_many([Submission(**PY_OK)] * 5, "anonymous", "bat_w")
        done_before = await complete_in_thread(url, ids[0], feedback())
        assert done_before
        waiter = asyncio.create_task(wait_batch(hub, store, "bat_w", ids, 30))
        await until(lambda: hub.up and hub.watching == 1)
        await asyncio.sleep(1.0)  # the re-read after subscribing is done; a poller would read
        assert store.reads <= 3
        reads = store.reads
        for sub_id in ids[1:]:
            assert not waiter.done()
            assert await complete_in_thread(url, sub_id, feedback(Verdict.wrong_answer))
        await waiter
        assert store.reads == reads  # the notifications alone finished the wait
        flags = await store.without_result(ids)
        assert flags == [False] * 5
        # an item already finished or unknown never holds a batch wait up
        await wait_batch(hub, store, "bat_w", ids + ["sub_gone"], 30)
        await hub.close()
        await store.r.aclose()

    asyncio.run(run())


def test_resync_wakes_every_watch() -> None:
    async def run() -> None:
        hub = Completions("redis://127.0.0.1:1/0")
        hub._closed = True  # no listener: exercise the registry alone
        with hub.watch("a") as a, hub.watch("bat_1") as b:
            hub.dispatch("a bat_1")
            hub.dispatch("z bat_1")
            assert await a.wait(0) == ["a"]
            assert await b.wait(0) == ["a", "z"]
            hub._resync()
            assert await a.wait(0) == [RESYNC] and await b.wait(0) == [RESYNC]
            assert await a.wait(0.01) == []
        assert hub.watching == 0

    asyncio.run(run())


# ------------------------------------------------- the app on real Redis, queue not consumed
@pytest.fixture
def api(url: str) -> Iterator[Any]:
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = ApiSettings(**{"redis_url": url, "queue_name": "cfs-pushed-tests",
                                  "auth": "off", **overrides})
        client = TestClient(create_app(settings, configure_logging=False),
                            raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def queued_messages(url: str, queue: str = "cfs-pushed-tests") -> list[tuple[str, Any]]:
    """(task name, args) of every message waiting in the queue, oldest first."""
    r = redis_lib.Redis.from_url(url, decode_responses=True)
    out = []
    for raw in reversed(r.lrange(queue, 0, -1)):  # kombu LPUSHes, workers pop the right end
        msg = json.loads(raw)
        body = json.loads(base64.b64decode(msg["body"]))
        out.append((msg["headers"]["task"], body[0]))
    r.close()
    return out


def test_batch_items_go_out_in_chunks(api: Any, url: str) -> None:
    c = api(batch_chunk=4)
    r = c.post("/v1/batches", json={"submissions": [PY_OK] * 10})
    assert r.status_code == 202, r.text
    ids = r.json()["submission_ids"]
    msgs = queued_messages(url)
    assert [name for name, _ in msgs] == [CHUNK_TASK_NAME] * 3
    parts = [args[0] for _, args in msgs]
    assert [len(p) for p in parts] == [4, 3, 3]  # even parts, at most the chunk size
    assert [i for p in parts for i in p] == ids  # request order
    # a single submission is still one evaluate message
    one = c.post("/v1/submissions", json=PY_OK).json()["id"]
    assert queued_messages(url)[-1] == (TASK_NAME, [one])


def test_chunk_of_one_sends_one_message_per_item(api: Any, url: str) -> None:
    c = api(batch_chunk=1)
    ids = c.post("/v1/batches", json={"submissions": [PY_OK] * 3}).json()["submission_ids"]
    assert queued_messages(url) == [(TASK_NAME, [i]) for i in ids]


def test_queue_limit_counts_items_not_messages(api: Any, url: str) -> None:
    c = api(batch_chunk=4, max_queue_depth=12)
    assert c.post("/v1/batches", json={"submissions": [PY_OK] * 10}).status_code == 202
    assert len(queued_messages(url)) == 3  # 3 messages, but 10 submissions waiting
    full = c.post("/v1/batches", json={"submissions": [PY_OK] * 3})
    assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
    assert c.post("/v1/batches", json={"submissions": [PY_OK] * 2}).status_code == 202
    assert c.post("/v1/submissions", json=PY_OK).status_code == 429


def seed_cache(url: str, body: dict[str, Any], fb: Feedback, owner: str = "anonymous") -> str:
    """What a worker does after a run: publish its image digest and remember the result."""
    from runners.registry import resolve

    r = redis_lib.Redis.from_url(url, decode_responses=True)
    r.hset(cache.IMAGES, resolve(body["language"]).image, DIGEST)
    key = cache.cache_key(Submission(**body), owner, DIGEST)
    assert cache.cacheable(Submission(**body), fb)
    cache.remember(r, key, fb, 600)
    assert cache.lookup(r, key) is not None and cache.lookup(r, key).cached
    r.close()
    return key


def test_cache_hit_is_answered_without_a_run(api: Any, url: str) -> None:
    c = api()
    stored = feedback(Verdict.wrong_answer)
    key = seed_cache(url, PY_WRONG, stored)
    r = c.post("/v1/submissions", params={"wait": 30},
               json={**PY_WRONG, "metadata": {"sample": 1}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cached"] is True and body["status"] == "completed"
    assert body["verdict"] == "wrong_answer" and body["metadata"] == {"sample": 1}
    assert queued_messages(url) == []  # never enqueued
    again = c.post("/v1/submissions", json={**PY_WRONG, "metadata": {"sample": 2}}).json()
    assert again["id"] != body["id"] and again["metadata"] == {"sample": 2}
    assert again["cached"] is True
    assert c.get(f"/v1/submissions/{again['id']}").json()["cached"] is True
    raw = redis_lib.Redis.from_url(url, decode_responses=True).hgetall(SUB + again["id"])
    assert raw["cache_key"] == key and "counted" not in raw
    # "cache": false forces a run
    forced = c.post("/v1/submissions", json={**PY_WRONG, "cache": False})
    assert forced.status_code == 202 and forced.json()["status"] == "queued"
    assert forced.json()["cached"] is False
    assert queued_messages(url) == [(TASK_NAME, [forced.json()["id"]])]
    # other work, or another owner's identical work, is a miss
    miss = c.post("/v1/submissions", json={**PY_WRONG, "stdin": "x"}).json()
    assert miss["status"] == "queued" and miss["cached"] is False


def test_cache_is_skipped_without_a_published_digest(api: Any, url: str) -> None:
    seed_cache(url, PY_OK, feedback())
    redis_lib.Redis.from_url(url).delete(cache.IMAGES)
    r = api().post("/v1/submissions", json=PY_OK)  # a fresh app: no digest in-process yet
    assert r.json()["status"] == "queued" and r.json()["cached"] is False
    raw = redis_lib.Redis.from_url(url, decode_responses=True).hgetall(SUB + r.json()["id"])
    assert "cache_key" not in raw


def test_cache_hits_never_cross_api_keys(api: Any, url: str) -> None:
    seed_cache(url, PY_OK, feedback(), owner="k_0000000000000000")  # another key's entry
    c = api()
    r = c.post("/v1/submissions", json=PY_OK)
    assert r.json()["status"] == "queued" and r.json()["cached"] is False


def test_batch_items_are_answered_from_the_cache_too(api: Any, url: str) -> None:
    c = api(batch_chunk=4)
    seed_cache(url, PY_OK, feedback())
    r = c.post("/v1/batches", json={"submissions": [PY_OK, PY_WRONG, PY_OK]})
    assert r.status_code == 202
    ids = r.json()["submission_ids"]
    assert queued_messages(url) == [(CHUNK_TASK_NAME, [[ids[1]]])]  # only the miss
    batch = c.get(f"/v1/batches/{r.json()['id']}").json()
    assert [s["cached"] for s in batch["submissions"]] == [True, False, True]
    assert batch["completed"] == 2 and batch["verdicts"] == {"accepted": 2}
    # ?wait on the batch ends at its deadline when an item never completes (no worker here)
    t = c.get(f"/v1/batches/{r.json()['id']}", params={"wait": 0.5}).json()
    assert t["status"] == "running" and t["completed"] == 2


def test_batch_wait_bounds(api: Any) -> None:
    c = api()
    bid = c.post("/v1/batches", json={"submissions": [PY_OK]}).json()["id"]
    for bad in ("-1", "61", "nan", "inf", "abc"):
        assert c.get(f"/v1/batches/{bid}", params={"wait": bad}).status_code == 422
    assert c.get("/v1/batches/bat_nope", params={"wait": 30}).status_code == 404


# -------------------------------------------------------------------------- the host stack
def test_wait_returns_the_pushed_result(host_stack: dict) -> None:
    url = host_stack["url"]
    r = httpx.post(f"{url}/v1/submissions", params={"wait": 60}, timeout=90,
                   json={**PY_WRONG, "cache": False})
    assert r.status_code == 200, r.text  # finished within the wait, answered at once
    assert r.json()["verdict"] == "wrong_answer" and r.json()["cached"] is False
    rds = redis_lib.Redis.from_url(host_stack["redis_url"], decode_responses=True)
    # the API process listens for completions on the channel the result script publishes on
    assert dict(rds.pubsub_numsub(DONE_CHANNEL))[DONE_CHANNEL] >= 1
    # GET ?wait on a submission still queued: woken by its completion
    sub = httpx.post(f"{url}/v1/submissions", timeout=30,
                     json={**PY_OK, "cache": False, "metadata": {"n": 1}}).json()
    got = httpx.get(f"{url}/v1/submissions/{sub['id']}", params={"wait": 60}, timeout=90)
    assert got.json()["status"] == "completed" and got.json()["verdict"] == "accepted"
    assert got.json()["metadata"] == {"n": 1}


def test_batch_wait_returns_when_every_item_is_done(host_stack: dict) -> None:
    url = host_stack["url"]
    items = [{**PY_OK, "cache": False}, {**PY_WRONG, "cache": False},
             {**PY_OK, "cache": False, "code": "def add(a, b)\n    return a + b\n"}]
    r = httpx.post(f"{url}/v1/batches", json={"submissions": items}, timeout=30)
    assert r.status_code == 202, r.text
    bid = r.json()["id"]
    body = httpx.get(f"{url}/v1/batches/{bid}", params={"wait": 60}, timeout=90).json()
    assert body["status"] == "completed" and body["completed"] == body["total"] == 3
    assert [s["verdict"] for s in body["submissions"]] == [
        "accepted", "wrong_answer", "compile_error"]
    assert body["verdicts"] == {"accepted": 1, "wrong_answer": 1, "compile_error": 1}


def test_same_work_twice_is_answered_from_the_cache(host_stack: dict) -> None:
    """Run the language's accepted example, then send it again: the second answer is the
    stored result (cached, own id and metadata); "cache": false runs it again."""
    url = host_stack["url"]
    rds = redis_lib.Redis.from_url(host_stack["redis_url"], decode_responses=True)
    from runners.registry import resolve

    image = resolve("python").image
    if not rds.hget(cache.IMAGES, image):  # the worker publishes it; else stand in for it
        image_id = os.popen(f"docker image inspect -f '{{{{.Id}}}}' {image}").read().strip()
        rds.hsetnx(cache.IMAGES, image, image_id or DIGEST)
    example = httpx.get(f"{url}/v1/languages/python", timeout=30).json()["example"]
    body = {"language": "python", **example,
            "metadata": {"nonce": new_id("n")}}  # metadata is not part of the key
    body["code"] += f"\n# {new_id('fresh')}\n"  # never run before in this Redis
    first = httpx.post(f"{url}/v1/submissions", params={"wait": 60}, json=body, timeout=90)
    assert first.status_code == 200, first.text
    assert first.json()["verdict"] == "accepted" and first.json()["cached"] is False
    second = httpx.post(f"{url}/v1/submissions", params={"wait": 60}, timeout=90,
                        json={**body, "metadata": {"again": True}})
    assert second.status_code == 200, second.text
    s = second.json()
    assert s["cached"] is True, "the second identical submission was not answered from cache"
    assert s["verdict"] == "accepted" and s["id"] != first.json()["id"]
    assert s["metadata"] == {"again": True} and s["tests"] == first.json()["tests"]
    forced = httpx.post(f"{url}/v1/submissions", params={"wait": 60}, timeout=90,
                        json={**body, "cache": False})
    assert forced.status_code == 200 and forced.json()["cached"] is False
    assert forced.json()["verdict"] == "accepted"
