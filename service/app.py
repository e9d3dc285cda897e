"""The FastAPI application: routes, error bodies, request ids, body limits and metrics."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request

from codefeedback import __version__
from codefeedback.models import BatchRequest, Submission
from service import errors, metrics
from service.config import get_settings
from service.middleware import BodyLimitMiddleware, RequestIdMiddleware
from service.routes import batches, meta, submissions


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="codefeedback",
        version=__version__,
        description="Execution feedback for LLM-generated code: static analysis and tests in "
        "hardened sandboxes, one structured verdict. See CONTRACT.md.",
    )
    errors.install(app)
    app.include_router(submissions.router)
    app.include_router(batches.router)
    app.include_router(meta.router)

    @app.middleware("http")
    async def observe(request: Request, call_next):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.REQUESTS.labels(request.method, path, response.status_code).inc()
        metrics.LATENCY.labels(request.method, path).observe(time.perf_counter() - start)
        return response

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
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
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
