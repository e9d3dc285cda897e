"""Cross-job isolation in cells (SECURITY.md "A cell must forget"), through the real HTTP API.

A stack of our own (uvicorn + a Celery worker on the threads pool + redis-server + real Docker
cells) forced to one cell per language: one slot, one idle and one warm cell, 1,000 jobs per
cell. For every trap of `cases/cell_traps.py`, job N sets the trap and job N+1, the probe of
`cases/cell_probe.py`, runs in the same cell (or, when the sweep retired the cell, in its
replacement) and must find nothing: it is `accepted` only when its findings are empty, and a
leak shows as `wrong_answer` with the finding in the feedback.

Per pair, from Redis (docs/CELLS.md): job N's `sweep` says `clean` (then job N+1 ran in the same
`cell`: "swept", with what `cleaned` counts) or `retired` (then job N+1 ran in a new cell and
job N's container is gone within 5 s of the verdict); after every clean sweep the idle cell
holds only `cf-agent` and `cf-template` (host /proc via `docker top`). At the end no process of
any trap survives, in a live cell or outside any. The table of traps (swept or retired, reason,
cleaned counts) is printed in the terminal summary.

A second, smaller stack runs a few pairs in single-use mode (`CFS_CELL_MAX_JOBS=1`): every sweep
says retired / single-use and every container is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis as redis_lib

from tests.conftest import run_host_stack
from tests.security import cells
from tests.security.cases.cell_traps import TRAPS, Trap, probe_body, trap_body
from tests.security.conftest import sandbox_processes

pytestmark = [pytest.mark.docker, pytest.mark.redis, pytest.mark.security,
              pytest.mark.timeout(3000)]

CELL_ENV = {"CFS_SLOTS": "1", "CFS_IDLE_CELLS": "1", "CFS_WARM_CELLS": "1",
            "CFS_CELL_MAX_JOBS": "1000", "CFS_CELL_MAX_AGE_S": "7200"}
WAIT_S = 60
# reasons to retire a cell that say nothing about what a job left in it
BOOKKEEPING_RETIRES = ("single-use", "max-jobs", "max-age", "idle-limit", "shutdown")
SINGLE_USE_TRAPS = ("python-daemon_double_fork", "python-files_everywhere",
                    "c-daemon_double_fork")


# ------------------------------------------------------------------------------ the stack
@contextlib.contextmanager
def cell_stack(redis_url: str, docker_client: Any, env_extra: dict[str, str],
               label: str) -> Iterator[dict[str, Any]]:
    """tests/conftest.py's host stack with the cell settings and one thread."""
    with run_host_stack(redis_url, docker_client, f"cfscell{label}{os.getpid()}", env_extra,
                        ("--pool", "threads", "--concurrency", "1"), label) as stack:
        yield stack


# ------------------------------------------------------------------------------ records
@dataclass
class Job:
    label: str
    body: dict[str, Any]
    sub_id: str | None = None
    http_status: int | None = None
    result: dict[str, Any] = field(default_factory=dict)
    cleanup: cells.Cleanup | None = None
    error: str | None = None

    @property
    def verdict(self) -> str | None:
        return self.result.get("verdict")

    @property
    def stdout(self) -> str:
        return str((self.result.get("run") or {}).get("stdout") or "")

    def describe(self) -> str:
        r = self.result
        run = r.get("run") or {}
        bad = [c for c in ((r.get("tests") or {}).get("cases") or [])
               if c.get("outcome") != "passed"]
        return (f"{self.label} {self.sub_id}: http={self.http_status} status={r.get('status')} "
                f"verdict={self.verdict} error={self.error}\n"
                f"feedback: {str(r.get('feedback'))[:3000]}\n"
                f"failed cases: {json.dumps(bad)[:3000]}\n"
                f"stdout: {str(run.get('stdout'))[:3000]}\nstderr: {str(run.get('stderr'))[:1500]}")


def probe_report(job: Job) -> dict[str, Any] | None:
    """The probe's own report (findings and state) from the job's stdout or stderr."""
    run = job.result.get("run") or {}
    texts = [str(run.get("stdout") or ""), str(run.get("stderr") or "")]
    texts += [str(c.get("actual") or "") + str(c.get("stdout") or "") + str(c.get("stderr") or "")
              for c in ((job.result.get("tests") or {}).get("cases") or [])]
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            try:
                if line.startswith("CFSPROBE "):
                    return json.loads(line[len("CFSPROBE "):])
                if line.startswith("{") and '"state"' in line:
                    return json.loads(line)
            except ValueError:
                continue
    return None


@dataclass
class Pair:
    trap: Trap
    n: Job
    n1: Job
    findings: dict[str, Any] | None = None
    same_cell: bool | None = None

    @property
    def kind(self) -> str:
        """swept (the sweep cleaned the cell and it ran job N+1) | retired | ? (no record)"""
        outcome = self.n.cleanup.outcome if self.n.cleanup else None
        return {"clean": "swept", "retired": "retired"}.get(str(outcome), "?")


@dataclass
class Run:
    label: str
    stack: dict[str, Any]
    rds: Any
    docker_client: Any
    single_use: bool
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: list[Job] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    cells_seen: set[str] = field(default_factory=set)
    final_cells: dict[str, list[str]] = field(default_factory=dict)
    strays: dict[int, str] = field(default_factory=dict)
    stats: dict[str, str] = field(default_factory=dict)
    runtime_s: float = 0.0

    # -------------------------------------------------------------- one job through the API
    def submit(self, client: httpx.Client, label: str, body: dict[str, Any]) -> Job:
        job = Job(label, body)
        try:
            r = client.post("/v1/submissions", params={"wait": WAIT_S}, json=body)
            job.http_status = r.status_code
            data = r.json()
            job.sub_id = data.get("id")
            deadline = time.monotonic() + 2 * WAIT_S
            while data.get("status") != "completed" and job.sub_id and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
                data = client.get(f"/v1/submissions/{job.sub_id}").json()
            job.result = data
            if data.get("status") != "completed":
                job.error = f"not completed: {json.dumps(data)[:500]}"
        except (httpx.HTTPError, ValueError) as exc:
            job.error = f"{type(exc).__name__}: {exc}"
        verdict_at = time.monotonic()
        if job.sub_id and job.result.get("status") == "completed":
            job.cleanup = cells.check_cleanup(self.rds, self.docker_client, job.sub_id,
                                              verdict_at, self.single_use, strict=True)
            for cid in (job.cleanup.cell, (job.cleanup.sweep or {}).get("cell")):
                if cid:
                    self.cells_seen.add(cid)
        return job

    # -------------------------------------------------------------- calibration
    def calibrate(self, client: httpx.Client) -> None:
        """The probe's view of a cell that ran only benign jobs, per language and step kind."""
        for language, kind in (("python", "script"), ("python", "exec"), ("c", "exec")):
            job = self.submit(client, f"calibrate-{language}-{kind}",
                              probe_body(language, None, f"{self.label}-cal-{kind}", kind))
            self.calibration.append(job)
            report = probe_report(job)
            if report is not None:
                self.baselines.setdefault(language, {})[kind] = report["state"]

    # -------------------------------------------------------------- a pair
    def pair(self, client: httpx.Client, trap: Trap, i: int) -> Pair:
        n = self.submit(client, f"{trap.key}/N", trap_body(trap, f"{self.label}-{i}"))
        base = self.baselines.get(trap.language)
        n1 = self.submit(client, f"{trap.key}/N+1",
                         probe_body(trap.language, base, f"{self.label}-{i}-probe"))
        report = probe_report(n1)
        findings = report.get("findings") if report else None
        if report is None and trap.language == "c" and n1.verdict == "accepted":
            # the C probe's only output is its io case, which expects exactly "{}": no findings
            findings = {}
        p = Pair(trap, n, n1, findings=findings)
        if n.cleanup and n1.cleanup and n.cleanup.cell and n1.cleanup.cell:
            p.same_cell = n.cleanup.cell == n1.cleanup.cell
        self.pairs.append(p)
        return p

    # -------------------------------------------------------------- the end
    def finish(self) -> None:
        """No process of any trap survives: in each of our cells still there, only cf-agent
        and cf-template; outside them, no process in the cgroup of a removed cell of ours."""
        time.sleep(1.0)
        for cid in sorted(self.cells_seen):
            procs = cells.cell_processes(self.docker_client, cid)
            if procs is not None:
                self.final_cells[cid] = cells.unexpected(procs)
        candidates = {p: c for p, c in sandbox_processes().items()
                      if any(c.startswith(s) or s.startswith(c) for s in self.cells_seen if c)}
        time.sleep(2.0)
        now = sandbox_processes()
        for pid, cid in candidates.items():
            if now.get(pid) == cid and cells.container_gone(self.docker_client, cid):
                self.strays[pid] = cid
        self.stats = self.rds.hgetall(f"cfs:cellstats:{self.stack['instance']}")

    def table(self) -> list[str]:
        mode = ("single-use: CFS_CELL_MAX_JOBS=1, a new container per job" if self.single_use
                else "one cell per language: 1 slot, 1 idle + 1 warm cell, CFS_CELL_MAX_JOBS=1000")
        rows = [f"cell isolation ({self.label}): {len(self.pairs)} pairs ({mode}), "
                f"{self.runtime_s:.0f} s",
                f"{'trap':46} {'N verdict':14} {'sweep':8} {'reason':16} {'cleaned':44} "
                f"{'N+1':12} found"]
        for p in self.pairs:
            c = p.n.cleanup
            s = (c.sweep if c else None) or {}
            cleaned = ",".join(f"{k}={v}" for k, v in sorted((s.get("cleaned") or {}).items())
                               if k != "error")
            if (s.get("cleaned") or {}).get("error"):
                cleaned += " (error)"
            found = "none" if p.findings == {} else (
                ",".join(sorted(p.findings)) if p.findings else "?")
            rows.append(f"{p.trap.key:46} {str(p.n.verdict):14} {p.kind:8} "
                        f"{str(s.get('reason') or '-'):16} {cleaned[:44]:44} "
                        f"{str(p.n1.verdict):12} {found}")
        swept = sum(p.kind == "swept" for p in self.pairs)
        retired = sum(p.kind == "retired" for p in self.pairs)
        leaks = sum(p.n1.verdict != "accepted" for p in self.pairs)
        rows.append(f"totals: {swept} traps swept (same cell reused), {retired} retired the cell,"
                    f" {len(self.pairs) - swept - retired} unknown; {leaks} next jobs not accepted")
        if self.stats:
            rows.append("cell stats: " + ", ".join(f"{k}={v}" for k, v in sorted(self.stats.items())))
        return rows


def run_pairs(redis_url: str, docker_client: Any, label: str, env: dict[str, str],
              traps: list[Trap], single_use: bool) -> Run:
    t0 = time.monotonic()
    run: Run | None = None
    try:
        with cell_stack(redis_url, docker_client, env, label) as stack:
            rds = redis_lib.Redis.from_url(redis_url, decode_responses=True)
            run = Run(label, stack, rds, docker_client, single_use)
            with httpx.Client(base_url=stack["url"], timeout=WAIT_S + 30) as client:
                run.calibrate(client)
                for i, trap in enumerate(traps):
                    run.pair(client, trap, i)
            run.finish()
            run.runtime_s = time.monotonic() - t0
            rds.close()
    finally:
        if run is not None:
            run.runtime_s = run.runtime_s or time.monotonic() - t0
            cells.REPORT.extend(run.table())
    return run


@pytest.fixture(scope="module")
def isolation(redis_url, docker_client) -> Run:
    return run_pairs(redis_url, docker_client, "iso", CELL_ENV, TRAPS, single_use=False)


@pytest.fixture(scope="module")
def single_use(redis_url, docker_client) -> Run:
    traps = [t for t in TRAPS if t.key in SINGLE_USE_TRAPS]
    assert len(traps) == len(SINGLE_USE_TRAPS)
    return run_pairs(redis_url, docker_client, "single", {**CELL_ENV, "CFS_CELL_MAX_JOBS": "1"},
                     traps, single_use=True)


# ------------------------------------------------------------------------------ the checks
def check_job_cleanup(job: Job) -> None:
    assert job.cleanup is not None, job.describe()
    assert not job.cleanup.problems, f"{job.label}: {job.cleanup.problems}\n{job.describe()}"


def check_pair(run: Run, trap: Trap) -> None:
    pairs = [p for p in run.pairs if p.trap.key == trap.key]
    assert len(pairs) == 1, f"{trap.key} did not run"
    p = pairs[0]
    n, n1 = p.n, p.n1
    # job N: its verdict is whatever it is, but it ran, and set its trap
    assert n.error is None and n.result.get("status") == "completed", n.describe()
    assert "ESCAPED" not in n.stdout, n.describe()
    for proof in trap.proof:
        assert proof in n.stdout, f"the trap was not set: missing {proof!r}\n{n.describe()}"
    check_job_cleanup(n)
    c = n.cleanup
    assert c is not None
    # job N+1 ran where the bookkeeping says it must
    assert n1.error is None and n1.result.get("status") == "completed", n1.describe()
    assert n1.cleanup is not None and n1.cleanup.cell, n1.describe()
    if c.outcome == "clean":
        assert p.same_cell, (f"{trap.key}: the sweep after job N was clean, but job N+1 ran in "
                             f"{n1.cleanup.cell}, not in {c.cell}")
    else:
        assert p.same_cell is False, f"{trap.key}: the cell was retired but ran job N+1 too"
    # ... and found nothing of job N
    assert n1.verdict == "accepted", (f"{trap.key}: job N+1 found traces of job N: "
                                      f"{json.dumps(p.findings)[:3000]}\n{n1.describe()}")
    assert p.findings == {}, (p.findings, n1.describe())
    check_job_cleanup(n1)
    # the probe leaves nothing: whatever the sweep after job N+1 found, or any anomaly it
    # retired the cell for, was job N's, and job N+1 ran in a dirty cell
    s1 = n1.cleanup.sweep or {}
    assert s1.get("outcome") == "clean" or s1.get("reason") in BOOKKEEPING_RETIRES, \
        f"{trap.key}: the sweep after the benign job N+1 retired the cell: {s1}"
    cleaned = s1.get("cleaned") or {}
    own_build = 1 if trap.language == "c" else 0  # the C probe's `prog` (not a job file)
    assert not cleaned.get("error") and cleaned.get("processes", 0) == 0 \
        and cleaned.get("ipc", 0) == 0 and cleaned.get("mqueue", 0) == 0 \
        and cleaned.get("files", 0) <= own_build, \
        f"{trap.key}: the sweep after job N+1 still found job N's leftovers: {s1}"


def test_calibration(isolation: Run) -> None:
    """The probe sees nothing in cells that ran only benign jobs; the Python cell has its
    template (the template traps aim at it), and every calibration job left a clean cell."""
    for job in isolation.calibration:
        assert job.verdict == "accepted", job.describe()
        report = probe_report(job)
        assert report is not None, job.describe()
        assert report["findings"] == {}, (report["findings"], job.describe())
        check_job_cleanup(job)
        assert job.cleanup is not None and job.cleanup.outcome == "clean", job.cleanup.sweep \
            if job.cleanup else None
    assert set(isolation.baselines) == {"python", "c"}
    assert set(isolation.baselines["python"]) == {"script", "exec"}
    for kind, state in isolation.baselines["python"].items():
        assert state["templates"], f"no cf-template in the Python cell ({kind})"
        assert state["pid1"]["comm"] == "cf-agent", state["pid1"]
    assert isolation.baselines["c"]["exec"]["pid1"]["comm"] == "cf-agent"


@pytest.mark.parametrize("trap", TRAPS, ids=[t.key for t in TRAPS])
def test_next_job_finds_nothing(isolation: Run, trap: Trap) -> None:
    """Job N sets the trap; job N+1 in the same cell (or, after a retire, in its successor)
    is accepted with no findings; the bookkeeping and the cleanup invariant hold for both."""
    if trap.needs_template:
        n = next(p.n for p in isolation.pairs if p.trap.key == trap.key)
        assert "found cf-template" in n.stdout, f"the trap found no template\n{n.describe()}"
    check_pair(isolation, trap)


def test_no_trap_process_survives(isolation: Run) -> None:
    """After every pair: our live cells hold only cf-agent and cf-template, and no process of
    a removed cell of ours is left on the host."""
    assert isolation.cells_seen, "no cell was recorded"
    assert {c: bad for c, bad in isolation.final_cells.items() if bad} == {}
    assert isolation.strays == {}


def test_table_totals(isolation: Run) -> None:
    """Every pair was counted as swept or retired (the table is in the terminal summary)."""
    kinds = [p.kind for p in isolation.pairs]
    assert len(kinds) == len(TRAPS)
    assert "?" not in kinds, [p.trap.key for p in isolation.pairs if p.kind == "?"]


@pytest.mark.parametrize("key", SINGLE_USE_TRAPS)
def test_single_use_mode(single_use: Run, key: str) -> None:
    """CFS_CELL_MAX_JOBS=1: every job's sweep says retired / single-use, its container is gone
    within 5 s of the verdict, and the next job runs in a new container and finds nothing."""
    trap = next(t for t in TRAPS if t.key == key)
    check_pair(single_use, trap)
    p = next(p for p in single_use.pairs if p.trap.key == key)
    for job in (p.n, p.n1):
        assert job.cleanup is not None and job.cleanup.outcome == "retired", job.cleanup
        assert (job.cleanup.sweep or {}).get("reason") == "single-use", job.cleanup.sweep
        assert job.cleanup.gone_after_s is not None, job.cleanup
    assert {c: bad for c, bad in single_use.final_cells.items() if bad} == {}
    assert single_use.strays == {}
