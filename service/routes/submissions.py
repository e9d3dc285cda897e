"""POST /v1/submissions (+ ?wait=) and GET /v1/submissions/{id}."""

from __future__ import annotations

import asyncio
import hashlib
import time

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from codefeedback.models import Submission, SubmissionResource
from service import metrics
from service.deps import OwnerDep, SettingsDep, StoreDep, celery_app, json_body, parse
from service.errors import ApiError
from service.store import new_id
from service.submitting import check_submission, resource
from workers.names import TASK_NAME

router = APIRouter(prefix="/v1", tags=["submissions"])
ERRORS = {s: {"model": dict, "description": d} for s, d in {
    400: "Not JSON, broken JSON or invalid UTF-8", 401: "Missing or wrong API key",
    409: "Idempotency-Key reused with a different body", 413: "Body too large",
    415: "Not application/json", 422: "Invalid submission", 429: "Queue full"}.items()}


async def enqueue(ids: list[str]) -> None:
    app = celery_app()

    def publish() -> None:
        with app.producer_or_acquire() as producer:
            for sub_id in ids:
                app.send_task(TASK_NAME, args=[sub_id], producer=producer)

    await run_in_threadpool(publish)


async def check_queue(store: StoreDep, settings: SettingsDep, adding: int) -> None:
    depth = await store.queue_depth(settings.queue_name)
    if depth + adding > settings.max_queue_depth:
        raise ApiError(429, "queue_full", f"the queue holds {depth} jobs; try again later",
                       {"Retry-After": "5"})


async def wait_for(store: StoreDep, sub_id: str, seconds: float) -> dict[str, str] | None:
    deadline = time.monotonic() + seconds
    delay = 0.01
    while True:
        rec = await store.get(sub_id)
        if rec is None or rec.get("result") or time.monotonic() >= deadline:
            return rec
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.1)


@router.post(
    "/submissions", status_code=202, response_model=SubmissionResource, responses=ERRORS,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Submission"}}}}},
    summary="Submit one program for analysis and tests",
)
async def submit(request: Request, store: StoreDep, settings: SettingsDep, who: OwnerDep,
                 wait: float = Query(0, ge=0, le=60, description="Seconds to wait for the result")
                 ) -> JSONResponse:
    data, raw = await json_body(request)
    sub = check_submission(parse(Submission, data), settings)  # type: ignore[arg-type]
    wait = min(wait, settings.max_wait_s)
    sub_id = new_id("sub")
    created = True
    key = request.headers.get("idempotency-key")
    if key:
        if len(key) > 200:
            raise ApiError(422, "validation_error", "Idempotency-Key is longer than 200 characters")
        digest = hashlib.sha256(raw).hexdigest()
        try:
            sub_id, created = await store.idempotent(who, key, digest, sub_id)
        except ValueError:
            raise ApiError(409, "idempotency_conflict",
                           "this Idempotency-Key was used with a different body") from None
    if created:
        await check_queue(store, settings, 1)
        await store.create(sub, who, sub_id)
        await enqueue([sub_id])
        metrics.SUBMISSIONS.labels(language=sub.language).inc()
    rec = await wait_for(store, sub_id, wait) if wait else await store.get(sub_id)
    if rec is None:  # created moments ago; only an expired idempotent replay lands here
        raise ApiError(404, "not_found", f"submission {sub_id} has expired")
    body = resource(sub_id, rec)
    status = 200 if body["status"] == "completed" else 202
    return JSONResponse(body, status_code=status,
                        headers={"Location": f"/v1/submissions/{sub_id}"})


@router.get("/submissions/{sub_id}", response_model=SubmissionResource,
            responses={404: ERRORS[422] | {"description": "Unknown id"}, 401: ERRORS[401]},
            summary="Read one submission and its result")
async def get_submission(sub_id: str, store: StoreDep, who: OwnerDep,
                         wait: float = Query(0, ge=0, le=60)) -> JSONResponse:
    rec = await (wait_for(store, sub_id, wait) if wait else store.get(sub_id)) \
        if len(sub_id) <= 100 else None
    if rec is None or rec.get("owner") != who:
        raise ApiError(404, "not_found", "no submission with this id")
    return JSONResponse(resource(sub_id, rec))
