"""Load with faults: push mixed jobs through a stack while killing worker pool processes.

    python bench/load_faults.py [--url http://localhost:8000] [--n 1000]
        [--worker-pid PID | --compose-worker CONTAINER] [--kill-every 5,20] [--instance NAME]

The jobs mix benign, failing and hostile programs in Python and C (infinite loops, memory
bombs, fork bombs, early exits, output floods), each with the verdict it must get. While they
run, a SIGKILL goes to a random Celery pool process at random moments:
  - `--worker-pid PID`: a worker run on this host (its children, found with psutil);
  - `--compose-worker NAME`: a compose worker container; its processes are found with the
    Docker SDK (`container.top()`), the pool processes are those whose parent is the celery
    main process, and they are killed from the host by their host pid (needs root).
At the end it reports, and exits non-zero unless all are 0:
  lost         accepted (202) but not completed by the deadline;
  duplicated   a result that changed after it was first seen completed (results are
               write-once), or an id handed out twice;
  wrong        a verdict other than the job's expected one;
  gave up      jobs whose worker was killed on each of 3 deliveries, given up with
               internal_error as designed (not a wrong verdict; listed separately: with
               kills every 5-20 s about one job in a thousand is that unlucky);
  leftovers    sandbox containers of the deployment still holding a job, or containers whose
               creating process is dead, 15 s after the last result. A container holds a job
               when it ran it (`cfs:sub:<id>` field `cell`, docs/CELLS.md; or, single-use
               containers of before cells, a `-job-<id>-` name) and was not swept clean after
               it (field `sweep`: outcome `clean` for that cell). The records are read with
               `--redis URL`, or through the compose project's redis container when
               `--compose-worker` is given; without either only names and dead owners count.
Submissions go one by one (`--concurrency` in flight), honouring 429 + Retry-After.
`--json` prints the report as JSON (the chaos test runs this with `--n 60`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

PY_ADD_TEST = {"script": "assert add(1, 2) == 3\nassert add(-1, -2) == -3\n"}
C_ADD_TEST = {"script": "#include <assert.h>\nint main(void) {\n    assert(add(1, 2) == 3);\n"
                        "    assert(add(-1, -2) == -3);\n    return 0;\n}\n"}
C_IO = [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "10 -4\n", "stdout": "6\n"}]
C_SUM = ("#include <stdio.h>\nint main(void) {\n    int a, b;\n    if (scanf(\"%d %d\", &a, &b) != 2)"
         " return 1;\n    printf(\"%d\\n\", a {op} b);\n    return 0;\n}\n")
FAST = {"time_s": 2, "memory_mb": 128}

# (name, weight, expected verdict, body)
KINDS: list[tuple[str, int, str, dict]] = [
    # ---- Python
    ("py_accepted", 14, "accepted",
     {"language": "python", "code": "def add(a, b):\n    return a + b\n", "tests": PY_ADD_TEST}),
    ("py_wrong_answer", 8, "wrong_answer",
     {"language": "python", "code": "def add(a, b):\n    return a - b\n", "tests": PY_ADD_TEST}),
    ("py_runtime_error", 5, "runtime_error",
     {"language": "python", "code": "def add(a, b):\n    return [][a]\n", "tests": PY_ADD_TEST,
      "static_analysis": False}),
    ("py_compile_error", 5, "compile_error",
     {"language": "python", "code": "def add(a, b)\n    return a + b\n", "tests": PY_ADD_TEST}),
    ("py_infinite_loop", 5, "time_limit",
     {"language": "python", "code": "def add(a, b):\n    while True:\n        pass\n",
      "tests": PY_ADD_TEST, "limits": FAST, "static_analysis": False}),
    ("py_memory_bomb", 5, "memory_limit",
     {"language": "python", "code": "x = []\nwhile True:\n    x.append(bytearray(8 << 20))\n",
      "limits": FAST, "static_analysis": False}),
    ("py_fork_bomb", 4, None,  # calibrated: see EXPECT_ANY
     {"language": "python", "code": "import os\nwhile True:\n    try:\n        os.fork()\n"
                                    "    except OSError:\n        pass\n",
      "limits": FAST, "static_analysis": False}),
    ("py_early_exit", 5, "runtime_error",
     {"language": "python", "code": "import sys\ndef add(a, b):\n    return a + b\nsys.exit(0)\n",
      "tests": PY_ADD_TEST, "static_analysis": False}),
    ("py_output_flood", 3, "output_limit",
     {"language": "python", "code": "while True:\n    print('x' * 1000)\n", "limits": FAST,
      "static_analysis": False}),
    # ---- C
    ("c_accepted", 10, "accepted",
     {"language": "c", "code": "int add(int a, int b) {\n    return a + b;\n}\n", "tests": C_ADD_TEST}),
    ("c_io_accepted", 6, "accepted", {"language": "c", "code": C_SUM.replace("{op}", "+"),
                                      "tests": {"io": C_IO}}),
    ("c_wrong_answer", 6, "wrong_answer", {"language": "c", "code": C_SUM.replace("{op}", "*"),
                                           "tests": {"io": C_IO}}),
    ("c_compile_error", 4, "compile_error",
     {"language": "c", "code": "int add(int a, int b) {\n    return a + ;\n}\n", "tests": C_ADD_TEST}),
    ("c_infinite_loop", 4, "time_limit",
     {"language": "c", "code": "int add(int a, int b) {\n    for (;;) {}\n    return a;\n}\n",
      "tests": C_ADD_TEST, "limits": FAST}),
    ("c_memory_bomb", 4, "memory_limit",
     {"language": "c", "code": "#include <stdlib.h>\n#include <string.h>\nint main(void) {\n"
                               "    for (;;) {\n        char *p = malloc(1 << 24);\n"
                               "        memset(p, 1, 1 << 24);  /* NULL when the limit is hit */\n"
                               "    }\n}\n",
      "limits": FAST}),
    ("c_fork_bomb", 3, None,
     {"language": "c", "code": "#include <unistd.h>\nint main(void) {\n    for (;;) fork();\n}\n",
      "limits": FAST}),
    ("c_early_exit", 5, "runtime_error",
     {"language": "c", "code": "#include <stdlib.h>\nint add(int a, int b) {\n    exit(0);\n}\n",
      "tests": C_ADD_TEST}),
]
# Fork bombs end as time_limit (the pids limit keeps them spinning) or memory_limit /
# runtime_error depending on what gives first; never `accepted`, never internal_error.
EXPECT_ANY = {"py_fork_bomb": {"time_limit", "memory_limit", "runtime_error"},
              "c_fork_bomb": {"time_limit", "memory_limit", "runtime_error"}}


def expected(kind: str, verdict: str | None) -> set[str]:
    for name, _, want, _ in KINDS:
        if name == kind:
            return EXPECT_ANY.get(kind) or {want}
    raise KeyError(kind)


@dataclass
class Job:
    kind: str
    body: dict
    id: str | None = None
    first: dict | None = None
    final: dict | None = None
    submit_error: str | None = None


@dataclass
class Killer:
    """SIGKILLs a random pool process every `lo`-`hi` seconds until stopped."""

    lo: float
    hi: float
    worker_pid: int | None = None
    compose_worker: str | None = None
    kills: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def pool_pids(self) -> list[int]:
        if self.worker_pid:
            import psutil

            try:
                return [c.pid for c in psutil.Process(self.worker_pid).children()]
            except psutil.NoSuchProcess:
                return []
        if self.compose_worker:
            import docker

            top = docker.from_env(timeout=30).containers.get(self.compose_worker).top(
                ps_args="-eo pid,ppid,args")
            cols = [c.upper() for c in top["Titles"]]
            rows = [dict(zip(cols, r, strict=False)) for r in top["Processes"]]
            celery = [r for r in rows if "celery" in r.get("COMMAND", r.get("ARGS", ""))]
            pids = {r["PID"] for r in celery}
            main = [r for r in celery if r["PPID"] not in pids]
            mains = {r["PID"] for r in main}
            return [int(r["PID"]) for r in celery if r["PPID"] in mains]
        return []

    def run(self) -> None:
        rnd = random.Random()
        while not self.stop.wait(rnd.uniform(self.lo, self.hi)):
            pids = self.pool_pids()
            if not pids:
                continue
            pid = rnd.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
                self.kills.append(time.time())
            except (ProcessLookupError, PermissionError):
                pass


async def submit(client: httpx.AsyncClient, job: Job, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            r = await client.post("/v1/submissions", json=job.body, timeout=60)
        except httpx.HTTPError as exc:
            job.submit_error = repr(exc)
            await asyncio.sleep(1)
            continue
        if r.status_code in (200, 202):
            job.id = r.json()["id"]
            job.submit_error = None
            return
        if r.status_code == 429:
            await asyncio.sleep(float(r.headers.get("retry-after", "2")))
            continue
        job.submit_error = f"{r.status_code}: {r.text[:300]}"
        return


async def follow(client: httpx.AsyncClient, job: Job, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            r = await client.get(f"/v1/submissions/{job.id}", params={"wait": 20}, timeout=60)
            body = r.json()
        except (httpx.HTTPError, ValueError):
            await asyncio.sleep(1)
            continue
        if body.get("status") == "completed":
            job.first = body
            return


async def drive(url: str, jobs: list[Job], concurrency: int, timeout: float,
                progress: bool) -> None:
    deadline = time.monotonic() + timeout
    sem = asyncio.Semaphore(concurrency)
    done = 0
    limits = httpx.Limits(max_connections=concurrency * 2 + 4)
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:
        async def one(job: Job) -> None:
            nonlocal done
            async with sem:
                await submit(client, job, deadline)
                if job.id:
                    await follow(client, job, deadline)
            done += 1
            if progress and done % 50 == 0:
                print(f"  {done}/{len(jobs)} done", file=sys.stderr, flush=True)

        await asyncio.gather(*(one(j) for j in jobs))
        # re-read every result: a result that changed after it was seen is a duplicate
        for job in jobs:
            if job.id and job.first:
                try:
                    job.final = (await client.get(f"/v1/submissions/{job.id}", timeout=60)).json()
                except httpx.HTTPError:
                    job.final = None


class CellRecords:
    """Fields `cell` and `sweep` of submissions, from Redis (redis-py, or `redis-cli` in a
    container through `docker exec`)."""

    def __init__(self, redis_url: str | None = None, container: str | None = None) -> None:
        self.redis_url = redis_url
        self.container = container

    @classmethod
    def for_compose_worker(cls, worker: str) -> CellRecords | None:
        import docker

        client = docker.from_env(timeout=30)
        project = client.containers.get(worker).labels.get("com.docker.compose.project")
        found = client.containers.list(filters={"label": [
            f"com.docker.compose.project={project}", "com.docker.compose.service=redis"]})
        return cls(container=found[0].id) if project and found else None

    def read(self, ids: list[str]) -> dict[str, tuple[set[str], dict]]:
        pairs: list[tuple[str | None, str | None]] = []
        if self.redis_url:
            import redis

            pipe = redis.Redis.from_url(self.redis_url, decode_responses=True).pipeline()
            for i in ids:
                pipe.hmget(f"cfs:sub:{i}", ["cell", "sweep"])
            pairs = [tuple(r) for r in pipe.execute()]
        elif self.container:
            import subprocess

            script = "".join(f"HMGET cfs:sub:{i} cell sweep\n" for i in ids)
            out = subprocess.run(["docker", "exec", "-i", self.container, "redis-cli", "--raw"],
                                 input=script, capture_output=True, text=True, timeout=120,
                                 check=True).stdout.split("\n")
            pairs = [(out[2 * k] or None, out[2 * k + 1] or None) for k in range(len(ids))]
        records = {}
        for i, (cell, raw) in zip(ids, pairs, strict=False):
            cells = {cell} if cell else set()
            sweep: dict = {}
            try:
                sweep = json.loads(raw) if raw else {}
            except ValueError:
                sweep = {}
            if sweep.get("cell"):
                cells.add(sweep["cell"])
            records[i] = (cells, sweep)
        return records


def _same(cid: str, ref: str) -> bool:
    return len(ref) >= 12 and (cid.startswith(ref) or ref.startswith(cid))


def leftovers(instance: str | None, settle_s: float, job_ids: list[str] | None = None,
              records: CellRecords | None = None) -> dict[str, list[str]]:
    if not instance:
        return {}
    import docker

    from_label = "codefeedback.sandbox"
    client = docker.from_env(timeout=60)
    deadline = time.monotonic() + settle_s
    job_ids = job_ids or []
    while True:
        found = client.containers.list(all=True, ignore_removed=True,
                                       filters={"label": [f"{from_label}.instance={instance}"]})
        held: set[str] = set()  # container ids still holding a job
        for c in found:
            if "-job-" in c.name:  # single-use containers named after their job (before cells)
                held.add(c.id)
        if records is not None and job_ids and found:
            for cells, sweep in records.read(job_ids).values():
                clean = sweep.get("cell") if sweep.get("outcome") == "clean" else None
                for c in found:
                    if any(_same(c.id, ref) for ref in cells) and not (clean and _same(c.id, clean)):
                        held.add(c.id)
        jobs = [c.name for c in found if c.id in held]
        dead = []
        for c in found:
            pid = (c.labels or {}).get(f"{from_label}.pid", "")
            host = (c.labels or {}).get(f"{from_label}.host")
            if c.id not in held and pid.isdigit() and host == os.uname().nodename \
                    and not os.path.exists(f"/proc/{pid}"):
                dead.append(c.name)
        if (not jobs and not dead) or time.monotonic() >= deadline:
            return {"job_containers": jobs, "dead_owner_containers": dead}
        time.sleep(1)


def build_jobs(n: int, seed: int) -> list[Job]:
    rnd = random.Random(seed)
    weights = [w for _, w, _, _ in KINDS]
    picks = rnd.choices(range(len(KINDS)), weights=weights, k=n)
    # every kind at least once when n allows
    for i in range(min(n, len(KINDS))):
        picks[i] = i
    rnd.shuffle(picks)
    return [Job(kind=KINDS[i][0], body=json.loads(json.dumps(KINDS[i][3]))) for i in picks]


def report(jobs: list[Job], kills: int, wall: float, left: dict[str, list[str]]) -> dict:
    ids = [j.id for j in jobs if j.id]
    lost = [j.id for j in jobs if j.id and not j.first]
    refused = [{"kind": j.kind, "error": j.submit_error} for j in jobs if not j.id]
    dup = [j.id for j in jobs if j.first and j.final and (
        j.final.get("verdict") != j.first.get("verdict")
        or j.final.get("feedback") != j.first.get("feedback")
        or j.final.get("run") != j.first.get("run"))]
    dup += [i for i, c in Counter(ids).items() if c > 1]
    wrong = []
    gave_up = []
    for j in jobs:
        if not j.first:
            continue
        v = j.first.get("verdict")
        fb = j.first.get("feedback") or ""
        if v == "internal_error" and "gave up after 3 deliveries" in fb:
            gave_up.append(j.id)  # the poison-pill rule at work: its worker died 3 times
        elif v not in expected(j.kind, v):
            wrong.append({"id": j.id, "kind": j.kind, "verdict": v, "feedback": fb[:300]})
    verdicts = Counter((j.kind, j.first.get("verdict")) for j in jobs if j.first)
    return {
        "jobs": len(jobs), "accepted_by_api": len(ids), "refused": refused,
        "completed": sum(1 for j in jobs if j.first), "kills": kills,
        "lost": len(lost), "lost_ids": lost[:20],
        "duplicated": len(dup), "duplicated_ids": dup[:20],
        "wrong_verdicts": len(wrong), "wrong": wrong[:20], "gave_up_after_kills": len(gave_up),
        "gave_up_ids": gave_up[:20],
        "leftover_containers": sum(len(v) for v in left.values()), "leftovers": left,
        "wall_s": round(wall, 1),
        "verdicts": {f"{k}:{v}": c for (k, v), c in sorted(verdicts.items())},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://localhost:8000")
    ap.add_argument("--n", type=int, default=1000, help="number of jobs")
    ap.add_argument("--concurrency", type=int, default=24, help="submissions in flight")
    ap.add_argument("--worker-pid", type=int, help="main pid of a host-run celery worker")
    ap.add_argument("--compose-worker", help="name or id of a compose worker container")
    ap.add_argument("--kill-every", default="5,20", help="random pause between kills, lo,hi s")
    ap.add_argument("--instance", help="the deployment's CFS_INSTANCE, to look for leftovers "
                                       "(default: the compose project name 'codefeedback')")
    ap.add_argument("--no-leftover-check", action="store_true")
    ap.add_argument("--redis", help="Redis URL of the deployment, to read which cell ran each "
                                    "job (default with --compose-worker: its project's redis "
                                    "container)")
    ap.add_argument("--timeout", type=float, default=3600, help="overall deadline, s")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    a = ap.parse_args(argv)

    lo, hi = (float(x) for x in a.kill_every.split(","))
    killer = Killer(lo, hi, worker_pid=a.worker_pid, compose_worker=a.compose_worker)
    if not (a.worker_pid or a.compose_worker):
        print("warning: no --worker-pid/--compose-worker: running without faults",
              file=sys.stderr)
    jobs = build_jobs(a.n, a.seed)
    t0 = time.monotonic()
    th = threading.Thread(target=killer.run, daemon=True)
    th.start()
    try:
        asyncio.run(drive(a.url.rstrip("/"), jobs, a.concurrency, a.timeout, not a.json))
    finally:
        killer.stop.set()
    wall = time.monotonic() - t0
    instance = None if a.no_leftover_check else (a.instance or "codefeedback")
    records = CellRecords(redis_url=a.redis) if a.redis else None
    if records is None and a.compose_worker and instance:
        records = CellRecords.for_compose_worker(a.compose_worker)
    left = leftovers(instance, 15, [j.id for j in jobs if j.id], records)
    rep = report(jobs, len(killer.kills), wall, left)
    if a.json:
        print(json.dumps(rep, indent=1))
    else:
        for key in ("jobs", "accepted_by_api", "completed", "kills", "lost", "duplicated",
                    "wrong_verdicts", "gave_up_after_kills", "leftover_containers", "wall_s"):
            print(f"{key:>22}: {rep[key]}")
        for w in rep["wrong"]:
            print("  wrong:", w)
        if rep["refused"]:
            print("  refused:", rep["refused"][:5])
        if rep["leftover_containers"]:
            print("  leftovers:", rep["leftovers"])
        print("  verdicts:", json.dumps(rep["verdicts"]))
    bad = rep["lost"] or rep["duplicated"] or rep["wrong_verdicts"] or rep["leftover_containers"] \
        or rep["refused"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
