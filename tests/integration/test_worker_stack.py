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


def test_prefork_pool_process_killed_mid_job_is_redelivered(host_stack, docker_client) -> None:
    """The prefork pool still works with cells: SIGKILL the pool process running a job, the
    job runs again and gets one result, and the cell of the killed delivery is removed.
    (The default threads pool has no pool process; a whole worker killed is in tests/chaos.)"""
    import subprocess
    import sys

    from celery import Celery

    from codefeedback.models import Submission
    from service.store import SUB, new_id

    queue = host_stack["queue"] + "-prefork"
    env = {**host_stack["env"], "CFS_QUEUE_NAME": queue, "CFS_WORKER_POOL": "prefork",
           "CFS_WORKER_NAME": host_stack["instance"] + "-prefork"}
    log = open(host_stack["logdir"] / "worker-prefork.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--loglevel=INFO",
         "--pool=prefork", "--concurrency=1", "--without-gossip", "--without-mingle",
         "-n", f"prefork-{os.getpid()}@%h"], env=env, stdout=log, stderr=subprocess.STDOUT)
    rds = redis_lib.Redis.from_url(host_stack["redis_url"], decode_responses=True)
    try:
        sub_id = new_id("sub")
        request = Submission(language="python", code="import time\ntime.sleep(4)\nprint('done')\n",
                             static_analysis=False)
        rds.hset(SUB + sub_id, mapping={"request": request.model_dump_json(), "owner": "anonymous",
                                        "status": "queued", "language": "python",
                                        "created_at": time.time()})
        Celery(broker=host_stack["redis_url"]).send_task(
            "codefeedback.evaluate", args=[sub_id], queue=queue)
        for _ in range(1200):
            if rds.hget(SUB + sub_id, "cell"):
                break
            time.sleep(0.05)
        first_cell = rds.hget(SUB + sub_id, "cell")
        assert first_cell, "the job never reached a cell"
        import psutil

        children = psutil.Process(worker.pid).children()
        assert children, "no pool process"
        for child in children:  # the pool process holding the job
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        body = wait_done(host_stack["url"], sub_id, 120)
        assert body["verdict"] == "accepted", body["feedback"]
        assert int(rds.hget(SUB + sub_id, "deliveries")) >= 2
        assert json.loads(rds.hget(SUB + sub_id, "result"))["verdict"] == "accepted"
        # the killed delivery's cell is gone (redelivery or the orphan reaper removed it)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if first_cell not in {c.id for c in docker_client.containers.list(all=True)}:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the killed delivery's cell {first_cell[:12]} is still there")
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


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
