"""Checks and enqueueing shared by single submissions and batches."""

from __future__ import annotations

import json
import time
from typing import Any

from codefeedback.models import Submission
from runners.pipeline import SubmissionError, check
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


def resource(sub_id: str, rec: dict[str, str], full: bool = True) -> dict[str, Any]:
    """The public submission resource from its stored hash."""
    req = json.loads(rec.get("request") or "{}")
    out: dict[str, Any] = {
        "id": sub_id,
        "status": rec.get("status", "queued"),
        "language": rec.get("language") or req.get("language"),
        "verdict": None,
        "static": None, "compile": None, "tests": None, "run": None,
        "feedback": None, "environment": None,
        "metadata": req.get("metadata"),
        "created_at": _f(rec.get("created_at")),
        "completed_at": _f(rec.get("completed_at")),
    }
    if rec.get("result"):
        result = json.loads(rec["result"])
        out["status"] = "completed"
        for key in ("verdict", "static", "compile", "tests", "run", "feedback", "environment"):
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
