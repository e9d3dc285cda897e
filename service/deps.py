"""Typed dependencies: settings, the store, the queue and the caller's identity."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from service.config import ApiSettings, get_settings
from service.errors import ApiError, validation_message
from service.store import AsyncStore

_store: AsyncStore | None = None
_celery = None


def store() -> AsyncStore:
    global _store
    if _store is None:
        s = get_settings()
        _store = AsyncStore(s.redis_url, s.result_ttl)
    return _store


def celery_app():  # noqa: ANN201 - celery has no useful type here
    """A Celery app used only to publish (the API never runs tasks)."""
    global _celery
    if _celery is None:
        from celery import Celery

        s = get_settings()
        _celery = Celery("codefeedback-api", broker=s.redis_url)
        _celery.conf.update(task_serializer="json", accept_content=["json"],
                            broker_connection_retry_on_startup=True,
                            task_default_queue=s.queue_name)
    return _celery


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
StoreDep = Annotated[AsyncStore, Depends(store)]


def owner(request: Request, settings: SettingsDep) -> str:
    """The caller: `anonymous` without configured keys, else the owner id of a valid key."""
    keys = settings.key_hashes()
    if not keys:
        return "anonymous"
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>",
                       {"WWW-Authenticate": "Bearer"})
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    if digest not in keys:
        raise ApiError(401, "unauthorized", "the API key is not valid",
                       {"WWW-Authenticate": "Bearer"})
    return keys[digest]


OwnerDep = Annotated[str, Depends(owner)]


async def json_body(request: Request) -> tuple[Any, bytes]:
    """Read a JSON body ourselves: 415 for other media types, 400 for broken JSON."""
    ctype = request.headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() not in ("application/json", ""):
        raise ApiError(415, "unsupported_media_type", "the body must be JSON (application/json)")
    raw = await request.body()
    if not raw:
        raise ApiError(400, "empty_body", "the request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_utf8", f"the body is not valid UTF-8: {exc}") from None
    try:
        return json.loads(text), raw
    except RecursionError:
        raise ApiError(400, "json_too_deep", "the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def parse(model: type[BaseModel], data: Any, where: str = "") -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        msg = validation_message(exc.errors(include_url=False))
        raise ApiError(422, "validation_error", f"{where}{msg}") from None
    except RecursionError:
        raise ApiError(400, "json_too_deep", "the JSON body is nested too deeply") from None
