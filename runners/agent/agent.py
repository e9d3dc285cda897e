"""The in-container agent: waits for exactly one job on stdin, runs its steps, reports, exits.

Runs inside every sandbox container as the unprivileged sandbox user, with the standard library
only (it must work in every runner image). Trust model:

* The agent's stdout is the trusted result channel. Children never inherit it (their fds 0-2 are
  pipes, everything else is closed) and the agent makes itself non-dumpable, so a process of the
  same uid cannot open /proc/<agent>/fd/1 or ptrace the agent.
* Heavy tools are imported once while the container waits in the warm pool (``CF_PRELOAD``);
  a step with ``fork`` runs such a module in a freshly forked child, saving the import time.
* Each step runs in its own session with rlimits, a wall-clock deadline and an output cap.
  Between phases every other process in the container is killed (``kill(-1)``), so nothing a
  step left behind (daemons, fork bombs) survives into the next step or past the job.
* The agent is the container's PID 1 (no docker-init): an init process shares the container's
  stdout, and an init of the sandbox uid is dumpable, so user code could open /proc/1/fd/1 and
  write a forged result line there (with a nonce read from a forked step's memory). As PID 1
  the agent also cannot be signalled from inside the container (the kernel drops SIGKILL and
  unhandled signals sent to a namespace's init), and it reaps the orphans it inherits.

Protocol: one JSON line in (the job), one line out: ``CFRESULT:<nonce>:<json>``.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import resource
import selectors
import signal
import sys
import time

WORKDIR = "/work"
HARNESS_DIR = "/opt/codefeedback/harness"
RESULT_PREFIX = "CFRESULT"
MAX_JOB_BYTES = 64 * 1024 * 1024
REPORT_CAP = 8 * 1024 * 1024
PR_SET_DUMPABLE = 4


def make_undumpable() -> None:
    """Hide /proc/<agent>/fd and forbid ptrace for same-uid processes."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except OSError:
        pass


def preload() -> list[str]:
    """Import heavy analysers/test runners before the job arrives (fork-server warmth)."""
    loaded = []
    for name in filter(None, os.environ.get("CF_PRELOAD", "").split(",")):
        try:
            importlib.import_module(name.strip())
            loaded.append(name.strip())
        except Exception:  # a missing optional tool must not kill the agent
            pass
    warm = os.environ.get("CF_WARMUP", "")
    if warm:
        module, _, func = warm.partition(":")
        try:
            getattr(importlib.import_module(module), func or "main")()
            loaded.append(warm)
        except BaseException:  # noqa: BLE001 - warm-up is an optimisation only
            pass
    return loaded


def read_oom_kills() -> int | None:
    """The container cgroup's OOM-kill counter (cgroup v2 or v1), if readable."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def vm_data_kb() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmData:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def reap_orphans(ours: set[int] | frozenset[int] = frozenset()) -> None:
    """As PID 1 the agent inherits every orphan: collect the exited ones (never a step of
    `ours`, whose status `run_phase` collects itself)."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid in ours:
            return
        try:
            os.waitpid(info.si_pid, os.WNOHANG)
        except ChildProcessError:
            return


def sweep() -> None:
    """Kill every process in the container except this agent (and init, if it is not us)."""
    for _ in range(50):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.005)
        reap_orphans()
        others = [
            p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())
        ]
        alive = []
        for p in others:
            try:
                with open(f"/proc/{p}/stat") as fh:
                    state = fh.read().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    alive.append(p)
            except OSError:
                continue
        if not alive:
            return


def write_files(files: dict[str, str], modes: dict[str, int]) -> None:
    for name, content in files.items():
        path = os.path.join(WORKDIR, name)
        if os.path.relpath(path, WORKDIR).startswith(".."):
            raise ValueError(f"bad file name {name!r}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(content)
        if name in modes:
            os.chmod(path, modes[name])


class Running:
    """One started step: its pid, pipes and what has been read so far."""

    def __init__(self, step: dict, pid: int, fds: dict[int, str], started: float) -> None:
        self.step = step
        self.pid = pid
        self.fds = fds  # fd -> "stdout" | "stderr" | "report"
        self.buf: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray(),
                                          "report": bytearray()}
        self.started = started
        self.deadline = started + float(step.get("time_s", 10))
        self.cap = int(step.get("output_kb", 64)) * 1024
        self.status: str | None = None  # timeout | output_limit when the agent killed it
        self.truncated = False
        self.oom_before = read_oom_kills()


def child_setup(step: dict, out_w: int, err_w: int, rep_w: int | None, in_r: int) -> None:
    """In the forked child: new session, limits, clean fds, then exec or run a module."""
    os.setsid()
    os.dup2(in_r, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    keep = {0, 1, 2}
    if rep_w is not None:
        os.dup2(rep_w, 3)
        os.set_inheritable(3, True)
        keep.add(3)
    for fd in os.listdir("/proc/self/fd"):
        n = int(fd)
        if n not in keep:
            try:
                os.close(n)
            except OSError:
                pass
    time_s = float(step.get("time_s", 10))
    cpu = int(time_s) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fsize = int(step.get("fsize_mb", 64)) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    mem = step.get("memory_mb")
    if mem:
        base = vm_data_kb() * 1024 if step.get("fork") else 0
        limit = base + int(mem) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    if step.get("user"):
        try:
            with open("/proc/self/oom_score_adj", "w") as fh:
                fh.write("1000")
        except OSError:
            pass
    os.chdir(step.get("cwd", WORKDIR))
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": WORKDIR, "LANG": "C.UTF-8",
           "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}
    env.update(step.get("env") or {})
    if rep_w is not None:
        env["CF_REPORT_FD"] = "3"
    fork = step.get("fork")
    if fork:
        # Same interpreter, modules already imported: run the module as __main__.
        import runpy

        os.environ.clear()
        os.environ.update(env)
        sys.argv = [fork["module"], *fork.get("argv", [])]
        sys.path[:] = [p for p in fork.get("path", [])] + [p for p in sys.path if p]
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - rebind the std streams to the pipes
        sys.stdout = open(1, "w", closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
        code = 0
        try:
            preloaded = sys.modules.get(fork["module"])
            if preloaded is not None and callable(getattr(preloaded, "main", None)):
                # Already imported (CF_PRELOAD): call its entry point; runpy would warn
                # about re-running an imported module and cost the import again.
                raise SystemExit(preloaded.main())
            runpy.run_module(fork["module"], run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - report like the interpreter would
            import traceback

            traceback.print_exc()
            code = 1
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        os._exit(code)
    argv = step["argv"]
    os.execvpe(argv[0], argv, env)


def start(step: dict) -> Running:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    rep_r, rep_w = os.pipe() if step.get("report") else (None, None)
    in_r, in_w = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            for fd in (out_r, err_r, in_w, rep_r):
                if fd is not None:
                    os.close(fd)
            child_setup(step, out_w, err_w, rep_w, in_r)
        except BaseException as exc:  # noqa: BLE001
            try:
                os.write(2, f"codefeedback agent: cannot start step: {exc}\n".encode())
            finally:
                os._exit(127)
    for fd in (out_w, err_w, in_r, rep_w):
        if fd is not None:
            os.close(fd)
    stdin = (step.get("stdin") or "").encode("utf-8", "surrogatepass")
    # Feed stdin from the agent without blocking: small inputs fit the pipe buffer; larger
    # ones are written as the child reads (non-blocking writes in the loop).
    os.set_blocking(in_w, False)
    fds = {out_r: "stdout", err_r: "stderr"}
    if rep_r is not None:
        fds[rep_r] = "report"
    run = Running(step, pid, fds, started)
    run.stdin_rest = stdin  # type: ignore[attr-defined]
    run.stdin_fd = in_w  # type: ignore[attr-defined]
    return run


def pump_stdin(run: Running) -> None:
    fd = getattr(run, "stdin_fd", None)
    if fd is None:
        return
    rest = run.stdin_rest  # type: ignore[attr-defined]
    try:
        while rest:
            n = os.write(fd, rest[:65536])
            rest = rest[n:]
    except BlockingIOError:
        pass
    except OSError:  # child closed stdin
        rest = b""
    run.stdin_rest = rest  # type: ignore[attr-defined]
    if not rest:
        os.close(fd)
        run.stdin_fd = None  # type: ignore[attr-defined]


def kill_group(run: Running) -> None:
    try:
        os.killpg(run.pid, signal.SIGKILL)
    except OSError:
        pass


def run_phase(steps: list[dict]) -> dict[str, dict]:
    """Run steps concurrently; return their results keyed by id."""
    sel = selectors.DefaultSelector()
    running: dict[int, Running] = {}
    results: dict[str, dict] = {}
    for step in steps:
        try:
            run = start(step)
        except OSError as exc:
            results[step["id"]] = {"status": "error", "message": f"cannot start: {exc}"}
            continue
        running[run.pid] = run
        for fd in run.fds:
            sel.register(fd, selectors.EVENT_READ, run)
        pump_stdin(run)
    open_fds = {fd for r in running.values() for fd in r.fds}
    exited: dict[int, tuple[int, object]] = {}
    while running:
        now = time.monotonic()
        timeout = max(0.0, min(r.deadline for r in running.values()) - now)
        for key, _ in sel.select(timeout=min(timeout, 0.05)):
            run = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(key.fd)
                os.close(key.fd)
                open_fds.discard(key.fd)
                continue
            stream = run.fds[key.fd]
            buf = run.buf[stream]
            if stream == "report":
                if len(buf) + len(chunk) > REPORT_CAP:
                    run.status = run.status or "output_limit"
                    kill_group(run)
                buf.extend(chunk[: max(0, REPORT_CAP - len(buf))])
                continue
            total = len(run.buf["stdout"]) + len(run.buf["stderr"])
            room = run.cap - total
            if len(chunk) > room:
                buf.extend(chunk[: max(0, room)])
                run.truncated = True
                if run.status is None:
                    run.status = "output_limit"
                kill_group(run)
            else:
                buf.extend(chunk)
        for run in running.values():
            pump_stdin(run)
        now = time.monotonic()
        for run in running.values():
            if run.pid not in exited and now >= run.deadline and run.status is None:
                run.status = "timeout"
                kill_group(run)
        reap_orphans(set(running))
        # reap
        for pid, run in list(running.items()):
            if pid not in exited:
                try:
                    wpid, wstatus, usage = os.wait4(pid, os.WNOHANG)
                except ChildProcessError:
                    wpid, wstatus, usage = pid, 0, None
                if wpid == pid:
                    exited[pid] = (wstatus, usage)
                    run.ended = time.monotonic()  # type: ignore[attr-defined]
                    # A child that exits while grandchildren hold its pipes open: kill them.
                    kill_group(run)
            if pid in exited and not any(fd in open_fds for fd in run.fds):
                wstatus, usage = exited[pid]
                results[run.step["id"]] = finish(run, wstatus, usage)
                if getattr(run, "stdin_fd", None) is not None:
                    os.close(run.stdin_fd)  # type: ignore[attr-defined]
                del running[pid]
            elif pid in exited and time.monotonic() > run.ended + 1.0:  # type: ignore[attr-defined]
                # Pipes held open by an escaped process (new session): stop waiting for EOF.
                for fd in run.fds:
                    if fd in open_fds:
                        sel.unregister(fd)
                        os.close(fd)
                        open_fds.discard(fd)
    sel.close()
    return results


def finish(run: Running, wstatus: int, usage: object) -> dict:
    code = os.waitstatus_to_exitcode(wstatus) if wstatus is not None else None
    exit_code, sig = (code, None) if code is not None and code >= 0 else (None, -code if code else None)
    end = getattr(run, "ended", time.monotonic())
    oom_after = read_oom_kills()
    oom = (
        sig == signal.SIGKILL
        and run.status is None
        and run.oom_before is not None
        and oom_after is not None
        and oom_after > run.oom_before
    )
    status = run.status or ("oom" if oom else ("signaled" if sig else "ok"))
    if sig == signal.SIGXCPU and run.status is None:
        status = "timeout"
    if sig == signal.SIGXFSZ and run.status is None:
        status = "output_limit"
    cpu_ms = memory_kb = None
    if usage is not None:
        cpu_ms = int((usage.ru_utime + usage.ru_stime) * 1000)  # type: ignore[attr-defined]
        memory_kb = int(usage.ru_maxrss)  # type: ignore[attr-defined]
    return {
        "status": status,
        "exit_code": exit_code,
        "signal": sig,
        "stdout": run.buf["stdout"].decode("utf-8", "replace"),
        "stderr": run.buf["stderr"].decode("utf-8", "replace"),
        "report": run.buf["report"].decode("utf-8", "replace") if run.step.get("report") else None,
        "truncated": run.truncated,
        "wall_ms": int((end - run.started) * 1000),
        "cpu_ms": cpu_ms,
        "memory_kb": memory_kb,
    }


def phases(steps: list[dict]) -> list[list[dict]]:
    """Group consecutive steps that share a non-empty `parallel` key."""
    out: list[list[dict]] = []
    for step in steps:
        group = step.get("parallel")
        if out and group and out[-1][0].get("parallel") == group:
            out[-1].append(step)
        else:
            out.append([step])
    return out


def run_job(job: dict) -> dict:
    os.umask(0o022)
    write_files(job.get("files", {}), job.get("modes", {}))
    results: dict[str, dict] = {}
    for phase in phases(job.get("steps", [])):
        ready = []
        for step in phase:
            needs = step.get("after") or []
            if all(results.get(n, {}).get("status") == "ok" and
                   results.get(n, {}).get("exit_code") == 0 for n in needs):
                ready.append(step)
            else:
                results[step["id"]] = {"status": "skipped"}
        if ready:
            results.update(run_phase(ready))
            sweep()
    return {"steps": results}


def main() -> int:
    t0 = time.monotonic()
    make_undumpable()
    if os.path.isdir(HARNESS_DIR):
        sys.path.insert(0, HARNESS_DIR)
    # Default dispositions: children start clean, and as PID 1 nothing inside the container
    # can then signal the agent (Python's own SIGINT handler would let `kill(1, SIGINT)` in).
    for sig in (signal.SIGPIPE, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    loaded = preload()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # Nothing else may ever write to the trusted channel: point fd 1 at stderr.
    os.dup2(2, 1)
    t_ready = time.monotonic()
    line = sys.stdin.buffer.readline(MAX_JOB_BYTES)
    if not line:
        return 0
    t_job = time.monotonic()
    nonce = "-"
    try:
        job = json.loads(line)
        nonce = str(job.get("nonce", "-"))
        result = run_job(job)
        result["agent"] = {"preloaded": loaded, "warm_ms": int((t_ready - t0) * 1000),
                           "idle_ms": int((t_job - t_ready) * 1000),
                           "job_ms": int((time.monotonic() - t_job) * 1000)}
    except Exception as exc:  # noqa: BLE001 - report, never hang
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sweep()
    out.write(f"{RESULT_PREFIX}:{nonce}:{json.dumps(result)}\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
