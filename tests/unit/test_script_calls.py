"""Recognising HumanEval / MultiPL-E shaped Python test scripts as calls (pure AST, no execution)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from runners.languages.python.script_calls import ScriptCall, ScriptCalls, recognise

HUMANEVALPACK = (Path(__file__).resolve().parents[3] / "shared" / "datasets" / "humanevalpack"
                 / "python" / "humanevalpack.jsonl")
# measured on HumanEvalPack Python (164 problems): the 20 others use loops, random inputs,
# constant arithmetic (`3 * 19`, `2.0/3.0`), `assert f(...)` / `assert not f(...)`,
# `tuple(f(...)) == ...`, a bare `print` statement, or tuple-of-expressions expectations
HUMANEVALPACK_RECOGNISED = 144

HUMANEVAL = '''

METADATA = {
    'author': 'jt',
    'dataset': 'test'
}


def check(candidate):
    """Checks."""
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.9], 0.05) == False, "message"
    assert True, "This prints if this assert fails (good for debugging!)"
    assert candidate([], -1) == (0, [1, (2, 3)])
    assert candidate("a", {"k": (1,)}) == {"x": [None, 1.5, "s"]}

    # Check some edge cases that are easy to work out by hand.
    assert True

check(has_close_elements)
'''

MULTIPLE = '''def check(candidate):
    assert candidate(-3, (1, 2), {1, 2}) == -1
    assert candidate() is None

def test_check():
    check(add)

test_check()
'''


def one(script: str) -> ScriptCalls:
    got = recognise(script)
    assert got is not None, script
    for case in got.cases:
        assert_stands_alone(case)
    return got


def assert_stands_alone(case: ScriptCall) -> None:
    """`args_source` is Python source of exactly the call's arguments."""
    again = ast.parse(f"_({case.args_source})", mode="eval").body
    assert isinstance(again, ast.Call) and not again.keywords
    assert repr(tuple(ast.literal_eval(a) for a in again.args)) == repr(case.args)


def test_humaneval_shape() -> None:
    got = one(HUMANEVAL)
    assert got.function == "has_close_elements"
    assert [c.line for c in got.cases] == [11, 12, 14, 15]
    first = got.cases[0]
    assert first == ScriptCall(line=11, args_source="[1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3",
                               call_source="has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)",
                               expected=True, tolerance=None,
                               args=([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3))
    assert got.cases[1].expected is False
    assert got.cases[2].expected == [0, [1, [2, 3]]]  # tuples -> lists, deeply
    assert got.cases[2].args_source == "[], -1"
    assert got.cases[3].expected == {"x": [None, 1.5, "s"]}
    assert got.cases[3].args == ("a", {"k": (1,)})
    json.dumps([c.expected for c in got.cases])


def test_multipl_e_shape() -> None:
    got = one(MULTIPLE)
    assert got.function == "add"
    assert got.cases[0].args == (-3, (1, 2), {1, 2})
    assert got.cases[0].args_source == "-3, (1, 2), {1, 2}"
    assert got.cases[0].call_source == "add(-3, (1, 2), {1, 2})"
    assert got.cases[1] == ScriptCall(line=3, args_source="", call_source="add()", expected=None,
                                      tolerance=None)


def test_top_level_asserts() -> None:
    got = one("from typing import List\nimport math\n\nassert add(1, 2) == 3\n"
              "assert 5 == add(2, 3)\nassert add(0, 0) is False, 'msg'\n")
    assert got.function == "add"
    assert [(c.line, c.expected, c.call_source) for c in got.cases] == [
        (4, 3, "add(1, 2)"), (5, 5, "add(2, 3)"), (6, False, "add(0, 0)")]


def test_tolerance() -> None:
    got = one("def check(candidate):\n"
              "    assert abs(candidate([1.0, 2.0]) - 1.5) < 1e-6\n"
              "    assert abs(-2.5 - candidate([-1.0])) <= 0.01\n"
              "    assert candidate([]) == 0.0\n"
              "check(mean)\n")
    a, b, c = got.cases
    assert (a.expected, a.tolerance, a.tolerance_strict) == (1.5, 1e-6, True)
    assert (b.expected, b.tolerance, b.tolerance_strict) == (-2.5, 0.01, False)
    assert (c.expected, c.tolerance) == (0.0, None)


def test_is_true_and_long_call_source() -> None:
    long_list = "[" + ", ".join(["1"] * 400) + "]"
    got = one(f"def check(f):\n    assert f({long_list}) is True\ncheck(is_ok)\n")
    case = got.cases[0]
    assert case.expected is True
    assert len(case.call_source) == 300 and case.call_source.startswith("is_ok([1, 1")
    assert case.args_source == long_list


def test_multiline_call() -> None:
    got = one("def check(candidate):\n    assert candidate([1,\n  2],  # two\n 'x') == [\n 1]\n"
              "check(f)\n")
    assert got.cases[0].args == ([1, 2], "x")
    assert got.cases[0].line == 2


def test_non_ascii_and_crlf() -> None:
    got = one("# é\r\ndef check(c):\r\n    assert c('ü€😀', ['é']) == 'x'\r\n"
              "    assert c(\"\\r\") == 1\rcheck(f)\r\n")
    assert [c.args_source for c in got.cases] == ["'ü€😀', ['é']", '"\\r"']
    assert [c.line for c in got.cases] == [3, 4]


@pytest.mark.parametrize("script", [
    # loops, helpers, computed values
    "def check(candidate):\n    for x in range(3):\n        assert candidate(x) == x\ncheck(f)\n",
    "def helper(x):\n    return x\n\ndef check(candidate):\n    assert candidate(1) == 1\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(3 * 19) == [3, 19]\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == 2.0/3.0\ncheck(f)\n",
    "def check(candidate):\n    x = 1\n    assert candidate(x) == 1\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(y) == 1\ncheck(f)\n",
    "def check(candidate):\n    assert candidate([y]) == 1\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == y\ncheck(f)\n",
    "def check(candidate):\n    assert tuple(candidate(1)) == (1,)\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1)\ncheck(f)\n",
    "def check(candidate):\n    assert not candidate(1)\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) != 2\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(candidate(1)) == 2\ncheck(f)\n",
    "def check(candidate):\n    assert 1 == candidate(1) == 1\ncheck(f)\n",
    # expected values outside the type rule
    "def check(candidate):\n    assert candidate(1) == {1, 2}\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == {1: 'a'}\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == b'x'\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == 1j\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == [frozenset()]\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) is 1\ncheck(f)\n",
    # keywords, starred
    "def check(candidate):\n    assert candidate(1, k=2) == 1\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(*[1]) == 1\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(**{'a': 1}) == 1\ncheck(f)\n",
    # extra statements
    "def check(candidate):\n    print(1)\n    assert candidate(1) == 1\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == 1\ncheck(f)\nprint('done')\n",
    "def check(candidate):\n    print\n    assert candidate(1) == 1\ncheck(f)\n",
    "def check(candidate):\n    import math\n    assert candidate(1) == 1\ncheck(f)\n",
    "x = 1\nassert f(1) == 1\n",
    "METADATA = make()\nassert f(1) == 1\n",
    "if True:\n    assert f(1) == 1\n",
    "def check(candidate):\n    assert candidate(1) == 1\nif __name__ == '__main__':\n    check(f)\n",
    # the calls must go to the solution's function, once
    "def check(candidate):\n    assert f(1) == 1\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == 1\n",
    "def check(candidate):\n    assert candidate(1) == 1\ncheck(f)\ncheck(f)\n",
    "check(f)\ndef check(candidate):\n    assert candidate(1) == 1\n",
    "def check(candidate):\n    assert candidate(1) == 1\ncheck(f)\nassert g(1) == 1\n",
    "def check(candidate):\n    assert candidate(1) == 1\ncheck(f.g)\n",
    "def check(candidate):\n    assert candidate(1) == 1\ncheck(METADATA)\n",
    "def check(candidate, other):\n    assert candidate(1) == 1\ncheck(f, g)\n",
    "@decorate\ndef check(candidate):\n    assert candidate(1) == 1\ncheck(f)\n",
    "def check(candidate=g):\n    assert candidate(1) == 1\ncheck(f)\n",
    "def check(candidate: side_effect()):\n    assert candidate(1) == 1\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == 1\ndef test_check():\n    check(f)\n",
    "def check(candidate):\n    assert candidate(1) == 1\ndef test_check():\n    check(f)\n"
    "test_check()\ntest_check()\n",
    "def check(candidate):\n    assert candidate(1) == 1\ndef test_check():\n    check(f)\n"
    "check(f)\ntest_check()\n",
    "from math import floor\nassert floor(1.5) == 1\n",
    "from m import *\nassert f(1) == 1\n",
    "import f\nassert f(1) == 1\n",
    "assert abs(abs(1) - 1) < 0.5\n",
    "assert obj.f(1) == 1\n",
    # tolerance shapes that do not mean what calls would judge
    "assert abs(f(1) - 1.0) < 0\n",
    "assert abs(f(1) - 1.0) > 1e-6\n",
    "assert abs(f(1) + 1.0) < 1e-6\n",
    "assert abs(f(1) - 'x') < 1e-6\n",
    "assert abs(f(1) - True) < 1e-6\n",
    "assert abs(f(1) - 1e999) < 1e-6\n",
    "assert abs(f(1) - g(2)) < 1e-6\n",
    "assert math.fabs(f(1) - 1.0) < 1e-6\n",
    # nothing to check, not Python, too big
    "",
    "assert True\n",
    "def check(candidate):\n    assert True\ncheck(f)\n",
    "def check(candidate):\n    assert candidate(1) == 1\ncheck(f\n",
])
def test_not_recognised(script: str) -> None:
    assert recognise(script) is None


def test_guards() -> None:
    assert recognise("assert f(1) == " + "[" * 100_000 + "]" * 100_000 + "\n") is None
    assert recognise("assert f(1) == " + "9" * 10_000 + "\n") is None  # int digit limit
    assert recognise("assert f(1) == [" + "[" * 150 + "]" * 150 + "]\n") is None  # too deep
    big = "assert f(1) == 1\n" + "#" * 1_000_001 + "\n"
    assert recognise(big) is None
    many = "".join(f"assert f({i}) == {i}\n" for i in range(501))
    assert recognise(many) is None
    assert len(one(many[: many.index("assert f(500)")]).cases) == 500
    assert recognise(many, max_cases=1000) is not None
    assert recognise("assert f(1) == 1\n", max_cases=0) is None
    assert recognise(None) is None  # type: ignore[arg-type]


def test_humanevalpack_python() -> None:
    if not HUMANEVALPACK.exists():
        pytest.skip(f"{HUMANEVALPACK} is not there")
    rows = [json.loads(line) for line in HUMANEVALPACK.read_text().splitlines() if line.strip()]
    assert len(rows) == 164
    recognised = 0
    for row in rows:
        got = recognise(row["test"])
        if got is None:
            continue
        recognised += 1
        assert got.function == row["entry_point"], row["task_id"]
        assert got.cases and all(c.line > 0 for c in got.cases)
        for case in got.cases:
            assert_stands_alone(case)
        json.dumps([c.expected for c in got.cases])
        # the MultiPL-E spelling of the same test is recognised the same way
        multiple = row["test"].replace(f"\ncheck({row['entry_point']})",
                                       f"\ndef test_check():\n    check({row['entry_point']})\n"
                                       "\ntest_check()\n")
        again = recognise(multiple)
        assert again is not None and again.cases == got.cases, row["task_id"]
    print(f"HumanEvalPack Python: {recognised}/{len(rows)} test scripts recognised as calls")
    assert recognised >= HUMANEVALPACK_RECOGNISED
