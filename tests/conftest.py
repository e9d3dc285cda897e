"""Shared fixtures: a real redis-server, the real Docker sandbox, a real Celery worker and API.

Nothing here is mocked. Under CI (CI=true) a missing Docker engine, image or redis-server is a
failure, never a silent skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a skipped integration test in CI is a broken setup."""
    if IN_CI:
        pytest.fail(f"CI setup is incomplete: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port."""
    exe = shutil.which("redis-server")
    if exe is None:
        unavailable("redis-server is not installed")
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="cfs-redis-")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", tmp, "--maxmemory-policy", "noeviction"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_client():
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        unavailable(f"the Docker engine is not reachable: {exc}")
    from runners.registry import images

    missing = []
    for image in images().values():
        try:
            client.images.get(image)
        except Exception:  # noqa: BLE001
            missing.append(image)
    if missing:
        unavailable(f"runner images are not built (scripts/build-images): {missing}")
    return client


@pytest.fixture(scope="session")
def sandbox(docker_client):
    """The real Docker sandbox with a warm pool, labelled so the tests can find leftovers."""
    from runners.registry import images
    from runners.sandbox.docker_backend import DockerSandbox

    sb = DockerSandbox(docker_client, owner=f"tests-{os.getpid()}",
                       instance=f"cfs-tests-{os.getpid()}", pool_size=1)
    sb.start_pool(list(images().values()))
    yield sb
    sb.close()
    time.sleep(0.5)
    sb.reap()


def _wait_http(url: str, seconds: float) -> bool:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


@contextlib.contextmanager
def run_host_stack(redis_url: str, docker_client, tag: str,  # noqa: ANN001
                   env_extra: dict[str, str] | None = None, worker_args: tuple[str, ...] = (),
                   label: str = "stack") -> Iterator[dict]:
    """uvicorn API + Celery worker on the host, against `redis_url` and the Docker engine;
    its sandboxes are labelled `tag` and reaped when it stops."""
    from runners.sandbox.docker_backend import reap

    port = free_port()
    env = {**os.environ, "CFS_REDIS_URL": redis_url, "CFS_INSTANCE": tag,
           "CFS_WORKER_NAME": f"{tag}-worker", "CFS_POOL_SIZE": "1",
           "CFS_QUEUE_NAME": tag, "CFS_HEARTBEAT_S": "1", "CFS_WORKER_HEARTBEAT_S": "3",
           "CFS_MAX_DELIVERIES": "3", "PYTHONPATH": str(ROOT), **(env_extra or {})}
    logdir = Path(tempfile.mkdtemp(prefix=f"cfs-{label}-"))
    worker_log = open(logdir / "worker.log", "wb")  # noqa: SIM115
    api_log = open(logdir / "api.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--loglevel=INFO",
         *worker_args, "--without-gossip", "--without-mingle", "-n", f"{tag}@%h"],
        env=env, cwd=ROOT, stdout=worker_log, stderr=subprocess.STDOUT)
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.app:app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        env=env, cwd=ROOT, stdout=api_log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not _wait_http(url + "/readyz", 120):
            raise RuntimeError(f"{label} did not become ready:\n"
                               + (logdir / "worker.log").read_text()[-3000:]
                               + (logdir / "api.log").read_text()[-3000:])
        yield {"url": url, "env": env, "worker": worker, "api": api, "logdir": logdir,
               "instance": tag, "redis_url": redis_url, "queue": tag}
    finally:
        for proc in (api, worker):
            proc.terminate()
        for proc in (api, worker):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        worker_log.close()
        api_log.close()
        reap(docker_client, tag, older_than_s=0)


@pytest.fixture(scope="session")
def host_stack(redis_url, docker_client) -> Iterator[dict]:
    """The real stack run on the host: uvicorn API + Celery worker + redis + Docker sandboxes."""
    # a canary the security suite looks for in every result and log (tests/security)
    canary = {"CFS_CANARY_SECRET": f"cfs-canary-env-{secrets.token_hex(12)}"}
    with run_host_stack(redis_url, docker_client, f"cfshost{os.getpid()}", canary,
                        ("--concurrency=2",)) as stack:
        yield stack


@pytest.fixture(scope="session")
def api_url() -> str:
    """The compose stack started by scripts/test (or any running stack) for e2e tests."""
    url = os.environ.get("CFS_TEST_API_URL")
    if not url:
        unavailable("CFS_TEST_API_URL is not set (scripts/test starts a compose stack)")
    return url.rstrip("/")


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    """Tests marked `order_last` run after everything else (they leave work behind)."""
    last = [i for i in items if i.get_closest_marker("order_last")]
    items[:] = [i for i in items if not i.get_closest_marker("order_last")] + last
