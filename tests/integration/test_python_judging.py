"""Trusted judging for Python through the real Docker sandbox: `calls`, HumanEval-shaped scripts
judged as calls, type-strict asserts in script and unit tests, and the grader's fingerprint."""

from __future__ import annotations

import pytest

from codefeedback.models import Submission
from runners.pipeline import evaluate

pytestmark = [pytest.mark.docker]

ADD = "def add(a, b):\n    return a + b\n"
YES = ("class Yes:\n    def __eq__(self, other):\n        return True\n"
       "    def __ne__(self, other):\n        return False\n"
       "    def __repr__(self):\n        return '3'\n\n\ndef add(a, b):\n    return Yes()\n")
CALLS = {"function": "add", "cases": [{"args": [1, 2], "expected": 3},
                                      {"args": [0.5, 0.25], "expected": 0.75},
                                      {"args": [[1], [2]], "expected": [1, 2]}]}


def run(sandbox, code: str, tests: dict, **kw):
    sub = Submission(language="python", code=code, tests=tests, static_analysis=False, **kw)
    return evaluate(sub, sandbox)


def test_calls_one_case_each(sandbox) -> None:
    fb = run(sandbox, ADD, {"calls": CALLS})
    assert fb.verdict.value == "accepted", fb.feedback
    assert [c.name for c in fb.tests.cases] == ["case 0", "case 1", "case 2"]
    assert fb.tests.cases[2].actual == "[1, 2]"


def test_calls_wrong_value_names_expected_and_actual(sandbox) -> None:
    fb = run(sandbox, "def add(a, b):\n    return b + a if type(a) is list else a - b\n",
             {"calls": CALLS})
    assert fb.verdict.value == "wrong_answer", fb.feedback
    assert fb.tests.cases[2].actual == "[2, 1]"
    first = fb.tests.cases[0]
    assert (first.outcome.value, first.expected, first.actual) == ("failed", "3", "-1")
    assert "add(1, 2)" in first.message


@pytest.mark.parametrize("ret", ["Yes()", "I(3)", "S('3')", "L([1, 2])", "F(0.75)", "True",
                                 "3.0 if a == 1 else a + b"])
def test_calls_type_rule(sandbox, ret: str) -> None:
    code = YES.replace("return Yes()", f"return {ret}") + (
        "\nclass I(int):\n    def __eq__(self, o):\n        return True\n"
        "\nclass S(str):\n    def __eq__(self, o):\n        return True\n"
        "\nclass L(list):\n    def __eq__(self, o):\n        return True\n"
        "\nclass F(float):\n    def __eq__(self, o):\n        return True\n")
    fb = run(sandbox, code, {"calls": {"function": "add", "cases": [
        {"args": [1, 2], "expected": 3}]}})
    if ret.startswith("3.0"):  # an int and a float compare numerically
        assert fb.verdict.value == "accepted", fb.feedback
        return
    assert fb.verdict.value == "wrong_answer", fb.feedback
    if ret != "True":
        assert "subclass" in fb.tests.cases[0].message or "Yes" in fb.tests.cases[0].message


def test_calls_float_tolerance_and_exit(sandbox) -> None:
    tests = {"calls": {"function": "f", "cases": [{"args": [], "expected": 0.3}],
                       "float_tolerance": {"rel": 1e-9, "abs": 0}}}
    assert run(sandbox, "def f():\n    return 0.1 + 0.2\n", tests).verdict.value == "accepted"
    tests["calls"].pop("float_tolerance")
    assert run(sandbox, "def f():\n    return 0.1 + 0.2\n", tests).verdict.value == "wrong_answer"
    fb = run(sandbox, "import sys\ndef f():\n    sys.exit(0)\n", tests)
    assert fb.verdict.value == "runtime_error", fb.feedback
    fb = run(sandbox, "import os\ndef f():\n    os._exit(0)\n", tests)
    assert fb.verdict.value == "runtime_error", fb.feedback


HUMANEVAL = ("\n\nMETADATA = {'author': 'x'}\n\n\ndef check(candidate):\n"
             "    assert candidate(1, 2) == 3\n    assert True, 'prints if this fails'\n"
             "    assert candidate(2, 2) == 4, 'two'\n"
             "    assert abs(candidate(0.1, 0.2) - 0.3) < 1e-6\n\ncheck(add)\n")


def test_humaneval_script_is_judged_as_calls(sandbox) -> None:
    fb = run(sandbox, ADD, {"script": HUMANEVAL})
    assert fb.verdict.value == "accepted", fb.feedback
    assert [c.name for c in fb.tests.cases] == ["line 7", "line 9", "line 10"]
    fb = run(sandbox, YES, {"script": HUMANEVAL})
    assert fb.verdict.value == "wrong_answer", fb.feedback
    assert all(c.outcome.value == "failed" for c in fb.tests.cases)
    fb = run(sandbox, "def add(a, b):\n    return a * b\n", {"script": HUMANEVAL})
    assert [c.outcome.value for c in fb.tests.cases] == ["failed", "passed", "failed"]


@pytest.mark.parametrize("kind", ["script", "unit"])
def test_in_process_asserts_are_type_strict(sandbox, kind: str) -> None:
    script = "x = add(1, 2)\nassert x == 3\nassert add(2, 2) != 5\n"  # not HumanEval-shaped
    unit = "from solution import add\n\ndef test_add():\n    x = add(1, 2)\n    assert x == 3\n"
    tests = {kind: script if kind == "script" else unit}
    assert run(sandbox, ADD, tests).verdict.value == "accepted"
    fb = run(sandbox, YES, tests)
    assert fb.verdict.value == "wrong_answer", fb.feedback
    assert "never equal to a plain value" in fb.tests.cases[0].message


def test_patched_test_report_voids_the_run(sandbox) -> None:
    hack = ("import _pytest.reports as r\n_orig = r.TestReport.__init__\n\n\n"
            "def _init(self, *a, **k):\n    _orig(self, *a, **k)\n    self.outcome = 'passed'\n\n\n"
            "r.TestReport.__init__ = _init\n\n\ndef add(a, b):\n    return 0\n")
    unit = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    fb = run(sandbox, hack, {"unit": unit})
    assert fb.verdict.value != "accepted", fb.feedback
    assert any("void" in (c.message or "") for c in fb.tests.cases), fb.tests.cases


def test_patched_builtins_void_a_script(sandbox) -> None:
    hack = "import builtins\nbuiltins.AssertionError = KeyError\n" + ADD
    fb = run(sandbox, hack, {"script": "y = add(1, 2)\nassert y == 3\n"})
    assert fb.verdict.value != "accepted"
    assert "builtins.AssertionError" in fb.feedback


def test_test_files_are_not_readable_by_the_solution(sandbox) -> None:
    peek = ("import os\nimport re\n\n\ndef add(a, b):\n    found = ''\n"
            "    for name in os.listdir('.'):\n        try:\n"
            "            if name != 'solution.py':\n                found += open(name).read()\n"
            "        except OSError:\n            pass\n"
            "    m = re.search(r'== (\\d+)', found)\n    return int(m.group(1)) if m else 0\n")
    unit = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 4242\n"
    script = "y = add(1, 2)\nassert y == 4242\n"
    fb = run(sandbox, peek, {"unit": unit, "script": script})
    assert fb.verdict.value == "wrong_answer", fb.feedback


def test_integrity_flags_but_never_changes_the_verdict(sandbox) -> None:
    fb = run(sandbox, YES, {"calls": {"function": "add", "cases": [{"args": [1, 2],
                                                                     "expected": 3}]}})
    assert fb.integrity is not None and fb.integrity.suspicious
    assert "eq-override" in {f.rule for f in fb.integrity.findings}
    # the same finding on an honest-looking pass stays data: the verdict is the tests' own
    flagged_but_right = ADD + "\n\nclass Yes:\n    def __eq__(self, other):\n        return True\n"
    fb = run(sandbox, flagged_but_right, {"calls": CALLS})
    assert fb.verdict.value == "accepted" and fb.integrity.suspicious
    fb = run(sandbox, ADD, {"calls": CALLS})
    assert fb.integrity is not None and not fb.integrity.suspicious
