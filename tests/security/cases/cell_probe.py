"""The cross-job isolation probe: job N+1 of every pair in test_cell_isolation.py.

Not imported by the suite: its source is submitted as a Python solution (and, for C cells, as
a file that a C program execs with the image's python3). It looks everywhere a job could have
left something in its cell and prints what it found:

* as a `script` step (forked from the cell's template): `CFSPROBE <json>` on stdout with the
  findings and the observed state; the test script asserts `FINDINGS == {}`;
* as an `io` / `run` step (a fresh `python3 -I`): the findings JSON alone on stdout (the io case
  expects `{}`) and the full report on stderr.

`BASELINE` is None in the calibration jobs (the suite reads the state they print); in every
other job it holds the calibration's state for this step kind, and any difference is a finding.
Rule-based findings need no baseline: processes other than the agent (PID 1), the
`cf-template`s (as many as in the calibration), this probe and its ancestors; anything not
owned by root in a writable mount except this job's own files; tmpfs usage beyond what is
visible; SysV IPC objects; POSIX message queues; named unix sockets; a key in the user
keyring; the trap marker in a shared memory mapping inherited from a template.
"""

import ctypes
import json
import os
import resource
import stat
import sys

BASELINE = None
MARKER = b"cfs-trap"
OWN_FILES = {"solution.py", "test_script.py", "solution.c", "prog", "probe.py"}
OWN_DIRS = {"/work"}
SKIP_FS = {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "securityfs", "debugfs",
           "tracefs", "bpf", "pstore", "configfs", "fusectl", "binfmt_misc"}
MAX_DEPTH = 64
MAX_ENTRIES = 20000
MEMORY_SLACK = 64 * 2**20
DATA_SLACK = 16 * 2**20
MQ_NAMES = ("/cfs-trap-mq", "/cfs-trap-mq2")
SCRIPT_MODE = "codefeedback_pyharness" in sys.modules
findings = {}


def find(kind, what):
    items = findings.setdefault(kind, [])
    if len(items) < 40:
        items.append(str(what)[:300])


def read(path, binary=False):
    try:
        with open(path, "rb" if binary else "r") as fh:
            return fh.read()
    except OSError:
        return None


def proc_stat(pid):
    raw = read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    return raw.rsplit(")", 1)[1].split()


def comm(pid):
    return (read(f"/proc/{pid}/comm") or "?").strip()


# ------------------------------------------------------------------------ processes
def processes():
    """Findings for every process but PID 1, the templates (`cf-template`: how many a cell
    has is compared with the calibration), this probe and its ancestors; the templates' pids."""
    me = os.getpid()
    ancestors = set()
    pid = me
    while pid > 1:
        st = proc_stat(pid)
        if st is None:
            break
        pid = int(st[1])
        ancestors.add(pid)
    templates = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        st = proc_stat(pid)
        if st is None or pid == me:
            continue
        cname = comm(pid)
        if st[0] in ("T", "t"):
            find("stopped", f"pid {pid} {cname} state {st[0]}")
        if cname == "cf-template":
            templates.append(pid)
            continue
        if pid == 1 or pid in ancestors:
            continue
        cmd = (read(f"/proc/{pid}/cmdline", True) or b"").replace(b"\0", b" ")[:120]
        find("processes", f"pid {pid} {cname} state {st[0]} ppid {st[1]} {cmd!r}")
    return sorted(templates)


# ------------------------------------------------------------------------ files
def writable_mounts():
    out = []
    for line in (read("/proc/self/mounts") or "").splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        point, fstype, opts = parts[1].replace("\\040", " "), parts[2], parts[3].split(",")
        if "rw" not in opts or fstype in SKIP_FS or point.startswith(("/proc", "/sys")):
            continue
        out.append((point, fstype))
    return out


def walk_mount(point, cwd):
    """Entries seen (count, bytes) in the mount at `point`; findings for foreign entries."""
    try:
        top = os.lstat(point)
    except OSError as exc:
        find("files", f"cannot stat {point}: {exc}")
        return 0, 0
    if not stat.S_ISDIR(top.st_mode):
        if top.st_uid != 0:
            find("files", f"{point} owned by uid {top.st_uid}")
        return 1, top.st_blocks * 512
    seen = [1, top.st_blocks * 512]

    def visit(path, dev, depth):
        if depth > MAX_DEPTH:
            find("files", f"tree deeper than {MAX_DEPTH} levels at {path[:120]}...")
            return
        try:
            names = os.listdir(path)
        except OSError as exc:
            find("files", f"unreadable directory {path[:200]}: {type(exc).__name__}")
            return
        for name in names:
            if seen[0] >= MAX_ENTRIES:
                find("files", f"more than {MAX_ENTRIES} entries under {point}")
                return
            full = os.path.join(path, name)
            try:
                st = os.lstat(full)
            except OSError as exc:
                find("files", f"cannot stat {full[:200]!r}: {type(exc).__name__}")
                continue
            if st.st_dev != dev:
                continue  # another mount, walked on its own
            seen[0] += 1
            seen[1] += st.st_blocks * 512
            own = (path == cwd and name in OWN_FILES) or full in OWN_DIRS
            if st.st_uid != 0 and not own:
                kind = stat.filemode(st.st_mode)
                extra = f" -> {os.readlink(full)!r}" if stat.S_ISLNK(st.st_mode) else ""
                find("files", f"{full[:200]!r} {kind} uid {st.st_uid} {st.st_size}B{extra}")
            if stat.S_ISDIR(st.st_mode):
                visit(full, dev, depth + 1)

    visit(point, top.st_dev, 0)
    return seen[0], seen[1]


def files(cwd):
    usage = {}
    for point, fstype in writable_mounts():
        count, size = walk_mount(point, cwd)
        if fstype != "tmpfs":
            continue
        try:
            vfs = os.statvfs(point)
        except OSError:
            continue
        used_bytes = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
        used_inodes = vfs.f_files - vfs.f_ffree
        usage[point] = [used_bytes, used_inodes]
        # hidden usage: deleted files held open, entries the walk could not see
        if used_bytes > size + 256 * 1024 or used_inodes > count + 8:
            find("usage", f"{point}: {used_bytes}B / {used_inodes} inodes used, "
                          f"{size}B / {count} entries visible")
    return usage


# ------------------------------------------------------------------------ IPC, keys, sockets
def ipc():
    for kind in ("shm", "sem", "msg"):
        rows = (read(f"/proc/sysvipc/{kind}") or "").splitlines()[1:]
        for row in rows:
            find("sysv_ipc", f"{kind}: {' '.join(row.split()[:6])}")
    try:
        for name in os.listdir("/dev/mqueue"):
            find("mqueue", f"/dev/mqueue/{name}")
    except OSError:
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    mq_open = getattr(libc, "mq_open", None)
    if mq_open is None:
        try:
            mq_open = ctypes.CDLL("librt.so.1", use_errno=True).mq_open
        except OSError:
            mq_open = None
    if mq_open is not None:
        mq_open.restype = ctypes.c_int
        for name in MQ_NAMES:
            fd = mq_open(name.encode(), os.O_RDONLY)
            if fd >= 0:
                find("mqueue", f"mq_open({name}) succeeded")
                os.close(fd)
    # keyctl(KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", "cfs-trap-key", 0)
    nr = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
    if nr is not None:
        libc.syscall.restype = ctypes.c_long
        key = libc.syscall(nr, 10, -4, b"user", b"cfs-trap-key", 0)
        if key >= 0:
            find("keyring", f"key cfs-trap-key found in the user keyring: {key}")
    named = []
    for row in (read("/proc/net/unix") or "").splitlines()[1:]:
        parts = row.split()
        if len(parts) >= 8:
            named.append(parts[7])
    for path in named:
        if "cfs-trap" in path:
            find("sockets", f"unix socket {path}")
    return sorted(named)


class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def read_own(addr, size):
    """Read this process's memory without faulting (process_vm_readv: EFAULT, never SIGBUS;
    /proc/self/mem is root's when the process is not dumpable, as a template's child is)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.process_vm_readv.restype = ctypes.c_ssize_t
    buf = ctypes.create_string_buffer(size)
    local = IOVec(ctypes.cast(buf, ctypes.c_void_p), size)
    remote = IOVec(addr, size)
    n = libc.process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return buf.raw[:n] if n > 0 else b""


def shared_maps():
    """Writable shared mappings this process inherited: a job could write into one of the
    template's and the next job's child would read it (checked for the trap marker)."""
    maps = []
    for line in (read("/proc/self/maps") or "").splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5 or parts[1][1] != "w" or parts[1][3] != "s":
            continue
        name = parts[5].strip() if len(parts) > 5 else "[anon]"
        maps.append(name)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        for off in range(lo, min(hi, lo + 64 * 2**20), 2**20):
            if MARKER in read_own(off, min(2**20, hi - off)):
                find("shared_memory", f"trap marker in shared mapping {name} at {off:#x}")
                break
    return sorted(maps)


# ------------------------------------------------------------------------ limits and posture
def ioprio(pid):
    nr = {"x86_64": 252, "aarch64": 31}.get(os.uname().machine)
    if nr is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(nr, 1, pid)  # IOPRIO_WHO_PROCESS


def posture(pid):
    if pid is None:
        return None
    st = proc_stat(pid) or []
    out = {"comm": comm(pid), "limits": read(f"/proc/{pid}/limits"),
           "nice": st[16] if len(st) > 16 else None,
           "policy": st[38] if len(st) > 38 else None, "ioprio": ioprio(pid),
           "oom_score_adj": (read(f"/proc/{pid}/oom_score_adj") or "").strip()}
    try:
        out["affinity"] = sorted(os.sched_getaffinity(pid))
    except OSError as exc:
        out["affinity"] = type(exc).__name__
    status = read(f"/proc/{pid}/status") or ""
    for line in status.splitlines():
        if line.startswith("TracerPid:") and line.split()[1] != "0":
            find("traced", f"pid {pid} ({out['comm']}) is traced by {line.split()[1]}")
    return out


def own_state(cwd):
    mask = os.umask(0o022)
    os.umask(mask)
    limits = {}
    for name in dir(resource):
        if name.startswith("RLIMIT_"):
            limits[name] = list(resource.getrlimit(getattr(resource, name)))
    env = {k: v.replace(cwd, "<cwd>") for k, v in os.environ.items()}
    for k, v in os.environ.items():
        if "cfs-trap" in k or "cfs-trap" in v:
            find("environment", f"{k}={v[:100]}")
    fds = {}
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if not target.startswith("/proc/"):
            fds[fd] = target.split(":[")[0] if ":[" in target else target
    modes = {}
    xattrs = {}
    for path in sorted({"/work", "/tmp", "/dev/shm", cwd, os.environ.get("HOME", "/work")}):
        try:
            modes[path] = oct(os.stat(path).st_mode & 0o7777)
        except OSError as exc:
            modes[path] = type(exc).__name__
        try:
            xattrs[path] = sorted(os.listxattr(path))
        except OSError:
            xattrs[path] = []
        if any("cfs-trap" in x for x in xattrs[path]):
            find("xattrs", f"{path}: {xattrs[path]}")
    memory = {}
    for path, keys in (("/sys/fs/cgroup/memory.stat", ("anon", "shmem")),
                       ("/sys/fs/cgroup/memory/memory.stat", ("total_rss", "total_shmem"))):
        text = read(path)
        if text:
            values = dict(line.split()[:2] for line in text.splitlines() if line.strip())
            memory = {"anon": values.get(keys[0]), "shmem": values.get(keys[1])}
            break
    for path in ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"):
        text = read(path)
        if text:
            memory["usage"] = text.strip()
            break
    return {"umask": oct(mask), "rlimits": limits, "env": env, "fds": fds, "modes": modes,
            "xattrs": xattrs, "memory": memory, "posture": posture(os.getpid())}


def parse_limits(text):
    """/proc/<pid>/limits -> {name: "soft hard"} (the kernel prints fixed-width columns)."""
    out = {}
    for line in (text or "").splitlines()[1:]:
        if line.strip():
            out[line[:26].strip()] = f"{line[26:47].strip()} {line[47:68].strip()}"
    return out


def close(now, then):
    """A forked step's RLIMIT_DATA is the template's data size plus the job's memory_mb, so it
    differs a little from cell to cell; a lowered limit (what a trap would do) is far off."""
    try:
        return len(now) == len(then) and all(
            abs(int(a) - int(b)) <= DATA_SLACK for a, b in zip(now, then, strict=True))
    except (TypeError, ValueError):
        return False


def charged(memory):
    try:
        return int(memory["anon"]) + int(memory["shmem"])
    except (KeyError, TypeError, ValueError):
        return None


def compare(state, base):
    """Findings for every difference from the calibration's state of the same step kind."""
    def diff(kind, label, now, then):
        if now != then:
            find(kind, f"{label}: {then!r} -> {now!r}"[:300])

    mine, theirs = state["self"], base["self"]
    diff("umask", "umask", mine["umask"], theirs["umask"])
    for name in sorted(set(mine["rlimits"]) | set(theirs["rlimits"])):
        now_lim, then_lim = mine["rlimits"].get(name), theirs["rlimits"].get(name)
        if name == "RLIMIT_DATA" and close(now_lim, then_lim):
            continue
        diff("rlimits", f"own {name}", now_lim, then_lim)
    for key in sorted(set(mine["env"]) | set(theirs["env"])):
        diff("environment", f"${key}", mine["env"].get(key), theirs["env"].get(key))
    diff("fds", "open fds", mine["fds"], theirs["fds"])
    diff("modes", "modes", mine["modes"], theirs["modes"])
    diff("xattrs", "xattrs", mine["xattrs"], theirs["xattrs"])
    if len(state["templates"]) != len(base["templates"]):
        find("templates", f"{len(state['templates'])} cf-template processes, the calibration "
                          f"saw {len(base['templates'])}")
    pairs = [("self", mine["posture"], theirs["posture"]), ("pid1", state["pid1"], base["pid1"])]
    both = zip(state["templates"], base["templates"], strict=False)
    pairs += [(f"template[{i}]", now, then) for i, (now, then) in enumerate(both)]
    for who, now, then in pairs:
        for key in ("comm", "nice", "policy", "ioprio", "affinity", "oom_score_adj"):
            diff("posture", f"{who} {key}", now.get(key), then.get(key))
        old, new = parse_limits(then.get("limits")), parse_limits(now.get("limits"))
        for name in sorted(set(old) | set(new)):
            if who == "self" and name == "Max data size" and close(
                    (new.get(name) or "").split(), (old.get(name) or "").split()):
                continue
            diff("rlimits", f"{who} {name}", new.get(name), old.get(name))
    diff("sockets", "named unix sockets", state["sockets"], base["sockets"])
    diff("shared_memory", "writable shared mappings", state["shared_maps"], base["shared_maps"])
    now_mem, then_mem = charged(mine["memory"]), charged(theirs["memory"])
    if then_mem is not None and now_mem is not None and now_mem > then_mem + MEMORY_SLACK:
        find("memory", f"cgroup anon+shmem {now_mem >> 20} MiB, calibration {then_mem >> 20} MiB")
    for point, (used, inodes) in state["usage"].items():
        before = base["usage"].get(point)
        if before is not None and (used > before[0] + 512 * 1024 or inodes > before[1] + 16):
            find("usage", f"{point}: {used}B / {inodes} inodes, calibration {before[0]}B / "
                          f"{before[1]} inodes")


def main():
    cwd = os.getcwd()
    templates = processes()
    state = {"mode": "script" if SCRIPT_MODE else "exec", "cwd": cwd,
             "usage": files(cwd), "sockets": ipc(), "shared_maps": shared_maps(),
             "pid1": posture(1), "templates": [posture(t) for t in templates],
             "self": own_state(cwd)}
    if BASELINE is not None:
        compare(state, BASELINE[state["mode"]])
    return state


STATE = main()
FINDINGS = {k: v for k, v in sorted(findings.items())}
if SCRIPT_MODE:
    print("CFSPROBE " + json.dumps({"findings": FINDINGS, "state": STATE}, sort_keys=True))
elif BASELINE is None:
    print(json.dumps({"findings": FINDINGS, "state": STATE}, sort_keys=True))
else:
    print(json.dumps(FINDINGS, sort_keys=True))
    print("CFSPROBE " + json.dumps({"findings": FINDINGS, "state": STATE}, sort_keys=True),
          file=sys.stderr)
