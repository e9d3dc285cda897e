"""POST /v1/submissions (+ ?wait=) and GET /v1/submissions/{id}."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from codefeedback.models import ErrorResponse, Submission, SubmissionResource
from service import metrics
from service.completion import completions, wait_record
from service.deps import (
    LimiterDep,
    OwnerDep,
    SettingsDep,
    StoreDep,
    celery_app,
    json_body,
    parse,
)
from service.errors import ApiError
from service.ratelimit import Limited, Limiter
from service.store import new_id
from service.submitting import check_submission, from_cache, resource, split
from workers.names import CHUNK_TASK_NAME, TASK_NAME

router = APIRouter(prefix="/v1", tags=["submissions"])
EXAMPLE = {"language": "python", "code": "def add(a, b):\n    return a + b\n",
           "tests": {"script": "assert add(1, 2) == 3\n"}, "metadata": {"sample": 7}}
IDEMPOTENCY_KEY_RE = r"^[\x21-\x7e]{1,200}$"


def err(description: str) -> dict:
    return {"model": ErrorResponse, "description": description}


# Statuses any authenticated /v1 call may get (documented for every /v1 operation).
AUTH_ERRORS = {
    401: err("Missing or wrong API key (once keys are configured)"),
    429: err("Rate limit or daily quota of the key (or queue full), with Retry-After"),
    503: err("Redis is unreachable (auth fails closed), with Retry-After"),
}
READ_ERRORS = AUTH_ERRORS | {422: err("Invalid query parameter")}
ERRORS = AUTH_ERRORS | {
    400: err("Not JSON, broken JSON or invalid UTF-8"),
    409: err("Idempotency-Key reused with a different body"),
    413: err("Body too large"),
    415: err("Not application/json"),
    422: err("Invalid submission, query parameter or header"),
}


async def enqueue(app: Any, ids: list[str], chunk: int = 1) -> None:
    """One TASK_NAME message per id (chunk 1), or CHUNK_TASK_NAME messages of up to `chunk`
    ids each, in request order (batches: CFS_BATCH_CHUNK)."""
    cel = celery_app(app)
    if chunk <= 1:
        messages = [(TASK_NAME, [sub_id]) for sub_id in ids]
    else:
        messages = [(CHUNK_TASK_NAME, [part]) for part in split(ids, chunk)]

    def publish() -> None:
        with cel.producer_or_acquire() as producer:
            for name, args in messages:
                cel.send_task(name, args=args, producer=producer)

    await run_in_threadpool(publish)


async def check_queue(store: StoreDep, settings: SettingsDep, adding: int) -> None:
    """429 when the submissions waiting (single ones and batch items alike; estimated by
    AsyncStore.queued_items) plus `adding` would pass CFS_MAX_QUEUE_DEPTH."""
    depth = await store.queued_items(settings.queue_name, settings.batch_chunk)
    if depth + adding > settings.max_queue_depth:
        raise ApiError(429, "queue_full", f"the queue holds {depth} jobs; try again later",
                       {"Retry-After": "5"})


async def refund(lim: Limiter, who: str, n: int) -> None:
    """Give back quota a request could not use (best effort: the store may be what failed)."""
    try:
        await lim.refund(who, n)
    except Exception:  # noqa: BLE001
        pass


async def charge(lim: Limiter, who: str, n: int) -> None:
    """Count n submissions against the caller's daily quota (429 past it)."""
    try:
        await lim.charge(who, n)
    except Limited as exc:
        raise ApiError(429, exc.code, exc.message, {"Retry-After": str(exc.retry_after)}) from None


async def wait_for(app: Any, store: StoreDep, sub_id: str, seconds: float,
                   owner: str | None = None) -> dict[str, str] | None:
    """The record once it has a result (woken by the completion listener, never a sleep
    loop), or after `seconds`; at once for an unknown id or another owner's."""
    return await wait_record(completions(app), store, sub_id, seconds, owner)


@router.post(
    "/submissions", status_code=202, response_model=SubmissionResource,
    responses={200: {"model": SubmissionResource,
                     "description": "Finished within `wait`: the completed resource"},
               404: err("An idempotent replay of a submission that has expired"), **ERRORS},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Submission"}, "example": EXAMPLE}}}},
    summary="Submit one program for analysis and tests",
)
async def submit(request: Request, store: StoreDep, settings: SettingsDep, who: OwnerDep,
                 lim: LimiterDep,
                 wait: float = Query(0, ge=0, le=60, allow_inf_nan=False,
                                     description="Seconds to wait for the result (0-60)"),
                 idempotency_key: str | None = Header(
                     None, alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_RE,
                     description="1-200 printable ASCII characters; the same key and body within "
                     "24 h return the same submission, a different body is a 409"),
                 ) -> JSONResponse:
    data, raw = await json_body(request)
    sub = check_submission(parse(Submission, data), settings)  # type: ignore[arg-type]
    wait = min(wait, settings.max_wait_s)
    sub_id = new_id("sub")
    created = True
    key = idempotency_key
    if key is not None:
        digest = hashlib.sha256(raw).hexdigest()
        try:
            sub_id, created = await store.idempotent(who, key, digest, sub_id)
        except ValueError:
            raise ApiError(409, "idempotency_conflict",
                           "this Idempotency-Key was used with a different body") from None
    if created:
        try:
            (cache_key,), (hit,) = await from_cache(request.app, store.r, [sub], who)
            if hit is None:
                await check_queue(store, settings, 1)
            await charge(lim, who, 1)
        except ApiError:
            if key is not None:  # nothing was made: let a retry with this key try again
                await store.release_idempotent(who, key, sub_id)
            raise
        try:
            # a cache hit is stored completed (its own id and metadata) and never enqueued
            await store.create(sub, who, sub_id, result=hit, cache_key=cache_key)
            if hit is None:
                await enqueue(request.app, [sub_id])
        except BaseException:
            await refund(lim, who, 1)
            raise
        metrics.SUBMISSIONS.labels(language=sub.language).inc()
    rec = await wait_for(request.app, store, sub_id, wait) if wait else await store.get(sub_id)
    if rec is None:  # created moments ago; only an expired idempotent replay lands here
        raise ApiError(404, "not_found", f"submission {sub_id} has expired")
    body = resource(sub_id, rec)
    status = 200 if body["status"] == "completed" else 202
    return JSONResponse(body, status_code=status,
                        headers={"Location": f"/v1/submissions/{sub_id}"})


@router.get("/submissions/{sub_id}", response_model=SubmissionResource,
            responses={404: err("Unknown id, or another key's submission"), **READ_ERRORS},
            summary="Read one submission and its result")
async def get_submission(request: Request, sub_id: str, store: StoreDep, who: OwnerDep,
                         wait: float = Query(0, ge=0, le=60, allow_inf_nan=False,
                                             description="Seconds to wait for the result (0-60)"),
                         ) -> JSONResponse:
    rec = await (wait_for(request.app, store, sub_id, wait, who) if wait
                 else store.get(sub_id)) \
        if len(sub_id) <= 100 else None
    if rec is None or rec.get("owner") != who:
        raise ApiError(404, "not_found", "no submission with this id")
    return JSONResponse(resource(sub_id, rec))
