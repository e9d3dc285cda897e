"""The Docker sandbox: jobs run in *cells*, hardened containers whose agent runs job after job.

A job takes an idle cell of its image and memory limit (a cell's memory is fixed when it is
created, so a job never waits for a `container.update()`), sends the job as one line on the
cell's attach stream (kept open for the cell's life: no Docker API call per job) and reads the
one result line back (bounded). The agent then sweeps the cell and reports on it; a background
thread reads that report and either returns the cell to the idle set or retires it (kill and
remove): a dirty sweep, `max_jobs`, `max_age`, or more idle cells than `idle_cells` per image.
`max_jobs=1` is the single-use mode: the cell is removed right after its job.

A background thread keeps `pool_size` idle cells per image started ahead of demand (the agent's
template has imported and warmed the heavy tools by the time a job arrives); beyond that,
cells are started on demand. Nothing is ever copied out of a container: the only thing read is
the agent's stdout stream.

When the engine itself cannot be reached (daemon restarting, socket gone), `run` raises
`SandboxUnavailable` instead of returning a result: no user code ran to completion, so the
worker retries the job later rather than blaming the code or giving up (see workers/tasks.py).
Containers are labelled with the host and pid of the process that owns them, so a worker can
remove those of its processes that died (SIGKILL, OOM) without waiting for the job's redelivery.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from runners.base import Job, JobResult, StepResult
from runners.sandbox.cells import (
    RESULT_PREFIX,
    SWEPT_PREFIX,
    AttachStream,
    Cell,
    StreamClosed,
    StreamOverflow,
    StreamTimeout,
    parse_line,
)
from runners.sandbox.hardening import LABEL, Profile, create_kwargs

log = logging.getLogger("codefeedback.sandbox")
MiB = 1024 * 1024
SWEEP_WAIT_S = 30.0
TAKE_WAIT_S = 5.0  # how long a job waits for a cell being swept before starting a new one
WARMING_WAIT_S = 60.0  # ... and for one the refiller is starting


class SandboxUnavailable(RuntimeError):
    """The Docker engine could not be reached: the job did not run; try again later."""


class DockerSandbox:
    """`run(job) -> JobResult` on the local Docker engine, in reusable cells."""

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        owner: str = "local",
        instance: str = "codefeedback",
        pool_size: int = 1,
        idle_cells: int = 4,
        idle_total: int = 8,
        max_jobs: int = 1000,
        max_age_s: float = 900.0,
        profile: Profile | None = None,
        tools_memory_mb: int = 384,
        default_memory_mb: int = 512,
        max_result_bytes: int = 32 * MiB,
        images: list[str] | None = None,
        max_job_s: float = 600.0,
        on_assign: Callable[[str, str], None] | None = None,
        on_swept: Callable[[str | None, dict[str, Any]], None] | None = None,
    ) -> None:
        self.max_job_s = max_job_s
        self.client = client or docker.from_env(timeout=60)
        self.owner = owner
        self.instance = instance
        self.pool_size = pool_size
        self.idle_cells = max(idle_cells, pool_size)
        self.idle_total = max(idle_total, self.idle_cells)
        self.max_jobs = max(1, max_jobs)
        self.max_age_s = max_age_s
        self.profile = profile or Profile()
        self.tools_memory_mb = tools_memory_mb
        self.default_memory = (default_memory_mb + tools_memory_mb) * MiB
        self.max_result_bytes = max_result_bytes
        self.on_assign = on_assign
        self.on_swept = on_swept
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)  # a swept cell came back
        self._sweeping: dict[tuple[str, int], int] = {}  # cells whose sweep report is awaited
        self._warming: dict[tuple[str, int], int] = {}  # idle cells the refiller is starting
        self._idle: dict[str, list[Cell]] = {}
        self._cells: dict[str, Cell] = {}  # every live cell of this sandbox, idle or busy
        self._image_ids: dict[str, tuple[str, float]] = {}
        self._images = list(images or [])
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._refiller: threading.Thread | None = None
        self._sweeper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cell-sweep")
        self._remover_q: queue.Queue[str] = queue.Queue()
        self._remover = threading.Thread(target=self._remove_loop, daemon=True,
                                         name="sandbox-remover")
        self._remover.start()
        self.stats: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle
    def labels(self, state: str) -> dict[str, str]:
        return {LABEL: "1", f"{LABEL}.instance": self.instance, f"{LABEL}.owner": self.owner,
                f"{LABEL}.state": state, f"{LABEL}.host": socket.gethostname(),
                f"{LABEL}.pid": str(os.getpid())}

    def start_pool(self, images: list[str] | None = None) -> None:
        """Start keeping `pool_size` idle cells per image (in the background)."""
        if images:
            self._images = list(dict.fromkeys([*self._images, *images]))
        if self._refiller is not None:
            return
        self._refiller = threading.Thread(target=self._refill_loop, daemon=True,
                                          name="sandbox-pool")
        self._refiller.start()

    def close(self) -> None:
        """Retire every cell of this sandbox (idle, sweeping or busy) and stop the threads."""
        self._stop.set()
        self._wake.set()
        self._sweeper.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            cells = list(self._cells.values())
            self._idle.clear()
        for cell in cells:
            self._retire(cell, "shutdown")
        self._remover_q.put("")
        self._remover.join(timeout=30)

    def reap(self, older_than_s: float | None = None) -> int:
        """Remove this owner's leftover containers (see `reap`)."""
        return reap(self.client, self.instance, None if older_than_s is not None else self.owner,
                    older_than_s)

    def _count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    # ------------------------------------------------------------------ cells
    def _create(self, image: str, memory: int) -> Cell:
        kwargs = create_kwargs(image, self.profile, self.labels("cell"), memory)
        kwargs["name"] = f"cfs-{self.instance}-{secrets.token_hex(6)}"
        container = self.client.containers.create(**kwargs)
        try:
            container.start()
            handle = self.client.api.attach_socket(
                container.id, params={"stdin": 1, "stdout": 1, "stream": 1})
        except Exception:
            self._remove(container.id)
            raise
        cell = Cell(cid=container.id, image=image, memory=memory, stream=AttachStream(handle),
                    name=kwargs["name"])
        with self._lock:
            self._cells[cell.cid] = cell
        self._count("created")
        return cell

    def _retire(self, cell: Cell, reason: str) -> None:
        with self._lock:
            self._cells.pop(cell.cid, None)
            idle = self._idle.get(cell.image, [])
            if cell in idle:
                idle.remove(cell)
        cell.stream.close()
        self._remove(cell.cid)
        self._count("retired")
        self._count(f"retired:{reason}")
        self._wake.set()

    def _take(self, image: str, memory: int) -> Cell:
        """An idle cell of this image and memory, or one being swept (a sweep takes
        milliseconds, a new cell a second or more), or a new one."""
        t0 = time.monotonic()
        while True:
            with self._lock:
                while True:
                    idle = self._idle.get(image, [])
                    cell = next((c for c in reversed(idle) if c.memory == memory), None)
                    if cell is not None:
                        idle.remove(cell)
                        break
                    # a cell the refiller is starting comes no later than one started now
                    waited = time.monotonic() - t0
                    if not ((self._sweeping.get((image, memory), 0) and waited < TAKE_WAIT_S)
                            or (self._warming.get((image, memory), 0)
                                and waited < WARMING_WAIT_S)):
                        break
                    self._returned.wait(timeout=0.5)
            if cell is None:
                break
            if cell.age() >= self.max_age_s:
                self._retire(cell, "max-age")
            elif not cell.stream.alive():
                self._retire(cell, "dead")
            else:
                self._wake.set()
                return cell
        if image not in self._images and self._refiller is not None:
            self._images.append(image)
        self._wake.set()
        return self._create(image, memory)

    def _give_back(self, cell: Cell) -> str | None:
        """Return a swept cell to the idle set; the reason when it is retired instead."""
        if cell.jobs >= self.max_jobs:
            return "max-jobs"
        if cell.age() >= self.max_age_s:
            return "max-age"
        if self._stop.is_set():
            return "shutdown"
        if self.idle_cells <= 0:
            return "idle-limit"
        evict = []
        with self._lock:
            idle = self._idle.setdefault(cell.image, [])
            cell.idle_since = time.monotonic()
            idle.append(cell)
            # over a bound, the longest idle goes (the cell just swept is the freshest)
            if len(idle) > self.idle_cells:
                evict.append(min(idle, key=lambda c: c.idle_since))
            everyone = [c for cells in self._idle.values() for c in cells if c not in evict]
            if len(everyone) > self.idle_total:
                evict.append(min(everyone, key=lambda c: c.idle_since))
        for old in evict:
            self._retire(old, "idle-limit")
        return None

    def _refill_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            did = False
            for image in list(self._images):
                with self._lock:
                    idle = self._idle.setdefault(image, [])
                    old = [c for c in idle if c.age() >= self.max_age_s]
                    # busy and sweeping cells come back: count every live one
                    ready = sum(1 for c in self._cells.values()
                                if c.image == image and c.memory == self.default_memory)
                for cell in old:
                    self._retire(cell, "max-age")
                if ready - len(old) < self.pool_size:
                    key = (image, self.default_memory)
                    with self._lock:
                        self._warming[key] = self._warming.get(key, 0) + 1
                    try:
                        cell = self._create(image, self.default_memory)
                    except (DockerException, OSError) as exc:
                        failures += 1
                        log.warning("pool: cannot create a %s cell: %s", image, exc)
                        continue
                    finally:
                        with self._lock:
                            self._warming[key] -= 1
                    if self._give_back(cell) is not None:
                        self._retire(cell, "idle-limit")
                    with self._lock:
                        self._returned.notify_all()
                    did = True
                    failures = 0
            if not did:
                self._wake.wait(timeout=5.0 if failures == 0 else min(30, 2**failures))
                self._wake.clear()

    def _remove(self, cid: str) -> None:
        self._remover_q.put(cid)

    def _remove_loop(self) -> None:
        """Remove containers; those the engine could not remove (it was unreachable) are
        tried again every few seconds for a few minutes, so an engine outage leaks nothing."""
        pending: dict[str, int] = {}
        while True:
            try:
                cid: str | None = self._remover_q.get(timeout=3.0 if pending else None)
            except queue.Empty:
                cid = None
            if cid == "":
                return
            todo = [cid] if cid else list(pending)
            while todo:
                c = todo.pop()
                try:
                    self.client.api.remove_container(c, force=True)
                except NotFound:
                    pass
                except (DockerException, OSError) as exc:
                    tries = pending.get(c, 0) + 1
                    pending[c] = tries
                    if tries == 1 or tries >= 100:
                        log.warning("could not remove container %s (try %d): %s", c[:12], tries, exc)
                    if tries >= 100:
                        pending.pop(c)
                    continue
                pending.pop(c, None)
                if cid and pending:  # the engine answers again: retry the backlog now
                    todo, cid = list(pending), None

    def image_id(self, image: str) -> str:
        """The image's content id (cached: it only changes when the image is rebuilt)."""
        cached = self._image_ids.get(image)
        if cached is None or time.monotonic() - cached[1] > 60:
            cached = (self.client.api.inspect_image(image)["Id"], time.monotonic())
            self._image_ids[image] = cached
        return cached[0]

    def _image_ref(self, image: str) -> str:
        return f"{image.split(':')[0]}@{self.image_id(image)}"

    # ------------------------------------------------------------------ run
    def engine_up(self) -> bool:
        try:
            return bool(self.client.api.ping())
        except (DockerException, OSError):
            return False

    def _unavailable(self, exc: Exception) -> bool:
        """Is this failure the engine being unreachable (retry later), rather than the engine
        answering with an error (which would repeat)? A connection-level error counts as
        unreachable even when a ping right after succeeds: the engine flapped mid-job."""
        return not isinstance(exc, APIError) or not self.engine_up()

    def run(self, job: Job) -> JobResult:
        """Run one job in a cell; raises SandboxUnavailable when the engine cannot be reached."""
        memory = (job.memory_mb + self.tools_memory_mb) * MiB
        try:
            cell = self._take(job.image, memory)
        except ImageNotFound:
            return JobResult(error=f"sandbox image {job.image} is not built", image=job.image)
        except (DockerException, OSError) as exc:
            if self._unavailable(exc):
                raise SandboxUnavailable(f"docker engine unreachable: {exc}") from exc
            return JobResult(error=f"sandbox unavailable: {exc}", image=job.image)
        if job.tag and self.on_assign is not None:
            try:
                self.on_assign(job.tag, cell.cid)
            except Exception as exc:  # noqa: BLE001 - bookkeeping must not fail the job
                log.warning("%s: could not record its cell: %s", job.tag, exc)
        try:
            result, retire = self._run_in(cell, job)
        except (DockerException, OSError) as exc:
            self._retire(cell, "engine")
            self._swept(job, cell, "retired", "engine")
            if self._unavailable(exc):
                raise SandboxUnavailable(f"docker engine unreachable mid-job: {exc}") from exc
            return JobResult(error=f"sandbox failed: {exc}", image=job.image)
        except BaseException:
            self._retire(cell, "error")
            self._swept(job, cell, "retired", "error")
            raise
        cell.jobs += 1
        self._count("jobs")
        if retire or self.max_jobs <= 1:
            reason = retire or "single-use"
            self._retire(cell, reason)
            self._swept(job, cell, "retired", reason)
        else:
            key = (cell.image, cell.memory)
            with self._lock:
                self._sweeping[key] = self._sweeping.get(key, 0) + 1
            try:
                self._sweeper.submit(self._after, cell, job)
            except RuntimeError:  # shutting down
                self._retire(cell, "shutdown")
                self._swept_back(cell)
        return result

    def _swept(self, job: Job, cell: Cell, outcome: str, reason: str | None,
               cleaned: dict[str, Any] | None = None) -> None:
        if self.on_swept is None:
            return
        try:
            self.on_swept(job.tag, {"cell": cell.cid, "outcome": outcome, "reason": reason,
                                    "cleaned": cleaned or {}})
        except Exception as exc:  # noqa: BLE001
            log.warning("%s: could not record the sweep: %s", job.tag, exc)

    def _after(self, cell: Cell, job: Job) -> None:
        """Wait for the cell's sweep report; reuse the cell or retire it."""
        report = None
        try:
            line = cell.stream.read_line(SWEPT_PREFIX, time.monotonic() + SWEEP_WAIT_S,
                                         self.max_result_bytes)
            report = parse_line(line, SWEPT_PREFIX, job.nonce)
        except (StreamClosed, StreamTimeout, StreamOverflow, OSError):
            pass
        if report is None:
            reason: str | None = "protocol"
        elif not report.get("clean"):
            reason = str(report.get("reason") or "unclean")
        else:
            reason = self._give_back(cell)
        cleaned = (report or {}).get("cleaned") or {}
        for kind, n in cleaned.items():
            if isinstance(n, int) and n > 0:
                self._count(f"swept:{kind}")
        if reason is not None:
            self._retire(cell, reason)
        self._swept_back(cell)
        self._swept(job, cell, "clean" if reason is None else "retired", reason, cleaned)

    def _swept_back(self, cell: Cell) -> None:
        with self._lock:
            self._sweeping[(cell.image, cell.memory)] -= 1
            self._returned.notify_all()

    def kill_earlier(self, cid: str, live_owners: set[str] | None = None) -> int:
        """Stop an earlier delivery's job: remove the cell `cid` ran it in, unless the cell's
        owner still lives (a duplicate delivery still running, or a cell that has moved on to
        another job of its live worker). Returns the number of containers removed."""
        try:
            c = self.client.containers.get(cid)
        except NotFound:
            return 0
        labels = c.labels or {}
        if labels.get(f"{LABEL}.instance") != self.instance:
            return 0
        pid = labels.get(f"{LABEL}.pid", "")
        if labels.get(f"{LABEL}.host") == socket.gethostname():
            alive = pid.isdigit() and pid_alive(int(pid))
        else:
            alive = live_owners is None or labels.get(f"{LABEL}.owner") in live_owners
        if alive:
            log.warning("the earlier delivery's cell %s has a live owner; not killing it", c.name)
            return 0
        try:
            c.remove(force=True)
        except (NotFound, APIError):
            return 0
        return 1

    def _run_in(self, cell: Cell, job: Job) -> tuple[JobResult, str | None]:
        """Send the job, read its result; (result, why the cell must be retired or None)."""
        deadline = time.monotonic() + min(job.total_time_s(), self.max_job_s) + 10.0
        cell.stream.send_line(json.dumps(job.to_agent()).encode("utf-8", "surrogatepass"))
        try:
            line = cell.stream.read_line(RESULT_PREFIX + job.nonce.encode() + b":", deadline,
                                         self.max_result_bytes)
        except StreamTimeout:
            return JobResult(lost="timeout", image=self._image_ref(job.image)), "overrun"
        except StreamOverflow:
            return JobResult(lost="output_limit", image=self._image_ref(job.image)), "protocol"
        except StreamClosed:
            return self._lost(cell), "killed"
        payload = parse_line(line, RESULT_PREFIX, job.nonce)
        if payload is None:
            return JobResult(error="agent: unreadable result"), "protocol"
        if "error" in payload and "steps" not in payload:
            return JobResult(error=f"agent: {payload['error']}"), "protocol"
        steps = {k: StepResult.from_json(v) for k, v in payload.get("steps", {}).items()}
        return JobResult(steps=steps, agent=payload.get("agent") or {},
                         image=self._image_ref(job.image)), None

    def _lost(self, cell: Cell) -> JobResult:
        """The stream ended before the result: the agent died (OOM), or the connection broke."""
        api = self.client.api
        info = api.inspect_container(cell.cid)
        state = info.get("State", {})
        if state.get("Running"):
            # end of stream but the agent still runs: give the engine a moment to report the
            # exit; if it still runs, the stream broke (engine connection lost), not the job
            for _ in range(20):
                time.sleep(0.1)
                info = api.inspect_container(cell.cid)
                state = info.get("State", {})
                if not state.get("Running"):
                    break
            else:
                raise SandboxUnavailable("the attach stream to the sandbox broke mid-job")
        return JobResult(lost="oom" if state.get("OOMKilled") else "killed",
                         image=info.get("Image"))


def pid_alive(pid: int) -> bool:
    """Is there a live (not zombie) process with this pid on this host?"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def reap_orphans(client: docker.DockerClient, instance: str) -> int:
    """Remove the deployment's containers, created on this host, whose creating process died.

    A pool process killed mid-job (SIGKILL, OOM) leaves its warm containers and its job's
    container behind; a whole worker killed leaves all of them (and a replacement may have
    another name). The job's redelivery would remove the job's container, but only after the
    visibility timeout when the whole worker died, and nothing else removes the warm ones.
    "This host" is the hostname as the worker sees it (a container's own hostname under
    compose), so pids are compared within one pid namespace.
    """
    filters = {"label": [f"{LABEL}.instance={instance}", f"{LABEL}.host={socket.gethostname()}"]}

    def dead(c: Any) -> bool:
        pid = (c.labels or {}).get(f"{LABEL}.pid", "")
        return pid.isdigit() and not pid_alive(int(pid))

    return _remove_where(client, filters, dead)


def reap_departed(client: docker.DockerClient, instance: str, live_owners: set[str],
                  older_than_s: float = 120) -> int:
    """Remove the deployment's containers whose owning worker has no heartbeat any more.

    Only containers older than `older_than_s` are touched, so a worker that has just started
    (and not yet sent its first heartbeat) keeps its new warm containers.
    """
    if not live_owners:  # no heartbeat at all: Redis trouble, not proof that workers are gone
        return 0

    def departed(c: Any) -> bool:
        owner = (c.labels or {}).get(f"{LABEL}.owner")
        return bool(owner) and owner not in live_owners and _age_s(c) >= older_than_s

    return _remove_where(client, {"label": [f"{LABEL}.instance={instance}"]}, departed)


def _remove_where(client: docker.DockerClient, filters: dict, pred: Any) -> int:
    """Force-remove the containers matching `filters` for which `pred(container)` holds."""
    removed = 0
    for c in client.containers.list(all=True, filters=filters, ignore_removed=True):
        if not pred(c):
            continue
        try:
            c.remove(force=True)
            removed += 1
        except (NotFound, APIError):
            pass
    return removed


def _age_s(container: Any) -> float:
    from datetime import datetime

    created = container.attrs.get("Created", "")
    try:
        return time.time() - datetime.fromisoformat(created[:26] + "+00:00").timestamp()
    except ValueError:
        return 0.0


def reap(client: docker.DockerClient, instance: str, owner: str | None = None,
         older_than_s: float | None = None) -> int:
    """Remove a deployment's leftover sandbox containers.

    With `owner`, every container of that worker (at its start: all are leftovers). With
    `older_than_s`, the deployment's containers older than any cell may live (its owner retires
    a cell at its maximum age, so an older one was left behind).
    """
    filters = {"label": [f"{LABEL}.instance={instance}"]}
    if owner is not None:
        filters["label"].append(f"{LABEL}.owner={owner}")

    def leftover(c: Any) -> bool:
        return older_than_s is None or _age_s(c) >= older_than_s

    return _remove_where(client, filters, leftover)
