"""Sandbox backends: one method, `run(job) -> JobResult` (Docker with a warm pool, and a fake)."""

from runners.sandbox.base import FakeSandbox, Sandbox

__all__ = ["FakeSandbox", "Sandbox"]
