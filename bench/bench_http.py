"""Throughput and latency over HTTP against a running stack, next to bare local processes.

Usage: python bench/bench_http.py [--url http://localhost:8000] [-n 40] [-c 2]
Prints jobs/s, p50 and p99 latency of `POST /v1/submissions?wait=60` for a Python job
(a small function, pylint + ruff + 5 pytest tests) and a C job (a build + script asserts),
the same Python workload run as bare local processes (no sandbox, no service), the ratio,
and the peak memory of the worker container and of an idle pooled sandbox container.
Numbers only: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

PY_CODE = "def add(a, b):\n    return a + b\n"
PY_UNIT = "from solution import add\n" + "".join(
    f"\n\ndef test_{i}():\n    assert add({i}, 1) == {i + 1}\n" for i in range(5))
C_CODE = "int add(int a, int b) {\n    return a + b;\n}\n"
C_SCRIPT = ("#include <assert.h>\nint main(void) {\n" + "".join(
    f"    assert(add({i}, 1) == {i + 1});\n" for i in range(5)) + "    return 0;\n}\n")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def http_run(url: str, body: dict, n: int, c: int,
             gap: float = 0.0) -> tuple[float, list[float], dict]:
    verdicts: dict[str, int] = {}
    lat: list[float] = []

    def one(i: int) -> None:
        if gap:
            time.sleep(gap)  # let the warm pool refill: the latency of a job meeting a warm pool
        t = time.perf_counter()
        r = httpx.post(f"{url}/v1/submissions", params={"wait": 60}, json=body, timeout=120)
        lat.append(time.perf_counter() - t)
        v = r.json().get("verdict") or f"http{r.status_code}"
        verdicts[v] = verdicts.get(v, 0) + 1

    start = time.perf_counter()
    with ThreadPoolExecutor(c) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - start, lat, verdicts


def local_run(n: int, c: int) -> tuple[float, list[float]]:
    """The same Python workload as bare processes: ruff, pylint and pytest on the host."""
    lat: list[float] = []
    tools = [shutil.which("ruff"), shutil.which("pylint")]
    if not all(tools):
        return float("nan"), []

    def one(i: int) -> None:
        d = tempfile.mkdtemp(prefix="cfbench-")
        with open(os.path.join(d, "solution.py"), "w") as fh:
            fh.write(PY_CODE)
        with open(os.path.join(d, "test_solution.py"), "w") as fh:
            fh.write(PY_UNIT)
        t = time.perf_counter()
        procs = [
            subprocess.Popen(["ruff", "check", "--isolated", "--no-cache",
                              "--output-format=json", "solution.py"], cwd=d,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen(["pylint", "--output-format=json", "--persistent=n", "--score=n",
                              "--rcfile=/dev/null", "--disable=C,R,I", "solution.py"], cwd=d,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "test_solution.py"], cwd=d,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        for p in procs:
            p.wait()
        lat.append(time.perf_counter() - t)
        shutil.rmtree(d, ignore_errors=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(c) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - start, lat


def memory_report() -> list[str]:
    lines = []
    try:
        import docker

        client = docker.from_env()
        for c in client.containers.list(filters={"label": "com.docker.compose.service=worker"}):
            st = c.stats(stream=False)["memory_stats"]
            lines.append(f"worker {c.name}: usage {st.get('usage', 0) / 2**20:.0f} MiB, "
                         f"peak {st.get('max_usage', 0) / 2**20:.0f} MiB (cgroup, all processes)")
        for c in client.containers.list(filters={"label": "codefeedback.sandbox.state=pooled"}):
            st = c.stats(stream=False)["memory_stats"]
            stats = st.get("stats", {})
            rss = stats.get("total_rss", stats.get("rss", 0))
            lines.append(f"idle pooled {c.image.tags[0] if c.image.tags else c.image.id[:19]}: "
                         f"usage {st.get('usage', 0) / 2**20:.0f} MiB, rss {rss / 2**20:.0f} MiB")
    except Exception as exc:  # noqa: BLE001
        lines.append(f"memory: unavailable ({exc})")
    return lines


def show(name: str, wall: float, lat: list[float], n: int, extra: str = "") -> None:
    if not lat:
        print(f"{name:24s} (not run: needs ruff, pylint, pytest on the host)")
        return
    print(f"{name:24s} {n / wall:6.2f} jobs/s   p50 {statistics.median(lat) * 1000:7.0f} ms"
          f"   p99 {pct(lat, 99) * 1000:7.0f} ms  {extra}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("CODEFEEDBACK_URL", "http://localhost:8000"))
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("-c", type=int, default=2)
    ap.add_argument("--gap", type=float, default=4.0, help="pause before each warm-pool job")
    args = ap.parse_args()
    py = {"language": "python", "code": PY_CODE, "tests": {"unit": PY_UNIT}}
    cj = {"language": "c", "code": C_CODE, "tests": {"script": C_SCRIPT}}
    print(f"n={args.n} c={args.c} url={args.url} cores={os.cpu_count()}")
    # one at a time, each meeting a warm pool (the p50 targets), then back to back
    m = max(10, args.n // 2)
    http_run(args.url, py, 2, 1)
    w, lat, v = http_run(args.url, py, m, 1, gap=args.gap)
    show("python warm pool     c=1", w - args.gap * m, lat, m, str(v))
    w, lat, v = http_run(args.url, cj, m, 1, gap=args.gap)
    show("c warm pool          c=1", w - args.gap * m, lat, m, str(v))
    w, lat, v = http_run(args.url, py, m, 1)
    show("python back to back  c=1", w, lat, m, str(v))
    w, lat, v = http_run(args.url, py, args.n, args.c)
    show(f"python over HTTP     c={args.c}", w, lat, args.n, str(v))
    http_wall = w
    lw, llat = local_run(args.n, args.c)
    show(f"python bare local    c={args.c}", lw, llat, args.n)
    if llat:
        print(f"ratio HTTP+sandbox / bare local (wall): {http_wall / lw:.2f}x")
    for line in memory_report():
        print(line)


if __name__ == "__main__":
    main()
