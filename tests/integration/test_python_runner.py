"""The Python runner through the real Docker sandbox: limits, early exits, lint lines, posture."""

from __future__ import annotations

import json

import pytest

from codefeedback.models import Submission
from runners.pipeline import evaluate

pytestmark = [pytest.mark.docker]

UNIT = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
SCRIPT = "assert add(1, 2) == 3\nassert add(5, 5) == 10\n"


def run(sandbox, code: str, tests: dict | None = None, **kw):
    sub = Submission(language="python", code=code, tests=tests, **kw)
    return evaluate(sub, sandbox)


def test_wrong_answer_carries_expected_and_actual(sandbox) -> None:
    fb = run(sandbox, "def add(a, b):\n    return a - b\n", {"unit": UNIT, "script": SCRIPT})
    assert fb.verdict.value == "wrong_answer"
    unit = next(c for c in fb.tests.cases if c.kind == "unit")
    assert (unit.expected, unit.actual, unit.line) == ("3", "-1", 4)
    script = next(c for c in fb.tests.cases if c.kind == "script")
    assert (script.expected, script.actual, script.line) == ("3", "-1", 1)
    assert "expected: 3" in fb.feedback and "actual:   -1" in fb.feedback


def test_time_limit(sandbox) -> None:
    fb = run(sandbox, "def add(a, b):\n    while True:\n        pass\n", {"script": SCRIPT},
             limits={"time_s": 1.5})
    assert fb.verdict.value == "time_limit", fb.feedback


def test_time_limit_run_only_sleep(sandbox) -> None:
    fb = run(sandbox, "import time\ntime.sleep(1000)\n", limits={"time_s": 1})
    assert fb.verdict.value == "time_limit", fb.feedback


@pytest.mark.parametrize("code", [
    "x = bytearray(3 * 1024 * 1024 * 1024)\n",
    "chunks = []\nwhile True:\n    chunks.append(bytearray(8 * 1024 * 1024))\n",
])
def test_memory_limit(sandbox, code: str) -> None:
    fb = run(sandbox, code, limits={"memory_mb": 128, "time_s": 20})
    assert fb.verdict.value == "memory_limit", fb.feedback


def test_output_limit(sandbox) -> None:
    fb = run(sandbox, "while True:\n    print('x' * 1000)\n", limits={"output_kb": 16})
    assert fb.verdict.value == "output_limit", fb.feedback
    assert fb.run.truncated and len(fb.run.stdout) <= 16 * 1024


@pytest.mark.parametrize("code", [
    "import sys\nsys.exit(0)\ndef add(a, b):\n    return a + b\n",
    "def add(a, b):\n    import os\n    os._exit(0)\n",
    "raise SystemExit(0)\n",
    "def add(a, b):\n    print('ALL TESTS PASSED')\n    import os\n    os._exit(0)\n",
])
@pytest.mark.parametrize("kind", ["unit", "script"])
def test_early_exit_is_never_accepted(sandbox, code: str, kind: str) -> None:
    tests = {"unit": UNIT} if kind == "unit" else {"script": SCRIPT}
    fb = run(sandbox, code, tests)
    assert fb.verdict.value == "runtime_error", fb.feedback


def test_lint_error_reported_with_its_line(sandbox) -> None:
    code = "def add(a, b):\n    if a is None:\n        return missing_name\n    return a + b\n"
    fb = run(sandbox, code, {"unit": UNIT})
    assert fb.verdict.value == "static_error", fb.feedback
    errors = [d for d in fb.static.diagnostics if d.severity == "error"]
    assert {d.tool for d in errors} == {"pylint", "ruff"}
    assert all(d.line == 3 and d.column == 16 for d in errors), errors
    assert "solution.py:3:16" in fb.feedback and "return missing_name" in fb.feedback


def test_syntax_error_is_compile_error_with_position(sandbox) -> None:
    fb = run(sandbox, "def add(a, b):\n    return (a +\n", {"script": SCRIPT})
    assert fb.verdict.value == "compile_error"
    diag = fb.compile.diagnostics[0]
    assert diag.file == "solution.py" and diag.line == 2
    assert fb.tests is None


def test_missing_test_result_fails_closed(sandbox) -> None:
    tests = UNIT + "\ndef test_other():\n    import os\n    os._exit(0)\n"
    fb = run(sandbox, "def add(a, b):\n    return a + b\n", {"unit": tests})
    assert fb.verdict.value == "runtime_error"
    names = {c.name: c.outcome.value for c in fb.tests.cases}
    assert names["test_add"] == "passed" and names["test_other"] != "passed"


def test_io_and_files(sandbox) -> None:
    code = "print(open('data.txt').read().strip().upper())\n"
    fb = run(sandbox, code, {"io": [{"stdin": "", "stdout": "HELLO\n"}]},
             files={"data.txt": "hello\n"})
    assert fb.verdict.value == "accepted", fb.feedback


def test_sandbox_posture(sandbox) -> None:
    code = (
        "import json, os, socket\n"
        "st = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\n"
        "out = {k: st[k].strip() for k in ('CapEff', 'NoNewPrivs', 'Seccomp')}\n"
        "out['uid'] = os.getuid()\n"
        "out['net'] = sorted(os.listdir('/sys/class/net'))\n"
        "out['env'] = sorted(os.environ)\n"
        "try:\n"
        "    open('/usr/bin/x', 'w')\n"
        "    out['rootfs_writable'] = True\n"
        "except OSError:\n"
        "    out['rootfs_writable'] = False\n"
        "out['docker_sock'] = os.path.exists('/var/run/docker.sock')\n"
        "print(json.dumps(out))\n"
    )
    fb = run(sandbox, code, static_analysis=False)
    assert fb.verdict.value == "accepted", fb.feedback
    out = json.loads(fb.run.stdout)
    assert out["CapEff"] == "0000000000000000"
    assert out["NoNewPrivs"] == "1" and out["Seccomp"] == "2"
    assert out["uid"] == 10001
    assert out["net"] == ["lo"]
    assert not out["rootfs_writable"] and not out["docker_sock"]
    assert not [k for k in out["env"] if k.startswith("CFS_")]


def test_self_check_passes_on_every_runner_image(sandbox, redis_url) -> None:
    from runners.registry import images
    from workers.selfcheck import broker_address, probe

    broker = broker_address(redis_url)
    for image in images().values():
        assert probe(sandbox, image, broker) == []


def test_harness_adds_no_noise_to_the_programs_output(sandbox) -> None:
    fb = run(sandbox, "def add(a, b):\n    return a + b\n", {"script": SCRIPT, "unit": UNIT})
    assert fb.verdict.value == "accepted", fb.feedback
    assert fb.run.stderr == "" and fb.run.stdout == ""
