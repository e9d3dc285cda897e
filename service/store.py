"""Submissions, results and batches in Redis: the one store the API and the workers share.

One hash per submission (`cfs:sub:<id>`): the request, owner, status, timestamps, delivery
count and the result. The result is written with HSETNX, so a re-delivered task can never
replace a result with a different one. Everything expires after the result TTL.
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


def new_id(prefix: str) -> str:
    """Unguessable ids (128 bits)."""
    return f"{prefix}_{secrets.token_urlsafe(16)}"


class Store:
    """Synchronous store (workers, scripts). The API uses the same keys through AsyncStore."""

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.r = client
        self.ttl = ttl

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

    def count_delivery(self, sub_id: str) -> int:
        return int(self.r.hincrby(SUB + sub_id, "deliveries", 1))

    def start_delivery(self, sub_id: str) -> int:
        """Count this delivery and mark the submission running, in one round trip."""
        pipe = self.r.pipeline()
        pipe.hincrby(SUB + sub_id, "deliveries", 1)
        pipe.hset(SUB + sub_id, mapping={"status": "running", "started_at": time.time()})
        pipe.expire(SUB + sub_id, self.ttl)
        return int(pipe.execute()[0])

    def mark_running(self, sub_id: str) -> None:
        pipe = self.r.pipeline()
        pipe.hset(SUB + sub_id, mapping={"status": "running", "started_at": time.time()})
        pipe.expire(SUB + sub_id, self.ttl)
        pipe.execute()

    def complete(self, sub_id: str, feedback: Feedback) -> bool:
        """Write the result once; returns False if a result was already there."""
        key = SUB + sub_id
        if not self.r.exists(key):
            return False
        written = self.r.hsetnx(key, "result", feedback.model_dump_json())
        if written:
            pipe = self.r.pipeline()
            pipe.hset(key, mapping={"status": "completed", "completed_at": time.time(),
                                    "verdict": feedback.verdict.value})
            pipe.expire(key, self.ttl)
            pipe.execute()
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
                     batch: str | None = None) -> str:
        sub_id = sub_id or new_id("sub")
        mapping = {"request": sub.model_dump_json(), "owner": owner, "status": "queued",
                   "language": sub.language, "created_at": time.time()}
        if batch:
            mapping["batch"] = batch
        pipe = self.r.pipeline()
        pipe.hset(SUB + sub_id, mapping=mapping)
        pipe.expire(SUB + sub_id, self.ttl)
        await pipe.execute()
        return sub_id

    async def create_many(self, subs: list[Submission], owner: str, batch: str) -> list[str]:
        ids = [new_id("sub") for _ in subs]
        now = time.time()
        pipe = self.r.pipeline(transaction=False)
        for sub_id, sub in zip(ids, subs, strict=True):
            pipe.hset(SUB + sub_id, mapping={
                "request": sub.model_dump_json(), "owner": owner, "status": "queued",
                "language": sub.language, "created_at": now, "batch": batch})
            pipe.expire(SUB + sub_id, self.ttl)
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
        return int(await self.r.llen(queue))

    async def ping(self) -> bool:
        return bool(await self.r.ping())
