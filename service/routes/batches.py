"""POST /v1/batches and GET /v1/batches/{id}."""

from __future__ import annotations

import json
from collections import Counter

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from codefeedback.models import BatchCreated, BatchResource, Submission
from service import metrics
from service.completion import completions, wait_batch
from service.deps import LimiterDep, OwnerDep, SettingsDep, StoreDep, json_body, parse
from service.errors import ApiError
from service.routes.submissions import (
    ERRORS,
    EXAMPLE,
    READ_ERRORS,
    charge,
    check_queue,
    enqueue,
    err,
    refund,
)
from service.store import new_id
from service.submitting import check_submission, from_cache, resource

router = APIRouter(prefix="/v1", tags=["batches"])


@router.post(
    "/batches", status_code=202, response_model=BatchCreated,
    responses={k: v for k, v in ERRORS.items() if k != 409},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/BatchRequest"},
        "example": {"submissions": [EXAMPLE, {**EXAMPLE, "code": "def add(a, b):\n    return a - b\n"}]},
    }}}},
    summary="Submit many programs at once; one invalid item rejects the batch",
)
async def create_batch(request: Request, store: StoreDep, settings: SettingsDep,
                       who: OwnerDep, lim: LimiterDep) -> JSONResponse:
    data, _ = await json_body(request)
    if not isinstance(data, dict) or not isinstance(data.get("submissions"), list):
        raise ApiError(422, "validation_error", 'the body must be {"submissions": [ ... ]}')
    items = data["submissions"]
    extra = set(data) - {"submissions"}
    if extra:
        raise ApiError(422, "validation_error", f"unknown field(s): {', '.join(sorted(extra))}")
    if not items:
        raise ApiError(422, "validation_error", "submissions must hold at least one submission")
    if len(items) > settings.max_batch:
        raise ApiError(422, "batch_too_large",
                       f"a batch holds at most {settings.max_batch} submissions")
    subs = []
    for i, item in enumerate(items):
        sub = parse(Submission, item, where=f"submissions[{i}]: ")
        subs.append(check_submission(sub, settings, where=f"submissions[{i}]: "))  # type: ignore[arg-type]
    keys, hits = await from_cache(request.app, store.r, subs, who)
    misses = sum(1 for h in hits if h is None)
    if misses:
        await check_queue(store, settings, misses)
    await charge(lim, who, len(subs))  # every item counts against the daily quota
    batch_id = new_id("bat")
    try:
        # cache hits are stored completed and never enqueued; the rest goes out in chunks
        ids = await store.create_many(subs, who, batch_id, results=hits, cache_keys=keys)
        todo = [i for i, hit in zip(ids, hits, strict=True) if hit is None]
        if todo:
            await enqueue(request.app, todo, settings.batch_chunk)
    except BaseException:
        await refund(lim, who, len(subs))
        raise
    for sub in subs:
        metrics.SUBMISSIONS.labels(language=sub.language).inc()
    return JSONResponse({"id": batch_id, "submission_ids": ids}, status_code=202,
                        headers={"Location": f"/v1/batches/{batch_id}"})


@router.get("/batches/{batch_id}", response_model=BatchResource,
            responses={404: err("Unknown id, or another key's batch"), **READ_ERRORS},
            summary="Progress and results of a batch, in request order")
async def get_batch(request: Request, batch_id: str, store: StoreDep, who: OwnerDep,
                    settings: SettingsDep,
                    full: bool = Query(False, description="Full resources instead of summaries"),
                    wait: float = Query(0, ge=0, le=60, allow_inf_nan=False,
                                        description="Seconds to wait until every submission of "
                                        "the batch is completed (0-60)"),
                    ) -> JSONResponse:
    rec = await store.batch(batch_id) if len(batch_id) <= 100 else None
    if rec is None or rec.get("owner") != who:
        raise ApiError(404, "not_found", "no batch with this id")
    ids = json.loads(rec["ids"])
    wait = min(wait, settings.max_wait_s)
    if wait:
        await wait_batch(completions(request.app), store, batch_id, ids, wait)
    records = await store.get_many(ids)
    subs = [resource(i, r, full=full) if r else
            {"id": i, "status": "completed", "verdict": None, "feedback": "expired"}
            for i, r in zip(ids, records, strict=True)]
    verdicts = Counter(s["verdict"] for s in subs if s.get("verdict"))
    completed = sum(1 for s in subs if s["status"] == "completed")
    status = "completed" if completed == len(ids) else (
        "running" if completed or any(s["status"] == "running" for s in subs) else "queued")
    return JSONResponse({"id": batch_id, "status": status, "total": len(ids),
                         "completed": completed, "verdicts": dict(verdicts),
                         "submissions": subs})
