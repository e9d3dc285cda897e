"""What the three loops share: the async driver with bounded concurrency over a streamed input,
language look-ups, service calls that tell model failures from service failures, and output paths.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from codefeedback.client import AsyncClient, CodefeedbackError, NotFoundError
from codefeedback.models import LanguageInfo, Submission, SubmissionResource, Verdict

T = TypeVar("T")
R = TypeVar("R")


class ServiceFailure(RuntimeError):
    """The service could not judge (unreachable, internal_error): the item is left unfinished
    and is redone on the next run instead of being recorded as the model's failure."""


@dataclass
class Progress:
    """Counts shown while a loop runs; `on_update` is called after every finished item."""

    total: int | None = None
    done: int = 0
    skipped: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)
    on_update: Callable[[Progress], None] | None = None
    last_error: str | None = None

    def update(self) -> None:
        if self.on_update:
            self.on_update(self)

    def finished(self, passed: bool) -> None:
        """One item is done (its records are written)."""
        self.done += 1
        if passed:
            self.passed += 1
        else:
            self.failed += 1
        self.update()

    def error(self, label: str, exc: BaseException) -> None:
        """One item failed for a reason outside the code (service or model); it is retried
        on the next run."""
        self.errors += 1
        self.last_error = f"{label}: {type(exc).__name__}: {exc}"[:500]
        self.update()


async def drive(
    items: Iterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    concurrency: int,
    on_result: Callable[[T, R], None],
    on_error: Callable[[T, BaseException], None],
) -> None:
    """Run `worker` over a lazily read iterable with at most `concurrency` items in flight.

    The next item is read only when a slot frees up, so memory stays constant however long the
    input is. Results are handed over in completion order.
    """
    sem = asyncio.Semaphore(max(1, concurrency))
    pending: set[asyncio.Task[None]] = set()

    async def one(item: T) -> None:
        try:
            result = await worker(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (one broken item must not stop the run)
            on_error(item, exc)
        else:
            on_result(item, result)
        finally:
            sem.release()

    it = iter(items)
    try:
        while True:
            await sem.acquire()  # take a slot *before* reading the next item
            try:
                item = next(it)
            except StopIteration:
                sem.release()
                break
            task = asyncio.create_task(one(item))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*list(pending))
    finally:
        for task in list(pending):
            task.cancel()


class LanguageCache:
    """`GET /v1/languages/{id}` once per language (test kinds decide how tests are written)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._cache: dict[str, LanguageInfo | None] = {}

    async def get(self, language: str) -> LanguageInfo | None:
        if language not in self._cache:
            try:
                self._cache[language] = await self._client.language(language)
            except NotFoundError:
                self._cache[language] = None
            except CodefeedbackError as exc:
                raise ServiceFailure(f"language {language}: {exc}") from exc
        return self._cache[language]


def pick_test_kind(info: LanguageInfo | None, preferred: tuple[str, ...] = ("script", "unit")
                   ) -> str:
    """The first preferred kind the language lists (script is easiest for a model to write)."""
    if info is None or not info.test_kinds:
        return preferred[0]
    for kind in preferred:
        if kind in info.test_kinds:
            return kind
    return info.test_kinds[0]


async def evaluate(client: AsyncClient, sub: Submission, timeout: float = 600.0
                   ) -> SubmissionResource:
    """One judged submission; service trouble becomes `ServiceFailure`, never a verdict."""
    try:
        res = await client.run(sub, timeout=timeout)
    except CodefeedbackError as exc:
        raise ServiceFailure(str(exc)) from exc
    if res.verdict is None or res.verdict == Verdict.internal_error:
        raise ServiceFailure(f"submission {res.id}: internal_error: {res.feedback or ''}"[:500])
    return res


def sibling(path: str | Path, suffix: str) -> Path:
    """`out.jsonl` + `.stats.json` → `out.stats.json` (default paths of the side outputs)."""
    p = Path(path)
    stem = p.name[:-len(".jsonl")] if p.name.endswith(".jsonl") else p.stem
    return p.with_name(stem + suffix)


def histogram_add(hist: dict[str, int], key: str | None, n: int = 1) -> None:
    k = key or "none"
    hist[k] = hist.get(k, 0) + n


def resource_brief(res: SubmissionResource) -> dict[str, Any]:
    """What a dialog record keeps of a result (enough to audit, small enough to stream)."""
    return {
        "submission_id": res.id,
        "verdict": res.verdict.value if res.verdict else None,
        "tests": (None if res.tests is None else
                  {"total": res.tests.total, "passed": res.tests.passed}),
        "exit_code": res.run.exit_code if res.run else None,
    }
