"""Cells as the security suite sees them (docs/CELLS.md): the per-job bookkeeping in Redis and
what a cell container holds, read from the host.

SECURITY.md's cleanup invariant, per job and per cell: within 5 s of the verdict the job's
`sweep` record (on `cfs:sub:<id>`) says `clean` or `retired`; a retired cell's container is gone
within 5 s; a clean cell holds only `cf-agent` (its PID 1) and its `cf-template`s (or it already
runs another job, and then the sweep record is the proof). In single-use mode
(`CFS_CELL_MAX_JOBS=1`) every sweep says `retired` with reason `single-use`.

The host never enters a container: processes are listed with the Docker API (`top`, which
reads the container's cgroup) and named from the host's /proc.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLEANUP_S = 5.0
CELL_PROCESSES = {"cf-agent", "cf-template"}

# Lines for the terminal summary (tests/security/conftest.py prints them even under -q).
REPORT: list[str] = []


def sweep_record(rds: Any, sub_id: str) -> tuple[str | None, dict[str, Any] | None]:
    """The `cell` and `sweep` fields of a submission (None when not written yet)."""
    cell, sweep = rds.hmget(f"cfs:sub:{sub_id}", "cell", "sweep")
    parsed = None
    if sweep:
        try:
            parsed = json.loads(sweep)
        except ValueError:
            parsed = {"outcome": f"unparsable: {sweep[:200]}"}
    return cell, parsed


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def cell_processes(docker_client: Any, cid: str) -> list[dict[str, Any]] | None:
    """The processes of a cell container (host pid, comm, pid in the cell, state), or None when
    the container is gone. A container that exists but does not run shows as one pseudo-row."""
    import docker

    try:
        container = docker_client.containers.get(cid)
    except docker.errors.NotFound:
        return None
    if container.status != "running":
        return [{"pid": None, "comm": f"<container {container.status}>", "nspid": None,
                 "state": None}]
    try:
        top = container.top()
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:  # stopped between the two calls
        return [{"pid": None, "comm": f"<top failed: {exc}>", "nspid": None, "state": None}]
    titles = top.get("Titles") or []
    col = titles.index("PID") if "PID" in titles else 1
    out = []
    for row in top.get("Processes") or []:
        pid = int(row[col])
        comm = _read(f"/proc/{pid}/comm")
        if comm is None:
            continue  # exited since the listing
        nspid = None
        for line in (_read(f"/proc/{pid}/status") or "").splitlines():
            if line.startswith("NSpid:"):
                nspid = int(line.split()[-1])
        stat = _read(f"/proc/{pid}/stat") or ""
        state = stat.rsplit(")", 1)[1].split()[0] if ")" in stat else None
        out.append({"pid": pid, "comm": comm.strip(), "nspid": nspid, "state": state,
                    "cmd": " ".join(str(x) for x in row[col + 1:])[-120:]})
    return out


def unexpected(procs: list[dict[str, Any]]) -> list[str]:
    """Processes an idle cell must not hold: anything but cf-agent as the cell's PID 1 and its
    templates (cf-template, not stopped; the Python runner has one per tool weight). A job's
    process renamed cf-template is the probe's to find (it counts them in-cell)."""
    bad = []
    for p in procs:
        if p["comm"] == "cf-agent" and p["nspid"] == 1:
            continue
        if p["comm"] == "cf-template" and p["state"] not in ("T", "t", "Z"):
            continue
        bad.append(f"{p['comm']} (host pid {p['pid']}, cell pid {p['nspid']}, "
                   f"state {p['state']}) {p.get('cmd', '')}")
    return bad


def container_gone(docker_client: Any, cid: str) -> bool:
    import docker

    try:
        docker_client.containers.get(cid)
    except docker.errors.NotFound:
        return True
    return False


@dataclass
class Cleanup:
    """What the cleanup invariant observed for one job after its verdict."""

    cell: str | None = None
    sweep: dict[str, Any] | None = None
    sweep_after_s: float | None = None  # seconds from the verdict to the sweep record
    gone_after_s: float | None = None  # retired: seconds from the verdict to the container gone
    idle_processes: list[str] | None = None  # clean: what the idle cell held besides its own
    moved_on: bool = False  # clean: the cell already ran another job when it was looked at
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str | None:
        return (self.sweep or {}).get("outcome")

    def summary(self) -> str:
        s = self.sweep or {}
        seen = ("moved-on" if self.moved_on else "idle-checked"
                if self.idle_processes is not None else "gone-checked"
                if self.gone_after_s is not None else "-")
        return (f"cell={str(self.cell)[:12]} outcome={s.get('outcome')} reason={s.get('reason')} "
                f"cleaned={s.get('cleaned')} {seen}")


class CleanupWatch:
    """The cleanup invariant for one job, observed a step at a time (a campaign watches many
    jobs at once): call `step()` until `done`; `result` holds what was seen."""

    def __init__(self, sub_id: str, verdict_at: float, single_use: bool,
                 strict: bool = False) -> None:
        self.sub_id = sub_id
        self.verdict_at = verdict_at
        self.deadline = verdict_at + CLEANUP_S
        self.single_use = single_use
        self.strict = strict
        self.result = Cleanup()
        self.phase = "sweep"  # sweep -> gone | idle -> done
        self.cid: str | None = None

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def _fail(self, problem: str) -> None:
        self.result.problems.append(problem)
        self.phase = "done"

    def step(self, rds: Any, docker_client: Any, busy: Any = None) -> bool:
        """One observation; `busy(cell_id) -> bool` says whether another job has been handed
        that cell since (then a clean cell holding other processes serves it, and the sweep
        record is the proof). Returns `done`."""
        out = self.result
        now = time.monotonic()
        if self.phase == "sweep":
            out.cell, out.sweep = sweep_record(rds, self.sub_id)
            if out.sweep is None:
                if now > self.deadline:
                    self._fail(f"no sweep record within {CLEANUP_S:.0f} s of the verdict "
                               f"(cell {out.cell})")
                return self.done
            out.sweep_after_s = round(max(0.0, now - self.verdict_at), 2)
            self.cid = out.sweep.get("cell") or out.cell
            if out.cell and out.sweep.get("cell") and out.sweep["cell"] != out.cell:
                out.problems.append(f"the sweep record names cell {out.sweep['cell']}, the job "
                                    f"ran in {out.cell}")
            outcome, reason = out.sweep.get("outcome"), out.sweep.get("reason")
            if outcome not in ("clean", "retired"):
                self._fail(f"sweep outcome {outcome!r}")
                return self.done
            if self.single_use and (outcome, reason) != ("retired", "single-use"):
                out.problems.append(f"single-use mode, but the sweep says {outcome}/{reason}")
            if not self.cid:
                self._fail("the sweep record names no cell")
                return self.done
            self.phase = "gone" if outcome == "retired" else "idle"
        if self.phase == "gone":
            if container_gone(docker_client, self.cid):
                out.gone_after_s = round(max(0.0, time.monotonic() - self.verdict_at), 2)
                self.phase = "done"
            elif now > self.deadline:
                self._fail(f"retired cell {self.cid[:12]} still exists {CLEANUP_S:.0f} s after "
                           f"the verdict")
            return self.done
        procs = cell_processes(docker_client, self.cid)
        if procs is None:  # retired since (idle bound, age): nothing can be left in it
            out.idle_processes = []
            self.phase = "done"
            return True
        bad = unexpected(procs)
        if not bad:
            out.idle_processes = []
            self.phase = "done"
        elif busy is not None and busy(self.cid):
            out.moved_on = True
            self.phase = "done"
        elif self.strict or now > self.deadline:
            out.idle_processes = bad
            self._fail(f"clean cell {self.cid[:12]} holds {bad}")
        return self.done


def check_cleanup(rds: Any, docker_client: Any, sub_id: str, verdict_at: float,
                  single_use: bool, busy: Any = None, strict: bool = False) -> Cleanup:
    """The cleanup invariant for one job, polled until it is decided (at most 5 s after the
    verdict). `strict`: the cell is known to be idle (one slot, nothing else submitted), so
    the first look at a clean cell must show only its own processes (the sweep reported
    after they were gone)."""
    watch = CleanupWatch(sub_id, verdict_at, single_use, strict)
    while not watch.step(rds, docker_client, busy):
        time.sleep(0.05)
    return watch.result
