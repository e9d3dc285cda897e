"""The sandbox interface, in the style of httpx transports: one method, easy to fake."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from runners.base import Job, JobResult


class Sandbox(Protocol):
    def run(self, job: Job) -> JobResult:
        """Execute every step of `job` in one isolated container and return what came back."""
        ...


class FakeSandbox:
    """For unit tests: answers each job with a result computed by `handler` (no Docker)."""

    def __init__(self, handler: Callable[[Job], JobResult]) -> None:
        self.handler = handler
        self.jobs: list[Job] = []

    def run(self, job: Job) -> JobResult:
        self.jobs.append(job)
        return self.handler(job)
