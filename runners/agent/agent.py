"""The in-container agent: runs job after job in one sandbox container (a *cell*), sweeping it
clean between jobs, and reports on its stdout.

Runs inside every sandbox container as the unprivileged sandbox user, with the standard library
only (it must work in every runner image). Trust model:

* The agent's stdout is the trusted result channel. Children never inherit it (their fds 0-2 are
  pipes, everything else is closed) and the agent makes itself non-dumpable, so a process of the
  same uid cannot open /proc/<agent>/fd/1 or ptrace the agent.
* The agent is the container's PID 1 (no docker-init): an init of the sandbox uid would be
  dumpable and share the container's stdout. As PID 1 it cannot be signalled from inside the
  container, and it reaps every orphan (it is also a child subreaper, for runs outside Docker).
* Heavy tools (``CF_TEMPLATES``) live in separate *template* processes, fork-servers started
  before the first job: each imports and warms its tools once, then for each ``fork`` step of
  its modules forks a fresh child that reads its step from the agent. A template never holds a
  job's data (it only receives file descriptors), never runs user code, and is checked after
  every job. A fork costs more the more memory the template has, so light steps (the syntax
  check, the script harness) have a light template of their own.
* Each step runs in its own session with every rlimit set by the child itself, a wall-clock
  deadline and an output cap. After every phase all other processes are stopped and killed.
* Between jobs the *sweep* (see `Cell.sweep`) empties every writable place without following
  symlinks, removes SysV IPC objects and POSIX message queues, and checks that the cell is back to
  its empty baseline (filesystems, memory, the agent's and the template's limits, priority,
  affinity and scheduling). Anything it cannot restore ends the agent: the cell is retired.

Protocol: one JSON job per line in; for each job two lines out:
``CFRESULT:<nonce>:<json>`` (the steps' results) and then, once swept,
``CFSWEPT:<nonce>:<json>`` (``{"clean": bool, "reason": str | null, "cleaned": {...}}``).
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import resource
import runpy  # noqa: F401 - imported here, so no forked step reads it from the image again
import selectors
import signal
import socket
import sys
import time
import traceback

WORKDIR = "/work"
WRITABLE = ("/work", "/tmp", "/dev/shm")
MQUEUE = "/dev/mqueue"
HARNESS_DIR = "/opt/codefeedback/harness"
RESULT_PREFIX = "CFRESULT"
SWEPT_PREFIX = "CFSWEPT"
MAX_JOB_BYTES = 64 * 1024 * 1024
REPORT_CAP = 8 * 1024 * 1024
PR_SET_NAME = 15
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
MEMORY_SLACK = 64 * 1024 * 1024  # anonymous + shmem growth of an idle cell that retires it
DEEP = 40  # directories deeper than this are moved up before removal (bounded fds, recursion)
RLIMITS = {name: getattr(resource, name) for name in dir(resource)
           if name.startswith("RLIMIT_") and isinstance(getattr(resource, name), int)}

_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option: int, arg: int | bytes) -> None:
    try:
        _libc.prctl(option, arg, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def set_name(name: str) -> None:
    """The process's comm name (what /proc/<pid>/comm shows): cf-agent, cf-template, cf-step."""
    prctl(PR_SET_NAME, name.encode()[:15])


def make_undumpable() -> None:
    """Hide /proc/<agent>/fd and forbid ptrace for same-uid processes."""
    prctl(PR_SET_DUMPABLE, 0)


# ---------------------------------------------------------------------------------- /proc helpers
def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


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


def cgroup_anon_bytes() -> int | None:
    """Anonymous memory + tmpfs pages charged to the container (v2 or v1 memory.stat)."""
    for path, keys in (("/sys/fs/cgroup/memory.stat", ("anon", "shmem")),
                       ("/sys/fs/cgroup/memory/memory.stat", ("total_rss", "total_shmem"))):
        try:
            with open(path) as fh:
                values = dict(line.split() for line in fh if line.strip())
            return sum(int(values.get(k, 0)) for k in keys)
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
    """Collect exited orphans (never a step of `ours`, whose status `run_phase` collects)."""
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


def others(spare: set[int]) -> list[tuple[int, str]]:
    """Live processes (pid, state) in the container other than the agent and `spare`."""
    out = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me or pid in spare:
            continue
        st = proc_stat(pid)
        if st is not None and st[0] not in ("Z", "X"):
            out.append((pid, st[0]))
    return out


def kill_others(spare: set[int]) -> int | None:
    """Stop, then kill, every process but the agent and `spare`; the number killed, or None
    when the container could not be emptied (the cell must then be retired).

    Processes are stopped before they are killed, so a fork bomb cannot outrun the sweep: a
    stopped process cannot fork, and the kill comes once every survivor is stopped."""
    killed: set[int] = set()
    deadline = time.monotonic() + 5.0  # a large process takes a while to exit and free memory
    while time.monotonic() < deadline:
        reap_orphans()
        alive = others(spare)
        if not alive:
            return len(killed)
        running = [pid for pid, state in alive if state not in ("T", "t")]
        sig = signal.SIGSTOP if running else signal.SIGKILL
        for pid in running or [pid for pid, _ in alive]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
            except PermissionError:
                return None
            if sig == signal.SIGKILL:
                killed.add(pid)
        if sig == signal.SIGKILL or killed.issuperset(running):  # killed ones still exiting
            time.sleep(0.001 if len(killed) < 2 else 0.005)
    return None


# ------------------------------------------------------------------------------------ the sweep
class Counter:
    def __init__(self) -> None:
        self.entries = 0
        self.deep = 0


def _empty(dirfd: int, top: int, depth: int, count: Counter) -> None:
    """Remove everything in `dirfd` without following a symlink (fd-relative, O_NOFOLLOW)."""
    with os.scandir(dirfd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    for name, is_dir in entries:
        if is_dir:
            if depth >= DEEP:  # move the rest of a deep tree up; the next pass takes it
                count.deep += 1
                os.rename(name, f".cf-deep-{count.deep}", src_dir_fd=dirfd, dst_dir_fd=top)
                continue
            # no user process is alive now, so nothing can swap the directory for a link
            os.chmod(name, 0o700, dir_fd=dirfd)
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dirfd)
            try:
                _empty(sub, top, depth + 1, count)
            finally:
                os.close(sub)
            os.rmdir(name, dir_fd=dirfd)
        else:
            os.unlink(name, dir_fd=dirfd)
        count.entries += 1


def clear_dir(path: str) -> int:
    """Empty a writable mount (keeping the mount point); returns the entries removed."""
    count = Counter()
    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for _ in range(10000):
            before = (count.entries, count.deep)
            _empty(top, top, 0, count)
            with os.scandir(top) as it:
                if next(it, None) is None:
                    break
            if (count.entries, count.deep) == before:
                raise OSError(f"cannot empty {path}")
        for attr in os.listxattr(top):
            os.removexattr(top, attr)
            count.entries += 1
    finally:
        os.close(top)
    return count.entries


def clear_ipc() -> int:
    """Remove every SysV shared memory segment, semaphore set and message queue (the container
    has its own IPC namespace: all of them were made by jobs)."""
    removed = 0
    for kind, func in (("shm", "shmctl"), ("sem", "semctl"), ("msg", "msgctl")):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            ident = int(row.split()[1])
            if kind == "sem":
                rc = _libc.semctl(ident, 0, 0)  # IPC_RMID == 0
            else:
                rc = getattr(_libc, func)(ident, 0, None)
            if rc != 0:
                raise OSError(ctypes.get_errno(), f"cannot remove SysV {kind} {ident}")
            removed += 1
    return removed


def clear_mqueue() -> int:
    if not os.path.isdir(MQUEUE):
        return 0
    try:
        return clear_dir(MQUEUE)
    except PermissionError:
        return 0


SYS_IOPRIO_GET = {"x86_64": 252, "aarch64": 31}.get(os.uname().machine)
IOPRIO_WHO_PROCESS = 1


def ioprio_of(pid: int) -> int | None:
    """The I/O scheduling class and level (ioprio_get): user code may lower it on others of
    its uid, and children inherit it."""
    if SYS_IOPRIO_GET is None:
        return None
    value = _libc.syscall(SYS_IOPRIO_GET, IOPRIO_WHO_PROCESS, pid)
    return None if value < 0 else int(value)


class Posture:
    """What a process's limits, priority, I/O priority, affinity and scheduling look like;
    compared after every job, since user code (same uid) can lower them on the agent or a
    template."""

    @staticmethod
    def of(pid: int) -> dict:
        st = proc_stat(pid) or []
        try:
            with open(f"/proc/{pid}/limits") as fh:
                limits = fh.read()
        except OSError:
            limits = None
        try:
            affinity = sorted(os.sched_getaffinity(pid))
        except OSError:
            affinity = None
        return {"limits": limits, "nice": st[16] if len(st) > 16 else None,
                "policy": st[38] if len(st) > 38 else None, "affinity": affinity,
                "ioprio": ioprio_of(pid)}


# ---------------------------------------------------------------------------------- the steps
def child_setup(step: dict, out_w: int, err_w: int, rep_w: int | None, in_r: int) -> None:
    """In the forked child: new session, every limit, clean fds, then exec or run a module."""
    set_name("cf-step")
    os.setsid()
    os.umask(0o022)
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
    # Every rlimit from the cell's baseline first: nothing a previous process changed carries.
    for name, (soft, hard) in (step.get("rlimits") or {}).items():
        if name in RLIMITS:
            resource.setrlimit(RLIMITS[name], (soft, hard))
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
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": WORKDIR,
           "LANG": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONIOENCODING": "utf-8"}
    env.update(step.get("env") or {})
    if rep_w is not None:
        env["CF_REPORT_FD"] = "3"
    fork = step.get("fork")
    if fork:
        run_module(fork, env)
    argv = step["argv"]
    os.execvpe(argv[0], argv, env)


def run_module(fork: dict, env: dict) -> None:
    """Same interpreter, modules already imported (the template's): run the module as
    __main__, then exit with its status."""
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [fork["module"], *fork.get("argv", [])]
    sys.path[:] = list(fork.get("path", [])) + [p for p in sys.path if p]
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - rebind the std streams to the pipes
    sys.stdout = open(1, "w", closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, encoding="utf-8", errors="replace")  # noqa: SIM115
    code = 0
    try:
        preloaded = sys.modules.get(fork["module"])
        if preloaded is not None and callable(getattr(preloaded, "main", None)):
            # Already imported: call its entry point (runpy would import it again and warn).
            raise SystemExit(preloaded.main())
        runpy.run_module(fork["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - report like the interpreter would
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    os._exit(code)


# ------------------------------------------------------------------------------ the template
def preload(modules: list[str], warmup: str) -> list[str]:
    """Import heavy analysers/test runners and warm them (in a template only)."""
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception:  # a missing optional tool must not kill the agent
            pass
    if warmup:
        module, _, func = warmup.partition(":")
        try:
            getattr(importlib.import_module(module), func or "main")()
            loaded.append(warmup)
        except BaseException:  # noqa: BLE001 - warm-up is an optimisation only
            pass
    return loaded


def template_specs() -> list[tuple[str, list[str], str]]:
    """(name, modules, warm-up) of each template, from the image's environment:
    ``CF_TEMPLATES="light=mod,mod;heavy=mod@module:function"`` (forking costs grow with a
    template's memory, so light steps get a light template), or the single-template
    ``CF_PRELOAD`` / ``CF_WARMUP``."""
    specs = []
    for part in filter(None, os.environ.get("CF_TEMPLATES", "").split(";")):
        name, _, rest = part.partition("=")
        mods, _, warm = rest.partition("@")
        specs.append((name.strip(), [m.strip() for m in mods.split(",") if m.strip()],
                      warm.strip()))
    if not specs and (os.environ.get("CF_PRELOAD") or os.environ.get("CF_WARMUP")):
        specs.append(("default", [m.strip() for m in os.environ.get("CF_PRELOAD", "").split(",")
                                  if m.strip()], os.environ.get("CF_WARMUP", "")))
    return specs


def template_main(sock: socket.socket, modules: list[str], warmup: str) -> None:
    """The fork-server loop. Receives fds only; each request forks a child that forks the step
    and exits, so the step is re-parented to the agent (PID 1 / subreaper), which waits for it."""
    set_name("cf-template")
    loaded = preload(modules, warmup)
    # Everything imported so far is moved out of the collector's reach: a forked child's
    # collections then do not write to (and copy) the template's pages.
    gc.collect()
    gc.freeze()
    sock.sendall(json.dumps({"ready": loaded}).encode() + b"\n")
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 16, 8)
        except OSError:
            os._exit(1)
        if not msg:
            os._exit(0)
        r, w = os.pipe()
        first = os.fork()
        if first == 0:
            try:
                pid = os.fork()
                if pid == 0:
                    os.close(r)
                    os.close(w)
                    sock.close()
                    step_child(fds)
                os.write(w, str(pid).encode())
            finally:
                os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 32):
            data += chunk
        os.close(r)
        os.waitpid(first, 0)
        for fd in fds:
            os.close(fd)
        try:
            sock.sendall((data or b"-1") + b"\n")
        except OSError:
            os._exit(1)


def step_child(fds: list[int]) -> None:
    """A fresh child of the template: read the step from the agent (never via the template)."""
    try:
        ctl, in_r, out_w, err_w, *rest = fds
        data = b""
        while chunk := os.read(ctl, 65536):
            data += chunk
        os.close(ctl)
        step = json.loads(data)
        child_setup(step, out_w, err_w, rest[0] if rest else None, in_r)
    except BaseException as exc:  # noqa: BLE001
        try:
            os.write(2, f"codefeedback agent: cannot start step: {exc}\n".encode())
        finally:
            os._exit(127)


class Template:
    """The agent's handle on one fork-server."""

    def __init__(self, name: str, modules: list[str], warmup: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                template_main(theirs, modules, warmup)
            finally:
                os._exit(1)
        theirs.close()
        self.name = name
        self.modules = modules
        self.pid = pid
        self.sock = ours
        self.file = ours.makefile("rb")
        self.loaded: list[str] = []

    def wait_ready(self) -> None:
        self.sock.settimeout(300)
        line = self.file.readline(65536)
        # a fork takes milliseconds; a template stopped by user code must not hang the agent
        self.sock.settimeout(20)
        if not line:
            raise OSError(f"the template {self.name} did not start")
        self.loaded = json.loads(line).get("ready", [])

    def serves(self, module: str) -> bool:
        return any(m == module or m.startswith(module + ".") or module.startswith(m + ".")
                   for m in self.modules)

    def spawn(self, fds: list[int]) -> int:
        socket.send_fds(self.sock, [b"F"], fds)
        line = self.file.readline(64)
        pid = int(line or b"-1")
        if pid <= 0:
            raise OSError("the template could not fork")
        return pid

    def state(self) -> str | None:
        """None while healthy, else why not."""
        st = proc_stat(self.pid)
        if st is None or st[0] in ("Z", "X"):
            return "template-dead"
        if st[0] in ("T", "t"):
            return "template-stopped"
        try:
            with open(f"/proc/{self.pid}/comm") as fh:
                if fh.read().strip() != "cf-template":
                    return "template-replaced"
        except OSError:
            return "template-dead"
        return None


# ------------------------------------------------------------------------------ running steps
class Running:
    """One started step: its pid, pipes and what has been read so far."""

    def __init__(self, step: dict, pid: int, fds: dict[int, str], started: float) -> None:
        self.step = step
        self.pid = pid
        self.fds = fds  # fd -> "stdout" | "stderr" | "report"
        self.buf: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray(),
                                          "report": bytearray()}
        self.started = started
        self.ended = started
        self.deadline = started + float(step.get("time_s", 10))
        self.cap = int(step.get("output_kb", 64)) * 1024
        self.status: str | None = None  # timeout | output_limit when the agent killed it
        self.truncated = False
        self.oom_before = read_oom_kills()
        self.stdin_rest = b""
        self.stdin_fd: int | None = None
        self.pidfd: int | None = None  # readable once the process has exited


def pick(templates: list[Template], step: dict) -> Template | None:
    """The template that has the step's module preloaded (else the last, the fullest)."""
    fork = step.get("fork")
    if not fork or not templates:
        return None
    return next((t for t in templates if t.serves(fork["module"])), templates[-1])


def start(step: dict, template: Template | None) -> Running:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    rep_r, rep_w = os.pipe() if step.get("report") else (None, None)
    in_r, in_w = os.pipe()
    started = time.monotonic()
    mine = [out_w, err_w, in_r] + ([rep_w] if rep_w is not None else [])
    if template is not None:
        ctl_r, ctl_w = os.pipe()
        try:
            pid = template.spawn([ctl_r, in_r, out_w, err_w] + ([rep_w] if rep_w else []))
        except (OSError, ValueError):
            for fd in (out_r, err_r, in_w, ctl_w, ctl_r, *mine, rep_r):
                if fd is not None:
                    os.close(fd)
            raise
        os.close(ctl_r)
        data = json.dumps(step).encode()
        while data:
            data = data[os.write(ctl_w, data):]
        os.close(ctl_w)
    else:
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
    for fd in mine:
        os.close(fd)
    # Feed stdin without blocking: small inputs fit the pipe; larger ones as the child reads.
    os.set_blocking(in_w, False)
    fds = {out_r: "stdout", err_r: "stderr"}
    if rep_r is not None:
        fds[rep_r] = "report"
    run = Running(step, pid, fds, started)
    run.stdin_rest = (step.get("stdin") or "").encode("utf-8", "surrogatepass")
    run.stdin_fd = in_w
    try:
        run.pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):  # no pidfds: the phase loop polls more often instead
        run.pidfd = None
    return run


def pump_stdin(run: Running) -> None:
    fd = run.stdin_fd
    if fd is None:
        return
    rest = run.stdin_rest
    try:
        while rest:
            n = os.write(fd, rest[:65536])
            rest = rest[n:]
    except BlockingIOError:
        pass
    except OSError:  # child closed stdin
        rest = b""
    run.stdin_rest = rest
    if not rest:
        os.close(fd)
        run.stdin_fd = None


def kill_group(run: Running) -> None:
    try:
        os.killpg(run.pid, signal.SIGKILL)
    except OSError:
        pass


def run_phase(steps: list[dict], templates: list[Template]) -> dict[str, dict]:
    """Run steps concurrently; return their results keyed by id."""
    sel = selectors.DefaultSelector()
    running: dict[int, Running] = {}
    results: dict[str, dict] = {}
    for step in steps:
        try:
            run = start(step, pick(templates, step))
        except (OSError, ValueError) as exc:
            results[step["id"]] = {"status": "error", "message": f"cannot start: {exc}"}
            continue
        running[run.pid] = run
        for fd in run.fds:
            sel.register(fd, selectors.EVENT_READ, run)
        if run.pidfd is not None:
            sel.register(run.pidfd, selectors.EVENT_READ, run)
        pump_stdin(run)
    open_fds = {fd for r in running.values() for fd in r.fds}
    poll = 0.05 if all(r.pidfd is not None for r in running.values()) else 0.005
    exited: dict[int, tuple[int | None, object]] = {}
    while running:
        now = time.monotonic()
        timeout = max(0.0, min(r.deadline for r in running.values()) - now)
        for key, _ in sel.select(timeout=min(timeout, poll)):
            run = key.data
            if key.fd == run.pidfd:  # exited: collected below
                sel.unregister(key.fd)
                continue
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
        for pid, run in list(running.items()):
            if pid not in exited:
                try:
                    wpid, wstatus, usage = os.wait4(pid, os.WNOHANG)
                except ChildProcessError:  # not ours: never count that as a clean exit
                    wpid, wstatus, usage = pid, None, None
                    run.status = run.status or "lost"
                if wpid == pid:
                    exited[pid] = (wstatus, usage)
                    run.ended = time.monotonic()
                    # A child that exits while grandchildren hold its pipes open: kill them.
                    kill_group(run)
            if pid in exited and not any(fd in open_fds for fd in run.fds):
                wstatus, usage = exited[pid]
                results[run.step["id"]] = finish(run, wstatus, usage)
                if run.stdin_fd is not None:
                    os.close(run.stdin_fd)
                if run.pidfd is not None:
                    if run.pidfd in sel.get_map():
                        sel.unregister(run.pidfd)
                    os.close(run.pidfd)
                del running[pid]
            elif pid in exited and time.monotonic() > run.ended + 1.0:
                # Pipes held open by an escaped process (new session): stop waiting for EOF.
                for fd in run.fds:
                    if fd in open_fds:
                        sel.unregister(fd)
                        os.close(fd)
                        open_fds.discard(fd)
    sel.close()
    return results


def finish(run: Running, wstatus: int | None, usage: object) -> dict:
    code = os.waitstatus_to_exitcode(wstatus) if wstatus is not None else None
    exit_code, sig = (code, None) if code is not None and code >= 0 else (None, -code if code else None)
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
        "wall_ms": int((run.ended - run.started) * 1000),
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


# ---------------------------------------------------------------------------------- the cell
class Cell:
    """The agent's view of its container: the baseline an empty cell returns to after a job."""

    def __init__(self, templates: list[Template]) -> None:
        self.templates = templates
        self.spare = {t.pid for t in templates}
        self.rlimits = {name: resource.getrlimit(res) for name, res in RLIMITS.items()}
        self.killed = 0  # processes the sweeps of the current job killed
        self.broken: str | None = None  # a phase sweep that could not finish
        self.clear()  # whatever the warm-up left behind
        self.fs = self.fs_usage()
        self.posture = {pid: Posture.of(pid) for pid in (os.getpid(), *self.spare)}
        self.memory = cgroup_anon_bytes()
        self.oom = read_oom_kills()

    @staticmethod
    def fs_usage() -> dict[str, tuple[int, int]]:
        out = {}
        for path in WRITABLE:
            try:
                st = os.statvfs(path)
                out[path] = (st.f_bfree, st.f_ffree)
            except OSError:
                continue
        return out

    def clear(self) -> dict[str, int]:
        try:
            os.chmod(WORKDIR, 0o700)
        except OSError:
            pass
        files = sum(clear_dir(p) for p in WRITABLE if os.path.isdir(p))
        return {"files": files, "ipc": clear_ipc(), "mqueue": clear_mqueue()}

    def kill_others(self) -> None:
        n = kill_others(self.spare)
        if n is None:
            self.broken = "survivor"
        else:
            self.killed += n

    def run_job(self, job: dict) -> dict:
        os.umask(0o022)
        self.killed = 0
        write_files(job.get("files", {}), job.get("modes", {}))
        baseline = {name: list(v) for name, v in self.rlimits.items()}
        results: dict[str, dict] = {}
        for phase in phases(job.get("steps", [])):
            ready = []
            for step in phase:
                needs = step.get("after") or []
                if all(results.get(n, {}).get("status") == "ok" and
                       results.get(n, {}).get("exit_code") == 0 for n in needs):
                    ready.append({**step, "rlimits": baseline})
                else:
                    results[step["id"]] = {"status": "skipped"}
            if ready:
                results.update(run_phase(ready, self.templates))
                self.kill_others()
        return {"steps": results}

    def sweep(self, job_files: int) -> dict:
        """Empty the cell and check it against its baseline; `clean` False retires it."""
        reason = self.broken
        self.broken = None
        self.kill_others()
        reason = reason or self.broken
        cleaned = {"processes": self.killed}
        try:
            found = self.clear()
            found["files"] = max(0, found["files"] - job_files)
            cleaned.update(found)
        except OSError as exc:
            reason = reason or "leftover"
            cleaned["error"] = str(exc)  # type: ignore[assignment]
        if reason is None and self.fs_usage() != self.fs:
            reason = "leftover"
        for template in self.templates:
            reason = reason or template.state()
        if reason is None:
            for pid, before in self.posture.items():
                if Posture.of(pid) != before:
                    reason = "limits-changed"
        if reason is None and os.umask(0o022) != 0o022:
            reason = "limits-changed"
        oom = read_oom_kills()
        if reason is None and oom is not None and self.oom is not None and oom > self.oom:
            reason = "oom"
        memory = cgroup_anon_bytes()
        if reason is None and memory is not None and self.memory is not None \
                and memory > self.memory + MEMORY_SLACK:
            reason = "memory"
        return {"clean": reason is None, "reason": reason, "cleaned": cleaned}


def main() -> int:
    t0 = time.monotonic()
    set_name("cf-agent")
    make_undumpable()
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    if os.path.isdir(HARNESS_DIR):
        sys.path.insert(0, HARNESS_DIR)
    # Default dispositions: children start clean, and as PID 1 nothing inside the container
    # can then signal the agent (Python's own SIGINT handler would let `kill(1, SIGINT)` in).
    for sig in (signal.SIGPIPE, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    templates = [Template(*spec) for spec in template_specs()]  # they warm up side by side
    for template in list(templates):
        try:
            template.wait_ready()
        except (OSError, ValueError) as exc:
            print(f"codefeedback agent: {exc}; its steps fork elsewhere", file=sys.stderr)
            templates.remove(template)
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # Nothing else may ever write to the trusted channel: point fd 1 at stderr.
    os.dup2(2, 1)
    cell = Cell(templates)
    warm_ms = int((time.monotonic() - t0) * 1000)
    jobs = 0
    t_ready = time.monotonic()
    while True:
        line = sys.stdin.buffer.readline(MAX_JOB_BYTES)
        if not line:
            return 0
        t_job = time.monotonic()
        jobs += 1
        nonce = "-"
        files = 0
        try:
            job = json.loads(line)
            nonce = str(job.get("nonce", "-"))
            files = len(job.get("files", {}))
            result = cell.run_job(job)
            result["agent"] = {"preloaded": [m for t in templates for m in t.loaded],
                               "warm_ms": warm_ms, "idle_ms": int((t_job - t_ready) * 1000),
                               "job_ms": int((time.monotonic() - t_job) * 1000), "jobs": jobs}
        except Exception as exc:  # noqa: BLE001 - report, never hang
            result = {"error": f"{type(exc).__name__}: {exc}"}
            cell.broken = cell.broken or "protocol"
        out.write(f"{RESULT_PREFIX}:{nonce}:{json.dumps(result)}\n")
        out.flush()
        report = cell.sweep(files)
        report["sweep_ms"] = int((time.monotonic() - t_job) * 1000) - \
            result.get("agent", {}).get("job_ms", 0)
        out.write(f"{SWEPT_PREFIX}:{nonce}:{json.dumps(report)}\n")
        out.flush()
        if not report["clean"]:
            return 0  # the container stops; the worker retires the cell
        t_ready = time.monotonic()


if __name__ == "__main__":
    sys.exit(main())
