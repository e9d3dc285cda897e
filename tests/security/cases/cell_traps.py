"""Traps for cells (SECURITY.md "A cell must forget"): what job N leaves in its cell.

Each `Trap` is the code of job N. It sets its trap and prints proof lines (`proof`: strings
that must appear in its stdout, so a trap that silently failed to set anything cannot pass);
`ESCAPED` in its stdout means something that must be impossible worked (e.g. ptrace of the
template). Job N+1 is the probe of `cell_probe.py` in the same cell; it must find nothing.

Python traps run as the solution of a `script` job: the trap code runs at import, in a child
forked from the cell's template (`cf-template`), the path where a fork-server could leak; a few
also run as a plain program (`exec`: `python3 -I solution.py`, no tests). C traps run as
`./prog` (tests None). A process trap double-forks into a new session (`daemon()`), so the
process outlives the step unless the agent kills it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBE_SOURCE = (Path(__file__).parent / "cell_probe.py").read_text()
# Uniform limits, and the service's default memory_mb (512): cells are kept per image and
# memory limit, and the warm cells have the default one, so with one idle cell per image a job
# of another memory_mb would always get a new cell and the pair would test nothing.
LIMITS = {"time_s": 5, "memory_mb": 512, "output_kb": 64}


@dataclass(frozen=True)
class Trap:
    name: str
    language: str  # python | c
    code: str
    proof: tuple[str, ...]
    mode: str = "script"  # python: script (forked from the template) | exec; c: exec
    limits: dict[str, Any] = field(default_factory=dict)
    needs_template: bool = False  # the trap aims at cf-template (Python cells only)

    @property
    def key(self) -> str:
        return f"{self.language}-{self.name}" + ("-exec" if self.mode == "exec" and
                                                 self.language == "python" else "")


# =============================================================================== Python
PY_HEAD = r'''
import ctypes, errno, mmap, os, resource, signal, socket, stat, sys, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ARCH = os.uname().machine
HOME = os.environ.get("HOME", "/work")
CWD = os.getcwd()
TRAP_DONE = 0


def say(*args):
    print(*args, flush=True)


def err():
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


def set_name(name):
    libc.prctl(15, name.encode()[:15], 0, 0, 0)


def daemon(body, name="cfs-trap-daemon"):
    """Double fork into a new session; body(ready) runs in the grandchild, which is re-parented
    away from the step, and must call ready(msg) once its trap is set."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setsid()
            if os.fork():
                os._exit(0)
            set_name(name)
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)

            def ready(msg="ready"):
                os.write(w, msg.encode())
                os.close(w)

            body(ready)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    got = b""
    while True:
        chunk = os.read(r, 256)
        if not chunk:
            break
        got += chunk
    os.close(r)
    return got.decode()


def template_pids():
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as fh:
                    if fh.read().strip() == "cf-template":
                        out.append(int(d))
            except OSError:
                pass
    return sorted(out)


def targets():
    """PID 1 (the agent) and the templates, the processes a job must not be able to change."""
    out = [(1, "pid1")]
    for tpl in template_pids():
        out.append((tpl, "cf-template"))
        say(f"found cf-template {tpl}")
    return out


def attempt(label, fn):
    try:
        fn()
        say(f"{label}: ok")
        return True
    except OSError as exc:
        say(f"{label}: {type(exc).__name__} {exc.errno}")
        return False


def write(path, data="cfs-trap\n", mode=0o644):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        os.write(fd, data.encode() if isinstance(data, str) else data)
        os.close(fd)
        return 1
    except OSError:
        return 0


def sleep_forever():
    while True:
        time.sleep(1)

'''

PY_TAIL = "\nTRAP_DONE = 1\n"

# ------------------------------------------------------------------- processes
DAEMON = r'''
def body(ready):
    ready("spawned")
    i = 0
    while True:
        for path in ("/work/cfs-trap-daemon-beat", "/tmp/cfs-trap-daemon-beat",
                     "/dev/shm/cfs-trap-daemon-beat"):
            write(path, str(i))
        i += 1
        time.sleep(0.02)


say(daemon(body))
'''

IGNORES_SIGNALS = r'''
def body(ready):
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2, signal.SIGALRM, signal.SIGPIPE, signal.SIGXCPU, signal.SIGXFSZ,
              signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGVTALRM, signal.SIGPROF):
        signal.signal(s, signal.SIG_IGN)
    ready("sleeping in a new session, ignoring signals")
    sleep_forever()


say(daemon(body, "cfs-trap-sleep"))
'''

SELF_SIGSTOP = r'''
def body(ready):
    ready("stopping myself")
    os.kill(os.getpid(), signal.SIGSTOP)
    while True:  # only if someone continues it
        write("/tmp/cfs-trap-continued")
        time.sleep(0.05)


def body2(ready):
    pid = os.fork()
    if pid == 0:
        os.closerange(3, 1024)  # not the ready pipe: the parent reports
        os.kill(os.getpid(), signal.SIGSTOP)
        sleep_forever()
    while True:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "T":
                break
        time.sleep(0.01)
    ready("stopped child under a sleeping parent")
    sleep_forever()


say(daemon(body, "cfs-trap-stop"))
say(daemon(body2, "cfs-trap-stop2"))
'''

PID_HOPPER = r'''
def body(ready):
    ready("hopping")
    i = 0
    while True:
        try:
            if os.fork():
                os._exit(0)
        except OSError:
            pass
        i += 1
        if i % 20 == 0:
            write("/tmp/cfs-trap-hopper", str(os.getpid()))
        time.sleep(0.002)


say(daemon(body, "cfs-trap-hop"))
'''

BACKGROUND_FORK_BOMB = r'''
def body(ready):
    ready("forking until the pids limit")
    kids = 0
    while True:
        try:
            if os.fork() == 0:
                set_name("cfs-trap-bomb")
                sleep_forever()
            kids += 1
        except OSError:
            time.sleep(0.01)


say(daemon(body, "cfs-trap-bomb"))
time.sleep(0.5)
'''

MASQUERADE = r'''
def body(ready):
    ready("masquerading")
    sleep_forever()


say("as cf-template:", daemon(body, "cf-template"))
say("as cf-agent:", daemon(body, "cf-agent"))
tpl = [p for p, n in targets() if n == "cf-template"]
for pid in tpl:
    attempt("rename the template", lambda: open(f"/proc/{pid}/comm", "w").write("cfs-trap"))
'''

MEMORY_DAEMON = r'''
def body(ready):
    size = 200 * 2**20
    m = mmap.mmap(-1, size)  # shared anonymous: not counted by RLIMIT_DATA
    for off in range(0, size, 4096):
        m[off] = 1
    ready("holding 200 MiB")
    sleep_forever()


say(daemon(body, "cfs-trap-mem"))
'''

DELETED_OPEN = r'''
def body(ready):
    held = []
    for path, mib in (("/tmp/cfs-trap-deleted", 24), ("/work/cfs-trap-deleted", 24),
                      ("/dev/shm/cfs-trap-deleted", 8)):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        for _ in range(mib):
            os.write(fd, b"x" * 2**20)
        os.unlink(path)
        held.append(fd)
    ready("holding deleted files")
    sleep_forever()


say(daemon(body, "cfs-trap-held"))
'''

SOCKET_DAEMON = r'''
def body(ready):
    socks = []
    for addr in ("\0cfs-trap-abstract", "/tmp/cfs-trap-listen.sock", "/work/cfs-trap-listen.sock"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(addr)
        s.listen(8)
        socks.append(s)
    ready("listening")
    sleep_forever()


say(daemon(body, "cfs-trap-listen"))
'''

# ------------------------------------------------------------------- files
FILES_EVERYWHERE = r'''
planted = 0
names = ("cfs-trap-file", ".cfs-trap-hidden", "json.py", "sitecustomize.py", "usercustomize.py",
         "conftest.py", "pytest.ini", "test_solution.py", "cfs-trap.pth", ".pythonrc.py",
         ".bashrc", ".profile")
for d in ("/work", CWD, HOME, "/tmp", "/dev/shm", "/var/tmp", "/run", "/dev"):
    for name in names:
        planted += write(os.path.join(d, name), "raise SystemExit('cfs-trap planted module')\n")
for d in (f"{HOME}/.config/cfs-trap", f"{HOME}/.local/lib/python3.11/site-packages",
          f"{HOME}/.cache/pip", "/tmp/cfs-trap-dir/a/b/c"):
    os.makedirs(d, exist_ok=True)
    planted += write(os.path.join(d, "cfs-trap.pth"), "import os; os._exit(3)\n")
say(f"planted {planted} files")
'''

ODD_NAMES = r'''
made = 0
for base in ("/work", "/tmp", "/dev/shm"):
    for name in ("cfs-trap-\nnewline", "cfs-trap-" + "x" * 246, "-rf cfs-trap", " cfs-trap ",
                 "...", "cfs-trap-\\back", "cfs-trap-*?[", "cfs-trap-\t\r"):
        made += write(os.path.join(base, name))
    made += write(os.path.join(base, "cfs-trap-").encode() + b"\xff\xfe\x80")
    try:
        os.mkdir(os.path.join(base, "...d"))
        made += write(os.path.join(base, "...d", "..."))
    except OSError:
        pass
say(f"odd names {made}")
'''

UNREADABLE_DIRS = r'''
made = 0
for base in ("/work", "/tmp", "/dev/shm"):
    locked = os.path.join(base, "cfs-trap-locked")
    os.makedirs(os.path.join(locked, "inner"), exist_ok=True)
    made += write(os.path.join(locked, "inner", "file"))
    made += write(os.path.join(locked, "file"))
    os.chmod(os.path.join(locked, "inner"), 0)
    os.chmod(locked, 0)
    for name, mode in (("cfs-trap-ro", 0o500), ("cfs-trap-noread", 0o300),
                       ("cfs-trap-nosearch", 0o600)):
        d = os.path.join(base, name)
        os.mkdir(d)
        made += write(os.path.join(d, "file"))
        os.chmod(d, mode)
    made += write(os.path.join(base, "cfs-trap-000"), mode=0)
say(f"locked {made} files")
'''

CHMOD_WORKDIR = r'''
for path in ("/tmp", "/dev/shm"):
    attempt(f"chmod {path} 000", lambda: os.chmod(path, 0))
write(os.path.join(CWD, "cfs-trap-inside"))
attempt(f"chmod {CWD} 000", lambda: os.chmod(CWD, 0))
if HOME != CWD:
    attempt(f"chmod {HOME} 000", lambda: os.chmod(HOME, 0))
'''

DEEP_TREE = r'''
def deep(base, levels):
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir("cfs-trap-deep", dir_fd=fd)
        nfd = os.open("cfs-trap-deep", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    os.symlink("/", "root", dir_fd=fd)
    os.fchmod(fd, 0)
    os.close(fd)
    return levels


say("deep", deep("/work", 2000), deep("/tmp", 2000), deep("/dev/shm", 500))
'''

SYMLINKS_OUTSIDE = r'''
made = 0
links = {"cfs-trap-root": "/", "cfs-trap-etc": "/etc", "cfs-trap-passwd": "/etc/passwd",
         "cfs-trap-proc1root": "/proc/1/root", "cfs-trap-proc1cwd": "/proc/1/cwd",
         "cfs-trap-loop": "cfs-trap-loop", "cfs-trap-dangling": "/nonexistent/cfs-trap",
         "cfs-trap-work": "/work", "cfs-trap-tmp": "/tmp", "cfs-trap-shm": "/dev/shm",
         "cfs-trap-dotdot": "../../../.."}
for base in ("/work", "/tmp", "/dev/shm"):
    for name, target in links.items():
        os.symlink(target, os.path.join(base, name))
        made += 1
    os.mkdir(os.path.join(base, "cfs-trap-dir"))
    os.symlink("..", os.path.join(base, "cfs-trap-dir", "up"))
    os.symlink("/etc", os.path.join(base, "cfs-trap-dir", "etc"))
    made += 2
for name, target in ((".cache", "/etc"), (".config", "/"), (".local", "/proc/self")):
    try:
        os.symlink(target, os.path.join(HOME, name))
        made += 1
    except OSError:
        pass
say(f"symlinks {made}")
'''

SYMLINKS_AT_JOB_PATHS = r'''
made = 0
for name, target in (("solution.py", "/etc/passwd"), ("test_script.py", "/tmp/cfs-trap-target"),
                     ("test_solution.py", "/etc/shadow"), ("solution.c", "/tmp/cfs-trap-target2"),
                     ("probe.py", "/etc/hostname"), ("prog", "/bin/sh"),
                     ("cf_script.c", "/etc/passwd"), ("prog_script", "/bin/sh")):
    for base in {CWD, "/work"}:
        path = os.path.join(base, name)
        try:
            os.unlink(path)
        except OSError:
            pass
        try:
            os.symlink(target, path)
            made += 1
        except OSError:
            pass
say(f"symlinks at job paths {made}")
'''

FIFOS = r'''
made = 0
for base in ("/work", "/tmp", "/dev/shm", HOME):
    try:
        os.mkfifo(os.path.join(base, "cfs-trap-fifo"))
        made += 1
    except OSError:
        pass
for name in ("solution.py", "test_script.py", "test_solution.py", "solution.c", "prog",
             "probe.py", "cf_script.c"):
    path = os.path.join(CWD, name)
    try:
        os.unlink(path)
    except OSError:
        pass
    os.mkfifo(path)
    made += 1
say(f"fifos {made}")
'''

UNIX_SOCKET_FILES = r'''
made = 0
for path in ("/work/cfs-trap.sock", "/tmp/cfs-trap.sock", "/dev/shm/cfs-trap.sock",
             os.path.join(CWD, "test_solution.py"), os.path.join(CWD, "solution.c")):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.close()
    made += 1
say(f"socket files {made}")
'''

# ------------------------------------------------------------------- IPC
SYSV_SHM = r'''
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
made = []
for key, size, mode in ((0xCF5001, 32 * 2**20, 0o600), (0, 4 * 2**20, 0), (0xCF5011, 4096, 0o666)):
    ident = libc.shmget(key, size, 0o1000 | mode)  # IPC_CREAT
    if ident < 0:
        say(f"shmget {key:#x}: {err()}")
        continue
    if mode:
        addr = libc.shmat(ident, None, 0)
        if addr not in (None, ctypes.c_void_p(-1).value):
            ctypes.memset(addr, ord("x"), size)
            ctypes.memmove(addr, b"cfs-trap", 8)
            libc.shmdt(ctypes.c_void_p(addr))
    made.append(ident)
say(f"shm segments {made}")
'''

SYSV_SEM = r'''
made = []
for key, mode in ((0xCF5002, 0o600), (0, 0)):
    ident = libc.semget(key, 4, 0o1000 | mode)
    if ident < 0:
        say(f"semget: {err()}")
        continue
    if mode:
        libc.semctl(ident, 0, 16, ctypes.c_int(5))  # SETVAL
    made.append(ident)
say(f"semaphore sets {made}")
'''

SYSV_MSG = r'''
class Msg(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 64)]


made = []
for key, mode in ((0xCF5003, 0o600), (0, 0o600)):
    ident = libc.msgget(key, 0o1000 | mode)
    if ident < 0:
        say(f"msgget: {err()}")
        continue
    m = Msg(1, b"cfs-trap message")
    if libc.msgsnd(ident, ctypes.byref(m), 16, 0) != 0:
        say(f"msgsnd: {err()}")
    made.append(ident)
say(f"message queues {made}")
'''

POSIX_MQ = r'''
mq_open = getattr(libc, "mq_open", None) or ctypes.CDLL("librt.so.1", use_errno=True).mq_open
mq_send = getattr(libc, "mq_send", None) or ctypes.CDLL("librt.so.1", use_errno=True).mq_send
made = 0
for name, mode in ((b"/cfs-trap-mq", 0o600), (b"/cfs-trap-mq2", 0)):
    fd = mq_open(name, os.O_CREAT | os.O_RDWR, mode, None)
    if fd < 0:
        say(f"mq_open {name}: {err()}")
        continue
    mq_send(fd, b"cfs-trap", 8, 0)
    made += 1
say(f"posix queues {made}", sorted(os.listdir("/dev/mqueue")) if os.path.isdir("/dev/mqueue") else "")
'''

POSIX_SHM_SEM = r'''
fd = libc.shm_open(b"/cfs-trap-pshm", os.O_CREAT | os.O_RDWR, 0o600)
if fd >= 0:
    os.ftruncate(fd, 4 * 2**20)
    os.write(fd, b"cfs-trap")
    os.close(fd)
libc.sem_open.restype = ctypes.c_void_p
sem = libc.sem_open(b"/cfs-trap-psem", os.O_CREAT, 0o600, 3)
say("posix shm and semaphore", sorted(os.listdir("/dev/shm")))
'''

KEYRING = r'''
nr = {"x86_64": 248, "aarch64": 217}.get(ARCH)
if nr is None:
    say("add_key: unknown architecture")
else:
    key = libc.syscall(nr, b"user", b"cfs-trap-key", b"cfs-trap", 8, -4)  # user keyring
    say("add_key succeeded" if key >= 0 else f"add_key denied {err()}")
'''

XATTRS = r'''
for path in sorted({"/work", CWD, HOME, "/tmp", "/dev/shm"}):
    attempt(f"setxattr {path}", lambda: os.setxattr(path, "user.cfs-trap", b"1"))
'''

# ------------------------------------------------------------------- the cell's own processes
UMASK = r'''
old = os.umask(0)
write(os.path.join(CWD, "cfs-trap-umask"), mode=0o777)
say(f"umask {old:o} -> 000")
'''

ENVIRON = r'''
os.environ["CFS_TRAP_ENV"] = "cfs-trap"
os.environ["PATH"] = "/work/cfs-trap-bin:" + os.environ.get("PATH", "")
os.environ["PYTHONPATH"] = "/work/cfs-trap"
os.environ["PYTHONSTARTUP"] = "/work/cfs-trap.py"
os.environ["LD_PRELOAD"] = "/work/cfs-trap.so"
os.environ["HOME"] = "/tmp/cfs-trap-home"
os.putenv("CFS_TRAP_PUTENV", "cfs-trap")
libc.setenv(b"CFS_TRAP_SETENV", b"cfs-trap", 1)
say("environment changed")
'''

RLIMITS = r'''
lowered = 0
for pid, who in targets():
    used = 0
    try:
        with open(f"/proc/{pid}/stat") as fh:
            st = fh.read().rsplit(")", 1)[1].split()
        used = (int(st[11]) + int(st[12])) // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        pass
    for name, value in (("RLIMIT_NOFILE", 64), ("RLIMIT_NPROC", 64), ("RLIMIT_FSIZE", 2**20),
                        ("RLIMIT_CPU", used + 30), ("RLIMIT_AS", 8 * 2**30),
                        ("RLIMIT_MEMLOCK", 0), ("RLIMIT_MSGQUEUE", 0), ("RLIMIT_SIGPENDING", 16),
                        ("RLIMIT_LOCKS", 8), ("RLIMIT_STACK", 8 * 2**20), ("RLIMIT_CORE", 0)):
        res = getattr(resource, name, {"RLIMIT_LOCKS": 10}.get(name))  # Linux numbers
        try:
            resource.prlimit(pid, res, (value, value))
            lowered += 1
            say(f"lowered {who} {name}")
        except (OSError, ValueError) as exc:
            say(f"denied {who} {name} {type(exc).__name__}")
say(f"lowered {lowered} limits")
'''

RENICE = r'''
for pid, who in targets():
    attempt(f"reniced {who}", lambda: os.setpriority(os.PRIO_PROCESS, pid, 19))
attempt("reniced every process of the uid", lambda: os.setpriority(os.PRIO_USER, 0, 19))
'''

IOPRIO = r'''
nr = {"x86_64": 251, "aarch64": 30}.get(ARCH)
for pid, who in targets():
    rc = libc.syscall(nr, 1, pid, 3 << 13)  # IOPRIO_WHO_PROCESS, class IDLE
    say(f"ioprio idle {who}: " + ("ok" if rc == 0 else err()))
rc = libc.syscall(nr, 3, os.getuid(), 3 << 13)  # IOPRIO_WHO_USER
say("ioprio idle uid: " + ("ok" if rc == 0 else err()))
'''

SCHED_POLICY = r'''
for pid, who in targets():
    attempt(f"SCHED_IDLE {who}", lambda: os.sched_setscheduler(pid, os.SCHED_IDLE,
                                                              os.sched_param(0)))
'''

AFFINITY = r'''
cpus = sorted(os.sched_getaffinity(0))
say(f"cpus {cpus}")
for pid, who in targets():
    attempt(f"pinned {who}", lambda: os.sched_setaffinity(pid, {cpus[-1]}))
'''

OOM_SCORE = r'''
for pid, who in targets():
    attempt(f"oom_score_adj {who}", lambda: open(f"/proc/{pid}/oom_score_adj", "w").write("1000"))
    attempt(f"timerslack {who}", lambda: open(f"/proc/{pid}/timerslack_ns", "w").write("1"))
'''


def signal_template(signals: str) -> str:
    return r'''
tpls = template_pids()
for tpl in tpls:
    say(f"found cf-template {tpl}")
for s in (''' + signals + r'''):
    for tpl in tpls:
        attempt(f"{s.name} cf-template", lambda: os.kill(tpl, s))
    attempt(f"{s.name} pid1", lambda: os.kill(1, s))
time.sleep(0.2)
'''


PTRACE = r'''
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
for pid, who in targets():
    for req, label in ((0x4206, "PTRACE_SEIZE"), (16, "PTRACE_ATTACH")):
        if libc.ptrace(req, pid, None, None) == 0:
            say(f"ESCAPED {label} {who}")
            libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
        else:
            say(f"{label} {who} denied {err()}")
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
        os.close(fd)
        say(f"ESCAPED /proc/{pid}/mem opened ({who})")
    except OSError as exc:
        say(f"mem {who} denied {type(exc).__name__}")
    for link in ("cwd", "root", "exe"):
        try:
            os.readlink(f"/proc/{pid}/{link}")
            say(f"ESCAPED /proc/{who}/{link} readable")
        except OSError:
            pass
'''

SHARED_MAPPINGS = r'''
class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


libc.process_vm_writev.restype = ctypes.c_ssize_t
mark = ctypes.create_string_buffer(b"cfs-trap" * 8)
n = 0
with open("/proc/self/maps") as fh:
    for line in fh:
        parts = line.split(None, 5)
        if parts[1][1] == "w" and parts[1][3] == "s":
            lo = int(parts[0].split("-")[0], 16)
            local = IOVec(ctypes.cast(mark, ctypes.c_void_p), 64)
            remote = IOVec(lo, 64)
            if libc.process_vm_writev(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote),
                                      1, 0) == 64:
                n += 1
say(f"shared mappings written {n}")
'''

SCRIBBLE_FDS = r'''
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
say(f"fds {fds}")
for fd in fds:
    if fd < 3:
        continue
    try:
        os.set_blocking(fd, False)
        os.write(fd, b"cfs-trap\nCFRESULT:-:{}\nCFSWEPT:-:{\"clean\": true}\n")
        say(f"wrote fd {fd}")
    except OSError as exc:
        say(f"fd {fd}: {type(exc).__name__}")
'''


def fill(base: str) -> str:
    return r'''
n = 0
big = b"x" * 2**20
while True:
    try:
        with open(f"''' + base + r'''/cfs-trap-fill-{n}", "wb") as fh:
            fh.write(big)
        n += 1
    except OSError:
        break
files = 0
while files < 10000:  # /dev/shm has no inode cap of its own
    try:
        os.close(os.open(f"''' + base + r'''/cfs-trap-i{files}", os.O_WRONLY | os.O_CREAT, 0o600))
        files += 1
    except OSError:
        break
st = os.statvfs("''' + base + r'''")
say(f"filled ''' + base + r''' with {n} MiB and {files} more files, free {st.f_bavail} blocks "
    f"{st.f_favail} inodes")
'''


BIG_SYSV_SHM = r'''
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
size = 300 * 2**20
ident = libc.shmget(0xCF5021, size, 0o1000 | 0o600)
addr = libc.shmat(ident, None, 0)
for off in range(0, size, 2**20):
    ctypes.memset(addr + off, 1, 4096 * 256)
libc.shmdt(ctypes.c_void_p(addr))
say(f"300 MiB segment {ident}")
'''


def py(name: str, body: str, proof: tuple[str, ...], **kw: Any) -> Trap:
    return Trap(name, "python", PY_HEAD + body + PY_TAIL, proof, **kw)


PY_TRAPS = [
    py("daemon_double_fork", DAEMON, ("spawned",)),
    py("daemon_double_fork", DAEMON, ("spawned",), mode="exec"),
    py("setsid_ignores_signals", IGNORES_SIGNALS, ("sleeping in a new session",)),
    py("setsid_ignores_signals", IGNORES_SIGNALS, ("sleeping in a new session",), mode="exec"),
    py("self_sigstop", SELF_SIGSTOP, ("stopping myself", "stopped child")),
    py("pid_hopper", PID_HOPPER, ("hopping",)),
    py("background_fork_bomb", BACKGROUND_FORK_BOMB, ("forking until the pids limit",)),
    py("masquerade_as_template_and_agent", MASQUERADE, ("as cf-template: masquerading",
                                                         "as cf-agent: masquerading")),
    py("memory_daemon_200mb", MEMORY_DAEMON, ("holding 200 MiB",)),
    py("deleted_files_held_open", DELETED_OPEN, ("holding deleted files",)),
    py("listening_sockets_daemon", SOCKET_DAEMON, ("listening",)),
    py("files_everywhere", FILES_EVERYWHERE, ("planted",)),
    py("odd_file_names", ODD_NAMES, ("odd names",)),
    py("unreadable_dirs", UNREADABLE_DIRS, ("locked",)),
    py("chmod_workdir_000", CHMOD_WORKDIR, ("chmod /work 000: ok",)),
    py("deep_tree_2000", DEEP_TREE, ("deep 2000 2000 500",)),
    py("symlinks_outside", SYMLINKS_OUTSIDE, ("symlinks",)),
    py("symlinks_at_job_paths", SYMLINKS_AT_JOB_PATHS, ("symlinks at job paths",)),
    py("fifos", FIFOS, ("fifos",)),
    py("unix_socket_files", UNIX_SOCKET_FILES, ("socket files 5",)),
    py("sysv_shm", SYSV_SHM, ("shm segments [",)),
    py("sysv_sem", SYSV_SEM, ("semaphore sets [",)),
    py("sysv_msg", SYSV_MSG, ("message queues [",)),
    py("posix_mqueue", POSIX_MQ, ("posix queues 2",)),
    py("posix_shm_and_semaphore", POSIX_SHM_SEM, ("posix shm and semaphore",)),
    py("user_keyring", KEYRING, ("add_key",)),
    py("xattrs_on_workdir", XATTRS, ("setxattr /work",)),
    py("umask", UMASK, ("-> 000",)),
    py("umask", UMASK, ("-> 000",), mode="exec"),
    py("environment", ENVIRON, ("environment changed",)),
    py("environment", ENVIRON, ("environment changed",), mode="exec"),
    py("rlimits_agent_and_template", RLIMITS, ("lowered pid1 RLIMIT_NOFILE",
                                               "lowered cf-template RLIMIT_NOFILE"),
       needs_template=True),
    py("rlimits_agent_and_template", RLIMITS, ("lowered pid1 RLIMIT_NOFILE",
                                               "lowered cf-template RLIMIT_NOFILE"),
       mode="exec", needs_template=True),
    py("renice_agent_and_template", RENICE, ("reniced pid1: ok", "reniced cf-template: ok"),
       needs_template=True),
    py("ioprio_idle_agent_and_template", IOPRIO, ("ioprio idle pid1: ok",
                                                  "ioprio idle cf-template: ok"),
       needs_template=True),
    py("sched_idle_agent_and_template", SCHED_POLICY, ("SCHED_IDLE pid1: ok",
                                                       "SCHED_IDLE cf-template: ok"),
       needs_template=True),
    py("affinity_agent_and_template", AFFINITY, ("pinned pid1: ok", "pinned cf-template: ok"),
       needs_template=True),
    py("oom_score_and_timerslack", OOM_SCORE, ("oom_score_adj pid1",), needs_template=True),
    py("sigstop_template", signal_template("signal.SIGSTOP,"), ("SIGSTOP cf-template: ok",),
       needs_template=True),
    py("sigtstp_template", signal_template("signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU"),
       ("SIGTSTP cf-template: ok",), needs_template=True),
    py("sigterm_template", signal_template(
        "signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGALRM"),
       ("SIGTERM cf-template: ok",), needs_template=True),
    py("kill_template", signal_template("signal.SIGKILL,"), ("SIGKILL cf-template: ok",),
       needs_template=True),
    py("ptrace_template", PTRACE, ("PTRACE_ATTACH pid1 denied",), needs_template=True),
    py("scribble_shared_mappings", SHARED_MAPPINGS, ("shared mappings written",)),
    py("scribble_inherited_fds", SCRIBBLE_FDS, ("fds [",)),
    py("fill_tmp", fill("/tmp"), ("filled /tmp",)),
    py("fill_dev_shm", fill("/dev/shm"), ("filled /dev/shm",)),
    py("fill_workdir", fill("/work"), ("filled /work",)),
    py("sysv_shm_300mb", BIG_SYSV_SHM, ("300 MiB segment",)),
]

# =============================================================================== C
C_HEAD = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

static void say(const char *msg) { printf("%s\n", msg); fflush(stdout); }

static void put(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { if (write(fd, "cfs-trap\n", 9) < 0) {} close(fd); }
}

/* Double fork into a new session; body() runs in the grandchild and writes one byte on
   `ready` once its trap is set. */
static void daemon_run(void (*body)(int ready), const char *name, const char *proof) {
    int p[2];
    if (pipe(p) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        setsid();
        if (fork() != 0) _exit(0);
        prctl(PR_SET_NAME, name, 0, 0, 0);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0); dup2(null, 1); dup2(null, 2);
        body(p[1]);
        _exit(0);
    }
    close(p[1]);
    waitpid(pid, 0, 0);
    char c;
    if (read(p[0], &c, 1) == 1) say(proof);
    close(p[0]);
}

static void ready(int fd) { if (write(fd, "r", 1) < 0) {} close(fd); }
static void forever(void) { for (;;) pause(); }
'''


def c(name: str, body: str, proof: tuple[str, ...], **kw: Any) -> Trap:
    return Trap(name, "c", C_HEAD + body, proof, mode="exec", **kw)


C_TRAPS = [
    c("daemon_double_fork", r'''
static void body(int r) {
    ready(r);
    for (;;) { put("/work/cfs-trap-daemon-beat"); put("/tmp/cfs-trap-daemon-beat"); usleep(20000); }
}
int main(void) { daemon_run(body, "cfs-trap-daemon", "spawned"); return 0; }
''', ("spawned",)),
    c("setsid_ignores_signals", r'''
static void body(int r) {
    for (int s = 1; s < 32; s++) if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_IGN);
    ready(r);
    forever();
}
int main(void) { daemon_run(body, "cfs-trap-sleep", "sleeping in a new session"); return 0; }
''', ("sleeping in a new session",)),
    c("self_sigstop", r'''
static void body(int r) {
    ready(r);
    raise(SIGSTOP);
    for (;;) { put("/tmp/cfs-trap-continued"); usleep(50000); }
}
int main(void) { daemon_run(body, "cfs-trap-stop", "stopping myself"); return 0; }
''', ("stopping myself",)),
    c("memory_daemon_200mb", r'''
static void body(int r) {
    size_t size = 200u << 20;
    char *m = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) _exit(1);
    for (size_t off = 0; off < size; off += 4096) m[off] = 1;
    ready(r);
    forever();
}
int main(void) { daemon_run(body, "cfs-trap-mem", "holding 200 MiB"); return 0; }
''', ("holding 200 MiB",)),
    c("files_everywhere", r'''
int main(void) {
    const char *dirs[] = {"/work", "/tmp", "/dev/shm", 0};
    const char *names[] = {"cfs-trap-file", ".cfs-trap-hidden", ".bashrc", "test_solution.c",
                           "solution.h", "Makefile", 0};
    char path[512];
    int n = 0;
    for (int d = 0; dirs[d]; d++)
        for (int i = 0; names[i]; i++) {
            snprintf(path, sizeof path, "%s/%s", dirs[d], names[i]);
            put(path);
            n++;
        }
    mkdir("/work/.config", 0755);
    put("/work/.config/cfs-trap");
    printf("planted %d files\n", n);
    return 0;
}
''', ("planted",)),
    c("unreadable_dirs", r'''
int main(void) {
    const char *dirs[] = {"/work", "/tmp", "/dev/shm", 0};
    char a[512], b[512];
    for (int d = 0; dirs[d]; d++) {
        snprintf(a, sizeof a, "%s/cfs-trap-locked", dirs[d]);
        mkdir(a, 0755);
        snprintf(b, sizeof b, "%s/inner", a);
        mkdir(b, 0755);
        snprintf(b, sizeof b, "%s/inner/file", a);
        put(b);
        snprintf(b, sizeof b, "%s/inner", a);
        chmod(b, 0);
        chmod(a, 0);
        snprintf(a, sizeof a, "%s/cfs-trap-ro", dirs[d]);
        mkdir(a, 0755);
        snprintf(b, sizeof b, "%s/file", a);
        put(b);
        chmod(a, 0500);
    }
    say("locked");
    return 0;
}
''', ("locked",)),
    c("deep_tree_2000", r'''
static int deep(const char *base, int levels) {
    int fd = open(base, O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < levels; i++) {
        if (mkdirat(fd, "cfs-trap-deep", 0755) != 0) return i;
        int nfd = openat(fd, "cfs-trap-deep", O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = nfd;
    }
    close(openat(fd, "bottom", O_WRONLY | O_CREAT, 0600));
    if (symlinkat("/", fd, "root") != 0) {}
    fchmod(fd, 0);
    close(fd);
    return levels;
}
int main(void) { printf("deep %d %d\n", deep("/work", 2000), deep("/tmp", 2000)); return 0; }
''', ("deep 2000 2000",)),
    c("symlinks_outside", r'''
int main(void) {
    const char *dirs[] = {"/work", "/tmp", "/dev/shm", 0};
    const char *links[][2] = {{"cfs-trap-root", "/"}, {"cfs-trap-etc", "/etc"},
                              {"cfs-trap-proc1root", "/proc/1/root"}, {"cfs-trap-loop", "cfs-trap-loop"},
                              {"cfs-trap-work", "/work"}, {0, 0}};
    char path[512];
    int n = 0;
    for (int d = 0; dirs[d]; d++)
        for (int i = 0; links[i][0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dirs[d], links[i][0]);
            if (symlink(links[i][1], path) == 0) n++;
        }
    unlink("/work/solution.c");
    if (symlink("/etc/passwd", "/work/solution.c") == 0) n++;
    printf("symlinks %d\n", n);
    return 0;
}
''', ("symlinks 16",)),
    c("fifos", r'''
int main(void) {
    int n = 0;
    n += mkfifo("/work/cfs-trap-fifo", 0644) == 0;
    n += mkfifo("/tmp/cfs-trap-fifo", 0644) == 0;
    n += mkfifo("/dev/shm/cfs-trap-fifo", 0644) == 0;
    unlink("/work/solution.c");
    n += mkfifo("/work/solution.c", 0644) == 0;
    n += mkfifo("/work/probe.py", 0644) == 0;
    printf("fifos %d\n", n);
    return 0;
}
''', ("fifos 5",)),
    c("unix_socket_files", r'''
int main(void) {
    const char *paths[] = {"/work/cfs-trap.sock", "/tmp/cfs-trap.sock", "/dev/shm/cfs-trap.sock", 0};
    int n = 0;
    for (int i = 0; paths[i]; i++) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, paths[i], sizeof a.sun_path - 1);
        if (bind(s, (struct sockaddr *)&a, sizeof a) == 0) n++;
        close(s);
    }
    printf("socket files %d\n", n);
    return 0;
}
''', ("socket files 3",)),
    c("sysv_shm", r'''
int main(void) {
    int id = shmget(0xCF5101, 32 << 20, IPC_CREAT | 0600);
    if (id < 0) { perror("shmget"); return 1; }
    char *p = shmat(id, 0, 0);
    if (p != (void *)-1) { memset(p, 'x', 32 << 20); shmdt(p); }
    int id2 = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0);
    printf("shm segments %d %d\n", id, id2);
    return 0;
}
''', ("shm segments",)),
    c("sysv_sem", r'''
int main(void) {
    int id = semget(0xCF5102, 4, IPC_CREAT | 0600);
    if (id < 0) { perror("semget"); return 1; }
    semctl(id, 0, SETVAL, 5);
    printf("semaphore sets %d\n", id);
    return 0;
}
''', ("semaphore sets",)),
    c("sysv_msg", r'''
struct msg { long mtype; char mtext[64]; };
int main(void) {
    int id = msgget(0xCF5103, IPC_CREAT | 0600);
    if (id < 0) { perror("msgget"); return 1; }
    struct msg m = {1, "cfs-trap message"};
    if (msgsnd(id, &m, 16, 0) != 0) perror("msgsnd");
    printf("message queues %d\n", id);
    return 0;
}
''', ("message queues",)),
    c("posix_mqueue", r'''
int main(void) {
    mqd_t q = mq_open("/cfs-trap-mq", O_CREAT | O_RDWR, 0600, 0);
    if (q == (mqd_t)-1) { perror("mq_open"); return 1; }
    mq_send(q, "cfs-trap", 8, 0);
    say("posix queue made");
    return 0;
}
''', ("posix queue made",)),
    c("umask", r'''
int main(void) {
    umask(0);
    put("/work/cfs-trap-umask");
    say("umask -> 000");
    return 0;
}
''', ("umask -> 000",)),
    c("environment", r'''
int main(void) {
    setenv("CFS_TRAP_ENV", "cfs-trap", 1);
    setenv("LD_PRELOAD", "/work/cfs-trap.so", 1);
    say("environment changed");
    return 0;
}
''', ("environment changed",)),
    c("rlimits_agent", r'''
int main(void) {
    struct rlimit r = {64, 64};
    int n = 0;
    if (prlimit(1, RLIMIT_NOFILE, &r, 0) == 0) { say("lowered pid1 RLIMIT_NOFILE"); n++; }
    else perror("prlimit NOFILE");
    struct rlimit f = {1 << 20, 1 << 20};
    if (prlimit(1, RLIMIT_FSIZE, &f, 0) == 0) { say("lowered pid1 RLIMIT_FSIZE"); n++; }
    struct rlimit p = {64, 64};
    if (prlimit(1, RLIMIT_NPROC, &p, 0) == 0) { say("lowered pid1 RLIMIT_NPROC"); n++; }
    printf("lowered %d limits\n", n);
    return 0;
}
''', ("lowered pid1 RLIMIT_NOFILE",)),
    c("renice_agent", r'''
int main(void) {
    if (setpriority(PRIO_PROCESS, 1, 19) == 0) say("reniced pid1: ok"); else perror("setpriority");
    return 0;
}
''', ("reniced pid1: ok",)),
    c("affinity_agent", r'''
int main(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    int last = -1;
    for (int i = 0; i < CPU_SETSIZE; i++) if (CPU_ISSET(i, &set)) last = i;
    CPU_ZERO(&set);
    CPU_SET(last, &set);
    if (sched_setaffinity(1, sizeof set, &set) == 0) say("pinned pid1: ok"); else perror("affinity");
    return 0;
}
''', ("pinned pid1: ok",)),
    c("fill_tmp", r'''
int main(void) {
    static char big[1 << 20];
    memset(big, 'x', sizeof big);
    char path[256];
    int n = 0, files = 0;
    for (;; n++) {
        snprintf(path, sizeof path, "/tmp/cfs-trap-fill-%d", n);
        int fd = open(path, O_WRONLY | O_CREAT, 0600);
        if (fd < 0) break;
        ssize_t w = write(fd, big, sizeof big);
        close(fd);
        if (w != (ssize_t)sizeof big) break;
    }
    for (;; files++) {
        snprintf(path, sizeof path, "/tmp/cfs-trap-i%d", files);
        int fd = open(path, O_WRONLY | O_CREAT, 0600);
        if (fd < 0) break;
        close(fd);
    }
    printf("filled /tmp with %d MiB and %d more files\n", n, files);
    return 0;
}
''', ("filled /tmp",)),
]

TRAPS: list[Trap] = PY_TRAPS + C_TRAPS
assert len({t.key for t in TRAPS}) == len(TRAPS), "duplicate trap keys"


# =============================================================================== the probe
def probe_source(baseline: dict | None, own_files: set[str]) -> str:
    """The probe with the calibration's state (None: calibration) and this job's files."""
    src = PROBE_SOURCE.replace("\nBASELINE = None\n", f"\nBASELINE = {baseline!r}\n", 1)
    src = src.replace('\nOWN_FILES = {"solution.py", "test_script.py", "solution.c", "prog", '
                      '"probe.py"}\n', f"\nOWN_FILES = {sorted(own_files)!r}\n", 1)
    assert "BASELINE = None" not in src or baseline is None
    assert f"OWN_FILES = {sorted(own_files)!r}" in src
    return src


C_EXEC_PROBE = r'''
#include <unistd.h>
int main(void) {
    char *argv[] = {"python3", "-I", "-B", "probe.py", 0};
    execv("/usr/bin/python3", argv);
    return 127;
}
'''


def probe_body(language: str, baseline: dict | None, tag: str,
               calibrate: str | None = None) -> dict[str, Any]:
    """Job N+1 (or a calibration job when baseline is None) for a cell of `language`.

    Python: the probe is the solution; a `script` test (forked from the template) asserts
    `FINDINGS == {}` and an `io` case (a fresh `python3 -I`) expects `{}`. Calibration runs
    one step kind at a time (`calibrate` = "script" or "exec") so each prints its state.
    C: the solution execs python3 on the probe (a file of the job); an `io` case expects `{}`.
    `cache: false` everywhere (and a tag comment): every job must really run."""
    comment = f"# cfs-cell-probe {tag}\n"
    if language == "python":
        code = comment + probe_source(baseline, {"solution.py", "test_script.py"})
        if baseline is None:
            tests: dict[str, Any] | None = ({"script": "assert FINDINGS == {}\n"}
                                            if calibrate == "script" else None)
        else:
            tests = {"script": "assert FINDINGS == {}\n", "io": [{"stdin": "", "stdout": "{}\n"}]}
        body: dict[str, Any] = {"language": "python", "code": code}
    else:
        probe = comment + probe_source(baseline, {"solution.c", "probe.py", "prog"})
        tests = None if baseline is None else {"io": [{"stdin": "", "stdout": "{}\n"}]}
        body = {"language": "c", "code": f"/* cfs-cell-probe {tag} */\n" + C_EXEC_PROBE,
                "files": {"probe.py": probe}}
    if tests is not None:
        body["tests"] = tests
    body.update({"limits": dict(LIMITS), "static_analysis": False, "cache": False})
    return body


def trap_body(trap: Trap, tag: str) -> dict[str, Any]:
    """Job N: the trap as a `script` job (Python, forked from the template) or a program."""
    if trap.language == "python":
        body: dict[str, Any] = {"language": "python", "code": f"# cfs-trap {tag}\n" + trap.code}
        if trap.mode == "script":
            body["tests"] = {"script": "assert TRAP_DONE == 1\n"}
    else:
        body = {"language": "c", "code": f"/* cfs-trap {tag} */\n" + trap.code}
    body.update({"limits": {**LIMITS, **trap.limits}, "static_analysis": False, "cache": False})
    return body
