"""The FastAPI application: routes, error bodies, request ids, body limits and metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from codefeedback import __version__
from codefeedback.models import BatchRequest, ErrorResponse, Submission
from service import errors, logs
from service.config import ApiSettings, get_settings
from service.middleware import (
    BodyLimitMiddleware,
    HeaderLimitMiddleware,
    MetricsMiddleware,
    RequestIdMiddleware,
)
from service.routes import batches, meta, submissions


def create_app(settings: ApiSettings | None = None, configure_logging: bool = True) -> FastAPI:
    """The app; `settings` defaults to the environment's (tests pass their own)."""
    if settings is None:
        settings = get_settings()
    else:
        settings.check()
    if configure_logging:
        logs.configure(settings.log_level)
    if settings.auth == "off":
        logging.getLogger("codefeedback.api").warning(
            "CFS_AUTH=off: no API key is checked, whatever keys exist")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        hub = getattr(app.state, "completions", None)  # the ?wait listener, started lazily
        if hub is not None:
            app.state.completions = None
            await hub.close()

    app = FastAPI(
        lifespan=lifespan,
        title="codefeedback",
        version=__version__,
        description="Execution feedback for LLM-generated code: static analysis and tests in "
        "hardened sandboxes, one structured verdict. See CONTRACT.md.",
    )
    app.state.settings = settings
    errors.install(app)
    app.include_router(submissions.router)
    app.include_router(batches.router)
    app.include_router(meta.router)

    # Outermost last: request id -> access log -> header/URL bounds -> body bound -> metrics
    # -> app. All of them plain ASGI (Starlette's BaseHTTPMiddleware costs a task group and
    # a memory stream per request).
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeaderLimitMiddleware, max_header_bytes=settings.max_header_bytes,
                       max_url_bytes=settings.max_url_bytes)
    app.add_middleware(logs.AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)

    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (Submission, BatchRequest):
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in js.pop("$defs", {}).items():
                comps.setdefault(name, sub)
            comps[model.__name__] = js
        # Every error body is ErrorResponse, 422s included (not FastAPI's HTTPValidationError).
        comps.setdefault("ErrorResponse", ErrorResponse.model_json_schema(
            ref_template="#/components/schemas/{model}"))
        for name, sub in comps["ErrorResponse"].pop("$defs", {}).items():
            comps.setdefault(name, sub)
        for ops in schema.get("paths", {}).values():
            for op in ops.values():
                res = op.get("responses", {}).get("422")
                if res and "requestBody" not in op and all(
                        p.get("in") == "path" for p in op.get("parameters", [])):
                    del op["responses"]["422"]  # a path segment alone is never a 422 here
                elif res:
                    res["description"] = res.get("description", "Validation Error").replace(
                        "Validation Error", "Invalid parameter or header")
                    res["content"] = {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        for name in ("HTTPValidationError", "ValidationError"):
            comps.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
