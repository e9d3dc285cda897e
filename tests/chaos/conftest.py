"""The chaos tests' own host stack (see stack.py): one for the whole directory, started once.

Each test leaves it healthy (a test that kills the worker or Redis starts them again), and
the `stack` fixture checks readiness before every test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.chaos.stack import HostStack
from tests.conftest import unavailable

# Short enough for CI, with the rule kept: the task hard time limit (40 s) is half the
# visibility timeout (80 s), and above the sandbox's own deadline (max_job_s + 10 s).
CHAOS_ENV = {
    "CFS_MAX_JOB_S": "20", "CFS_TASK_TIME_LIMIT": "40", "CFS_VISIBILITY_TIMEOUT": "80",
    "CFS_SANDBOX_RETRY_S": "1", "CFS_SANDBOX_RETRY_MAX_S": "4", "CFS_SANDBOX_RETRIES": "40",
}


@pytest.fixture(scope="session")
def chaos_stack(docker_client) -> Iterator[HostStack]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    stack = HostStack(concurrency=2, env=CHAOS_ENV)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack(chaos_stack: HostStack) -> HostStack:
    if chaos_stack.worker is None or chaos_stack.worker.poll() is not None:
        chaos_stack.start_worker()
    if chaos_stack.proxy is not None:
        chaos_stack.proxy.restore()
    assert chaos_stack.wait_ready(120), chaos_stack.logs()
    return chaos_stack
