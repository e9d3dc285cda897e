"""Languages, limits, health, readiness and metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from codefeedback.models import (
    MAX_CODE_BYTES,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_IO_CASES,
    LanguageInfo,
)
from runners.registry import all_runners, resolve
from service import metrics
from service.deps import LimiterDep, OwnerDep, SettingsDep, StoreDep
from service.errors import ApiError
from service.routes.submissions import AUTH_ERRORS, err

router = APIRouter(tags=["meta"])


@router.get("/v1/languages", response_model=list[LanguageInfo], responses=AUTH_ERRORS)
async def languages(_: OwnerDep) -> list[dict]:
    return [r.info().model_dump() for r in all_runners().values()]


@router.get("/v1/languages/{language}", response_model=LanguageInfo,
            responses={404: err("Unknown language"), **AUTH_ERRORS})
async def language(language: str, _: OwnerDep) -> dict:
    runner = resolve(language) if len(language) <= 50 else None
    if runner is None:
        raise ApiError(404, "not_found", f"unknown language {language[:50]!r}")
    return runner.info().model_dump()


@router.get("/v1/limits", responses=AUTH_ERRORS)
async def limits(settings: SettingsDep, who: OwnerDep, lim: LimiterDep) -> dict:
    try:
        used = await lim.used_today(who) if settings.daily_quota else None
    except Exception:  # noqa: BLE001 - informative only
        used = None
    return {
        "defaults": {"time_s": settings.default_time_s, "memory_mb": settings.default_memory_mb,
                     "output_kb": settings.default_output_kb},
        "maximums": {"time_s": settings.max_time_s, "memory_mb": settings.max_memory_mb,
                     "output_kb": settings.max_output_kb},
        "minimums": {"memory_mb": settings.min_memory_mb},
        "max_body_bytes": settings.max_body_bytes,
        "max_code_bytes": MAX_CODE_BYTES,
        "max_files": MAX_FILES,
        "max_file_bytes": MAX_FILE_BYTES,
        "max_io_cases": MAX_IO_CASES,
        "max_batch": settings.max_batch,
        "max_wait_s": settings.max_wait_s,
        "max_queue_depth": settings.max_queue_depth,
        "rate_limit_per_s": settings.rate_limit_per_s,
        "rate_limit_burst": settings.burst if settings.rate_limit_per_s else 0,
        "daily_quota": settings.daily_quota,
        "daily_quota_used": used,
    }


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready, with the reason"}})
async def readyz(store: StoreDep, settings: SettingsDep) -> JSONResponse:
    try:
        await store.ping()
    except Exception as exc:  # noqa: BLE001
        return _unready(f"broker unreachable: {exc}")
    workers = [w for w in await store.workers()
               if time.time() - float(w.get("at", 0)) < settings.worker_heartbeat_s * 2]
    metrics.WORKERS.set(len(workers))
    if not workers:
        return _unready("no worker is running")
    usable = [w for w in workers if w.get("sandbox_ok")]
    if not usable:
        reasons = "; ".join(_reason(w) for w in workers)
        return _unready(f"no worker can run sandboxes: {reasons}")
    depth = await store.queue_depth(settings.queue_name)
    metrics.QUEUE.set(depth)
    return JSONResponse({"status": "ready", "workers": len(usable), "queue_depth": depth})


def _reason(worker: dict) -> str:
    if worker.get("error"):
        return str(worker["error"])
    if worker.get("missing_images"):
        return f"missing images: {worker['missing_images']}"
    if worker.get("self_check") == "pending":
        return "sandbox self-check has not finished"
    return f"sandbox self-check failed: {worker.get('self_check')}"


def _unready(reason: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable",
                         "error": {"code": "not_ready", "message": reason}}, status_code=503)


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"}})
async def prometheus() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
