"""The result cache (CONTRACT.md v1.1): identical work is answered with the stored result.

Key: sha256 over canonical JSON of everything in a submission that can change its result
(language, code, tests, files, stdin, limits, static_analysis, feedback_max_chars, and any
field added later that is not listed in `NOT_IN_KEY`), plus the digest of the runner image
that judges it, `JUDGE_VERSION` and the owner (API key id): a hit never crosses API keys.
`metadata`, `problem` and `cache` itself are not part of the key.

Value: the Feedback JSON under `cfs:cache:<sha256>`, with a TTL. `lookup` returns it with
`cached=True`. Only results that say something deterministic about the code are kept
(`cacheable`): submissions with tests, never time_limit / memory_limit / internal_error.

The runner images' digests are published by the workers in the hash `cfs:images`
(field = image name such as `codefeedback-runner-python:latest`, value = the image id
`sha256:...`). Without a known digest there is no key, and the cache is skipped.

The worker side (sync):

    key = cache_key(sub, owner, digest)
    fb = lookup(r, key) if sub.cache else None
    ...run when fb is None...
    if cacheable(sub, fb):
        remember(r, key, fb, ttl)

The API side uses `alookup` / `aremember` / `ImageDigests` (redis.asyncio).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import redis

from codefeedback.models import Feedback, Submission, Verdict

# Bump whenever judging changes in a way that can change a stored result (parsers, verdict
# rules, feedback text, harness): every earlier entry then misses.
JUDGE_VERSION = "2026.12.2"  # trusted judging: calls, type-strict asserts, io_checker

CACHE = "cfs:cache:"
IMAGES = "cfs:images"

# Submission fields that never change the result; every other field is part of the key, so a
# field added later is keyed by default (a needless miss is cheap, a wrong hit is not).
NOT_IN_KEY = frozenset({"metadata", "problem", "cache", "callback_url"})

# Verdicts that depend on the machine's load or on the service rather than on the code.
NOT_CACHED = frozenset({Verdict.time_limit, Verdict.memory_limit, Verdict.internal_error})


def cache_key(sub: Submission, owner: str, image_digest: str) -> str:
    """The Redis key of this work's cache entry (`cfs:cache:<sha256 hex>`)."""
    work = sub.model_dump(mode="json", exclude=set(NOT_IN_KEY))
    doc: dict[str, Any] = {"judge": JUDGE_VERSION, "image": image_digest, "owner": owner,
                           "work": work}
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           allow_nan=False)
    return CACHE + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def cacheable(sub: Submission, fb: Feedback | None) -> bool:
    """May this result be stored? Only with tests, and only a deterministic verdict."""
    return fb is not None and sub.tests is not None and fb.verdict not in NOT_CACHED


def _decode(raw: str | bytes | None) -> Feedback | None:
    if not raw:
        return None
    try:
        fb = Feedback.model_validate_json(raw)
    except ValueError:  # an entry of an older shape: a miss, never an error
        return None
    return fb.model_copy(update={"cached": True})


def _encode(fb: Feedback) -> str:
    return fb.model_copy(update={"cached": False}).model_dump_json()


def lookup(r: redis.Redis, key: str) -> Feedback | None:
    """The cached result (with `cached=True`), or None."""
    return _decode(r.get(key))


def remember(r: redis.Redis, key: str, fb: Feedback, ttl: int) -> None:
    """Store (or refresh) the entry for `ttl` seconds. Call only when `cacheable`."""
    r.set(key, _encode(fb), ex=max(1, int(ttl)))


async def alookup(r: Any, key: str) -> Feedback | None:
    """`lookup` for redis.asyncio clients."""
    return _decode(await r.get(key))


async def alookup_many(r: Any, keys: list[str | None]) -> list[Feedback | None]:
    """Several lookups in one round trip; None keys (no digest known) are misses."""
    real = [k for k in keys if k]
    if not real:
        return [None] * len(keys)
    found = dict(zip(real, await r.mget(real), strict=True))
    return [_decode(found[k]) if k else None for k in keys]


async def aremember(r: Any, key: str, fb: Feedback, ttl: int) -> None:
    """`remember` for redis.asyncio clients."""
    await r.set(key, _encode(fb), ex=max(1, int(ttl)))


class ImageDigests:
    """The workers' `cfs:images` hash, re-read at most every `max_age_s` seconds (per process)."""

    def __init__(self, max_age_s: float = 5.0) -> None:
        self.max_age_s = max_age_s
        self._map: dict[str, str] = {}
        self._at = float("-inf")

    async def get(self, r: Any, image: str) -> str | None:
        if time.monotonic() - self._at > self.max_age_s:
            raw = await r.hgetall(IMAGES)
            self._map = {_s(k): _s(v) for k, v in (raw or {}).items()}
            self._at = time.monotonic()
        return self._map.get(image) or None


def _s(v: str | bytes) -> str:
    return v.decode() if isinstance(v, bytes) else v
