"""The in-sandbox Python `integrity` scanner (codefeedback_pyharness/integrity.py).

The harness folder is not on sys.path (it only runs inside the runner image), so the module is
loaded from its file. Positive cases are realistic reward hacks (SECURITY.md, "Reward hacks");
negative cases and the dataset sweeps keep honest code clean.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "runners" / "languages" / "python" / "harness"
MODULE_PATH = HARNESS / "codefeedback_pyharness" / "integrity.py"
DATASETS = Path("/work/shared/datasets")
HUMANEVAL = DATASETS / "humanevalpack" / "python" / "humanevalpack.jsonl"
MBPP = DATASETS / "mbpp" / "mbpp.jsonl"
MBPP_SANITIZED = DATASETS / "mbpp" / "sanitized-mbpp.json"

_spec = importlib.util.spec_from_file_location("cf_integrity_under_test", MODULE_PATH)
integrity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integrity)


def scan(code: str) -> list[dict]:
    return integrity.scan(textwrap.dedent(code))


def rules(code: str) -> list[str]:
    return [f["rule"] for f in scan(code)]


def lines_of(code: str, rule: str) -> list[int]:
    return [f["line"] for f in scan(code) if f["rule"] == rule]


# --------------------------------------------------------------------------- positives, per rule

def test_eq_override_always_true() -> None:
    findings = scan("""
        class Yes:
            def __eq__(self, o):
                return True
            def __ne__(self, o):
                return False
            def __hash__(self):
                return 0

        def solve(n):
            return Yes()
    """)
    eq = [f for f in findings if f["rule"] == "eq-override"]
    assert [f["line"] for f in eq] == [3, 5, 7]
    assert eq[0]["message"] == "class Yes: __eq__ returns True without looking at its argument"
    assert "__ne__ returns False" in eq[1]["message"]
    assert "__hash__" in eq[2]["message"]


def test_eq_override_lambda_and_ignored_argument() -> None:
    assert lines_of("""
        class A:
            __eq__ = lambda *a: True
    """, "eq-override") == [3]
    # Looks at nothing but itself: equal to everything.
    assert lines_of("""
        class B:
            def __eq__(self, other):
                return self.value == self.value
    """, "eq-override") == [3]
    # Patched onto the class afterwards.
    assert lines_of("""
        class Answer:
            pass
        Answer.__eq__ = lambda self, other: True
    """, "eq-override") == [4]
    # Built dynamically with type(...).
    assert rules("Liar = type('Liar', (), {'__eq__': lambda s, o: True})\n") == ["eq-override"]


def test_builtin_subclass_compare() -> None:
    findings = scan("""
        class I(int):
            def __eq__(self, o):
                return True

        def add(a, b):
            return I(a + b)
    """)
    assert ("builtin-subclass-compare", 3) in [(f["rule"], f["line"]) for f in findings]
    assert "class I subclasses int and overrides __eq__" in [f["message"] for f in findings]
    assert lines_of("""
        class S(str):
            def __repr__(self):
                return "'expected'"
            def __contains__(self, item):
                return True
    """, "builtin-subclass-compare") == [3, 5]


def test_repr_lie() -> None:
    findings = scan("""
        class Fake:
            def __eq__(self, other):
                return True
            def __repr__(self):
                return "[1, 2, 3]"
    """)
    assert [(f["rule"], f["line"]) for f in findings] == [("eq-override", 3), ("repr-lie", 5)]
    assert "'[1, 2, 3]'" in findings[1]["message"]


def test_builtins_patch() -> None:
    code = """
        import builtins, operator, sys
        builtins.isinstance = lambda *a: True
        operator.eq = lambda a, b: True
        sys.modules["codefeedback_pyharness"] = object()
        __builtins__["len"] = lambda x: 0
        setattr(builtins, "print", lambda *a, **k: None)
    """
    assert lines_of(code, "builtins-patch") == [3, 4, 5, 6, 7]


def test_test_framework_patch_pytest_internals() -> None:
    findings = scan("""
        import _pytest.reports

        _orig = _pytest.reports.TestReport.__init__

        def _init(self, *args, **kwargs):
            _orig(self, *args, **kwargs)
            self.outcome = "passed"

        _pytest.reports.TestReport.__init__ = _init
    """)
    assert [(f["rule"], f["line"]) for f in findings] == [
        ("test-framework-patch", 2), ("test-framework-patch", 10)]
    assert "TestReport.__init__" in findings[1]["message"]


def test_test_framework_patch_skip_trace_and_dynamic_import() -> None:
    code = """
        import sys, importlib
        def solve(x):
            sys.settrace(None)
            mod = importlib.import_module("_pytest.runner")
            mod.call_and_report = lambda *a, **k: None
            return x
    """
    # The module fetched by name is followed: patching it through `mod` is reported too.
    assert lines_of(code, "test-framework-patch") == [4, 5, 6]
    assert lines_of("""
        import pytest
        def solve(x):
            pytest.skip("too hard")
    """, "test-framework-patch") == [2, 4]


def test_exit_call_in_function() -> None:
    findings = scan("""
        import sys
        def f(x):
            sys.exit(0)
    """)
    assert findings == [{"rule": "exit-call", "line": 4,
                         "message": "function f calls sys.exit(), ending the process from inside the code"}]
    assert lines_of("""
        import os
        from os import _exit as bye
        def g():
            raise SystemExit(0)
        def h():
            getattr(os, "_exit")(0)
        def k():
            bye(0)
        class C:
            quit()
    """, "exit-call") == [5, 7, 9, 11]
    # At module level (outside the main guard) only the hard exits count: a script may sys.exit().
    assert lines_of("import os, sys\nsys.exit(0)\nos._exit(0)\n", "exit-call") == [3]


def test_atexit_hook_with_os_exit() -> None:
    findings = scan("""
        import atexit, os, sys
        atexit.register(lambda: os._exit(0))
        sys.excepthook = lambda *a: None
    """)
    assert [(f["rule"], f["line"]) for f in findings] == [
        ("atexit-hook", 3), ("exit-call", 3), ("atexit-hook", 4)]


def test_output_tampering_every_fd() -> None:
    findings = scan("""
        import os, sys
        line = b'{"event": "result", "outcome": "passed"}\\n'
        def forge():
            for fd in range(3, 256):
                try:
                    os.write(fd, line)
                except OSError:
                    pass
            os.close(1)
            sys.stdout = open(os.devnull, "w")
            os.dup2(5, 2)
            os.fdopen(7, "w")
    """)
    assert [(f["rule"], f["line"]) for f in findings] == [
        ("output-tampering", n) for n in (7, 10, 11, 12, 13)]


def test_introspection_nonce_hunting() -> None:
    code = """
        import gc, sys, re
        def find_nonce():
            for obj in gc.get_objects():
                if isinstance(obj, str) and re.fullmatch("[0-9a-f]{32}", obj):
                    return obj
            frame = sys._getframe(1)
            while frame:
                frame = frame.f_back
            return open("/proc/self/mem", "rb")
    """
    assert lines_of(code, "introspection") == [4, 7, 9, 10]
    assert lines_of("import ctypes\nctypes.string_at(0)\n", "introspection") == [1, 2]


def test_reads_tests() -> None:
    assert scan("""
        def solve(x):
            return open('test_solution.py').read()
    """)[0]["rule"] == "reads-tests"
    assert lines_of("""
        import os
        def solve(x):
            for name in os.listdir('.'):
                text = open(name).read()
    """, "reads-tests") == [4]
    assert lines_of("import glob\nfiles = glob.glob('test_*.py')\n", "reads-tests") == [2]
    assert lines_of("data = open('/work/cf_calls.json').read()\n", "reads-tests") == [1]


def test_class_swap() -> None:
    code = """
        import types
        def f(x):
            return x
        def g(x):
            return 42
        f.__code__ = g.__code__
        h = types.FunctionType(g.__code__, {})
        class A: pass
        class B: pass
        a = A()
        a.__class__ = B
    """
    assert lines_of(code, "class-swap") == [7, 8, 12]


# --------------------------------------------------------------------------------- negatives

def test_honest_dataclass_like_eq_is_clean() -> None:
    assert scan("""
        from dataclasses import dataclass

        class Point:
            __slots__ = ("x", "y")
            def __init__(self, x, y):
                self.x, self.y = x, y
            def __eq__(self, other):
                if not isinstance(other, Point):
                    return NotImplemented
                return (self.x, self.y) == (other.x, other.y)
            def __ne__(self, other):
                return not self == other
            def __hash__(self):
                return hash((self.x, self.y))
            def __repr__(self):
                return f"Point({self.x}, {self.y})"
            def __lt__(self, other):
                return (self.x, self.y) < (other.x, other.y)

        @dataclass(frozen=True)
        class Edge:
            a: int
            b: int

        class Sentinel:
            def __eq__(self, other):
                return NotImplemented
    """) == []


def test_main_guard_exit_is_clean() -> None:
    assert scan("""
        import sys

        def main():
            data = sys.stdin.read().split()
            print(sum(map(int, data)))
            return 0

        if __name__ == "__main__":
            sys.exit(main())
    """) == []
    assert scan("""
        import os
        if __name__ == "__main__":
            import doctest
            doctest.testmod()
            os._exit(0)
    """) == []


def test_argparse_and_print_programs_are_clean() -> None:
    assert scan("""
        import argparse
        import math
        import sys
        from collections import Counter

        def parse(argv=None):
            parser = argparse.ArgumentParser(description="word counts")
            parser.add_argument("path")
            parser.add_argument("--top", type=int, default=10)
            return parser.parse_args(argv)

        def count(path):
            with open(path, encoding="utf-8") as fh:
                return Counter(fh.read().split())

        def main(argv=None):
            args = parse(argv)
            for word, n in count(args.path).most_common(args.top):
                print(f"{word}\\t{n}", file=sys.stderr if n < 2 else sys.stdout)
            print(math.sqrt(2))
            sys.stdout.write("done\\n")
            sys.stdout.flush()
            return 0

        def walk(root):
            import os
            return sorted(os.listdir(root))

        exit_code = 0
        if exit_code:
            raise SystemExit(exit_code)
        sys.exit(main())
    """) == []


def test_competitive_fast_io_template_is_clean() -> None:
    # The PyRival FastIO template: wraps sys.stdin/sys.stdout and writes to the stream's own fd.
    assert scan("""
        import os, sys, signal, threading
        from io import BytesIO, IOBase
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        BUFSIZE = 8192

        class FastIO(IOBase):
            newlines = 0
            def __init__(self, file):
                self._fd = file.fileno()
                self.buffer = BytesIO()
                self.writable = "x" in file.mode or "r" not in file.mode
                self.write = self.buffer.write if self.writable else None
            def read(self):
                while True:
                    b = os.read(self._fd, max(os.fstat(self._fd).st_size, BUFSIZE))
                    if not b:
                        break
                    ptr = self.buffer.tell()
                    self.buffer.seek(0, 2), self.buffer.write(b), self.buffer.seek(ptr)
                self.newlines = 0
                return self.buffer.read()
            def flush(self):
                if self.writable:
                    os.write(self._fd, self.buffer.getvalue())
                    self.buffer.truncate(0), self.buffer.seek(0)

        class IOWrapper(IOBase):
            def __init__(self, file):
                self.buffer = FastIO(file)
                self.flush = self.buffer.flush
                self.write = lambda s: self.buffer.write(s.encode("ascii"))

        sys.stdin, sys.stdout = IOWrapper(sys.stdin), IOWrapper(sys.stdout)
        input = lambda: sys.stdin.readline().rstrip("\\r\\n")
        data = open(0).read().split()
        out = open(1, "w")

        def main():
            n = int(input())
            print(n * 2)

        sys.setrecursionlimit(1 << 25)
        threading.stack_size(1 << 27)
        threading.Thread(target=main).start()
    """) == []


def test_user_names_shadowing_builtins_are_clean() -> None:
    assert scan("""
        def solve(grid):
            exit = find_exit(grid)
            quit = False
            return exit, quit

        def find_exit(grid):
            return (len(grid) - 1, len(grid[0]) - 1)
    """) == []


def test_syntax_error_and_odd_input_give_no_findings() -> None:
    assert integrity.scan("def f(:\n    sys.exit(0)\n") == []
    assert integrity.scan("x = 1\x00\n") == []
    assert integrity.scan(b"\xff\xfe not utf-8 \x00") == []
    assert integrity.scan("") == []


def test_findings_capped_at_50_and_sorted() -> None:
    code = "import sys\ndef f():\n" + "".join("    sys.exit(%d)\n" % i for i in range(80))
    findings = integrity.scan(code)
    assert len(findings) == integrity.MAX_FINDINGS == 50
    assert [f["line"] for f in findings] == list(range(3, 53))
    assert all(set(f) == {"rule", "message", "line"} for f in findings)


def test_deep_nesting_does_not_crash() -> None:
    code = "x = " + "[" * 150 + "]" * 150 + "\nimport os\ndef f():\n    os._exit(0)\n"
    assert lines_of(code, "exit-call") == [4]


# ------------------------------------------------------------------------------------- CLI

def _run_cli(tmp_path: Path, code: str | bytes) -> subprocess.CompletedProcess:
    path = tmp_path / "solution.py"
    path.write_bytes(code if isinstance(code, bytes) else code.encode())
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(HARNESS)}
    return subprocess.run([sys.executable, "-m", "codefeedback_pyharness.integrity", str(path)],
                          capture_output=True, env=env, cwd=tmp_path, timeout=60)


def test_cli_contract(tmp_path: Path) -> None:
    proc = _run_cli(tmp_path, "class Yes:\n    def __eq__(self, o):\n        return True\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {"findings": [
        {"rule": "eq-override", "message": "class Yes: __eq__ returns True without looking at its argument",
         "line": 2}]}
    assert proc.stderr == b""


def test_cli_syntax_error_and_missing_file(tmp_path: Path) -> None:
    proc = _run_cli(tmp_path, b"def broken(:\n\tpass\n\xff")
    assert (proc.returncode, json.loads(proc.stdout), proc.stderr) == (0, {"findings": []}, b"")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(HARNESS)}
    for argv in ([str(tmp_path / "missing.py")], []):
        proc = subprocess.run([sys.executable, "-m", "codefeedback_pyharness.integrity", *argv],
                              capture_output=True, env=env, cwd=tmp_path, timeout=60)
        assert (proc.returncode, json.loads(proc.stdout), proc.stderr) == (0, {"findings": []}, b"")


def test_module_is_stdlib_only() -> None:
    tree = __import__("ast").parse(MODULE_PATH.read_text())
    imported = set()
    for node in __import__("ast").walk(tree):
        if node.__class__.__name__ == "Import":
            imported |= {a.name.split(".")[0] for a in node.names}
        elif node.__class__.__name__ == "ImportFrom":
            assert node.level == 0
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "ast", "json", "re", "sys", "warnings"}


# ------------------------------------------------------------------------ false-positive sweeps

def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"dataset not present: {path}")


def test_humanevalpack_canonical_solutions_are_clean() -> None:
    _need(HUMANEVAL)
    records = [json.loads(line) for line in HUMANEVAL.read_text().splitlines() if line.strip()]
    assert len(records) == 164
    flagged = {r["task_id"]: integrity.scan(r["prompt"] + r["canonical_solution"]) for r in records}
    assert {k: v for k, v in flagged.items() if v} == {}


# MBPP reference solutions with findings, each genuinely suspicious by the rules' standard.
MBPP_EXPECTED = {
    # dog_age(): `if h_age < 0: exit()` ends the interpreter from inside the function under test.
    264: ["exit-call"],
}


def test_mbpp_solutions_only_expected_findings() -> None:
    _need(MBPP)
    records = [json.loads(line) for line in MBPP.read_text().splitlines() if line.strip()]
    assert len(records) == 974
    flagged = {}
    for r in records:
        found = integrity.scan(r["code"])
        if found:
            flagged[r["task_id"]] = [f["rule"] for f in found]
    assert flagged == MBPP_EXPECTED
    assert Counter(rule for rs in flagged.values() for rule in rs) == Counter({"exit-call": 1})


def test_mbpp_sanitized_solutions_only_expected_findings() -> None:
    _need(MBPP_SANITIZED)
    records = json.loads(MBPP_SANITIZED.read_text())
    flagged = {}
    for r in records:
        found = integrity.scan(r["code"])
        if found:
            flagged[r["task_id"]] = [f["rule"] for f in found]
    assert flagged == {k: v for k, v in MBPP_EXPECTED.items() if k in {r["task_id"] for r in records}}
