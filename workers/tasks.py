"""The Celery task: a thin wrapper around `runners.pipeline.evaluate`.

The message carries only the submission id. The task loads the submission, counts the
delivery (a job that killed its worker too often is given up with internal_error instead of
being retried forever), evaluates and stores the result write-once.

Engine outages: when the Docker engine cannot be reached (`SandboxUnavailable`), the job is not
the code's fault and did not run, so it is not failed: the task is retried through Celery with
exponential backoff (CFS_SANDBOX_RETRY_S doubling up to CFS_SANDBOX_RETRY_MAX_S, at most
CFS_SANDBOX_RETRIES times — 8 x up to 60 s, about 6 minutes by default), the submission goes
back to `queued`, and such a clean retry does not count as a delivery toward the poison-pill
limit. Only when the engine stays away through every retry is the job given up with
internal_error. A Redis blip while the result is written is retried in place (HSETNX makes the
write idempotent).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from docker.errors import DockerException

from codefeedback.models import Environment, Feedback, Submission, Verdict
from runners.pipeline import SubmissionError, ToolLimits, check, evaluate
from runners.registry import images
from runners.render import render
from runners.sandbox.docker_backend import (
    DockerSandbox,
    SandboxUnavailable,
    reap,
    reap_departed,
    reap_orphans,
)
from runners.sandbox.hardening import Profile
from service.cache import IMAGES, cache_key, cacheable, lookup, remember
from service.store import SUB, Store
from workers.celery_app import TASK_NAME, app
from workers.config import get_settings
from workers.names import CHUNK_TASK_NAME

log = logging.getLogger("codefeedback.worker")
T = TypeVar("T")
_sandbox: DockerSandbox | None = None
_store: Store | None = None
_init_lock = threading.Lock()
CELLSTATS = "cfs:cellstats:"


def store() -> Store:
    global _store
    with _init_lock:
        if _store is None:
            s = get_settings()
            _store = Store.from_url(s.redis_url, s.result_ttl)
    return _store


def _record_cell(sub_id: str, cid: str) -> None:
    """Which cell runs this delivery (a redelivery reads it to stop the earlier one)."""
    store().r.hset(SUB + sub_id, "cell", cid)


def _record_sweep(sub_id: str | None, info: dict) -> None:
    """What the cell's sweep after this job found, and the deployment's cell counters."""
    pipe = store().r.pipeline(transaction=False)
    if sub_id:
        pipe.hset(SUB + sub_id, "sweep", json.dumps(info))
    key = CELLSTATS + get_settings().instance
    pipe.hincrby(key, "jobs", 1)
    if info.get("outcome") == "retired":
        pipe.hincrby(key, "retired", 1)
        pipe.hincrby(key, f"retired:{info.get('reason')}", 1)
    for kind, n in (info.get("cleaned") or {}).items():
        if isinstance(n, int) and n > 0:
            pipe.hincrby(key, f"swept:{kind}", 1)
    pipe.execute()


def sandbox() -> DockerSandbox:
    global _sandbox
    with _init_lock:
        if _sandbox is None:
            s = get_settings()
            try:
                sb = DockerSandbox(
                    owner=s.worker_name, instance=s.instance, pool_size=s.pool_size,
                    idle_cells=s.idle_cells if s.idle_cells is not None else s.slots,
                    idle_total=s.idle_total if s.idle_total is not None else 2 * s.slots,
                    max_jobs=s.cell_max_jobs,
                    max_age_s=s.cell_max_age_s,
                    profile=Profile(pids_limit=s.sandbox_pids, cpus=s.sandbox_cpus,
                                    runtime=s.sandbox_runtime),
                    tools_memory_mb=s.tools_memory_mb, max_job_s=s.max_job_s,
                    on_assign=_record_cell, on_swept=_record_sweep)
            except (DockerException, OSError) as exc:  # from_env asks the engine's version
                raise SandboxUnavailable(f"docker engine unreachable: {exc}") from exc
            _sandbox = sb
            _sandbox.start_pool(list(images().values()))
    return _sandbox


def _warm_now() -> None:
    try:
        sandbox()
    except Exception as exc:  # noqa: BLE001 - the engine may come later; jobs will retry it
        log.warning("sandbox not available at start: %s", exc)


@worker_process_init.connect
def _warm(**_: object) -> None:
    """Each prefork pool process starts its cells before its first job arrives."""
    _warm_now()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close(**_: object) -> None:
    """A worker (or prefork pool process) that stops retires its cells: none outlives it."""
    if _sandbox is not None:
        _sandbox.close()


@worker_ready.connect
def _on_ready(sender: object = None, **_: object) -> None:
    """Reap this worker's leftovers from a previous life, start the cells (threads pool: one
    set for the whole worker), then publish heartbeats."""
    s = get_settings()
    try:
        import docker

        reap(docker.from_env(timeout=30), s.instance, owner=s.worker_name)
    except Exception as exc:  # noqa: BLE001
        log.warning("reaper failed: %s", exc)
    pool = type(getattr(sender, "pool", None)).__module__
    if "prefork" not in pool and "asynpool" not in pool:
        _warm_now()
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
    pushed_created = 0
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
            # the runner images' digests: the API's result cache keys on them
            digests = {img: client.api.inspect_image(img)["Id"] for img in images().values()
                       if img not in missing}
            if digests:
                store().r.hset(IMAGES, mapping=digests)
            # containers whose creating process died (a pool process or a whole worker on
            # this host: SIGKILL, OOM): warm ones, and a job's container not yet redelivered
            created = _sandbox.stats.get("created", 0) if _sandbox is not None else 0
            if created > pushed_created:
                store().r.hincrby(CELLSTATS + s.instance, "created", created - pushed_created)
                pushed_created = created
            orphans = reap_orphans(client, s.instance)
            if orphans:
                log.warning("removed %d container(s) of dead pool processes", orphans)
            if time.monotonic() - last_reap > 60:
                # containers of this deployment older than any job can run: left by a dead
                # worker process (SIGKILL, OOM) whose job was never redelivered
                last_reap = time.monotonic()
                reap(client, s.instance,
                     older_than_s=s.cell_max_age_s + s.max_job_s * 2 + 600)
                # warm containers of workers that are gone (e.g. a compose worker recreated
                # under a new hostname): their owner has no heartbeat any more
                gone = reap_departed(client, s.instance, store().live_workers(), older_than_s=120)
                if gone:
                    log.warning("removed %d container(s) of departed workers", gone)
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


def ride_out(what: str, sub_id: str, call: Callable[[], T], tries: int = 20) -> T:
    """`call()`, retried through a short Redis outage (about a minute and a half in all).

    A job whose first reads fail while Redis restarts must not end as a failed task: Celery
    acknowledges a failed task, and its submission would never be run."""
    for attempt in range(tries):
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if attempt == tries - 1:
                raise
            log.warning("%s: %s failed (%s); retrying", sub_id, what, exc)
            time.sleep(min(0.5 * 2**attempt, 5.0))
    raise AssertionError("unreachable")


def complete(st: Store, sub_id: str, fb: Feedback, tries: int = 20) -> bool:
    """Write the result once, riding out a short Redis outage (the write is idempotent)."""
    return ride_out("result write", sub_id, lambda: st.complete(sub_id, fb), tries)


def give_up(sub_id: str, reason: str) -> None:
    st = store()
    sub = st.submission(sub_id)
    complete(st, sub_id, internal_error(reason, sub.limits.model_dump() if sub else None))


def release(sub_id: str) -> None:
    """This delivery ends cleanly without a result (engine outage): back to `queued`, and it
    does not count toward the poison-pill limit."""
    st = store()
    if st.r.hexists(SUB + sub_id, "result"):
        return
    pipe = st.r.pipeline()
    pipe.hincrby(SUB + sub_id, "deliveries", -1)
    pipe.hset(SUB + sub_id, "status", "queued")
    pipe.execute()


def _kill_stale(sub_id: str, cell: str | None, strict: bool = False) -> None:
    """Stop what an earlier delivery of this job left running: its cell, unless that cell's
    owner is alive (then it is a duplicate still running, or a cell serving another job).
    `strict`: an unreachable engine raises SandboxUnavailable (the job is retried later)."""
    if not cell:
        return
    sb = sandbox()
    try:
        stale = sb.kill_earlier(cell, store().live_workers())
    except (DockerException, OSError, redis.RedisError) as exc:
        if strict and not sb.engine_up():
            raise SandboxUnavailable(f"docker engine unreachable: {exc}") from exc
        log.warning("%s: could not look for the earlier delivery's cell: %s", sub_id, exc)
        return
    if stale:
        log.warning("%s: removed the cell of an earlier delivery", sub_id)


def _cache_key(sb: DockerSandbox, sub: Submission, owner: str) -> str | None:
    """The result cache's key (CONTRACT v1.1), or None when it cannot be known."""
    try:
        return cache_key(sub, owner, sb.image_id(check(sub).image))
    except (DockerException, OSError, SubmissionError, redis.RedisError) as exc:
        log.warning("no cache key: %s", exc)
        return None


def _cached(st: Store, key: str) -> Feedback | None:
    """A cached result, or None; the cache is an optimisation: Redis trouble skips it."""
    try:
        return lookup(st.r, key)
    except redis.RedisError as exc:
        log.warning("result cache unavailable: %s", exc)
        return None


def _remember(st: Store, key: str, fb: Feedback, ttl: int) -> None:
    try:
        remember(st.r, key, fb, ttl)
    except redis.RedisError as exc:
        log.warning("result not cached: %s", exc)


def process(sub_id: str, retries: int = 0) -> str:
    """Evaluate one stored submission; the body of the task, callable without Celery.

    Raises SandboxUnavailable when the engine cannot be reached (the task retries later).
    """
    s = get_settings()
    st = store()
    record = ride_out("reading the submission", sub_id, lambda: st.get(sub_id))
    if record is None or not record.get("request"):
        return "expired"
    if "result" in record:
        return "duplicate"
    deliveries = ride_out("counting the delivery", sub_id, lambda: st.start_delivery(sub_id))
    sub = Submission.model_validate_json(record["request"])
    if deliveries > s.max_deliveries:
        # the last delivery's cell, left by its killed worker
        _kill_stale(sub_id, record.get("cell"))
        complete(st, sub_id, internal_error(
            f"gave up after {deliveries - 1} deliveries: the job kept killing its worker",
            sub.limits.model_dump()))
        return "poison"
    key = None
    try:
        sb = sandbox()
        if deliveries > 1 or retries:
            _kill_stale(sub_id, record.get("cell"), strict=True)
        key = _cache_key(sb, sub, record.get("owner", ""))
        fb = (_cached(st, key) if key and sub.cache else None) or \
            evaluate(sub, sb, ToolLimits(time_s=s.tool_time_s), tag=sub_id)
        if key and not fb.cached and cacheable(sub, fb):
            # before the result is published: a client resubmitting at once finds it
            _remember(st, key, fb, s.result_ttl)
    except SandboxUnavailable:
        raise
    except SubmissionError as exc:
        fb = internal_error(f"rejected at evaluation: {exc.message}", sub.limits.model_dump())
    except Exception as exc:  # noqa: BLE001 - never lose a submission
        log.exception("evaluation of %s failed", sub_id)
        fb = internal_error(f"{type(exc).__name__}: {exc}", sub.limits.model_dump())
    complete(st, sub_id, fb)
    return fb.verdict.value


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
def evaluate_task(self, sub_id: str) -> str:  # noqa: ANN001
    return _run_ids(self, [sub_id])[0]


@app.task(name=CHUNK_TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
def evaluate_many_task(self, sub_ids: list[str]) -> list[str]:  # noqa: ANN001
    """A chunk of a batch: one message, its submissions one after another in this slot.
    A redelivered chunk skips those that already have a result."""
    return _run_ids(self, list(sub_ids))


def _run_ids(task, sub_ids: list[str]) -> list[str]:  # noqa: ANN001
    """Evaluate these submissions in order; when the engine is unreachable, the rest of them
    (this one included) go back to the queue as one retry with backoff."""
    out = []
    for i, sub_id in enumerate(sub_ids):
        try:
            out.append(process(sub_id, retries=task.request.retries or 0))
        except SandboxUnavailable as exc:
            s = get_settings()
            rest = sub_ids[i:]
            done = task.request.retries or 0
            if done >= s.sandbox_retries:
                log.error("%s: docker engine still unreachable after %d retries; giving up",
                          rest, done)
                for r in rest:
                    give_up(r, f"the sandbox engine stayed unreachable through {done} retries: "
                               f"{exc}")
                return out + ["internal_error"] * len(rest)
            for r in rest:
                release(r)
            delay = s.retry_delay(done)
            log.warning("%s: %s; retry %d/%d in %.0f s", rest, exc, done + 1, s.sandbox_retries,
                        delay)
            args = [rest] if task.name == CHUNK_TASK_NAME else [rest[0]]
            raise task.retry(args=args, exc=exc, countdown=delay,
                             max_retries=s.sandbox_retries) from exc
    return out
