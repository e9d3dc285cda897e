"""Throughput side by side, in one run: bare processes on this host and the service over HTTP.

    python bench/bench_throughput.py [--url http://127.0.0.1:8000] [--n 200] [--batch 1000]
        [--only python,c] [--redis URL] [--markdown FILE]

Workloads (every job is distinct code, a constant varies, so no result cache can answer it;
`"cache": false` is sent too when the API knows the field):
  python   a function + 5 asserts (`tests.script`), with `"static_analysis": false` and with
           the default analysis (pylint + ruff);
  c        a function + 5 asserts in a `main` (`tests.script`).
Rows per workload:
  bare c=1 / c=8   `python3 -I job.py`, or `gcc job.c -o a.out && ./a.out`, per job, one at a
                   time and 8 at a time (a pool of 8 threads, each running one process at a time);
  http c=1 / c=8   `POST /v1/submissions?wait=60`, one in flight / 8 in flight;
  batch N          one `POST /v1/batches` of N items, then `GET /v1/batches/{id}` until every
                   item is completed (`?wait=` if the API has it, else polling every --poll s).
Columns: jobs/s; p50/p99 latency (ms; for a batch, from the POST to each item's completed_at);
x bare (jobs/s over the same language's bare row at the same concurrency; batch rows against
bare c=8); CPU per job (ms) of the worker container(s), of the sandbox cells, of the API + Redis
containers and of the Docker engine (dockerd, containerd, shims), read from cgroup cpuacct and
/proc, sampled so short-lived containers are counted too (a cell removed between two samples
loses at most one sampling interval); cells created / retired during the row (Redis hash
`cfs:cellstats:<instance>`, n/a when missing); push p50/p99: the time between the worker writing
the result (`completed_at`) and the client holding the HTTP answer (for a batch: the last
result to the answer that says the batch is complete). Verdicts are checked: `ok` counts
`accepted`, the rest are listed under the table. Numbers only: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

LABEL = "codefeedback.sandbox"
ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------------------------ jobs


def py_job(k: int) -> tuple[str, str]:
    code = f"def f(x):\n    return x * 3 + {k}\n"
    tests = "".join(f"assert f({i}) == {3 * i + k}\n" for i in range(5))
    return code, tests


def c_job(k: int) -> tuple[str, str]:
    code = f"int f(int x) {{\n    return x * 3 + {k};\n}}\n"
    tests = ("#include <assert.h>\nint f(int x);\n\nint main(void) {\n" + "".join(
        f"    assert(f({i}) == {3 * i + k});\n" for i in range(5)) + "    return 0;\n}\n")
    return code, tests


JOBS = {"python": py_job, "c": c_job}


class Keys:
    """Distinct constants for every job of the run (and of other runs: a random base)."""

    def __init__(self) -> None:
        self._next = random.randrange(10**6, 10**9)
        self._lock = threading.Lock()

    def take(self, n: int) -> list[int]:
        with self._lock:
            start, self._next = self._next, self._next + n
        return list(range(start, start + n))


@dataclass
class Variant:
    key: str          # python-nosa, python-sa, c
    language: str
    label: str
    static: bool | None  # None: not sent (C)


VARIANTS = [
    Variant("python-nosa", "python", "python, static_analysis=false", False),
    Variant("python-sa", "python", "python, pylint + ruff", True),
    Variant("c", "c", "c, gcc + 5 asserts", None),
]

# ------------------------------------------------------------------------------------ results


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


@dataclass
class Row:
    workload: str
    mode: str
    n: int
    wall: float = 0.0
    lat: list[float] = field(default_factory=list)        # seconds
    push: list[float] = field(default_factory=list)       # seconds
    verdicts: Counter = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)          # a few non-accepted examples
    cpu: dict[str, float | None] = field(default_factory=dict)  # ms per job
    cells: tuple[int | None, int | None] = (None, None)   # created, retired
    ratio: float | None = None
    retries_429: int = 0
    cached: int = 0                                       # answered from the result cache

    @property
    def ok(self) -> int:
        return self.verdicts.get("accepted", 0)

    @property
    def rate(self) -> float:
        return self.n / self.wall if self.wall > 0 else 0.0


# ------------------------------------------------------------------------------------ CPU


def _cgroup_roots() -> list[tuple[Path, str]]:
    """(directory holding one sub-directory per container, usage file kind)."""
    roots = []
    for p in ("/sys/fs/cgroup/cpuacct/docker", "/sys/fs/cgroup/cpu,cpuacct/docker"):
        if Path(p).is_dir():
            roots.append((Path(p), "v1"))
    for p in ("/sys/fs/cgroup/docker", "/sys/fs/cgroup/system.slice"):
        if Path(p).is_dir() and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            roots.append((Path(p), "v2"))
    return roots


def _container_dirs(roots: list[tuple[Path, str]]) -> dict[str, tuple[Path, str]]:
    out = {}
    for root, kind in roots:
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        for name in entries:
            cid = name
            if name.startswith("docker-") and name.endswith(".scope"):
                cid = name[len("docker-"):-len(".scope")]
            if len(cid) == 64 and all(c in "0123456789abcdef" for c in cid):
                out[cid] = (root / name, kind)
    return out


def _usage_ns(path: Path, kind: str) -> int | None:
    try:
        if kind == "v1":
            return int((path / "cpuacct.usage").read_text())
        for line in (path / "cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec"):
                return int(line.split()[1]) * 1000
    except (OSError, ValueError):
        return None
    return None


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu_ns(pid: int, with_children: bool = True) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    # fields[11..14] = utime stime cutime cstime (stat fields 14..17)
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks * 1_000_000_000 // _TICK


def _proc_children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class CpuMeter:
    """Samples CPU use by group: worker, cells, api+redis, engine.

    Containers are found by cgroup directory (no Docker API call per sample); a new container
    id is looked up once (Docker API) to learn its labels. Each counter keeps the first and last
    value it was seen with, so a container or process that goes away between two samples
    contributes what it had used at the last sample. A counter first seen during a measurement
    started from zero (a new cgroup or process).
    """

    ENGINE = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2")

    def __init__(self, docker_client, project: str | None, instance: str,
                 worker_pids: list[int], interval: float = 0.2) -> None:
        self.client = docker_client
        self.project = project
        self.instance = instance
        self.worker_pids = worker_pids
        self.interval = interval
        self.roots = _cgroup_roots()
        self._kinds: dict[str, str] = {}
        self._lock = threading.Lock()
        self._first: dict[tuple[str, str], int] = {}
        self._last: dict[tuple[str, str], int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.have_cgroups = bool(self.roots) and docker_client is not None

    # ---- classification
    def _kind(self, cid: str) -> str:
        kind = self._kinds.get(cid)
        if kind is not None:
            return kind
        kind = "other"
        try:
            labels = self.client.api.inspect_container(cid)["Config"]["Labels"] or {}
            if labels.get(f"{LABEL}.instance") == self.instance:
                kind = "cells"
            elif self.project and labels.get("com.docker.compose.project") == self.project:
                svc = labels.get("com.docker.compose.service", "")
                kind = "worker" if svc == "worker" else (
                    "api+redis" if svc in ("api", "redis") else "other")
        except Exception:  # noqa: BLE001 - gone already, or no engine
            kind = "other"
        self._kinds[cid] = kind
        return kind

    # ---- one sample
    def sample(self, fresh: bool) -> None:
        values: dict[tuple[str, str], int] = {}
        if self.have_cgroups:
            for cid, (path, kind) in _container_dirs(self.roots).items():
                group = self._kind(cid)
                if group == "other":
                    continue
                v = _usage_ns(path, kind)
                if v is not None:
                    values[(group, cid)] = v
        tree = None
        if self.worker_pids:
            tree = _proc_children()
            stack = list(self.worker_pids)
            seen = set()
            while stack:
                pid = stack.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                v = _proc_cpu_ns(pid)
                if v is not None:
                    values[("worker", f"pid{pid}")] = v
                stack.extend(tree.get(pid, []))
        for entry in os.listdir("/proc"):
            if entry.isdigit() and _comm(int(entry)) in self.ENGINE:
                v = _proc_cpu_ns(int(entry))
                if v is not None:
                    values[("engine", f"pid{entry}")] = v
        with self._lock:
            for key, v in values.items():
                if key not in self._first:
                    self._first[key] = v if fresh else 0
                self._last[key] = v

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample(fresh=False)
            except Exception:  # noqa: BLE001 - a sample lost is not worth a crash
                pass

    def start(self) -> None:
        with self._lock:
            self._first.clear()
            self._last.clear()
        self.sample(fresh=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="cpu-meter")
        self._thread.start()

    def stop(self) -> dict[str, float | None]:
        """CPU seconds per group since start()."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample(fresh=False)
        totals: dict[str, float] = Counter()
        with self._lock:
            for key, last in self._last.items():
                totals[key[0]] += max(0, last - self._first.get(key, 0)) / 1e9
        out: dict[str, float | None] = {}
        for group in ("worker", "cells", "api+redis", "engine"):
            known = {
                "worker": self.have_cgroups or bool(self.worker_pids),
                "cells": self.have_cgroups,
                "api+redis": self.have_cgroups and bool(self.project),
                "engine": True,
            }[group]
            out[group] = totals.get(group, 0.0) if known else None
        return out


# ------------------------------------------------------------------------------------ stack


@dataclass
class Stack:
    url: str
    project: str | None = None
    instance: str = "codefeedback"
    redis_container: str | None = None
    worker_env: dict[str, str] = field(default_factory=dict)
    worker_args: list[str] = field(default_factory=list)
    workers: int = 0
    has_cache: bool = False
    batch_wait: bool = False


def discover(url: str, project: str | None, instance: str | None, docker_client) -> Stack:
    """The compose project behind --url (its api publishes that port), its instance name."""
    st = Stack(url=url, project=project)
    port = urlparse(url).port or 80
    if docker_client is not None:
        try:
            if project is None:
                for c in docker_client.containers.list(
                        filters={"label": "com.docker.compose.service=api"}):
                    ports = (c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
                    for binds in ports.values():
                        if any(str(b.get("HostPort")) == str(port) for b in binds or []):
                            st.project = c.labels.get("com.docker.compose.project")
            if st.project:
                proj = f"com.docker.compose.project={st.project}"
                for c in docker_client.containers.list(filters={"label": proj}):
                    svc = c.labels.get("com.docker.compose.service")
                    if svc == "redis":
                        st.redis_container = c.id
                    elif svc == "worker":
                        st.workers += 1
                        env = dict(kv.split("=", 1) for kv in c.attrs["Config"]["Env"] or []
                                   if "=" in kv)
                        st.worker_env = {k: v for k, v in env.items()
                                         if k.startswith("CFS_") and "URL" not in k
                                         and "KEY" not in k}
                        st.worker_args = [a for a in c.attrs["Config"].get("Cmd") or []
                                          if a.startswith(("--concurrency=", "--pool="))]
        except Exception as exc:  # noqa: BLE001
            print(f"(docker: {exc})", file=sys.stderr)
    st.instance = instance or st.worker_env.get("CFS_INSTANCE") or st.project or "codefeedback"
    # what the API knows: the cache flag, a batch ?wait=
    try:
        spec = httpx.get(url + "/openapi.json", timeout=30).json()
        sub = spec.get("components", {}).get("schemas", {}).get("Submission", {})
        st.has_cache = "cache" in (sub.get("properties") or {})
        get_batch = spec.get("paths", {}).get("/v1/batches/{batch_id}", {}).get("get", {})
        st.batch_wait = any(p.get("name") == "wait" for p in get_batch.get("parameters", []))
    except (httpx.HTTPError, ValueError):
        pass
    return st


class CellStats:
    """`cfs:cellstats:<instance>` through redis-py (--redis) or `docker exec redis-cli`."""

    def __init__(self, stack: Stack, redis_url: str | None) -> None:
        self.key = f"cfs:cellstats:{stack.instance}"
        self.redis_url = redis_url
        self.container = stack.redis_container

    def read(self) -> dict[str, int] | None:
        try:
            if self.redis_url:
                import redis

                raw = redis.Redis.from_url(self.redis_url, decode_responses=True).hgetall(self.key)
            elif self.container:
                out = subprocess.run(["docker", "exec", self.container, "redis-cli", "--raw",
                                      "HGETALL", self.key], capture_output=True, text=True,
                                     timeout=30, check=True).stdout.splitlines()
                raw = dict(zip(out[0::2], out[1::2], strict=False))
            else:
                return None
        except Exception:  # noqa: BLE001
            return None
        if not raw:
            return None
        out_i = {}
        for k, v in raw.items():
            try:
                out_i[k] = int(float(v))
            except ValueError:
                pass
        return out_i


# ------------------------------------------------------------------------------------ bare


def bare_python() -> str:
    """The host's python3 itself, not a wrapper in front of it (a pyenv shim costs ~80 ms a
    start): Debian's /usr/bin/python3 (the runner image's interpreter) when present."""
    if os.access("/usr/bin/python3", os.X_OK):
        return "/usr/bin/python3"
    found = shutil.which("python3") or sys.executable
    try:
        return subprocess.run([found, "-c", "import sys; print(sys.executable)"],
                              capture_output=True, text=True, check=True).stdout.strip() or found
    except (OSError, subprocess.CalledProcessError):
        return found


def bare_row(lang: str, keys: Keys, n: int, c: int, py: str) -> Row:
    row = Row(lang, f"bare c={c}", n)
    work = Path(tempfile.mkdtemp(prefix="cfs-bench-"))
    gcc = shutil.which("gcc")
    if lang == "c" and gcc is None:
        row.bad.append("gcc is not installed on this host")
        return row
    jobs = [JOBS[lang](k) for k in keys.take(n)]

    def one(i: int) -> None:
        code, tests = jobs[i]
        d = work / str(i)
        d.mkdir()
        t = time.perf_counter()
        if lang == "python":
            (d / "job.py").write_text(code + "\n" + tests)
            rc = subprocess.run([py, "-I", "job.py"], cwd=d, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode
        else:
            (d / "job.c").write_text(code + "\n" + tests)
            rc = subprocess.run([gcc, "job.c", "-o", "a.out"], cwd=d, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode
            if rc == 0:
                rc = subprocess.run(["./a.out"], cwd=d, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode
        row.lat.append(time.perf_counter() - t)
        row.verdicts["accepted" if rc == 0 else f"exit {rc}"] += 1

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with ThreadPoolExecutor(c) as pool:
        list(pool.map(one, range(n)))
    row.wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    row.cpu = {"worker": None, "cells": cpu * 1000 / n, "api+redis": None, "engine": None}
    shutil.rmtree(work, ignore_errors=True)
    return row


# ------------------------------------------------------------------------------------ HTTP


def body(v: Variant, k: int, stack: Stack) -> dict:
    code, tests = JOBS[v.language](k)
    b: dict = {"language": v.language, "code": code, "tests": {"script": tests}}
    if v.static is not None:
        b["static_analysis"] = v.static
    if stack.has_cache:
        b["cache"] = False
    return b


def _post(client: httpx.Client, path: str, row: Row, **kw) -> httpx.Response:
    """POST, honouring 429 + Retry-After and 503 (counted in row.retries_429)."""
    while True:
        r = client.post(path, **kw)
        if r.status_code not in (429, 503):
            return r
        row.retries_429 += 1
        time.sleep(min(5.0, float(r.headers.get("retry-after", "1") or 1)))


def _note_verdict(row: Row, res: dict, status: int) -> None:
    v = res.get("verdict") or f"http {status} {res.get('status', '')}".strip()
    row.verdicts[v] += 1
    row.cached += bool(res.get("cached"))
    if v != "accepted" and len(row.bad) < 3:
        row.bad.append(f"{v}: {(res.get('feedback') or json.dumps(res))[:300]}")


def http_row(v: Variant, stack: Stack, keys: Keys, n: int, c: int, timeout: float) -> Row:
    row = Row(v.label, f"http c={c}", n)
    bodies = [body(v, k, stack) for k in keys.take(n)]
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=c + 2, max_keepalive_connections=c + 2)
    with httpx.Client(base_url=stack.url, timeout=httpx.Timeout(timeout), limits=limits) as client:

        def one(i: int) -> None:
            t = time.perf_counter()
            try:
                r = _post(client, "/v1/submissions", row, params={"wait": 60}, json=bodies[i])
                res = r.json()
                while r.status_code in (200, 202) and res.get("status") != "completed" \
                        and res.get("id"):
                    r = client.get(f"/v1/submissions/{res['id']}", params={"wait": 60})
                    res = r.json()
                got = time.time()
            except (httpx.HTTPError, ValueError) as exc:
                with lock:
                    row.verdicts[f"error {type(exc).__name__}"] += 1
                    if len(row.bad) < 3:
                        row.bad.append(repr(exc)[:300])
                return
            took = time.perf_counter() - t
            with lock:
                row.lat.append(took)
                if res.get("completed_at"):
                    row.push.append(got - float(res["completed_at"]))
                _note_verdict(row, res, r.status_code)

        start = time.perf_counter()
        with ThreadPoolExecutor(c) as pool:
            list(pool.map(one, range(n)))
        row.wall = time.perf_counter() - start
    return row


def batch_row(v: Variant, stack: Stack, keys: Keys, n: int, poll: float, timeout: float) -> Row:
    row = Row(v.label, f"batch {n}", n)
    items = [body(v, k, stack) for k in keys.take(n)]
    with httpx.Client(base_url=stack.url, timeout=httpx.Timeout(120)) as client:
        t0_epoch, start = time.time(), time.perf_counter()
        r = _post(client, "/v1/batches", row, json={"submissions": items})
        if r.status_code not in (200, 201, 202):
            row.bad.append(f"POST /v1/batches: {r.status_code} {r.text[:300]}")
            row.verdicts[f"http {r.status_code}"] = n
            row.wall = time.perf_counter() - start
            return row
        batch_id = r.json()["id"]
        deadline = start + timeout
        res: dict = {}
        while time.perf_counter() < deadline:
            params = {"wait": 60} if stack.batch_wait else {}
            try:
                g = client.get(f"/v1/batches/{batch_id}", params=params)
                res = g.json()
            except (httpx.HTTPError, ValueError):
                res = {}
            if res.get("status") == "completed":
                break
            if not stack.batch_wait:
                time.sleep(poll)
        got = time.time()
        row.wall = time.perf_counter() - start
    subs = res.get("submissions") or []
    done = [float(s["completed_at"]) for s in subs if s.get("completed_at")]
    row.lat = [t - t0_epoch for t in done]
    if done and res.get("status") == "completed":
        row.push = [got - max(done)]
    for s in subs:
        _note_verdict(row, s, 200)
    missing = n - len(subs)
    if missing > 0 or res.get("status") != "completed":
        row.verdicts["not completed"] += n - sum(1 for s in subs
                                                 if s.get("status") == "completed")
    return row


# ------------------------------------------------------------------------------------ table

COLUMNS = ["workload", "mode", "ok", "jobs/s", "p50 ms", "p99 ms", "x bare",
           "worker ms/job", "cells ms/job", "api+redis ms/job", "engine ms/job",
           "cells new/retired", "push p50/p99 ms"]


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:.0f}" if v * 1000 >= 10 else f"{v * 1000:.1f}"


def _x(v: float) -> str:
    return f"{v:.2f}x" if v >= 0.1 else f"{v:.2g}x"


def _cpu(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def cells_text(row: Row) -> str:
    if row.mode.startswith("bare"):
        return "-"
    created, retired = row.cells
    return f"{'n/a' if created is None else created}/{'n/a' if retired is None else retired}"


def render(row: Row) -> list[str]:
    ok = f"{row.ok}/{row.n}"
    push = "-" if row.mode.startswith("bare") else (
        f"{_ms(pct(row.push, 50))}/{_ms(pct(row.push, 99))}" if row.push else "n/a")
    return [row.workload, row.mode, ok, f"{row.rate:.2f}" if row.wall else "n/a",
            _ms(pct(row.lat, 50)), _ms(pct(row.lat, 99)),
            "-" if row.ratio is None else _x(row.ratio),
            _cpu(row.cpu.get("worker")), _cpu(row.cpu.get("cells")),
            _cpu(row.cpu.get("api+redis")), _cpu(row.cpu.get("engine")), cells_text(row), push]


def text_table(rows: list[Row]) -> str:
    cells = [COLUMNS] + [render(r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|"]
    lines += ["| " + " | ".join(render(r)) + " |" for r in rows]
    return "\n".join(lines)


def targets(rows: list[Row]) -> list[str]:
    """The issue's targets, read off this run (information, not assertions)."""
    def find(workload: str, mode: str) -> Row | None:
        return next((r for r in rows if r.workload.startswith(workload) and r.mode == mode), None)

    out = []
    checks = [("python, static_analysis=false", "http c=8", 2.0),
              ("python, pylint", "http c=8", 0.5), ("c, gcc", "http c=8", 0.8)]
    for workload, mode, want in checks:
        r = find(workload, mode)
        if r is not None and r.ratio is not None:
            out.append(f"{workload} {mode}: {_x(r.ratio)} bare (target >= {want}x)")
    r, bare = find("python, static_analysis=false", "http c=1"), find("python", "bare c=1")
    if r is not None and bare is not None and r.lat and bare.lat:
        extra = (pct(r.lat, 50) - pct(bare.lat, 50)) * 1000
        out.append(f"python, static_analysis=false http c=1: p50 = bare p50 + {extra:.0f} ms "
                   "(target <= +30 ms)")
    for r in rows:
        if r.mode.startswith("batch") and r.ratio is not None and r.workload.startswith(
                "python, static_analysis=false"):
            out.append(f"{r.workload} {r.mode}: {_x(r.ratio)} bare (target >= 2.0x)")
    return out


# ------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("CODEFEEDBACK_URL", "http://127.0.0.1:8000"))
    ap.add_argument("--n", type=int, default=200, help="jobs per bare / http row")
    ap.add_argument("--batch", type=int, default=1000, help="items of the batch row (0: none)")
    ap.add_argument("--concurrency", type=int, default=8, help="the 'c=8' of the rows")
    ap.add_argument("--only", default="python,c",
                    help="languages (python,c) or variants (python-nosa,python-sa,c)")
    ap.add_argument("--redis", help="Redis URL for cfs:cellstats (default: docker exec into the "
                                    "project's redis container)")
    ap.add_argument("--project", help="compose project (default: the one publishing --url)")
    ap.add_argument("--instance", help="CFS_INSTANCE of the workers (default: from the worker)")
    ap.add_argument("--worker-pid", type=int, action="append", default=[],
                    help="a worker run on the host: count its process tree's CPU")
    ap.add_argument("--warmup", type=int, default=8, help="uncounted jobs before each workload")
    ap.add_argument("--poll", type=float, default=0.2, help="batch polling interval (no ?wait)")
    ap.add_argument("--timeout", type=float, default=3600, help="per row")
    ap.add_argument("--no-bare", action="store_true")
    ap.add_argument("--python", help="interpreter of the bare Python rows (default: "
                                     "/usr/bin/python3, else python3 on PATH, resolved)")
    ap.add_argument("--markdown", help="also write the table (and the run's settings) here")
    a = ap.parse_args(argv)
    a.url = a.url.rstrip("/")

    try:
        import docker

        dclient = docker.from_env(timeout=60)
        dclient.ping()
    except Exception as exc:  # noqa: BLE001
        print(f"(no Docker engine: container CPU is n/a: {exc})", file=sys.stderr)
        dclient = None
    stack = discover(a.url, a.project, a.instance, dclient)
    ready = {}
    try:
        ready = httpx.get(a.url + "/readyz", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        pass
    if ready.get("status") != "ready":
        print(f"the stack at {a.url} is not ready: {ready}", file=sys.stderr)
        return 2
    meter = CpuMeter(dclient, stack.project, stack.instance, a.worker_pid)
    stats = CellStats(stack, a.redis)
    keys = Keys()
    only = {s.strip() for s in a.only.split(",") if s.strip()}
    variants = [v for v in VARIANTS if v.language in only or v.key in only]
    c = a.concurrency

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    header = [
        f"date {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, host "
        f"{socket.gethostname()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
        f"bench at {commit}",
        f"url {a.url}, project {stack.project or '?'}, instance {stack.instance}, workers "
        f"{stack.workers or ready.get('workers', '?')}, n {a.n}, batch {a.batch}, c {c}, "
        f"cache flag {'sent' if stack.has_cache else 'unknown to the API'}, batch wait "
        f"{'?wait=60' if stack.batch_wait else f'polling {a.poll}s'}",
        f"bare: {a.python or bare_python()} -I job.py; "
        f"{shutil.which('gcc') or 'gcc (missing)'} job.c -o a.out && ./a.out",
        "worker settings: " + (" ".join([f"{k}={v}" for k, v in sorted(stack.worker_env.items())
                                         if v] + stack.worker_args) or "n/a"),
    ]
    for line in header:
        print(line, flush=True)

    py = a.python or bare_python()
    rows: list[Row] = []
    bare: dict[tuple[str, int], Row] = {}
    if not a.no_bare:
        for lang in dict.fromkeys(v.language for v in variants):
            for conc in (1, c):
                r = bare_row(lang, keys, a.n, conc, py)
                bare[(lang, conc)] = r
                rows.append(r)
                print(f"  {lang} bare c={conc}: {r.rate:.1f} jobs/s", flush=True)

    def measured(fn, *args) -> Row:  # noqa: ANN001
        s0 = stats.read()
        meter.start()
        r = fn(*args)
        cpu = meter.stop()
        s1 = stats.read()
        r.cpu = {k: (None if v is None else v * 1000 / r.n) for k, v in cpu.items()}
        if s1 is not None:
            s0 = s0 or {}
            r.cells = tuple(s1[f] - s0.get(f, 0) if f in s1 else None  # type: ignore[assignment]
                            for f in ("created", "retired"))
        return r

    for v in variants:
        if a.warmup:
            http_row(v, stack, keys, a.warmup, min(c, a.warmup), a.timeout)
        plan = [(http_row, (v, stack, keys, a.n, 1, a.timeout), (v.language, 1)),
                (http_row, (v, stack, keys, a.n, c, a.timeout), (v.language, c))]
        if a.batch:
            plan.append((batch_row, (v, stack, keys, a.batch, a.poll, a.timeout), (v.language, c)))
        for fn, args, base in plan:
            r = measured(fn, *args)
            b = bare.get(base)
            if b is not None and b.rate:
                r.ratio = r.rate / b.rate
            rows.append(r)
            print(f"  {r.workload} {r.mode}: {r.rate:.2f} jobs/s, {r.ok}/{r.n} accepted",
                  flush=True)

    table = text_table(rows)
    print()
    print(table)
    notes = []
    for r in rows:
        if r.ok != r.n:
            notes.append(f"{r.workload} {r.mode}: {r.n - r.ok} not accepted "
                         f"{dict(r.verdicts)}; e.g. " + " | ".join(r.bad))
        if r.cached:
            notes.append(f"{r.workload} {r.mode}: {r.cached} answered from the result cache "
                         "(not a run)")
        if r.retries_429:
            notes.append(f"{r.workload} {r.mode}: {r.retries_429} answers 429/503 (retried)")
    goals = targets(rows)
    if goals:
        print("\ntargets (issue 7):")
        for g in goals:
            print("  " + g)
    for n in notes:
        print("! " + n)
    if a.markdown:
        md = ["\n".join(f"- {h}" for h in header), "", md_table(rows), ""]
        if goals:
            md += ["Targets (issue 7), read off this run:", ""] + [f"- {g}" for g in goals] + [""]
        if notes:
            md += [f"- ! {n}" for n in notes] + [""]
        Path(a.markdown).write_text("\n".join(md))
        print(f"\nmarkdown written to {a.markdown}")
    return 0 if all(r.ok == r.n for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
