"""HTTP SDK for the codefeedback API: `Client` (blocking) and `AsyncClient` (asyncio).

Both speak exactly the public contract (shared/CONTRACT.md) and return the shared pydantic
models from `codefeedback.models`. Request building, response parsing, error mapping and the
retry policy live once in `_Core`; the two clients differ only in how they send a request and
sleep, so their behaviour cannot drift apart.

Retries: 429 and 5xx answers and transport errors are retried with exponential backoff and
jitter; a `Retry-After` header (seconds or HTTP date) wins over the computed delay. Every
`POST /v1/submissions` carries an `Idempotency-Key` (generated when the caller gives none), so a
retried submit after a lost answer cannot create a second submission.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Self

import httpx

from codefeedback.models import (
    BatchCreated,
    BatchResource,
    LanguageInfo,
    Status,
    Submission,
    SubmissionResource,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIStatusError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "CodefeedbackError",
    "ConflictError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "WaitTimeout",
]

DEFAULT_BASE_URL = "http://localhost:8000"
ENV_BASE_URL = "CODEFEEDBACK_URL"
ENV_API_KEY = "CODEFEEDBACK_API_KEY"
MAX_SERVER_WAIT_S = 60  # the contract's maximum for ?wait=
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

SubmissionLike = Submission | Mapping[str, Any]


# --------------------------------------------------------------------------------- errors
class CodefeedbackError(Exception):
    """Base of every error the SDK raises."""


class APIConnectionError(CodefeedbackError):
    """The service could not be reached (after retries)."""


class WaitTimeout(CodefeedbackError):
    """A result was not ready within the caller's timeout; the submission still exists."""

    def __init__(self, message: str, *, ids: list[str] | None = None) -> None:
        super().__init__(message)
        self.ids = ids or []


class APIStatusError(CodefeedbackError):
    """The service answered 4xx/5xx with the contract's `{"error": {code, message}}` body."""

    def __init__(
        self, status_code: int, code: str, message: str, *, request_id: str | None = None
    ) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.request_id = request_id


class BadRequestError(APIStatusError):
    """400/415/422: the request is invalid; retrying will not help."""


class AuthenticationError(APIStatusError):
    """401: missing or wrong API key."""


class NotFoundError(APIStatusError):
    """404: unknown (or expired) id."""


class ConflictError(APIStatusError):
    """409: an Idempotency-Key reused with a different body."""


class PayloadTooLargeError(APIStatusError):
    """413: the body is over the service's limit."""


class RateLimitError(APIStatusError):
    """429 after every retry: the queue is full or the key is rate limited."""


class ServerError(APIStatusError):
    """5xx after every retry."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_from_response(response: httpx.Response) -> APIStatusError:
    """Map a 4xx/5xx answer to a typed error, tolerating bodies that break the contract."""
    code, message = "http_error", response.reason_phrase or "error"
    try:
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            code = str(err.get("code") or code)
            message = str(err.get("message") or message)
        elif isinstance(body, dict) and "detail" in body:  # a bare framework error
            message = str(body["detail"])
    except ValueError:
        if response.text:
            message = response.text[:500]
    cls = _STATUS_ERRORS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else APIStatusError
    return cls(response.status_code, code, message, request_id=response.headers.get("x-request-id"))


# --------------------------------------------------------------------------------- retries
@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before retrying 429/5xx/transport errors.

    `max_retries` counts retries (so `max_retries + 1` attempts). The computed delay is
    `min(max_delay, base_delay * 2**attempt)` scaled by a jitter in [0.5, 1]; a `Retry-After`
    header replaces it, capped at `max_retry_after` (longer waits raise instead of hanging).
    """

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 600.0

    def delay(self, attempt: int, retry_after: float | None, rnd: float) -> float:
        if retry_after is not None:
            return retry_after
        return min(self.max_delay, self.base_delay * (2**attempt)) * (0.5 + rnd / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: either a number or an HTTP date; None when absent or junk."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now_ts = time.time() if now is None else now
    return max(0.0, when.timestamp() - now_ts)


# ------------------------------------------------------------------------------ shared core
def _to_body(sub: SubmissionLike) -> dict[str, Any]:
    """Validate a submission locally (a typo fails here, not as a 422 round-trip)."""
    model = sub if isinstance(sub, Submission) else Submission.model_validate(dict(sub))
    return model.model_dump(mode="json", exclude_none=True)


def _parse_batch(data: dict[str, Any], languages: list[str] | None) -> BatchResource:
    """Batch entries may be summaries: fill `language` from the request when it is missing."""
    entries = []
    for i, entry in enumerate(data.get("submissions") or []):
        entry = dict(entry)
        if "language" not in entry:
            entry["language"] = languages[i] if languages and i < len(languages) else ""
        entries.append(entry)
    return BatchResource.model_validate({**data, "submissions": entries})


def _is_summary(raw: dict[str, Any]) -> bool:
    """A completed entry without the `feedback` key is a summary; the full one has it."""
    return "feedback" not in raw


@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] | None = None
    timeout: float | None = None


class _Core:
    """Configuration plus everything about requests that does not depend on sync vs async."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        retry: RetryPolicy | None,
        max_retries: int | None,
        poll_interval: float,
        max_poll_interval: float,
    ) -> None:
        self.base_url = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        self.timeout = timeout
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(max_retries, policy.base_delay, policy.max_delay,
                                 policy.max_retry_after)
        self.retry = policy
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self._random: Callable[[], float] = random.random

    def headers(self) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": "codefeedback-python/0.1"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def build(self, req: _Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": req.params, "headers": req.headers}
        if req.json is not None:
            kwargs["json"] = req.json
        if req.timeout is not None:
            kwargs["timeout"] = req.timeout
        return kwargs

    def should_retry(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to sleep before the next attempt, or None to stop (and raise)."""
        if attempt >= self.retry.max_retries:
            return None
        retry_after = None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None and retry_after > self.retry.max_retry_after:
                return None
        return self.retry.delay(attempt, retry_after, self._random())

    @staticmethod
    def check(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # --- request builders (one per endpoint) ---
    @staticmethod
    def submit_req(
        sub: SubmissionLike, wait: float | None, idempotency_key: str | None, timeout: float
    ) -> _Request:
        params = None
        req_timeout = None
        if wait:
            wait = max(0.0, min(float(wait), MAX_SERVER_WAIT_S))
            params = {"wait": int(wait) if float(wait).is_integer() else wait}
            req_timeout = timeout + wait
        key = idempotency_key or uuid.uuid4().hex
        return _Request("POST", "/v1/submissions", params, _to_body(sub),
                        {"Idempotency-Key": key}, req_timeout)

    def next_poll(self, current: float) -> float:
        return min(self.max_poll_interval, current * 1.5)


def _done(res: SubmissionResource) -> bool:
    return res.status == Status.completed


# ------------------------------------------------------------------------------ sync client
class Client:
    """Blocking client.

    >>> with Client("http://localhost:8000") as cf:
    ...     res = cf.run({"language": "python", "code": "print(1)"})
    ...     res.verdict
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll_interval: float = 0.2,
        max_poll_interval: float = 2.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._core = _Core(base_url, api_key, timeout, retry, max_retries, poll_interval,
                           max_poll_interval)
        self._sleep = sleep
        self._http = httpx.Client(base_url=self._core.base_url, headers=self._core.headers(),
                                  timeout=timeout, transport=transport)

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, req: _Request) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(req.method, req.path, **self._core.build(req))
            except httpx.TransportError as exc:
                delay = self._core.should_retry(attempt, None)
                if delay is None:
                    raise APIConnectionError(f"{req.method} {req.path}: {exc!r}") from exc
            else:
                if response.status_code < 400:
                    return self._core.check(response)
                delay = self._core.should_retry(attempt, response)
                if delay is None:
                    raise error_from_response(response)
            self._sleep(delay)
            attempt += 1

    # --- single submissions ---
    def submit(
        self,
        submission: SubmissionLike,
        *,
        wait: float | None = None,
        idempotency_key: str | None = None,
    ) -> SubmissionResource:
        """POST /v1/submissions; with `wait` the server holds the answer up to 60 s."""
        req = _Core.submit_req(submission, wait, idempotency_key, self._core.timeout)
        return SubmissionResource.model_validate(self._send(req))

    def get(self, submission_id: str) -> SubmissionResource:
        """GET /v1/submissions/{id}."""
        return SubmissionResource.model_validate(
            self._send(_Request("GET", f"/v1/submissions/{submission_id}")))

    def wait(self, submission_id: str, *, timeout: float | None = 300.0) -> SubmissionResource:
        """Poll until the submission is completed; `WaitTimeout` after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = self._core.poll_interval
        while True:
            res = self.get(submission_id)
            if _done(res):
                return res
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"submission {submission_id} not completed after {timeout}s",
                                  ids=[submission_id])
            self._sleep(interval)
            interval = self._core.next_poll(interval)

    def run(
        self,
        submission: SubmissionLike,
        *,
        timeout: float | None = 300.0,
        idempotency_key: str | None = None,
    ) -> SubmissionResource:
        """Submit and return the completed result (server-side wait first, then polling)."""
        server_wait = MAX_SERVER_WAIT_S if timeout is None else min(timeout, MAX_SERVER_WAIT_S)
        res = self.submit(submission, wait=server_wait, idempotency_key=idempotency_key)
        if _done(res):
            return res
        return self.wait(res.id, timeout=None if timeout is None else max(0.0, timeout))

    # --- batches ---
    def create_batch(self, submissions: Iterable[SubmissionLike]) -> BatchCreated:
        """POST /v1/batches (one invalid item rejects the whole batch with a 422)."""
        body = {"submissions": [_to_body(s) for s in submissions]}
        return BatchCreated.model_validate(self._send(_Request("POST", "/v1/batches", json=body)))

    def get_batch(self, batch_id: str, *, languages: list[str] | None = None) -> BatchResource:
        """GET /v1/batches/{id}; summaries lacking `language` get it from `languages`."""
        return _parse_batch(self._send(_Request("GET", f"/v1/batches/{batch_id}")), languages)

    def iter_batch(
        self,
        batch_id: str,
        *,
        timeout: float | None = None,
        full: bool = True,
        languages: list[str] | None = None,
    ) -> Iterator[tuple[int, SubmissionResource]]:
        """Yield `(index, result)` as each entry completes, each exactly once.

        With `full`, a completed entry that came back as a summary is fetched in full.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: set[int] = set()
        interval = self._core.poll_interval
        while True:
            raw = self._send(_Request("GET", f"/v1/batches/{batch_id}"))
            batch = _parse_batch(raw, languages)
            progressed = False
            for i, entry in enumerate(batch.submissions):
                if i in seen or not _done(entry):
                    continue
                seen.add(i)
                progressed = True
                if full and _is_summary(raw["submissions"][i]):
                    entry = self.get(entry.id)
                yield i, entry
            if len(seen) >= batch.total:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"batch {batch_id}: {len(seen)}/{batch.total} completed",
                                  ids=[batch_id])
            interval = self._core.poll_interval if progressed else self._core.next_poll(interval)
            self._sleep(interval)

    def run_batch(
        self,
        submissions: Iterable[SubmissionLike],
        *,
        chunk_size: int = 1000,
        timeout: float | None = None,
    ) -> Iterator[tuple[int, SubmissionResource]]:
        """Send any number of submissions in chunks; yield `(index, result)` as they complete.

        Only one chunk is held in memory at a time, so a long generator streams through.
        """
        offset = 0
        for chunk in _chunks(submissions, chunk_size):
            langs = [_lang(s) for s in chunk]
            created = self.create_batch(chunk)
            for i, res in self.iter_batch(created.id, timeout=timeout, languages=langs):
                yield offset + i, res
            offset += len(chunk)

    # --- discovery ---
    def languages(self) -> list[LanguageInfo]:
        data = self._send(_Request("GET", "/v1/languages"))
        items = data.get("languages", data.get("data", [])) if isinstance(data, dict) else data
        return [LanguageInfo.model_validate(x) for x in items]

    def language(self, language_id: str) -> LanguageInfo:
        data = self._send(_Request("GET", f"/v1/languages/{language_id}"))
        return LanguageInfo.model_validate(data)

    def limits(self) -> dict[str, Any]:
        return self._send(_Request("GET", "/v1/limits"))

    def health(self) -> bool:
        """True when /readyz says the service can evaluate now (no retries)."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False


# ----------------------------------------------------------------------------- async client
class AsyncClient:
    """asyncio client with the same methods as `Client` (coroutines / async iterators)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll_interval: float = 0.2,
        max_poll_interval: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        max_connections: int = 100,
    ) -> None:
        self._core = _Core(base_url, api_key, timeout, retry, max_retries, poll_interval,
                           max_poll_interval)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self._core.base_url, headers=self._core.headers(), timeout=timeout,
            transport=transport, limits=httpx.Limits(max_connections=max_connections))

    @property
    def base_url(self) -> str:
        return self._core.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, req: _Request) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._http.request(req.method, req.path,
                                                    **self._core.build(req))
            except httpx.TransportError as exc:
                delay = self._core.should_retry(attempt, None)
                if delay is None:
                    raise APIConnectionError(f"{req.method} {req.path}: {exc!r}") from exc
            else:
                if response.status_code < 400:
                    return self._core.check(response)
                delay = self._core.should_retry(attempt, response)
                if delay is None:
                    raise error_from_response(response)
            await self._sleep(delay)
            attempt += 1

    async def submit(
        self,
        submission: SubmissionLike,
        *,
        wait: float | None = None,
        idempotency_key: str | None = None,
    ) -> SubmissionResource:
        req = _Core.submit_req(submission, wait, idempotency_key, self._core.timeout)
        return SubmissionResource.model_validate(await self._send(req))

    async def get(self, submission_id: str) -> SubmissionResource:
        return SubmissionResource.model_validate(
            await self._send(_Request("GET", f"/v1/submissions/{submission_id}")))

    async def wait(
        self, submission_id: str, *, timeout: float | None = 300.0
    ) -> SubmissionResource:
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = self._core.poll_interval
        while True:
            res = await self.get(submission_id)
            if _done(res):
                return res
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"submission {submission_id} not completed after {timeout}s",
                                  ids=[submission_id])
            await self._sleep(interval)
            interval = self._core.next_poll(interval)

    async def run(
        self,
        submission: SubmissionLike,
        *,
        timeout: float | None = 300.0,
        idempotency_key: str | None = None,
    ) -> SubmissionResource:
        server_wait = MAX_SERVER_WAIT_S if timeout is None else min(timeout, MAX_SERVER_WAIT_S)
        res = await self.submit(submission, wait=server_wait, idempotency_key=idempotency_key)
        if _done(res):
            return res
        return await self.wait(res.id, timeout=None if timeout is None else max(0.0, timeout))

    async def create_batch(self, submissions: Iterable[SubmissionLike]) -> BatchCreated:
        body = {"submissions": [_to_body(s) for s in submissions]}
        return BatchCreated.model_validate(
            await self._send(_Request("POST", "/v1/batches", json=body)))

    async def get_batch(
        self, batch_id: str, *, languages: list[str] | None = None
    ) -> BatchResource:
        return _parse_batch(await self._send(_Request("GET", f"/v1/batches/{batch_id}")),
                            languages)

    async def iter_batch(
        self,
        batch_id: str,
        *,
        timeout: float | None = None,
        full: bool = True,
        languages: list[str] | None = None,
    ) -> AsyncIterator[tuple[int, SubmissionResource]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: set[int] = set()
        interval = self._core.poll_interval
        while True:
            raw = await self._send(_Request("GET", f"/v1/batches/{batch_id}"))
            batch = _parse_batch(raw, languages)
            progressed = False
            for i, entry in enumerate(batch.submissions):
                if i in seen or not _done(entry):
                    continue
                seen.add(i)
                progressed = True
                if full and _is_summary(raw["submissions"][i]):
                    entry = await self.get(entry.id)
                yield i, entry
            if len(seen) >= batch.total:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"batch {batch_id}: {len(seen)}/{batch.total} completed",
                                  ids=[batch_id])
            interval = self._core.poll_interval if progressed else self._core.next_poll(interval)
            await self._sleep(interval)

    async def run_batch(
        self,
        submissions: Iterable[SubmissionLike],
        *,
        chunk_size: int = 1000,
        timeout: float | None = None,
    ) -> AsyncIterator[tuple[int, SubmissionResource]]:
        offset = 0
        for chunk in _chunks(submissions, chunk_size):
            langs = [_lang(s) for s in chunk]
            created = await self.create_batch(chunk)
            async for i, res in self.iter_batch(created.id, timeout=timeout, languages=langs):
                yield offset + i, res
            offset += len(chunk)

    async def languages(self) -> list[LanguageInfo]:
        data = await self._send(_Request("GET", "/v1/languages"))
        items = data.get("languages", data.get("data", [])) if isinstance(data, dict) else data
        return [LanguageInfo.model_validate(x) for x in items]

    async def language(self, language_id: str) -> LanguageInfo:
        return LanguageInfo.model_validate(
            await self._send(_Request("GET", f"/v1/languages/{language_id}")))

    async def limits(self) -> dict[str, Any]:
        return await self._send(_Request("GET", "/v1/limits"))

    async def health(self) -> bool:
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False


# ------------------------------------------------------------------------------- helpers
def _chunks(items: Iterable[SubmissionLike], size: int) -> Iterator[list[SubmissionLike]]:
    if size < 1:
        raise ValueError("chunk_size must be at least 1")
    chunk: list[SubmissionLike] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _lang(sub: SubmissionLike) -> str:
    return sub.language if isinstance(sub, Submission) else str(sub.get("language", ""))
