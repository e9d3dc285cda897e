"""Typed dependencies: settings, the store, the queue and the caller's identity."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from service import apikeys
from service.apikeys import MAX_TOKEN_CHARS
from service.config import ApiSettings, get_settings
from service.errors import ApiError, validation_message
from service.ratelimit import Limited, Limiter
from service.store import AsyncStore


def get_app_settings(request: Request) -> ApiSettings:
    """The settings of the app serving this request (create_app(settings) in tests)."""
    return getattr(request.app.state, "settings", None) or get_settings()


def store(request: Request) -> AsyncStore:
    state = request.app.state
    if getattr(state, "store", None) is None:
        s = get_app_settings(request)
        state.store = AsyncStore(s.redis_url, s.result_ttl)
    return state.store


def limiter(request: Request) -> Limiter:
    state = request.app.state
    if getattr(state, "limiter", None) is None:
        s = get_app_settings(request)
        state.limiter = Limiter(store(request).r, s.rate_limit_per_s, s.burst, s.daily_quota)
    return state.limiter


def celery_app(app: Any):  # noqa: ANN201 - celery has no useful type here
    """A Celery app used only to publish (the API never runs tasks), one per FastAPI app."""
    state = app.state
    if getattr(state, "celery", None) is None:
        from celery import Celery

        s = getattr(state, "settings", None) or get_settings()
        cel = Celery("codefeedback-api", broker=s.redis_url)
        cel.conf.update(task_serializer="json", accept_content=["json"],
                        broker_connection_retry_on_startup=True,
                        task_default_queue=s.queue_name)
        state.celery = cel
    return state.celery


SettingsDep = Annotated[ApiSettings, Depends(get_app_settings)]
StoreDep = Annotated[AsyncStore, Depends(store)]
LimiterDep = Annotated[Limiter, Depends(limiter)]

_bearer = HTTPBearer(auto_error=False, description=(
    "An API key, once keys are configured (CFS_API_KEYS or `python -m service.keys issue`); "
    "without keys the local stack needs none."))
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def owner(request: Request, settings: SettingsDep, st: StoreDep, lim: LimiterDep,
                _: Annotated[Any, Depends(_bearer)] = None) -> str:
    """The caller's owner id after authentication and the per-key rate limit.

    `anonymous` when auth is off (CFS_AUTH=off, or auto with no key anywhere); else the key id
    of a valid `Authorization: Bearer <key>` (401 otherwise). Redis unreachable while auth may
    be on is a 503: the service fails closed.
    """
    who = await authenticate(request, settings, st)
    request.state.key_id = who
    try:
        await lim.hit(who)
    except Limited as exc:
        raise ApiError(429, exc.code, exc.message, {"Retry-After": str(exc.retry_after)}) from None
    except RedisError:  # the limiter protects; it never takes the service down with it
        logging.getLogger("codefeedback.api").warning("rate limiter unavailable", exc_info=True)
    return who


async def authenticate(request: Request, settings: ApiSettings, st: AsyncStore) -> str:
    if settings.auth == "off":
        return "anonymous"
    env_keys = settings.key_hashes()
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    token = token.strip()
    has_token = scheme.lower() == "bearer" and 0 < len(token) <= MAX_TOKEN_CHARS
    digest = apikeys.digest(token) if has_token else ""
    if digest and digest in env_keys:
        return env_keys[digest]
    if not auth and (env_keys or settings.auth == "on"):
        raise ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>",
                       _UNAUTHORIZED)
    try:
        pipe = st.r.pipeline(transaction=False)
        pipe.exists(apikeys.ISSUED)
        if digest:
            pipe.get(apikeys.KEY_HASH + digest)
        found = await pipe.execute()
    except RedisError:
        raise ApiError(503, "auth_unavailable", "the key store (Redis) is unreachable; "
                       "try again later", {"Retry-After": "5"}) from None
    if settings.auth == "auto" and not env_keys and not found[0]:
        return "anonymous"
    if not auth:
        raise ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>",
                       _UNAUTHORIZED)
    key_id = found[1] if digest else None
    if not key_id:
        raise ApiError(401, "unauthorized", "the API key is not valid", _UNAUTHORIZED)
    return str(key_id)


OwnerDep = Annotated[str, Depends(owner)]


class _OutOfRange(Exception):
    pass


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _OutOfRange(text[:40])
    return value


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
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float), raw
    except _OutOfRange as exc:
        raise ApiError(422, "validation_error", f"the number {exc} is out of range (JSON numbers "
                       "must fit a finite double)") from None
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
