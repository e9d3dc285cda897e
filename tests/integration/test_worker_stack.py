"""The real pipeline on the host: uvicorn API -> Redis -> Celery worker -> Docker sandbox."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest
import redis as redis_lib

pytestmark = [pytest.mark.docker, pytest.mark.redis]


def wait_done(url: str, sub_id: str, seconds: float = 90) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/v1/submissions/{sub_id}", params={"wait": 5}, timeout=30).json()
        if body["status"] == "completed":
            return body
    raise AssertionError(f"{sub_id} did not complete in {seconds}s")


def test_submit_and_wait(host_stack) -> None:
    r = httpx.post(f"{host_stack['url']}/v1/submissions", params={"wait": 60}, timeout=90,
                   json={"language": "python", "code": "def f():\n    return 1\n",
                         "tests": {"script": "assert f() == 2\n"}})
    assert r.status_code == 200
    body = r.json()
    assert body["verdict"] == "wrong_answer"
    assert body["tests"]["cases"][0]["expected"] == "2"


def test_duplicate_delivery_writes_one_result(host_stack) -> None:
    url = host_stack["url"]
    r = httpx.post(f"{url}/v1/submissions", params={"wait": 60}, timeout=90,
                   json={"language": "python", "code": "print('once')\n"})
    sub_id = r.json()["id"]
    first = wait_done(url, sub_id)
    rds = redis_lib.Redis.from_url(host_stack["redis_url"], decode_responses=True)
    before = rds.hgetall(f"cfs:sub:{sub_id}")
    from celery import Celery

    app = Celery(broker=host_stack["redis_url"])
    app.send_task("codefeedback.evaluate", args=[sub_id], queue=host_stack["queue"])
    time.sleep(3)  # give the worker time to pick the duplicate up
    after = rds.hgetall(f"cfs:sub:{sub_id}")
    assert after["result"] == before["result"] and after["completed_at"] == before["completed_at"]
    assert wait_done(url, sub_id)["verdict"] == first["verdict"] == "accepted"


def test_poison_pill_gives_up_after_max_deliveries(host_stack) -> None:
    """A job already delivered 3 times (its worker died each time) ends as internal_error."""
    url = host_stack["url"]
    rds = redis_lib.Redis.from_url(host_stack["redis_url"], decode_responses=True)
    from service.store import SUB, new_id

    sub_id = new_id("sub")
    request = {"language": "python", "code": "print(1)\n"}
    from codefeedback.models import Submission

    rds.hset(SUB + sub_id, mapping={"request": Submission(**request).model_dump_json(),
                                    "owner": "anonymous", "status": "queued",
                                    "language": "python", "created_at": time.time(),
                                    "deliveries": 3})
    from celery import Celery

    Celery(broker=host_stack["redis_url"]).send_task(
        "codefeedback.evaluate", args=[sub_id], queue=host_stack["queue"])
    body = wait_done(url, sub_id, 60)
    assert body["verdict"] == "internal_error"
    assert "gave up after 3 deliveries" in body["feedback"]


def test_worker_process_killed_mid_job_is_redelivered(host_stack, docker_client) -> None:
    """SIGKILL the pool process running a job: the job runs again and gets one result."""
    url = host_stack["url"]
    code = "import time\ntime.sleep(4)\nprint('done')\n"
    r = httpx.post(f"{url}/v1/submissions", timeout=30,
                   json={"language": "python", "code": code, "static_analysis": False})
    sub_id = r.json()["id"]
    rds = redis_lib.Redis.from_url(host_stack["redis_url"], decode_responses=True)
    for _ in range(200):
        if rds.hget(f"cfs:sub:{sub_id}", "status") == "running":
            break
        time.sleep(0.05)
    import psutil

    parent = psutil.Process(host_stack["worker"].pid)
    children = parent.children()
    victim = None
    for child in children:  # the pool process holding the job
        victim = child
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert victim is not None
    body = wait_done(url, sub_id, 120)
    assert body["verdict"] == "accepted", body["feedback"]
    assert int(rds.hget(f"cfs:sub:{sub_id}", "deliveries")) >= 2
    assert json.loads(rds.hget(f"cfs:sub:{sub_id}", "result"))["verdict"] == "accepted"
    time.sleep(5)
    left = docker_client.containers.list(all=True, filters={"name": f"job-{sub_id}-"})
    assert left == [], [c.name for c in left]


def test_containers_of_departed_workers_are_reaped(docker_client) -> None:
    """Warm containers whose owner has no heartbeat any more are removed; live ones stay."""
    from runners.registry import images
    from runners.sandbox.docker_backend import reap_departed
    from runners.sandbox.hardening import LABEL

    instance = f"cfs-departed-{os.getpid()}"
    image = next(iter(images().values()))
    made = {owner: docker_client.containers.create(
        image, command=["true"], labels={LABEL: "1", f"{LABEL}.instance": instance,
                                         f"{LABEL}.owner": owner}).id
            for owner in ("gone-worker", "live-worker")}
    try:
        assert reap_departed(docker_client, instance, set(), older_than_s=0) == 0
        assert reap_departed(docker_client, instance, {"live-worker"}, older_than_s=0) == 1
        left = docker_client.containers.list(
            all=True, filters={"label": f"{LABEL}.instance={instance}"})
        assert [c.id for c in left] == [made["live-worker"]]
    finally:
        for cid in made.values():
            try:
                docker_client.api.remove_container(cid, force=True)
            except Exception:  # noqa: BLE001
                pass
