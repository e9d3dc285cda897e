"""A host-run stack the chaos tests own: redis-server (AOF on), Celery worker, uvicorn API.

Modelled on the `host_stack` fixture, but every part can be killed and started again without
touching the shared session fixture: Redis restarts on the same port and data directory, a
worker can be SIGKILLed as a whole (main process and pool) and replaced, and the worker talks
to Docker through `DockerProxy`, a unix-socket proxy the test can cut and restore.

`DockerProxy` exists because the machine's Docker daemon must never be stopped (other people
use it): an engine outage is simulated at the client instead. The worker's DOCKER_HOST points
at the proxy's socket; `cut()` closes every open connection and removes the socket (the client
sees connection errors, as when the daemon is down or restarting); `restore()` serves again.

Run `python -m tests.chaos.stack` to start one by hand (prints the URL and the worker's pid,
e.g. for `bench/load_faults.py --worker-pid`); Ctrl-C stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
DOCKER_SOCK = "/var/run/docker.sock"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DockerProxy:
    """Forwards a unix socket to the real Docker socket; `cut()` / `restore()` an outage."""

    def __init__(self, path: str, target: str = DOCKER_SOCK) -> None:
        self.path = path
        self.target = target
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._server: socket.socket | None = None
        self.connections = 0

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> DockerProxy:
        self.restore()
        return self

    def restore(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            if os.path.exists(self.path):
                os.unlink(self.path)
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(self.path)
            srv.listen(128)
            self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def cut(self) -> None:
        """The engine is 'down': no new connection succeeds, every open one is dropped."""
        with self._lock:
            srv, self._server = self._server, None
            conns, self._conns = self._conns, set()
            if os.path.exists(self.path):
                os.unlink(self.path)
        if srv is not None:
            try:
                srv.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            srv.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    close = cut

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            try:
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._server is not srv:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._conns.update((client, upstream))
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


class HostStack:
    """redis-server + Celery worker + uvicorn, each a subprocess this object can signal."""

    def __init__(self, *, concurrency: int = 2, env: dict[str, str] | None = None,
                 api_env: dict[str, str] | None = None, proxy: bool = True) -> None:
        self.tag = f"cfschaos{os.getpid()}x{secrets_hex()}"
        self.dir = Path(tempfile.mkdtemp(prefix="cfs-chaos-"))
        self.redis_port = free_port()
        self.api_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.concurrency = concurrency
        self.proxy = DockerProxy(str(self.dir / "docker.sock")).start() if proxy else None
        self.env = {**os.environ, "CFS_REDIS_URL": self.redis_url, "CFS_INSTANCE": self.tag,
                    "CFS_POOL_SIZE": "1", "CFS_QUEUE_NAME": self.tag, "CFS_HEARTBEAT_S": "1",
                    "CFS_WORKER_HEARTBEAT_S": "3", "CFS_MAX_DELIVERIES": "3",
                    "PYTHONPATH": str(ROOT), **(env or {})}
        if self.proxy is not None:
            self.env["DOCKER_HOST"] = self.proxy.url
        self.api_env = {**self.env, **(api_env or {})}
        self.redis: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.api: subprocess.Popen | None = None
        self.workers_started = 0
        self.extra: list[subprocess.Popen] = []
        self._logs: list = []

    # ------------------------------------------------------------------ processes
    def _log(self, name: str):  # noqa: ANN202
        f = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115
        self._logs.append(f)
        return f

    def start_redis(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        (self.dir / "redis").mkdir(exist_ok=True)
        self.redis = subprocess.Popen(
            [exe, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir / "redis"),
             "--maxmemory-policy", "noeviction"],
            stdout=self._log("redis"), stderr=subprocess.STDOUT)
        import redis

        client = redis.Redis(port=self.redis_port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
            except redis.ResponseError:  # LOADING the AOF
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill_redis(self, sig: int = signal.SIGKILL) -> None:
        assert self.redis is not None
        self.redis.send_signal(sig)
        self.redis.wait(30)

    def start_worker(self, name: str | None = None,
                     env: dict[str, str] | None = None) -> subprocess.Popen:
        self.workers_started += 1
        name = name or f"{self.tag}-w{self.workers_started}"
        env = {**self.env, "CFS_WORKER_NAME": name, **(env or {})}
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
             "--loglevel=INFO", f"--concurrency={self.concurrency}", "--without-gossip",
             "--without-mingle", "-n", f"{name}@%h"],
            env=env, cwd=ROOT, stdout=self._log("worker"), stderr=subprocess.STDOUT)
        return self.worker

    def worker_tree(self) -> list[int]:
        import psutil

        if self.worker is None:
            return []
        try:
            main = psutil.Process(self.worker.pid)
            return [main.pid] + [c.pid for c in main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def pool_pids(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.worker.pid).children()]
        except (psutil.NoSuchProcess, AttributeError):
            return []

    def stop_worker(self) -> None:
        """Warm shutdown of the worker (its cells retired), as a redeploy would."""
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(60)
            except subprocess.TimeoutExpired:
                self.kill_worker()

    def kill_worker(self) -> None:
        """SIGKILL the whole worker (main process first, then its pool), like a host loss."""
        pids = self.worker_tree()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert self.worker is not None
        self.worker.wait(30)

    def start_api(self) -> None:
        self.api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.app:app", "--host", "127.0.0.1",
             "--port", str(self.api_port), "--no-access-log"],
            env=self.api_env, cwd=ROOT, stdout=self._log("api"), stderr=subprocess.STDOUT)

    def extra_api(self, env: dict[str, str]) -> str:
        """A second API process on the same Redis and queue, with its own settings."""
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.app:app", "--host", "127.0.0.1",
             "--port", str(port), "--no-access-log"],
            env={**self.api_env, **env}, cwd=ROOT, stdout=self._log("api2"),
            stderr=subprocess.STDOUT)
        self.extra.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("extra API did not start")

    def stop_extra_apis(self) -> None:
        for proc in self.extra:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.extra.clear()

    def start(self, timeout: float = 150) -> HostStack:
        self.start_redis()
        self.start_worker()
        self.start_api()
        if not self.wait_ready(timeout):
            raise RuntimeError(f"chaos stack did not become ready:\n{self.logs()}")
        return self

    def stop(self) -> None:
        self.stop_extra_apis()
        for proc in (self.api, self.worker):
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in (self.api, self.worker):
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            self.redis.wait(10)
        try:
            import docker

            from runners.sandbox.docker_backend import reap

            reap(docker.from_env(timeout=60), self.tag, older_than_s=0)
        except Exception:  # noqa: BLE001
            pass
        if self.proxy is not None:
            self.proxy.cut()
        for f in self._logs:
            f.close()
        shutil.rmtree(self.dir / "redis", ignore_errors=True)  # the logs stay, for post-mortems

    def logs(self, tail: int = 4000) -> str:
        out = []
        for name in ("worker", "api", "redis"):
            p = self.dir / f"{name}.log"
            if p.exists():
                out.append(f"--- {name}.log\n" + p.read_text(errors="replace")[-tail:])
        return "\n".join(out)

    # ------------------------------------------------------------------ HTTP and state
    def ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, seconds: float, want: bool = True) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.ready() == want:
                return True
            time.sleep(0.3)
        return False

    def submit(self, body: dict, retry_s: float = 0, api: str | None = None) -> str:
        """POST one submission; retries (without an Idempotency-Key) while the API cannot
        take it, so only a 202 counts as a submission."""
        deadline = time.monotonic() + retry_s
        while True:
            try:
                r = httpx.post((api or self.url) + "/v1/submissions", json=body, timeout=30)
                if r.status_code in (200, 202):
                    return r.json()["id"]
                err = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                err = repr(exc)
            if time.monotonic() >= deadline:
                raise AssertionError(f"submission refused: {err}")
            time.sleep(0.5)

    def get(self, sub_id: str) -> dict:
        return httpx.get(f"{self.url}/v1/submissions/{sub_id}", timeout=30).json()

    def wait_done(self, sub_id: str, seconds: float = 90) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                body = httpx.get(f"{self.url}/v1/submissions/{sub_id}", params={"wait": 5},
                                 timeout=30).json()
                if body.get("status") == "completed":
                    return body
            except (httpx.HTTPError, ValueError):
                time.sleep(0.5)
        raise AssertionError(f"{sub_id} did not complete in {seconds}s\n{self.logs()}")

    def rds(self):  # noqa: ANN201
        import redis

        return redis.Redis.from_url(self.redis_url, decode_responses=True)

    def record(self, sub_id: str) -> dict[str, str]:
        return self.rds().hgetall(f"cfs:sub:{sub_id}")

    def wait_status(self, sub_id: str, status: str, seconds: float = 30,
                    deliveries: int | None = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rec = self.record(sub_id)
            if rec.get("status") == status and (
                    deliveries is None or int(rec.get("deliveries", 0)) >= deliveries):
                return
            time.sleep(0.05)
        raise AssertionError(f"{sub_id} never reached {status} (deliveries {deliveries}): "
                             f"{self.record(sub_id)}")

    def cells_of(self, sub_id: str) -> tuple[set[str], dict]:
        """The ids of the containers that ran this submission, and its sweep record.

        With cells (docs/CELLS.md) containers are not named after a job: `cfs:sub:<id>` field
        `cell` holds the container id of the latest delivery's cell (written before the job
        is sent to it) and `sweep` (JSON, once the cell was swept after the job) names it too.
        """
        rec = self.rds().hmget(f"cfs:sub:{sub_id}", ["cell", "sweep"])
        ids = {rec[0]} if rec[0] else set()
        sweep: dict = {}
        if rec[1]:
            try:
                sweep = json.loads(rec[1])
            except ValueError:
                sweep = {}
            if sweep.get("cell"):
                ids.add(sweep["cell"])
        return ids, sweep

    def containers(self, sub_id: str | None = None, docker_client=None) -> list:  # noqa: ANN001
        """The deployment's sandbox containers; with `sub_id`, those that ran that submission
        (its cell, from Redis; or, single-use containers of before cells, named `-job-<id>-`).
        A cell that ran it may since serve other jobs: see `holding`."""
        import docker

        from runners.sandbox.hardening import LABEL

        client = docker_client or docker.from_env(timeout=60)
        found = client.containers.list(all=True, filters={
            "label": [f"{LABEL}.instance={self.tag}"]}, ignore_removed=True)
        if sub_id is not None:
            ids, _ = self.cells_of(sub_id)
            found = [c for c in found if f"-job-{sub_id}-" in c.name
                     or any(c.id.startswith(i) or i.startswith(c.id) for i in ids if len(i) >= 12)]
        return found

    def holding(self, sub_id: str, docker_client=None) -> list:  # noqa: ANN001
        """Containers that still hold something of this submission: one that ran it and has
        not been swept clean after it (a cell whose sweep after the job said `clean` is back in
        service and holds nothing of it; a retired cell must be gone)."""
        _, sweep = self.cells_of(sub_id)
        clean = sweep.get("cell") if sweep.get("outcome") == "clean" else None
        return [c for c in self.containers(sub_id, docker_client)
                if not (clean and (c.id.startswith(clean) or clean.startswith(c.id)))]


def secrets_hex() -> str:
    import secrets

    return secrets.token_hex(3)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--no-proxy", action="store_true", help="talk to Docker directly")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the worker/API")
    a = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in a.env)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    stack = HostStack(concurrency=a.concurrency, env=extra, proxy=not a.no_proxy)
    try:
        stack.start()
        print(f"url={stack.url} worker_pid={stack.worker.pid} instance={stack.tag} "
              f"redis={stack.redis_url} logs={stack.dir}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
