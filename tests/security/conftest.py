"""The hostile campaign: every case of cases/ (and its benign twin) through the real HTTP API
of `host_stack` (uvicorn + Celery worker + redis-server on the host, real Docker sandboxes),
submitted as one batch so the stack runs them two at a time, with everything the invariants
need recorded on the way: canaries, listeners, /healthz, cleanup timings, worker and host.

The tests in test_hostile.py only read what this module-scoped fixture recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psutil
import pytest
import redis as redis_lib

from tests.security import cells
from tests.security.cases import Case, all_cases, body

SANDBOX_UID = 10001
CLEANUP_S = cells.CLEANUP_S
CAMPAIGN_TIMEOUT_S = 780
PROGRESS = os.environ.get("CFS_SECURITY_PROGRESS")  # a file to log completions to, if set


# ---------------------------------------------------------------------- listeners
class Listener:
    """A TCP listener we own: records every connection (none may come from a sandbox)."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()
        self.peers: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.peers.append(peer)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def bridge_gateway(docker_client) -> str:  # noqa: ANN001
    """The Docker bridge network's gateway address (docker0), from the engine's IPAM."""
    import ipaddress

    ipam = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    if ipam.get("Gateway"):
        return ipam["Gateway"]
    return str(next(ipaddress.ip_network(ipam["Subnet"]).hosts()))


def listener_on(host: str, preferred: int) -> Listener:
    try:
        return Listener(host, preferred)
    except OSError:
        return Listener(host, 0)


# ---------------------------------------------------------------------- host observations
def sandbox_processes() -> dict[int, str]:
    """Host pids of processes running as the sandbox uid -> the container id of their cgroup."""
    out = {}
    for p in psutil.process_iter(["uids"]):
        try:
            if p.info["uids"] is None or p.info["uids"].real != SANDBOX_UID:
                continue
            cg = Path(f"/proc/{p.pid}/cgroup").read_text()
        except (psutil.Error, OSError):
            continue
        m = re.search(r"([0-9a-f]{64})", cg)
        out[p.pid] = m.group(1) if m else ""
    return out


def host_usage() -> dict[str, int]:
    return {"mem_available": psutil.virtual_memory().available,
            "disk_used": shutil.disk_usage("/").used}


def confirmed_strays(docker_client, candidates: dict[int, str]) -> dict[int, str]:  # noqa: ANN001
    """Sandbox-uid processes whose container no longer exists, still there 2 s later.

    (The machine is shared: a process of a container created after a listing is not a stray,
    hence the second look.)"""
    candidates = {**candidates, **sandbox_processes()}
    time.sleep(2.0)
    existing = {c.id for c in docker_client.containers.list(all=True, ignore_removed=True)}
    now = sandbox_processes()
    return {p: c for p, c in candidates.items() if c and now.get(p) == c and c not in existing}


@dataclass
class Tracked:
    """One submitted job: which case, twin or follow-up, and what happened to it."""

    key: str  # language/case[/twin|/followup]
    language: str
    case: Case
    role: str  # hostile | twin | followup | liveness
    body: dict[str, Any]
    sub_id: str | None = None
    http_status: int | None = None
    http_body: Any = None
    completed_at: float | None = None
    result: dict[str, Any] | None = None
    cell: str | None = None  # the cell that ran (or runs) it, from `cfs:sub:<id>`
    result_cached: bool | None = None
    watch: cells.CleanupWatch | None = None  # the cleanup invariant, observed after the verdict

    @property
    def cleanup(self) -> cells.Cleanup | None:
        return self.watch.result if self.watch is not None else None

    @property
    def cleanup_done(self) -> bool:
        return self.watch is not None and self.watch.done


@dataclass
class Campaign:
    ctx: dict[str, str]
    jobs: dict[str, Tracked]
    listeners: list[Listener]
    canaries: dict[str, str]
    health_failures: list[str]
    health_max_ms: float
    worker_before: dict[str, Any]
    worker_after: dict[str, Any]
    host_before: dict[str, int]
    host_after: dict[str, int]
    stray_processes: dict[int, str]
    leftover_containers: list[str]  # our cells at the end holding more than cf-agent/cf-template
    single_use: bool
    redis_clients: list[str]
    worker_log: str
    api_log: str
    deliveries: dict[str, str | None]
    runtime_s: float


def worker_state(worker) -> dict[str, Any]:  # noqa: ANN001
    proc = psutil.Process(worker.pid)
    return {"alive": worker.poll() is None, "pid": worker.pid,
            "create_time": proc.create_time(),
            "children": sorted((c.pid, c.create_time()) for c in proc.children())}


# ---------------------------------------------------------------------- the campaign
@pytest.fixture(scope="module")
def campaign(host_stack, docker_client) -> Campaign:  # noqa: C901 - one linear script
    t0 = time.monotonic()
    url = host_stack["url"]
    instance = host_stack["instance"]
    single_use = host_stack["env"].get("CFS_CELL_MAX_JOBS") == "1"
    rds = redis_lib.Redis.from_url(host_stack["redis_url"], decode_responses=True)
    redis_port = urlparse(host_stack["redis_url"]).port
    api_port = urlparse(url).port

    # canaries: a worker env var (set by host_stack), a host file, a Redis key
    canaries = {"env": host_stack["env"]["CFS_CANARY_SECRET"],
                "file": f"cfs-canary-file-{secrets.token_hex(12)}",
                "redis": f"cfs-canary-redis-{secrets.token_hex(12)}"}
    canary_dir = Path(tempfile.mkdtemp(prefix="cfs-canary-"))
    canary_path = canary_dir / "secret.txt"
    canary_path.write_text(canaries["file"] + "\n")
    rds.set("cfs:canary:secret", canaries["redis"])

    gw = bridge_gateway(docker_client)
    listeners = [Listener("127.0.0.1"), Listener(gw), listener_on(gw, redis_port),
                 listener_on(gw, api_port)]
    ctx = {"LO": "127.0.0.1", "GW": gw, "LPORT": str(listeners[0].port),
           "GPORT": str(listeners[1].port), "GRPORT": str(listeners[2].port),
           "GAPORT": str(listeners[3].port), "RPORT": str(redis_port), "APORT": str(api_port),
           "CANARY_PATH": str(canary_path)}

    host_before = host_usage()
    worker_before = worker_state(host_stack["worker"])

    # what to submit: every hostile case interleaved with its benign twin
    # (identical twins are submitted once and shared)
    jobs: dict[str, Tracked] = {}
    batch: list[Tracked] = []
    single: list[Tracked] = []
    twins: dict[str, Tracked] = {}
    for language, case in all_cases():
        key = f"{language}/{case.name}"
        hostile = Tracked(key, language, case, "hostile", body(language, case, ctx=ctx))
        jobs[hostile.key] = hostile
        (single if case.expected.startswith("http_") else batch).append(hostile)
        tw_body = body(language, case, case.twin, ctx)
        same = json.dumps(tw_body, sort_keys=True)
        if same not in twins:
            twins[same] = Tracked(key + "/twin", language, case, "twin", tw_body)
            batch.append(twins[same])
        jobs[key + "/twin"] = twins[same]

    def tracked() -> list[Tracked]:
        return list({id(t): t for t in jobs.values()}.values())

    health_failures: list[str] = []
    health_max = [0.0]
    stop = threading.Event()

    def healthz() -> None:
        with httpx.Client(base_url=url, timeout=5) as c:
            while not stop.is_set():
                t = time.monotonic()
                try:
                    r = c.get("/healthz")
                    if r.status_code != 200:
                        health_failures.append(f"/healthz {r.status_code}")
                except httpx.HTTPError as exc:
                    health_failures.append(f"/healthz {type(exc).__name__}")
                health_max[0] = max(health_max[0], (time.monotonic() - t) * 1000)
                stop.wait(0.5)

    hz = threading.Thread(target=healthz, daemon=True)
    hz.start()

    client = httpx.Client(base_url=url, timeout=60)
    for t in single:
        r = client.post("/v1/submissions", json=t.body)
        t.http_status, t.http_body = r.status_code, r.json()
    r = client.post("/v1/batches", json={"submissions": [t.body for t in batch]})
    assert r.status_code == 202, r.text
    for t, sid in zip(batch, r.json()["submission_ids"], strict=True):
        t.sub_id, t.http_status = sid, 202
    batch_ids = [r.json()["id"]]

    # benign jobs submitted one by one while the attacks run (liveness)
    live_code = {"python": "def add(a, b):\n    return a + b\n",
                 "c": "int add(int a, int b) {\n    return a + b;\n}\n"}
    live_tests = {"python": {"script": "assert add(1, 2) == 3\n"},
                  "c": {"script": "#include <assert.h>\nint main(void) {\n"
                              "    assert(add(1, 2) == 3);\n    return 0;\n}\n"}}
    live_case = Case("liveness", "liveness", "", "accepted", {})
    live_sent = 0

    def send_live() -> None:
        nonlocal live_sent
        lang = ["python", "c"][live_sent % 2]
        b = {"language": lang, "code": live_code[lang], "tests": live_tests[lang],
             "static_analysis": False, "limits": {"time_s": 2, "memory_mb": 128, "output_kb": 16},
             "cache": False}
        rr = client.post("/v1/submissions", json=b)
        t = Tracked(f"liveness/{live_sent}", lang, live_case, "liveness", b, rr.json().get("id"),
                    rr.status_code)
        jobs[t.key] = t
        live_sent += 1

    def followups_for(done: Tracked) -> None:
        if done.role != "hostile" or done.case.followup is None:
            return
        f = Tracked(done.key + "/followup", done.language, done.case, "followup",
                    body(done.language, done.case, done.case.followup, ctx))
        rr = client.post("/v1/submissions", json=f.body)
        f.sub_id, f.http_status = rr.json().get("id"), rr.status_code
        jobs[f.key] = f

    def busy_after(t: Tracked):  # noqa: ANN202
        """Has the cell that ran `t` been handed another job since? (Then other processes in
        it are that job's, and t's clean sweep record is the proof for t.)"""
        def busy(cid: str) -> bool:
            for o in tracked():
                if o is t or not o.cell or not (o.cell.startswith(cid) or cid.startswith(o.cell)):
                    continue
                if o.completed_at is None or (t.completed_at is not None
                                              and o.completed_at > t.completed_at):
                    return True
            return False
        return busy

    # poll until everything is done; after each verdict, the cleanup invariant (cells.py)
    deadline = time.monotonic() + CAMPAIGN_TIMEOUT_S
    last_live = time.monotonic()
    stray: dict[int, str] = {}
    while time.monotonic() < deadline:
        if live_sent < 4 and time.monotonic() - last_live > 15:
            send_live()
            last_live = time.monotonic()
        pending = [t for t in tracked() if t.sub_id and t.completed_at is None]
        if pending:
            statuses = {}
            for bid in batch_ids:
                for s in client.get(f"/v1/batches/{bid}").json()["submissions"]:
                    statuses[s["id"]] = s["status"]
            for t in pending:
                if t.sub_id not in statuses:
                    statuses[t.sub_id] = client.get(f"/v1/submissions/{t.sub_id}").json()["status"]
            now = time.monotonic()
            for t in pending:
                if statuses.get(t.sub_id) == "completed":
                    t.completed_at = now
                    followups_for(t)
                    if PROGRESS:
                        with open(PROGRESS, "a") as fh:
                            fh.write(f"{now - t0:7.1f} {t.key}\n")
        unassigned = [t for t in tracked() if t.sub_id and t.cell is None]
        if unassigned:
            pipe = rds.pipeline(transaction=False)
            for t in unassigned:
                pipe.hget(f"cfs:sub:{t.sub_id}", "cell")
            for t, cid in zip(unassigned, pipe.execute(), strict=True):
                t.cell = cid
        for t in tracked():
            if t.completed_at is None or t.cleanup_done:
                continue
            if t.watch is None:
                if t.result_cached is None:
                    t.result_cached = bool(client.get(f"/v1/submissions/{t.sub_id}")
                                           .json().get("cached"))
                t.watch = cells.CleanupWatch(t.sub_id, t.completed_at, single_use)
                if t.result_cached:  # answered from the result cache: no job ran
                    t.watch.phase = "done"
                    continue
            t.watch.step(rds, docker_client, busy_after(t))
            if t.cleanup is not None and t.cleanup.cell:
                t.cell = t.cleanup.cell
        existing = {c.id for c in docker_client.containers.list(all=True, ignore_removed=True)}
        for pid, cid in sandbox_processes().items():
            if cid and cid not in existing:
                stray[pid] = cid
        done = all(t.completed_at is not None and t.cleanup_done for t in tracked() if t.sub_id)
        if done and live_sent >= 4:
            break
        time.sleep(0.25)
    stop.set()
    hz.join(5)

    # full results, deliveries, final state
    full = {}
    for bid in batch_ids:
        for s in client.get(f"/v1/batches/{bid}", params={"full": "true"}).json()["submissions"]:
            full[s["id"]] = s
    for t in tracked():
        if t.sub_id:
            t.result = full.get(t.sub_id) or client.get(f"/v1/submissions/{t.sub_id}").json()
    deliveries = {t.sub_id: rds.hget(f"cfs:sub:{t.sub_id}", "deliveries")
                  for t in jobs.values() if t.sub_id}
    client.close()
    if PROGRESS:
        Path(PROGRESS + ".json").write_text(json.dumps({k: {
            "verdict": (t.result or {}).get("verdict"), "http": t.http_status,
            "stdout": str(((t.result or {}).get("run") or {}).get("stdout"))[:600],
            "feedback": str((t.result or {}).get("feedback"))[:600],
            "cleanup": t.cleanup.summary() if t.cleanup else None} for k, t in jobs.items()},
            indent=1))

    # our cells still around must be idle and clean; sandbox processes of removed containers
    time.sleep(1.0)
    leftover = []
    for c in docker_client.containers.list(
            all=True, filters={"label": f"codefeedback.sandbox.instance={instance}"},
            ignore_removed=True):
        procs = cells.cell_processes(docker_client, c.id)
        bad = cells.unexpected(procs) if procs is not None else []
        if bad:
            leftover.append(f"{c.name}: {bad}")
    stray = confirmed_strays(docker_client, stray)
    clients = [c["addr"] for c in rds.client_list() if not c["addr"].startswith("127.0.0.1:")]
    for lst in listeners:
        lst.close()
    time.sleep(2.0)
    host_after = host_usage()
    worker_after = worker_state(host_stack["worker"])
    logdir = Path(host_stack["logdir"])
    rds.delete("cfs:canary:secret")
    shutil.rmtree(canary_dir, ignore_errors=True)
    with contextlib.suppress(Exception):
        rds.close()
    return Campaign(
        ctx=ctx, jobs=jobs, listeners=listeners, canaries=canaries,
        health_failures=health_failures, health_max_ms=health_max[0],
        worker_before=worker_before, worker_after=worker_after, host_before=host_before,
        host_after=host_after, stray_processes=stray, leftover_containers=leftover,
        single_use=single_use,
        redis_clients=clients, worker_log=(logdir / "worker.log").read_text(errors="replace"),
        api_log=(logdir / "api.log").read_text(errors="replace"), deliveries=deliveries,
        runtime_s=time.monotonic() - t0)


def result_text(t: Tracked) -> str:
    return json.dumps(t.result if t.result is not None else t.http_body)


def summary_line(t: Tracked) -> str:
    r = t.result or {}
    return f"{t.key}: {r.get('verdict') or t.http_status}"


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """The cell isolation table (test_cell_isolation.py), printed even under -q."""
    from tests.security import cells

    if cells.REPORT:
        terminalreporter.section("cell isolation: traps swept / retired")
        for line in cells.REPORT:
            terminalreporter.write_line(line)
