"""The Celery task: a thin wrapper around `runners.pipeline.evaluate`.

The message carries only the submission id. The task loads the submission, counts the
delivery (a job that killed its worker too often is given up with internal_error instead of
being retried forever), evaluates and stores the result write-once.
"""

from __future__ import annotations

import logging
import threading
import time

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready

from codefeedback.models import Environment, Feedback, Verdict
from runners.pipeline import SubmissionError, ToolLimits, evaluate
from runners.registry import images
from runners.render import render
from runners.sandbox.docker_backend import DockerSandbox, reap
from runners.sandbox.hardening import Profile
from service.store import Store
from workers.celery_app import TASK_NAME, app
from workers.config import get_settings

log = logging.getLogger("codefeedback.worker")
_sandbox: DockerSandbox | None = None
_store: Store | None = None


def store() -> Store:
    global _store
    if _store is None:
        s = get_settings()
        _store = Store.from_url(s.redis_url, s.result_ttl)
    return _store


def sandbox() -> DockerSandbox:
    global _sandbox
    if _sandbox is None:
        s = get_settings()
        _sandbox = DockerSandbox(
            owner=s.worker_name, instance=s.instance, pool_size=s.pool_size,
            profile=Profile(pids_limit=s.sandbox_pids, cpus=s.sandbox_cpus,
                            runtime=s.sandbox_runtime),
            tools_memory_mb=s.tools_memory_mb, max_job_s=s.max_job_s)
        _sandbox.start_pool(list(images().values()))
    return _sandbox


@worker_process_init.connect
def _warm(**_: object) -> None:
    """Each worker process fills its warm pool before its first job arrives."""
    try:
        sandbox()
    except Exception as exc:  # noqa: BLE001 - the engine may come later; jobs will retry it
        log.warning("sandbox not available at start: %s", exc)


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    if _sandbox is not None:
        _sandbox.close()


@worker_ready.connect
def _on_ready(sender: object = None, **_: object) -> None:
    """Reap this worker's leftovers from a previous life, then publish heartbeats."""
    s = get_settings()
    try:
        import docker

        reap(docker.from_env(timeout=30), s.instance, owner=s.worker_name)
    except Exception as exc:  # noqa: BLE001
        log.warning("reaper failed: %s", exc)
    threading.Thread(target=_heartbeat_loop, daemon=True, name="heartbeat").start()


_posture: dict[str, object] = {"checked": False, "problems": []}


def _self_check() -> None:
    """Probe every runner image once; the heartbeat reports what it found."""
    from workers.selfcheck import broker_address, probe

    s = get_settings()
    sb = DockerSandbox(owner=s.worker_name, instance=s.instance, pool_size=0,
                       profile=Profile(pids_limit=s.sandbox_pids, cpus=s.sandbox_cpus,
                                       runtime=s.sandbox_runtime))
    problems: list[str] = []
    try:
        broker = broker_address(s.redis_url)
        for image in images().values():
            problems += probe(sb, image, broker)
    finally:
        sb.close()
    for p in problems:
        log.error("SELF-CHECK FAILED, refusing to serve: %s", p)
    _posture.update(checked=True, problems=problems)


def _heartbeat_loop() -> None:
    """Every few seconds: is the engine usable, are the images there; reap stale containers."""
    import docker

    s = get_settings()
    last_reap = 0.0
    while True:
        if not _posture["checked"]:
            try:
                _self_check()
            except Exception as exc:  # noqa: BLE001 - e.g. the engine is down: retry later
                log.warning("self-check could not run yet: %s", exc)
        info: dict[str, object] = {"at": time.time(), "name": s.worker_name}
        try:
            client = docker.from_env(timeout=10)
            client.ping()
            missing = []
            for image in images().values():
                try:
                    client.images.get(image)
                except docker.errors.ImageNotFound:
                    missing.append(image)
            info["sandbox_ok"] = not missing and bool(_posture["checked"]) and not _posture["problems"]
            info["missing_images"] = missing
            info["self_check"] = _posture["problems"] if _posture["checked"] else "pending"
            if time.monotonic() - last_reap > 60:
                # containers of this deployment older than any job can run: left by a dead
                # worker process (SIGKILL, OOM) whose job was never redelivered
                last_reap = time.monotonic()
                reap(client, s.instance, older_than_s=s.max_job_s * 2 + 600, jobs_only=True)
            client.close()
        except Exception as exc:  # noqa: BLE001
            info["sandbox_ok"] = False
            info["error"] = f"docker engine unavailable: {exc}"
        try:
            store().heartbeat(s.worker_name, info, ttl=s.heartbeat_s * 3)
        except Exception as exc:  # noqa: BLE001
            log.warning("heartbeat failed: %s", exc)
        time.sleep(s.heartbeat_s)


def internal_error(reason: str, limits: dict | None = None) -> Feedback:
    fb = Feedback(verdict=Verdict.internal_error, reason=reason,
                  environment=Environment(limits=limits or {}))
    fb.feedback = render(fb, {})
    return fb


def process(sub_id: str) -> str:
    """Evaluate one stored submission; the body of the task, callable without Celery."""
    s = get_settings()
    st = store()
    record = st.get(sub_id)
    if record is None:
        return "expired"
    if "result" in record:
        return "duplicate"
    deliveries = st.count_delivery(sub_id)
    sub = st.submission(sub_id)
    if sub is None:
        return "expired"
    if deliveries > s.max_deliveries:
        st.complete(sub_id, internal_error(
            f"gave up after {deliveries - 1} deliveries: the job kept killing its worker",
            sub.limits.model_dump()))
        return "poison"
    st.mark_running(sub_id)
    try:
        sb = sandbox()
        if deliveries > 1:
            stale = sb.kill_job(sub_id)
            if stale:
                log.warning("%s: removed %d container(s) of an earlier delivery", sub_id, stale)
        fb = evaluate(sub, sb, ToolLimits(time_s=s.tool_time_s), tag=sub_id)
    except SubmissionError as exc:
        fb = internal_error(f"rejected at evaluation: {exc.message}", sub.limits.model_dump())
    except Exception as exc:  # noqa: BLE001 - never lose a submission
        log.exception("evaluation of %s failed", sub_id)
        fb = internal_error(f"{type(exc).__name__}: {exc}", sub.limits.model_dump())
    st.complete(sub_id, fb)
    return fb.verdict.value


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
def evaluate_task(self, sub_id: str) -> str:  # noqa: ANN001
    return process(sub_id)
