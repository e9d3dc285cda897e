"""The hostile catalogue for Python (see cases/__init__.py for the fields)."""

from __future__ import annotations

from tests.security.cases import Case, twin

UNIT = "from solution import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
SCRIPT = "assert add(1, 2) == 3\nassert add(2, 3) == 5\n"
ADD = "def add(a, b):\n    return a + b\n"
OK_UNIT = twin(ADD, {"unit": UNIT})
OK_SCRIPT = twin(ADD, {"script": SCRIPT})
HELLO = twin("print('hello')\n")

# ---------------------------------------------------------------- escape probes (run-only)
# Each probe exits 1 as soon as an attack works and prints one proof line per blocked attack.
PROBE_HEAD = "import os, sys\nbad = []\n\n\ndef ok(tag):\n    print(tag, flush=True)\n\n\n"
PROBE_TAIL = "\nif bad:\n    print('ESCAPED', bad)\n    sys.exit(1)\nprint('CONTAINED')\n"


def probe(body: str) -> str:
    return PROBE_HEAD + body + PROBE_TAIL


READ_SHADOW = probe("""
for path in ('/etc/shadow', '/etc/gshadow', '/root/.bashrc'):
    try:
        data = open(path).read()
        if data:
            bad.append(path)
    except OSError as exc:
        ok(f'unreadable {path} {type(exc).__name__}')
""")

ENV_DUMP = probe("""
env = dict(os.environ)
print(sorted(env))
if any(k.startswith(('CFS_', 'CELERY', 'REDIS')) for k in env):
    bad.append('worker variables in os.environ')
for pid in ('self', '1', str(os.getppid())):
    try:
        raw = open(f'/proc/{pid}/environ', 'rb').read()
    except OSError as exc:
        ok(f'environ of {pid} unreadable {type(exc).__name__}')
        continue
    if b'CFS_' in raw or b'CF_RUN_NONCE' in raw:
        bad.append(f'/proc/{pid}/environ')
ok('no worker variables')
""")

CONNECT = probe("""
import socket
print(sorted(os.listdir('/sys/class/net')))
if os.listdir('/sys/class/net') != ['lo']:
    bad.append('network interfaces')
targets = [('@LO@', @LPORT@), ('@GW@', @GPORT@), ('@GW@', @GRPORT@), ('@GW@', @GAPORT@),
           ('@LO@', @RPORT@), ('@LO@', @APORT@)]
for host, port in targets:
    try:
        s = socket.create_connection((host, port), timeout=1)
        s.sendall(b'PING\\r\\n')
        s.close()
        bad.append(f'{host}:{port}')
    except OSError as exc:
        ok(f'blocked {host}:{port} {type(exc).__name__}')
""")

DOCKER_SOCKET = probe("""
import stat
for path in ('/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock',
             '/var/run/docker', '/run/docker', '/@CANARY_PATH@'):
    if os.path.exists(path):
        bad.append(path)
for top in ('/run', '/var/run', '/tmp', '/work', '/dev', '/home', '/root'):
    for root, dirs, names in os.walk(top):
        for n in names:
            try:
                if stat.S_ISSOCK(os.lstat(os.path.join(root, n)).st_mode):
                    bad.append(os.path.join(root, n))
            except OSError:
                pass
try:
    open('@CANARY_PATH@').read()
    bad.append('host canary file')
except OSError as exc:
    ok(f'host file absent {type(exc).__name__}')
ok('no docker socket')
""")

WRITE_SYSTEM = probe("""
for path in ('/usr/bin/cfs-evil', '/etc/cfs-evil', '/etc/passwd', '/usr/lib/python3/x.py',
             '/opt/codefeedback/agent.py', '/opt/codefeedback/harness/cfs-evil', '/var/tmp/x',
             '/cfs-evil', '/proc/sysrq-trigger', '/sys/kernel/cfs'):
    try:
        with open(path, 'a') as fh:
            fh.write('x')
        bad.append(path)
    except OSError as exc:
        ok(f'read-only {path} {type(exc).__name__}')
""")

PROC_SECRETS = probe("""
for path in ('/proc/kcore', '/proc/keys', '/proc/kallsyms', '/proc/1/mem', '/proc/timer_list',
             '/sys/firmware/efi/efivars', '/proc/sys/kernel/core_pattern'):
    try:
        with open(path, 'rb') as fh:
            data = fh.read(4096)
    except OSError as exc:
        ok(f'denied {path} {type(exc).__name__}')
        continue
    if path == '/proc/kallsyms':
        if any(not line.startswith(b'0000000000000000') for line in data.splitlines()):
            bad.append('kernel addresses')
        else:
            ok('kallsyms hidden')
    elif path == '/proc/sys/kernel/core_pattern':
        ok('core_pattern readable (harmless)')
    elif data:
        bad.append(path)
    else:
        ok(f'empty {path}')
""")

NAMESPACES = probe("""
import ctypes, subprocess
libc = ctypes.CDLL(None, use_errno=True)
os.makedirs('/tmp/m', exist_ok=True)
if libc.mount(b'none', b'/tmp/m', b'tmpfs', 0, None) == 0:
    bad.append('mount')
else:
    ok(f'mount denied errno {ctypes.get_errno()}')
for name, flag in (('user', 0x10000000), ('mnt', 0x00020000), ('net', 0x40000000),
                   ('pid', 0x20000000)):
    if libc.unshare(flag) == 0:
        bad.append(f'unshare {name}')
    else:
        ok(f'unshare {name} denied errno {ctypes.get_errno()}')
for argv in (['unshare', '-Ur', 'id'], ['mount', '-t', 'tmpfs', 'none', '/tmp/m']):
    try:
        r = subprocess.run(argv, capture_output=True, timeout=5)
        if r.returncode == 0:
            bad.append(' '.join(argv))
        else:
            ok(f'{argv[0]} failed {r.returncode}')
    except OSError as exc:
        ok(f'{argv[0]} missing {type(exc).__name__}')
# finit_module (313) / init_module (175): load a kernel module
for nr in (313, 175):
    if libc.syscall(nr, -1, b'', 0) == 0:
        bad.append(f'syscall {nr}')
    else:
        ok(f'module load denied errno {ctypes.get_errno()}')
""")

SETUID = probe("""
import subprocess
r = subprocess.run(['find', '/', '-xdev', '-type', 'f', '-perm', '/6000'], capture_output=True,
                   text=True)
if r.stdout.strip():
    bad.append(r.stdout.split())
ok(f'no setuid or setgid files (find exit {r.returncode})')
""")

STATUS = probe("""
st = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)
st = {k: v.strip() for k, v in st.items()}
print({k: st.get(k) for k in ('CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs', 'Seccomp', 'Uid')})
if st['CapEff'] != '0000000000000000' or st['CapPrm'] != '0000000000000000':
    bad.append('capabilities')
if st['NoNewPrivs'] != '1':
    bad.append('no_new_privs')
if st['Seccomp'] != '2':
    bad.append('seccomp')
if os.getuid() == 0 or os.geteuid() == 0 or os.getgid() == 0 or 0 in os.getgroups():
    bad.append('root')
ok('CapEff 0, NoNewPrivs 1, Seccomp 2, non-root')
""")

AGENT = probe("""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
agent = os.getppid()
for path in (f'/proc/{agent}/fd/1', f'/proc/{agent}/fd/0', f'/proc/{agent}/mem'):
    try:
        fd = os.open(path, os.O_WRONLY)
        os.close(fd)
        bad.append(path)
    except OSError as exc:
        ok(f'denied {path} {type(exc).__name__}')
try:
    os.listdir(f'/proc/{agent}/fd')
    bad.append('agent fd table')
except OSError as exc:
    ok(f'agent fds hidden {type(exc).__name__}')
if libc.ptrace(16, agent, None, None) == 0:  # PTRACE_ATTACH
    bad.append('ptrace attach to the agent')
else:
    ok(f'ptrace denied errno {ctypes.get_errno()}')
""")

PID1 = probe("""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
# the container's stdout is the result channel: no process user code can reach may hold it
for pid in ('1', str(os.getppid())):
    for fd in ('1', '2'):
        path = f'/proc/{pid}/fd/{fd}'
        try:
            w = os.open(path, os.O_WRONLY)
            os.close(w)
            bad.append(path)
        except OSError as exc:
            ok(f'denied {path} {type(exc).__name__}')
    if libc.ptrace(16, int(pid), None, None) == 0:
        bad.append(f'ptrace {pid}')
""")

LEAVE_FILES = """
import os, subprocess
for d in ('/tmp', '/work', '/dev/shm'):
    with open(os.path.join(d, 'cfs-left-behind'), 'w') as fh:
        fh.write('from the previous job')
# a detached process that keeps recreating the files, if it could outlive the job
subprocess.Popen(['python3', '-c', 'import os, time\\nos.setsid()\\nwhile True:\\n'
                  '    [open(d + "/cfs-left-behind", "w").close() for d in ("/tmp", "/work")]\\n'
                  '    time.sleep(0.05)\\n'], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print('left files')
"""
FIND_FILES = probe("""
for d in ('/tmp', '/work', '/dev/shm'):
    if os.path.exists(os.path.join(d, 'cfs-left-behind')):
        bad.append(d)
print(sorted(os.listdir('/tmp')), sorted(os.listdir('/dev/shm')))
ok('clean slate')
""")

DAEMON = """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        while True:  # keeps the inherited stdout open and busy
            for d in ('/tmp', '/work', '/dev/shm'):
                try:
                    open(d + '/cfs-daemon-mark', 'a').write('x')
                except OSError:
                    pass
            time.sleep(0.05)
    os._exit(0)
os.wait()
print('spawned')
"""

# ---------------------------------------------------------------- forging the result channel
FORGE_PID1 = r'''
import json, os, sys


def _forge():
    n = sys.modules['codefeedback_pyharness']._nonce
    rep = "".join(json.dumps(dict(e, nonce=n)) + "\n" for e in (
        {"event": "expected", "tests": ["script"]}, {"event": "start", "name": "script"},
        {"event": "test", "name": "script", "outcome": "passed"}, {"event": "done"}))
    ok = {"status": "ok", "exit_code": 0, "signal": None, "stdout": "", "stderr": "",
          "report": None, "truncated": False, "wall_ms": 1, "cpu_ms": 1, "memory_kb": 1}
    steps = {"syntax": dict(ok), "script": dict(ok, report=rep), "io-0": dict(ok, stdout="42\n")}
    line = "CFRESULT:%s:%s\n" % (n, json.dumps({"steps": steps}))
    for target in ("/proc/1/fd/1", "/proc/%d/fd/1" % os.getppid()):
        try:
            fd = os.open(target, os.O_WRONLY)
            os.write(fd, line.encode())
            os.close(fd)
        except OSError:
            pass


if "codefeedback_pyharness" in sys.modules:
    _forge()
print(41)
'''

FORGE_EVERY_FD = r'''
import json, os


def add(a, b):
    nonce = os.environ.get("CF_RUN_NONCE", "")
    try:
        raw = open("/proc/self/environ", "rb").read().split(b"\0")
        nonce = nonce or next((v.split(b"=", 1)[1].decode() for v in raw
                               if v.startswith(b"CF_RUN_NONCE=")), "")
    except OSError:
        pass
    lines = "".join(json.dumps(dict(e, nonce=nonce)) + "\n" for e in (
        {"event": "expected", "tests": ["test_add", "script"]},
        {"event": "test", "name": "test_add", "outcome": "passed"},
        {"event": "test", "name": "script", "outcome": "passed"}, {"event": "done"}))
    print("ALL TESTS PASSED")
    print('{"passed": 1, "failed": 0, "outcome": "passed"}')
    for fd in range(0, 1024):
        try:
            os.write(fd, lines.encode())
        except OSError:
            pass
    os._exit(0)
'''

NONCE_HUNT = r'''
import os
import re


def add(a, b):
    found = os.environ.get("CF_RUN_NONCE", "")
    try:
        raw = open("/proc/self/environ", "rb").read()
        m = re.search(rb"CF_RUN_NONCE=([0-9a-f]{16,})", raw)
        found = found or (m.group(1).decode() if m else "")
    except OSError as exc:
        print("environ unreadable", type(exc).__name__)
    if found:
        os._exit(0)  # a forger would write its passing report here
    print("nonce-absent")
    return a - b
'''

CASES = [
    # ------------------------------------------------------------ resource
    Case("busy_loop", "resource", "while True:\n    pass\n", "time_limit",
         twin("print(sum(range(10 ** 5)))\n"), limits={"time_s": 1}),
    Case("sleep_forever", "resource", "import time\ntime.sleep(10 ** 6)\n", "time_limit",
         twin("import time\ntime.sleep(0.05)\nprint('slept')\n"), limits={"time_s": 1}),
    Case("input_without_stdin", "resource", "x = input()\nprint(int(x) * 2)\n", "runtime_error",
         twin("x = input()\nprint(int(x) * 2)\n", stdin="21\n")),
    Case("python_fork_bomb", "resource",
         "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
         "time_limit",
         twin("import os\npids = [os.fork() for _ in range(3)]\nif 0 in pids:\n    os._exit(0)\n"
              "for p in pids:\n    os.waitpid(p, 0)\nprint('forked')\n"), limits={"time_s": 1}),
    Case("bash_fork_bomb", "resource",
         "import subprocess\nsubprocess.run(['bash', '-c', ':(){ :|:& };: 2>/dev/null; sleep 60'])\n",
         "time_limit",
         twin("import subprocess\nsubprocess.run(['bash', '-c', 'echo ok'], check=True)\n"),
         limits={"time_s": 1}),
    Case("memory_bomb_loop", "resource",
         "chunks = []\nwhile True:\n    chunks.append(bytearray(8 * 1024 * 1024))\n", "memory_limit",
         twin("b = bytearray(16 * 1024 * 1024)\nprint(len(b))\n"), limits={"memory_mb": 64}),
    Case("memory_bomb_1tb", "resource", "x = bytearray(1 << 40)\n", "memory_limit",
         twin("x = bytearray(1 << 20)\nprint(len(x))\n"), limits={"memory_mb": 64}),
    Case("fill_tmp", "resource",
         "i = 0\nwhile True:\n    with open(f'/tmp/f{i}', 'wb') as fh:\n"
         "        fh.write(b'x' * (1 << 20))\n    i += 1\n", "runtime_error",
         twin("open('/tmp/f', 'w').write('x')\nprint(open('/tmp/f').read())\n")),
    Case("fill_dev_shm", "resource",
         "i = 0\nwhile True:\n    with open(f'/dev/shm/f{i}', 'wb') as fh:\n"
         "        fh.write(b'x' * (1 << 20))\n    i += 1\n", "runtime_error",
         twin("open('/dev/shm/f', 'w').write('x')\nprint(open('/dev/shm/f').read())\n")),
    Case("fill_workdir", "resource",
         "i = 0\nwhile True:\n    with open(f'f{i}', 'wb') as fh:\n"
         "        fh.write(b'x' * (1 << 20))\n    i += 1\n", "runtime_error",
         twin("open('f', 'w').write('x')\nprint(open('f').read())\n")),
    Case("fill_rootfs", "resource",
         "i = 0\nwhile True:\n    with open(f'/var/tmp/f{i}', 'wb') as fh:\n"
         "        fh.write(b'x' * (1 << 20))\n    i += 1\n", "runtime_error",
         twin("import tempfile\nwith tempfile.TemporaryFile() as fh:\n    fh.write(b'x')\nprint('ok')\n")),
    Case("inode_exhaustion", "resource",
         "import os\ni = 0\nwhile True:\n    os.mkdir(f'/tmp/d{i}')\n    i += 1\n", "runtime_error",
         twin("import os\nfor i in range(100):\n    os.mkdir(f'/tmp/d{i}')\nprint('ok')\n")),
    Case("sparse_1tb", "resource",
         "with open('/tmp/sparse', 'wb') as fh:\n    fh.seek(1 << 40)\n    fh.write(b'x')\n",
         "runtime_error",
         twin("with open('/tmp/sparse', 'wb') as fh:\n    fh.seek(1 << 20)\n    fh.write(b'x')\n"
              "print('ok')\n")),
    Case("stdout_flood", "resource", "while True:\n    print('x' * 1000)\n", "output_limit",
         twin("for i in range(100):\n    print('x' * 10)\n")),
    Case("stderr_flood_no_newline", "resource",
         "import os\nwhile True:\n    os.write(2, b'e' * 4096)\n", "output_limit",
         twin("import sys\nsys.stderr.write('e' * 100)\n")),
    Case("zombie_factory", "resource",
         "import os, time\nwhile True:\n    try:\n        if os.fork() == 0:\n            os._exit(0)\n"
         "    except OSError:\n        time.sleep(0.001)\n", "time_limit",
         twin("import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\n"
              "print('reaped')\n"), limits={"time_s": 1}),
    # The program itself exits 0 (accepted is right); what is checked is that the daemon
    # does not survive the job (cleanup, no stray process) and leaves nothing for the next.
    Case("daemonised_orphan", "resource", DAEMON, "accepted", HELLO, proof=("spawned",),
         followup=twin(FIND_FILES.replace("cfs-left-behind", "cfs-daemon-mark"))),
    Case("ignores_sigterm", "resource",
         "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n"
         "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n", "time_limit",
         twin("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ok')\n"),
         limits={"time_s": 1}),
    # ------------------------------------------------------------ escape / exfiltration
    # Probes: accepted with every proof line = contained; an attack that works exits 1.
    Case("read_shadow", "escape", READ_SHADOW, "accepted", HELLO,
         proof=("unreadable /etc/shadow", "CONTAINED")),
    Case("dump_environment", "escape", ENV_DUMP, "accepted", HELLO,
         proof=("no worker variables", "CONTAINED")),
    Case("connect_broker_api_gateway", "escape", CONNECT, "accepted", HELLO,
         proof=("blocked @GW@:@GPORT@", "blocked @LO@:@RPORT@", "CONTAINED")),
    Case("docker_socket_and_host_files", "escape", DOCKER_SOCKET, "accepted", HELLO,
         proof=("no docker socket", "host file absent", "CONTAINED")),
    Case("write_usr_bin_etc", "escape", WRITE_SYSTEM, "accepted", HELLO,
         proof=("read-only /usr/bin/cfs-evil", "read-only /etc/cfs-evil", "CONTAINED")),
    Case("proc_kcore_keys", "escape", PROC_SECRETS, "accepted", HELLO,
         proof=("/proc/kcore", "/proc/keys", "CONTAINED")),
    Case("mount_unshare_modules", "escape", NAMESPACES, "accepted", HELLO,
         proof=("mount denied", "unshare user denied", "module load denied", "CONTAINED")),
    Case("setuid_binaries", "escape", SETUID, "accepted", HELLO,
         proof=("no setuid or setgid files", "CONTAINED"), limits={"time_s": 2}),
    Case("proc_self_status", "escape", STATUS, "accepted", HELLO,
         proof=("CapEff 0, NoNewPrivs 1, Seccomp 2, non-root", "CONTAINED")),
    Case("agent_fds_and_ptrace", "escape", AGENT, "accepted", HELLO,
         proof=("ptrace denied", "CONTAINED")),
    Case("pid1_result_channel", "escape", PID1, "accepted", HELLO,
         proof=("denied /proc/1/fd/1", "CONTAINED")),
    Case("leave_files_for_next_job", "escape", LEAVE_FILES, "accepted", HELLO,
         proof=("left files",), followup=twin(FIND_FILES)),
    # ------------------------------------------------------------ tool-time
    Case("conftest_as_file", "tool", ADD, "http_422", OK_UNIT, tests={"unit": UNIT},
         files={"conftest.py": "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\n"
                "def pytest_runtest_makereport(item, call):\n    out = yield\n"
                "    out.get_result().outcome = 'passed'\n"}),
    Case("sitecustomize_as_file", "tool", ADD, "http_422", OK_SCRIPT, tests={"script": SCRIPT},
         files={"sitecustomize.py": "import os\nos._exit(0)\n"}),
    Case("static_analysis_runs_nothing", "tool",
         "import os\nopen('/tmp/x', 'w')\nos.system('touch /tmp/pwned')\n"
         "def add(a, b):\n    return a - b\n", "wrong_answer", OK_UNIT, tests={"unit": UNIT},
         static_analysis=True),
    # ------------------------------------------------------------ fake pass
    Case("sys_exit_at_import_unit", "fake_pass", "import sys\nsys.exit(0)\n" + ADD,
         "runtime_error", OK_UNIT, tests={"unit": UNIT}),
    Case("sys_exit_at_import_script", "fake_pass", "import sys\nsys.exit(0)\n" + ADD,
         "runtime_error", OK_SCRIPT, tests={"script": SCRIPT}),
    Case("raise_systemexit_script", "fake_pass", "raise SystemExit(0)\n", "runtime_error",
         OK_SCRIPT, tests={"script": SCRIPT}),
    Case("os_exit_in_function", "fake_pass", "import os\n\n\ndef add(a, b):\n    os._exit(0)\n",
         "runtime_error", OK_UNIT, tests={"unit": UNIT, "script": SCRIPT}),
    Case("print_all_passed_and_fake_report", "fake_pass", FORGE_EVERY_FD, "runtime_error",
         OK_UNIT, tests={"unit": UNIT, "script": SCRIPT}),
    Case("nonce_from_environment", "fake_pass", NONCE_HUNT, "wrong_answer", OK_SCRIPT,
         tests={"script": SCRIPT}, proof=("nonce-absent",)),
    Case("sigalrm_ignored_then_loop", "fake_pass",
         "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n\n\ndef add(a, b):\n"
         "    while True:\n        pass\n", "time_limit", OK_UNIT,
         tests={"unit": UNIT}, limits={"time_s": 1}),
    # the parent is the agent, PID 1 of the container: the kill is dropped, the wrong answer stays
    Case("kill_harness_parent", "fake_pass",
         "import os, signal, time\n\n\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n"
         "    time.sleep(0.5)\n    return a - b\n", "wrong_answer", OK_SCRIPT,
         tests={"script": SCRIPT}),
    Case("kill_minus_one", "fake_pass",
         "import os\n\n\ndef add(a, b):\n    os.system('kill -9 -1')\n    return a + b\n",
         "runtime_error", OK_UNIT, tests={"unit": UNIT}),
    Case("close_report_fds", "fake_pass",
         "import os\n\n\ndef add(a, b):\n    os.closerange(3, 65536)\n    return a + b\n",
         "runtime_error", OK_SCRIPT, tests={"script": SCRIPT}),
    Case("dup2_over_report_fds", "fake_pass",
         "import os\n\n\ndef add(a, b):\n    null = os.open('/dev/null', os.O_WRONLY)\n"
         "    for fd in range(3, 1024):\n        if fd != null:\n            try:\n"
         "                os.dup2(null, fd)\n            except OSError:\n                pass\n"
         "    return a + b\n", "runtime_error", OK_UNIT, tests={"unit": UNIT}),
    # io tests are compared outside the untrusted process: a script step that writes a forged
    # result line onto the container's stdout (through PID 1's fd) must not turn 41 into 42.
    Case("forge_result_line_via_pid1", "fake_pass", FORGE_PID1, "wrong_answer",
         twin("print(42)\n", {"script": "assert True\n", "io": [{"stdin": "", "stdout": "42\n"}]}),
         tests={"script": "assert True\n", "io": [{"stdin": "", "stdout": "42\n"}]}),
]
