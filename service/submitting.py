"""Checks and enqueueing shared by single submissions and batches."""

from __future__ import annotations

import json
import time
from typing import Any

from codefeedback.models import Feedback, Submission
from runners.pipeline import SubmissionError, check
from runners.registry import resolve
from service import cache
from service.config import ApiSettings
from service.errors import ApiError


def check_submission(sub: Submission, settings: ApiSettings, where: str = "") -> Submission:
    """Server-side rules on top of the schema: limits, language, test kinds, file names."""
    lim = sub.limits
    problems = []
    if lim.time_s > settings.max_time_s:
        problems.append(f"limits.time_s {lim.time_s} is above the maximum {settings.max_time_s}")
    if lim.memory_mb > settings.max_memory_mb:
        problems.append(f"limits.memory_mb {lim.memory_mb} is above the maximum "
                        f"{settings.max_memory_mb}")
    if lim.memory_mb < settings.min_memory_mb:
        problems.append(f"limits.memory_mb {lim.memory_mb} is below the minimum "
                        f"{settings.min_memory_mb}")
    if lim.output_kb > settings.max_output_kb:
        problems.append(f"limits.output_kb {lim.output_kb} is above the maximum "
                        f"{settings.max_output_kb}")
    if problems:
        raise ApiError(422, "limit_out_of_range", where + "; ".join(problems))
    try:
        runner = check(sub)
    except SubmissionError as exc:
        raise ApiError(422, exc.code, where + exc.message) from None
    return sub.model_copy(update={"language": runner.id})


def split(ids: list[str], size: int) -> list[list[str]]:
    """`ids` in order, in as few parts of at most `size` as possible, of even sizes (5 by 4
    gives 3 + 2, not 4 + 1: the parts run in parallel slots)."""
    if not ids:
        return []
    parts = -(-len(ids) // max(1, size))
    base, extra = divmod(len(ids), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + base + (1 if i < extra else 0)
        out.append(ids[start:end])
        start = end
    return out


def image_digests(app: Any) -> cache.ImageDigests:
    state = app.state
    if getattr(state, "image_digests", None) is None:
        state.image_digests = cache.ImageDigests()
    return state.image_digests


async def from_cache(app: Any, r: Any, subs: list[Submission],
                     owner: str) -> tuple[list[str | None], list[Feedback | None]]:
    """Cache keys (None where no runner image digest is published yet) and hits (None for a
    miss, or where the submission says `"cache": false`), one round trip for all."""
    digests = image_digests(app)
    keys: list[str | None] = []
    for sub in subs:
        runner = resolve(sub.language)
        digest = await digests.get(r, runner.image) if runner else None
        keys.append(cache.cache_key(sub, owner, digest) if digest else None)
    wanted = [k if sub.cache else None for k, sub in zip(keys, subs, strict=True)]
    return keys, await cache.alookup_many(r, wanted)


def resource(sub_id: str, rec: dict[str, str], full: bool = True) -> dict[str, Any]:
    """The public submission resource from its stored hash."""
    req = json.loads(rec.get("request") or "{}")
    out: dict[str, Any] = {
        "id": sub_id,
        "status": rec.get("status", "queued"),
        "language": rec.get("language") or req.get("language"),
        "verdict": None,
        "static": None, "compile": None, "tests": None, "run": None,
        "feedback": None, "environment": None, "integrity": None,
        "metadata": req.get("metadata"),
        "created_at": _f(rec.get("created_at")),
        "completed_at": _f(rec.get("completed_at")),
        "cached": False,
    }
    if rec.get("result"):
        result = json.loads(rec["result"])
        out["status"] = "completed"
        out["cached"] = bool(result.get("cached"))
        for key in ("verdict", "static", "compile", "tests", "run", "feedback", "environment",
                    "integrity"):
            out[key] = result.get(key)
        if not full:
            for key in ("static", "compile", "run", "environment"):
                out[key] = None
            if out["tests"]:
                out["tests"] = {k: v for k, v in out["tests"].items() if k != "cases"} | {
                    "cases": []}
    return out


def _f(v: str | None) -> float | None:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def now() -> float:
    return time.time()
