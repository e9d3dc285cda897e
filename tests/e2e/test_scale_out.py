"""Scale-out on one host: `docker compose up --scale worker=2`, one worker SIGKILLed mid-run.

The test brings up a compose project of its own (`cfsscale<pid>`, its own port, the images
that scripts/build-images built) with two workers sharing one Redis, and checks:
  - both workers heartbeat under distinct names (`cfs:worker:<name>`, the container's
    hostname), and each one's sandboxes carry its own name as owner;
  - no clash: both workers create sandboxes, neither's reapers remove the other's idle
    sandboxes (a quiet window of several heartbeats), no engine name conflict in the logs;
  - ~40 distinct jobs (Python and C, right and wrong, some that sleep) are submitted; once one
    runs on a worker, that worker's container is SIGKILLed (`docker kill -s KILL`, like a lost
    host; `restart: "no"` here so it stays dead). Every job completes exactly once (write-once
    result, unchanged on a second read) with its right verdict; the killed worker's jobs come
    back after the visibility timeout (short in this project: an override file sets
    CFS_MAX_JOB_S 20, CFS_TASK_TIME_LIMIT 40, CFS_VISIBILITY_TIMEOUT 80) and run on the
    survivor; the queue ends empty; the dead worker's sandboxes are reaped by the survivor;
  - `scripts/down -v` leaves no sandbox container of the project behind
    (label codefeedback.sandbox.instance=<project>).
No timed assertions: the deadlines only bound waiting for something that must happen.
`CFS_TEST_COMPOSE_FILE` names another compose file (default: the repository's).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, unavailable

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]

LABEL = "codefeedback.sandbox"
OVERRIDE = """\
version: "2.4"
services:
  worker:
    restart: "no"
    environment:
      CFS_MAX_JOB_S: "20"
      CFS_TASK_TIME_LIMIT: "40"
      CFS_VISIBILITY_TIMEOUT: "80"
      CFS_HEARTBEAT_S: "2"
"""
VISIBILITY_S = 80

PY_TESTS = {"script": "assert add(1, 2) == 3\nassert add(-1, -2) == -3\n"}
C_TESTS = {"script": "#include <assert.h>\nint add(int a, int b);\nint main(void) {\n"
                     "    assert(add(1, 2) == 3);\n    assert(add(-1, -2) == -3);\n"
                     "    return 0;\n}\n"}


def job(i: int) -> tuple[dict, str]:
    """The i-th job (distinct code: a comment names it) and the verdict it must get."""
    kind = i % 5
    if kind == 0:
        return ({"language": "python", "static_analysis": False, "tests": PY_TESTS,
                 "code": f"import time\n\n\ndef add(a, b):  # job {i}\n    time.sleep(1.5)\n"
                         "    return a + b\n"}, "accepted")
    if kind == 1:
        return ({"language": "python", "tests": PY_TESTS,
                 "code": f"def add(a, b):  # job {i}\n    return a + b\n"}, "accepted")
    if kind == 2:
        return ({"language": "python", "static_analysis": False, "tests": PY_TESTS,
                 "code": f"def add(a, b):  # job {i}\n    return a - b\n"}, "wrong_answer")
    if kind == 3:
        return ({"language": "c", "tests": C_TESTS,
                 "code": f"/* job {i} */\nint add(int a, int b) {{\n    return a + b;\n}}\n"},
                "accepted")
    return ({"language": "c", "tests": C_TESTS,
             "code": f"/* job {i} */\nint add(int a, int b) {{\n    return a * b;\n}}\n"},
            "wrong_answer")


class Project:
    """A compose project of the repository's docker-compose.yml plus a test override."""

    def __init__(self) -> None:
        self.name = f"cfsscale{os.getpid()}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="cfs-scale-"))
        self.override = self.dir / "override.yml"
        self.override.write_text(OVERRIDE)
        self.env = {**os.environ, "COMPOSE_PROJECT_NAME": self.name, "CFS_PORT": str(self.port)}
        import docker

        self.docker = docker.from_env(timeout=60)

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        base = os.environ.get("CFS_TEST_COMPOSE_FILE", "docker-compose.yml")
        cmd = ["bash", "-c", '. scripts/lib.sh && compose "$@"', "compose",
               "-f", base, "-f", str(self.override), *args]
        return subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def down(self) -> subprocess.CompletedProcess:
        """scripts/down: compose down, then the project's sandboxes, late ones included."""
        return subprocess.run([str(ROOT / "scripts" / "down"), "-v"], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=600)

    def logs(self) -> str:
        r = self.compose("logs", "--tail=60", timeout=120)
        return (r.stdout + r.stderr)[-6000:]

    def service(self, name: str, all_: bool = False) -> list:
        return self.docker.containers.list(all=all_, filters={"label": [
            f"com.docker.compose.project={self.name}", f"com.docker.compose.service={name}"]})

    def sandboxes(self) -> list:
        return self.docker.containers.list(all=True, ignore_removed=True, filters={
            "label": [f"{LABEL}.instance={self.name}"]})

    # ---- Redis, which is not published: redis-cli inside its container
    def redis(self, *args: str) -> str:
        (redis,) = self.service("redis")
        code, out = redis.exec_run(["redis-cli", "--raw", *args])
        assert code == 0, out
        return out.decode()

    def hmget_many(self, ids: list[str], fields: list[str]) -> dict[str, list[str | None]]:
        (redis,) = self.service("redis")
        script = "".join(f"HMGET cfs:sub:{i} {' '.join(fields)}\n" for i in ids)
        out = subprocess.run(["docker", "exec", "-i", redis.id, "redis-cli", "--raw"],
                             input=script, capture_output=True, text=True, timeout=120,
                             check=True).stdout.split("\n")
        k = len(fields)
        return {i: [v or None for v in out[n * k:(n + 1) * k]] for n, i in enumerate(ids)}

    def heartbeats(self) -> dict[str, dict]:
        names = [n for n in self.redis("KEYS", "cfs:worker:*").split("\n") if n]
        out = {}
        for key in names:
            raw = self.redis("GET", key).strip()
            try:
                out[key[len("cfs:worker:"):]] = json.loads(raw) if raw else {}
            except ValueError:
                out[key[len("cfs:worker:"):]] = {}
        return out


def wait_for(what: str, pred, seconds: float, every: float = 1.0, info=lambda: ""):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + seconds
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f}s\n{info()}")
        time.sleep(every)


def owners(containers: list) -> Counter:
    return Counter((c.labels or {}).get(f"{LABEL}.owner") for c in containers)


def ran_by(p: Project, sub_ids: list[str]) -> dict[str, str]:
    """Running submission -> owner (worker name) of the sandbox running it: its cell (field
    `cell`, docs/CELLS.md), or a single-use container named `-job-<id>-` (before cells)."""
    recs = p.hmget_many(sub_ids, ["status", "cell"])
    boxes = p.sandboxes()
    out = {}
    for sub_id, (status, cell) in recs.items():
        if status != "running":
            continue
        for c in boxes:
            if (cell and len(cell) >= 12 and (c.id.startswith(cell) or cell.startswith(c.id))) \
                    or f"-job-{sub_id}-" in c.name:
                out[sub_id] = (c.labels or {}).get(f"{LABEL}.owner")
    return out


def test_two_workers_one_killed_mid_run_nothing_lost(docker_client) -> None:  # noqa: ANN001
    import docker

    p = Project()
    try:
        p.docker.images.get("codefeedback-service:latest")
    except docker.errors.ImageNotFound:
        unavailable("codefeedback-service is not built (scripts/build-images)")
    up = p.compose("up", "-d", "--no-build", "--scale", "worker=2")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        _scenario(p)
    finally:
        down = p.down()
        left = p.sandboxes()
        if left:  # never leave them to the machine, even when the test failed
            for c in left:
                try:
                    c.remove(force=True)
                except docker.errors.APIError:
                    pass
    # no container outlives its deployment: scripts/down removed every sandbox of the project
    assert down.returncode == 0, down.stdout + down.stderr
    assert not left, f"sandboxes left after scripts/down: {[c.name for c in left]}"
    assert not p.service("worker", all_=True) and not p.service("api", all_=True)


def _scenario(p: Project) -> None:
    wait_for("the stack is ready", lambda: _ready(p.url), 300, info=p.logs)

    # ---- two workers, two names, both heartbeating and able to run sandboxes
    workers = p.service("worker")
    assert len(workers) == 2, [w.name for w in workers]
    assert len({w.name for w in workers}) == 2
    name_of = {w.id: w.attrs["Config"]["Hostname"] for w in workers}  # CFS_WORKER_NAME default
    assert len(set(name_of.values())) == 2, name_of
    wait_for("both workers heartbeat with a usable sandbox",
             lambda: all(p.heartbeats().get(n, {}).get("sandbox_ok") for n in name_of.values()),
             300, every=2, info=lambda: f"{p.heartbeats()}\n{p.logs()}")

    # ---- both create sandboxes, labelled with their own name
    first = [httpx.post(f"{p.url}/v1/submissions", json=job(i)[0], timeout=30)
             for i in (101, 103, 106, 108)]  # not among the 40 below (the result cache)
    assert all(r.status_code == 202 for r in first), [r.text for r in first]
    for r in first:
        body = httpx.get(f"{p.url}/v1/submissions/{r.json()['id']}", params={"wait": 60},
                         timeout=90).json()
        while body.get("status") != "completed":
            body = httpx.get(f"{p.url}/v1/submissions/{r.json()['id']}", params={"wait": 60},
                             timeout=90).json()
    by_owner = wait_for(
        "both workers have sandboxes",
        lambda: (lambda o: o if all(o.get(n) for n in name_of.values()) else None)(
            owners(p.sandboxes())), 180, every=2,
        info=lambda: str(owners(p.sandboxes())))
    assert set(by_owner) <= set(name_of.values()), (by_owner, name_of)

    # ---- a quiet window of several heartbeats (each runs the reapers): nobody removes the
    # other's idle sandboxes (no job runs now, so nothing retires them either)
    idle = {c.id: (c.labels or {}).get(f"{LABEL}.owner") for c in p.sandboxes()
            if c.status == "running"}
    time.sleep(15)
    still = {c.id for c in p.sandboxes()}
    gone = {cid: owner for cid, owner in idle.items() if cid not in still}
    assert not gone, f"idle sandboxes removed while no job ran (reaper clash?): {gone}"

    # ---- ~40 jobs; SIGKILL the worker running one of them
    jobs = [job(i) for i in range(40)]
    ids, want = [], {}
    for body, verdict in jobs:
        r = httpx.post(f"{p.url}/v1/submissions", json=body, timeout=30)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
        want[ids[-1]] = verdict
    running = wait_for("a job runs on a worker", lambda: ran_by(p, ids), 180, every=0.3,
                       info=p.logs)
    victim_name = Counter(running.values()).most_common(1)[0][0]
    victim = next(w for w in workers if name_of[w.id] == victim_name)
    survivor = next(w for w in workers if w.id != victim.id)
    hit = [s for s, owner in running.items() if owner == victim_name]
    subprocess.run(["docker", "kill", "-s", "KILL", victim.id], check=True, capture_output=True)
    # the victim's jobs that had no result when it died: interrupted mid-run
    interrupted = [s for s, (result,) in p.hmget_many(hit, ["result"]).items() if not result]
    assert interrupted, "every job of the victim finished before the kill: try again"

    # ---- every job completes, exactly once, with its verdict
    results: dict[str, dict] = {}
    deadline = time.monotonic() + VISIBILITY_S + 600
    for sub_id in ids:
        while True:
            body = httpx.get(f"{p.url}/v1/submissions/{sub_id}", params={"wait": 30},
                             timeout=60).json()
            if body.get("status") == "completed":
                results[sub_id] = body
                break
            assert time.monotonic() < deadline, \
                f"{sub_id} lost (status {body.get('status')})\n{p.logs()}"
    wrong = {s: (b.get("verdict"), want[s], (b.get("feedback") or "")[:200])
             for s, b in results.items() if b.get("verdict") != want[s]}
    assert not wrong, wrong
    recs = p.hmget_many(ids, ["result", "completed_at", "deliveries"])
    for sub_id in ids:
        result, completed_at, deliveries = recs[sub_id]
        assert result, sub_id
        again = json.loads(result)
        assert again["verdict"] == results[sub_id]["verdict"], sub_id  # write-once
        assert float(completed_at) == results[sub_id]["completed_at"], sub_id
        assert int(deliveries or 0) <= 3, (sub_id, deliveries)
    for sub_id in interrupted:  # came back after the visibility timeout, ran on the survivor
        assert int(recs[sub_id][2] or 0) >= 2, (sub_id, recs[sub_id])
    assert p.redis("LLEN", "codefeedback").strip() == "0"

    # ---- the survivor serves on; the dead worker's heartbeat expires, its sandboxes go
    survivor.reload()
    assert survivor.status == "running"
    wait_for("the dead worker's heartbeat expires",
             lambda: victim_name not in p.heartbeats(), 60, every=2)
    wait_for("the dead worker's sandboxes are reaped by the survivor",
             lambda: not [c for c in p.sandboxes()
                          if (c.labels or {}).get(f"{LABEL}.owner") == victim_name],
             300, every=3, info=lambda: f"{[c.name for c in p.sandboxes()]}\n{p.logs()}")
    logs = survivor.logs(tail=2000).decode(errors="replace")
    assert "is already in use" not in logs, logs[-3000:]  # no container name clash


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
