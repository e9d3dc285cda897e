"""The Docker sandbox: one hardened, single-use container per job, taken from a warm pool.

Container start costs 0.5-1.2 s, so a background thread keeps `pool_size` containers per image
created, started and waiting (their agent has already imported its heavy tools). A job takes
one, raises its memory limit to the job's own with `container.update()`, sends the job over the
attach stream, reads the one result line back (bounded), then kills and removes the container.
Nothing is ever copied out of a container: the only thing read is the agent's stdout stream.

When the engine itself cannot be reached (daemon restarting, socket gone), `run` raises
`SandboxUnavailable` instead of returning a result: no user code ran to completion, so the
worker retries the job later rather than blaming the code or giving up (see workers/tasks.py).
Containers are labelled with the pid of the process that owns them, so a worker can remove
those of its pool processes that died (SIGKILL, OOM) without waiting for the job's redelivery.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import socket
import struct
import threading
import time
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from runners.base import Job, JobResult, StepResult
from runners.sandbox.hardening import LABEL, Profile, create_kwargs

log = logging.getLogger("codefeedback.sandbox")
MiB = 1024 * 1024
RESULT_PREFIX = b"CFRESULT:"


class SandboxUnavailable(RuntimeError):
    """The Docker engine could not be reached: the job did not run; try again later."""


class DockerSandbox:
    """`run(job) -> JobResult` on the local Docker engine, with a warm pool per image."""

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        owner: str = "local",
        instance: str = "codefeedback",
        pool_size: int = 1,
        profile: Profile | None = None,
        tools_memory_mb: int = 384,
        max_result_bytes: int = 32 * MiB,
        images: list[str] | None = None,
        max_job_s: float = 600.0,
    ) -> None:
        self.max_job_s = max_job_s
        self.client = client or docker.from_env(timeout=60)
        self.owner = owner
        self.instance = instance
        self.pool_size = pool_size
        self.profile = profile or Profile()
        self.tools_memory_mb = tools_memory_mb
        self.max_result_bytes = max_result_bytes
        self._pools: dict[str, queue.Queue[str]] = {}
        self._image_ids: dict[str, tuple[str, float]] = {}
        self._images = list(images or [])
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._refiller: threading.Thread | None = None
        self._remover_q: queue.Queue[str] = queue.Queue()
        self._remover = threading.Thread(target=self._remove_loop, daemon=True,
                                         name="sandbox-remover")
        self._remover.start()

    # ------------------------------------------------------------------ lifecycle
    def labels(self, state: str) -> dict[str, str]:
        return {LABEL: "1", f"{LABEL}.instance": self.instance, f"{LABEL}.owner": self.owner,
                f"{LABEL}.state": state, f"{LABEL}.host": socket.gethostname(),
                f"{LABEL}.pid": str(os.getpid())}

    def start_pool(self, images: list[str] | None = None) -> None:
        """Start filling the warm pool for these images in the background."""
        if images:
            self._images = list(dict.fromkeys([*self._images, *images]))
        if self.pool_size <= 0 or self._refiller is not None:
            return
        self._refiller = threading.Thread(target=self._refill_loop, daemon=True,
                                          name="sandbox-pool")
        self._refiller.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        for q in self._pools.values():
            while True:
                try:
                    self._remove(q.get_nowait())
                except queue.Empty:
                    break
        self._remover_q.put("")
        self._remover.join(timeout=30)

    def reap(self, older_than_s: float | None = None, jobs_only: bool = False) -> int:
        """Remove this owner's leftover containers (see `reap`)."""
        return reap(self.client, self.instance, None if older_than_s is not None else self.owner,
                    older_than_s, jobs_only)

    # ------------------------------------------------------------------ pool
    def _pool(self, image: str) -> queue.Queue[str]:
        return self._pools.setdefault(image, queue.Queue())

    def _create(self, image: str) -> str:
        kwargs = create_kwargs(image, self.profile, self.labels("pooled"),
                               self.tools_memory_mb * MiB)
        kwargs["name"] = f"cfs-{self.instance}-{secrets.token_hex(6)}"
        container = self.client.containers.create(**kwargs)
        try:
            container.start()
        except Exception:
            self._remove(container.id)
            raise
        return container.id

    def _refill_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            did = False
            for image in list(self._images):
                q = self._pool(image)
                if q.qsize() < self.pool_size:
                    try:
                        q.put(self._create(image))
                        did = True
                        failures = 0
                    except (DockerException, OSError) as exc:
                        failures += 1
                        log.warning("pool: cannot create a %s container: %s", image, exc)
            if not did:
                self._wake.wait(timeout=1.0 if failures == 0 else min(30, 2**failures))
                self._wake.clear()

    def _take(self, image: str) -> str:
        q = self._pool(image)
        if image not in self._images and self._refiller is not None:
            self._images.append(image)
        while True:
            try:
                cid = q.get_nowait()
            except queue.Empty:
                break
            try:
                state = self.client.api.inspect_container(cid)["State"]
                if state.get("Running"):
                    return cid
            except (NotFound, APIError):
                pass
            self._remove(cid)
        self._wake.set()
        return self._create(image)

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

    def _image_id(self, image: str) -> str:
        """The image's content id (cached: it only changes when the image is rebuilt)."""
        cached = self._image_ids.get(image)
        if cached is None or time.monotonic() - cached[1] > 60:
            cached = (self.client.api.inspect_image(image)["Id"], time.monotonic())
            self._image_ids[image] = cached
        return f"{image.split(':')[0]}@{cached[0]}"

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
        """Run one job; raises SandboxUnavailable when the engine cannot be reached."""
        try:
            cid = self._take(job.image)
        except ImageNotFound:
            return JobResult(error=f"sandbox image {job.image} is not built", image=job.image)
        except (DockerException, OSError) as exc:
            if self._unavailable(exc):
                raise SandboxUnavailable(f"docker engine unreachable: {exc}") from exc
            return JobResult(error=f"sandbox unavailable: {exc}", image=job.image)
        try:
            return self._run_in(cid, job)
        except (DockerException, OSError) as exc:
            if self._unavailable(exc):
                raise SandboxUnavailable(f"docker engine unreachable mid-job: {exc}") from exc
            return JobResult(error=f"sandbox failed: {exc}", image=job.image)
        finally:
            try:
                self.client.api.kill(cid)
            except (DockerException, OSError):
                pass
            self._remove(cid)
            self._wake.set()  # refill after the job, so the new container's start-up
            # (engine work + the agent importing its tools) does not compete with this job

    def job_container_prefix(self, tag: str) -> str:
        return f"cfs-{self.instance}-job-{tag}-"

    def kill_job(self, tag: str) -> int:
        """Remove containers still running an earlier delivery of this job (a dead worker's).

        A container whose creating process is alive on this host is spared: that delivery is
        still running (a duplicate message arrived meanwhile), and killing it would turn a good
        program's verdict into runtime_error. Both deliveries finish; the first result stays.
        """
        prefix = self.job_container_prefix(tag)
        killed = 0
        here = socket.gethostname()
        for c in self.client.containers.list(all=True, filters={"name": prefix},
                                             ignore_removed=True):
            labels = c.labels or {}
            pid = labels.get(f"{LABEL}.pid", "")
            if labels.get(f"{LABEL}.host") == here and pid.isdigit() and pid_alive(int(pid)) \
                    and c.status == "running":
                log.warning("%s: an earlier delivery is still running in %s; not killing it",
                            tag, c.name)
                continue
            if c.name.startswith(prefix):
                try:
                    c.remove(force=True)
                    killed += 1
                except (NotFound, APIError):
                    pass
        return killed

    def _run_in(self, cid: str, job: Job) -> JobResult:
        api = self.client.api
        if job.tag:
            api.rename(cid, self.job_container_prefix(job.tag) + secrets.token_hex(4))
        memory = (job.memory_mb + self.tools_memory_mb) * MiB
        api.update_container(cid, mem_limit=memory, memswap_limit=memory)
        sock = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stream": 1})
        raw: socket.socket = getattr(sock, "_sock", sock)
        deadline = time.monotonic() + min(job.total_time_s(), self.max_job_s) + 10.0
        try:
            raw.sendall(json.dumps(job.to_agent()).encode("utf-8", "surrogatepass") + b"\n")
            marker = RESULT_PREFIX + job.nonce.encode() + b":"
            data, complete = read_stdout_frames(raw, deadline, self.max_result_bytes, marker)
        finally:
            try:
                sock.close()
            except OSError:
                pass
        result = parse_result(data, job.nonce)
        if result is not None:
            result.image = self._image_id(job.image)
            return result
        # No result line: the agent died (killed by user code, or OOM) or the job overran.
        info = api.inspect_container(cid)
        state = info.get("State", {})
        if complete and state.get("Running"):
            # end of stream but the agent still runs: give the engine a moment to report the
            # exit; if it still runs, the stream broke (engine connection lost), not the job
            for _ in range(20):
                time.sleep(0.1)
                info = api.inspect_container(cid)
                state = info.get("State", {})
                if not state.get("Running"):
                    break
            else:
                raise SandboxUnavailable("the attach stream to the sandbox broke mid-job")
        image_id = info.get("Image")
        if not complete:
            lost = "timeout" if time.monotonic() >= deadline else "output_limit"
        elif state.get("OOMKilled"):
            lost = "oom"
        else:
            lost = "killed"
        return JobResult(lost=lost, image=image_id)


def read_stdout_frames(raw: socket.socket, deadline: float, cap: int,
                       marker: bytes | None = None) -> tuple[bytes, bool]:
    """Read Docker's multiplexed attach stream; keep stdout frames only, up to `cap`.

    Stops at EOF, or as soon as a whole line starting with `marker` has arrived (waiting for
    the container to stop would add the engine's teardown time to every job).
    Returns (stdout bytes, complete) — complete is False when the deadline or cap was hit.
    """
    buf = bytearray()
    out = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(out), False
        raw.settimeout(min(remaining, 5.0))
        try:
            chunk = raw.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return bytes(out), True
        if not chunk:
            return bytes(out), True
        buf.extend(chunk)
        while len(buf) >= 8:
            stream, size = buf[0], struct.unpack(">I", bytes(buf[4:8]))[0]
            if len(buf) < 8 + size:
                break
            payload = bytes(buf[8 : 8 + size])
            del buf[: 8 + size]
            if stream == 1:
                out.extend(payload)
                if len(out) > cap:
                    return bytes(out[:cap]), False
                if marker is not None and b"\n" in payload:
                    start = out.find(marker)
                    if start >= 0 and out.find(b"\n", start) >= 0:
                        return bytes(out), True


def parse_result(data: bytes, nonce: str) -> JobResult | None:
    """Find the agent's result line carrying this job's nonce; anything else is ignored."""
    marker = RESULT_PREFIX + nonce.encode() + b":"
    for line in data.splitlines():
        if line.startswith(marker):
            try:
                payload: dict[str, Any] = json.loads(line[len(marker):])
            except ValueError:
                return None
            if "error" in payload and "steps" not in payload:
                return JobResult(error=f"agent: {payload['error']}")
            steps = {k: StepResult.from_json(v) for k, v in payload.get("steps", {}).items()}
            return JobResult(steps=steps, agent=payload.get("agent") or {})
    return None


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
         older_than_s: float | None = None, jobs_only: bool = False) -> int:
    """Remove a deployment's leftover sandbox containers.

    With `owner`, every container of that worker (at its start: all are leftovers). With
    `older_than_s`, the deployment's containers older than any job can run; `jobs_only` spares
    idle pooled containers, which may wait for a job as long as they like.
    """
    filters = {"label": [f"{LABEL}.instance={instance}"]}
    if owner is not None:
        filters["label"].append(f"{LABEL}.owner={owner}")

    def leftover(c: Any) -> bool:
        if jobs_only and "-job-" not in c.name:
            return False
        return older_than_s is None or _age_s(c) >= older_than_s

    return _remove_where(client, filters, leftover)
