"""Submissions, results and batches in Redis: the one store the API and the workers share.

One hash per submission (`cfs:sub:<id>`): the request, owner, status, timestamps, delivery
count and the result. The result is written with HSETNX, so a re-delivered task can never
replace a result with a different one. Everything expires after the result TTL.

Completion is pushed: the script that writes a result also PUBLISHes on `cfs:done` (in the same
round trip) the submission id, followed by `" <batch id>"` for a batch item; the API's listener
(service/completion.py) wakes the requests waiting for it.

Queue depth: `cfs:queued` counts submissions the API enqueued that no worker has started yet
(the hash field `counted` marks them; the first delivery, or else the result, decrements
once). The API compares it with the queue's message count, which it bounds: every message
holds 1 to CFS_BATCH_CHUNK items.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import redis

from codefeedback.models import Feedback, Submission

SUB = "cfs:sub:"
BATCH = "cfs:batch:"
IDEM = "cfs:idem:"
WORKER = "cfs:worker:"
QUEUED = "cfs:queued"
DONE_CHANNEL = "cfs:done"

# KEYS: the submission hash, the queued counter.
# ARGV: result JSON, completed_at, verdict, ttl, channel, submission id. Returns 1 if written.
COMPLETE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'result', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'completed', 'completed_at', ARGV[2], 'verdict', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if redis.call('HDEL', KEYS[1], 'counted') == 1 then
  if redis.call('DECR', KEYS[2]) < 0 then redis.call('SET', KEYS[2], 0) end
end
local batch = redis.call('HGET', KEYS[1], 'batch')
local msg = ARGV[6]
if batch then msg = msg .. ' ' .. batch end
redis.call('PUBLISH', ARGV[5], msg)
return 1
"""


# KEYS: the submission hash, the queued counter. ARGV: started_at, ttl. Returns the deliveries.
START_LUA = """
local n = redis.call('HINCRBY', KEYS[1], 'deliveries', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
if redis.call('HDEL', KEYS[1], 'counted') == 1 then
  if redis.call('DECR', KEYS[2]) < 0 then redis.call('SET', KEYS[2], 0) end
end
return n
"""


def new_id(prefix: str) -> str:
    """Unguessable ids (128 bits)."""
    return f"{prefix}_{secrets.token_urlsafe(16)}"


class Store:
    """Synchronous store (workers, scripts). The API uses the same keys through AsyncStore."""

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.r = client
        self.ttl = ttl
        self._complete = client.register_script(COMPLETE_LUA)
        self._start = client.register_script(START_LUA)

    @classmethod
    def from_url(cls, url: str, ttl: int) -> Store:
        return cls(redis.Redis.from_url(url, decode_responses=True, socket_timeout=30,
                                        health_check_interval=30), ttl)

    def get(self, sub_id: str) -> dict[str, str] | None:
        data = self.r.hgetall(SUB + sub_id)
        return data or None

    def submission(self, sub_id: str) -> Submission | None:
        raw = self.r.hget(SUB + sub_id, "request")
        return Submission.model_validate_json(raw) if raw else None

    def start_delivery(self, sub_id: str) -> int:
        """Count this delivery, mark the submission running and no longer waiting in the
        queue, in one round trip; returns the number of deliveries so far."""
        return int(self._start(keys=[SUB + sub_id, QUEUED], args=[time.time(), self.ttl]))

    def complete(self, sub_id: str, feedback: Feedback) -> bool:
        """Write the result once and publish the completion, in one round trip (one script:
        exists check, HSETNX, status/completed_at/verdict, EXPIRE, PUBLISH on `cfs:done`).
        Returns False if the submission is gone or a result was already there."""
        written = self._complete(
            keys=[SUB + sub_id, QUEUED],
            args=[feedback.model_dump_json(), time.time(), feedback.verdict.value, self.ttl,
                  DONE_CHANNEL, sub_id])
        return bool(written)

    def live_workers(self) -> set[str]:
        """Names of the workers whose heartbeat has not expired."""
        return {key[len(WORKER):] for key in self.r.scan_iter(match=WORKER + "*", count=100)}

    def heartbeat(self, name: str, info: dict[str, Any], ttl: int) -> None:
        self.r.set(WORKER + name, json.dumps(info), ex=ttl)


class AsyncStore:
    """The API's side of the store (redis.asyncio), same keys as `Store`."""

    def __init__(self, url: str, ttl: int) -> None:
        import redis.asyncio as aredis

        self.r = aredis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
        self.ttl = ttl

    async def create(self, sub: Submission, owner: str, sub_id: str | None = None,
                     batch: str | None = None, result: Feedback | None = None,
                     cache_key: str | None = None) -> str:
        """Store a new submission: queued (and counted in `cfs:queued`), or, with `result`
        (a cache hit), already completed."""
        sub_id = sub_id or new_id("sub")
        mapping = _record(sub, owner, time.time(), batch, result, cache_key)
        pipe = self.r.pipeline()
        pipe.hset(SUB + sub_id, mapping=mapping)
        pipe.expire(SUB + sub_id, self.ttl)
        if result is None:
            pipe.incrby(QUEUED, 1)
        await pipe.execute()
        return sub_id

    async def create_many(self, subs: list[Submission], owner: str, batch: str,
                          results: list[Feedback | None] | None = None,
                          cache_keys: list[str | None] | None = None) -> list[str]:
        """Store a batch; items with a result (cache hits) are stored completed."""
        ids = [new_id("sub") for _ in subs]
        results = results or [None] * len(subs)
        cache_keys = cache_keys or [None] * len(subs)
        now = time.time()
        pipe = self.r.pipeline(transaction=False)
        for sub_id, sub, result, key in zip(ids, subs, results, cache_keys, strict=True):
            pipe.hset(SUB + sub_id, mapping=_record(sub, owner, now, batch, result, key))
            pipe.expire(SUB + sub_id, self.ttl)
        queued = sum(1 for r in results if r is None)
        if queued:
            pipe.incrby(QUEUED, queued)
        pipe.hset(BATCH + batch, mapping={"owner": owner, "ids": json.dumps(ids),
                                          "created_at": now})
        pipe.expire(BATCH + batch, self.ttl)
        await pipe.execute()
        return ids

    async def get(self, sub_id: str) -> dict[str, str] | None:
        return await self.r.hgetall(SUB + sub_id) or None

    async def get_fields(self, sub_id: str, *fields: str) -> list[str | None]:
        return await self.r.hmget(SUB + sub_id, list(fields))

    async def get_many(self, ids: list[str]) -> list[dict[str, str]]:
        pipe = self.r.pipeline(transaction=False)
        for sub_id in ids:
            pipe.hgetall(SUB + sub_id)
        return await pipe.execute()

    async def without_result(self, ids: list[str]) -> list[bool]:
        """For each id: True if the submission exists and has no result yet."""
        pipe = self.r.pipeline(transaction=False)
        for sub_id in ids:
            pipe.exists(SUB + sub_id)
            pipe.hstrlen(SUB + sub_id, "result")
        flags = await pipe.execute()
        return [bool(flags[i]) and not flags[i + 1] for i in range(0, len(flags), 2)]

    async def batch(self, batch_id: str) -> dict[str, str] | None:
        return await self.r.hgetall(BATCH + batch_id) or None

    async def idempotent(self, owner: str, key: str, body_hash: str,
                         sub_id: str) -> tuple[str, bool]:
        """Claim `key` for this body; returns (the submission id to use, created_now)."""
        k = f"{IDEM}{owner}:{key}"
        value = json.dumps({"hash": body_hash, "id": sub_id})
        if await self.r.set(k, value, nx=True, ex=86400):
            return sub_id, True
        old = json.loads(await self.r.get(k) or "{}")
        if old.get("hash") != body_hash:
            raise ValueError("idempotency key reused with a different body")
        return str(old.get("id")), False

    async def release_idempotent(self, owner: str, key: str, sub_id: str) -> None:
        """Drop a claim whose submission was never created (queue full, quota spent)."""
        k = f"{IDEM}{owner}:{key}"
        raw = await self.r.get(k)
        if raw and json.loads(raw).get("id") == sub_id:
            await self.r.delete(k)

    async def workers(self) -> list[dict[str, Any]]:
        out = []
        async for key in self.r.scan_iter(match=WORKER + "*", count=100):
            raw = await self.r.get(key)
            if raw:
                out.append(json.loads(raw))
        return out

    async def queue_depth(self, queue: str) -> int:
        """Messages waiting in the Celery queue (a batch chunk is one message)."""
        return int(await self.r.llen(queue))

    async def queued_items(self, queue: str, chunk: int) -> int:
        """Submissions waiting, estimated: the `cfs:queued` counter (items not yet started, of
        this Redis database), kept between the bounds the queue's message count gives
        (each message holds 1 to `chunk` items), so a counter that drifted (a submission
        expired unrun, a purged queue) can never block or open the queue by itself."""
        pipe = self.r.pipeline(transaction=False)
        pipe.llen(queue)
        pipe.get(QUEUED)
        messages, counted = await pipe.execute()
        messages = int(messages or 0)
        try:
            counted = int(counted or 0)
        except ValueError:
            counted = 0
        return max(messages, min(counted, messages * max(1, chunk)))

    async def ping(self) -> bool:
        return bool(await self.r.ping())


def _record(sub: Submission, owner: str, now: float, batch: str | None,
            result: Feedback | None, cache_key: str | None) -> dict[str, Any]:
    mapping: dict[str, Any] = {"request": sub.model_dump_json(), "owner": owner,
                               "status": "queued", "language": sub.language, "created_at": now}
    if batch:
        mapping["batch"] = batch
    if cache_key:
        mapping["cache_key"] = cache_key
    if result is None:
        mapping["counted"] = 1
    else:
        mapping.update(status="completed", completed_at=now, verdict=result.verdict.value,
                       result=result.model_dump_json())
    return mapping
