"""Scripted runs of the three loops on 20 problems from shared/datasets, with the statistics
they must produce worked out by hand (the comments give the arithmetic).

The same scenarios run against the real stack (tests/integration/test_loops_e2e.py) and, in the
unit tests, against the FakeService, which replays results recorded from the real stack; so the
numbers follow from what the real service answers: a HumanEvalPack canonical solution is
`accepted` and its buggy solution `wrong_answer` on the dataset's tests.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codefeedback.loops.problems import Problem, convert

if TYPE_CHECKING:
    from support.fake_llm import FakeLLM

# ../shared/datasets beside the checkout (as on every developer machine and in CI)
DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
HEP = DATASETS / "humanevalpack" / "python" / "humanevalpack.jsonl"


def humanevalpack() -> list[Problem]:
    return list(convert(HEP, "humaneval"))


def py(code: str) -> str:
    return f"Here is the solution.\n\n```python\n{code.rstrip()}\n```\n"


def _assert_lines(test: str, entry: str) -> str:
    """HumanEval `check(candidate)` asserts as top-level asserts on the entry point."""
    tree = ast.parse(test)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            node.msg = None
            out.append(ast.unparse(node).replace("candidate(", f"{entry}("))
    return "\n".join(out) + "\n"


@dataclass
class Scenario:
    problems: list[Problem]
    expected: dict[str, Any]
    groups: dict[str, list[str]] = field(default_factory=dict)

    def write(self, path: Path) -> Path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(p.model_dump_json(exclude_none=True) + "\n" for p in self.problems)
        return path


# ---------------------------------------------------------------------------------- repair
REPAIR_A = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]    # right at round 0
REPAIR_B = [11, 12, 13, 14, 15]              # buggy, fixed after one feedback
REPAIR_C = [16, 17]                          # buggy twice, fixed after the second feedback
REPAIR_D = [18]                              # always buggy: rejected after K=2 revisions
REPAIR_E = [19]                              # no code first, fixed after the no-code feedback
REPAIR_F = [20]                              # no tests given: vacuous tests, then real ones
EDIT_ATTEMPT = 0                             # in group A: also edits the given tests


def repair_scenario(fake: FakeLLM) -> Scenario:
    """20 HumanEvalPack problems, K = 2.

    Passed at round 0: A = 10 → 10/20 = 0.5. After round 1: + B 5 + E 1 + F 1 = 17 → 0.85.
    After round 2: + C 2 = 19 → 0.95. Initially wrong 10, self-corrected 9 → 0.9.
    Rounds: A 10×1, B 5×2, C 2×3, D 1×3, E 2, F 2 = 33 model calls. Verdicts: accepted 19,
    wrong_answer 5 (B) + 4 (C) + 3 (D) = 12, no_code 1, tests_rejected 1.
    """
    all_p = {int(p.id.split("/")[1]): p for p in humanevalpack()}
    problems = []
    for i in REPAIR_A + REPAIR_B + REPAIR_C + REPAIR_D + REPAIR_E + REPAIR_F:
        p = all_p[i]
        good, bad = p.solution or "", p.metadata["buggy_solution"]
        key = f"def {p.entry_point}("
        if i in REPAIR_A:
            answer = py(good)
            if i == EDIT_ATTEMPT:
                answer += ("\nI also relaxed the tests:\n```python tests\n"
                           f"assert {p.entry_point}([], 1.0) == False\n```\n")
            fake.add(key, answer, name=f"A{i}")
        elif i in REPAIR_B:
            fake.add(key, py(good), when=["Verdict: wrong_answer"], name=f"B{i}-fixed")
            fake.add(key, py(bad), name=f"B{i}")
        elif i in REPAIR_C:
            # the third request (round 2) follows two wrong answers; counting the words
            # "Verdict: wrong_answer" instead would depend on how often the service's own
            # feedback text repeats them
            fake.add(key, py(good), when=["Verdict: wrong_answer"], min_turns=3,
                     name=f"C{i}-fixed")
            fake.add(key, py(bad), name=f"C{i}")
        elif i in REPAIR_D:
            fake.add(key, py(bad), name=f"D{i}")
        elif i in REPAIR_E:
            fake.add(key, py(good), when=["No Python code was found"], name=f"E{i}-fixed")
            fake.add(key, "Let me think about it. The answer depends on the input.", name=f"E{i}")
        else:  # F: the model writes its own tests
            real = _assert_lines(p.tests.script if p.tests and p.tests.script else "",
                                 p.entry_point or "")
            fake.add(key, py(good) + f"\n```python tests\n{real}```\n",
                     when=["Your tests were rejected"], name=f"F{i}-fixed")
            fake.add(key, py(good) + "\n```python tests\nassert True\n```\n", name=f"F{i}")
            p = p.model_copy(update={"tests": None})
        problems.append(p)
    expected = {
        "problems": 20, "passed": 19, "rejected": 1,
        "pass_rate_round0": 0.5,
        "pass_rate_after_round": {"0": 0.5, "1": 0.85, "2": 0.95},
        "passed_at_round": {"0": 10, "1": 7, "2": 2},
        "initially_wrong": 10, "self_corrected": 9,
        "self_corrected_share_of_initially_wrong": 0.9,
        "verdicts": {"accepted": 19, "no_code": 1, "tests_rejected": 1, "wrong_answer": 12},
        "final_verdicts": {"accepted": 19, "wrong_answer": 1},
        "tests_source": {"given": 19, "model": 1},
        "dialogs_with_test_edits": 1, "test_edits_accepted": 0,
        "tests_rejected_by_guard": 1,
        "calls": 33,
    }
    return Scenario(problems, expected)


# ---------------------------------------------------------------------------------- sample
SAMPLE_S1 = list(range(30, 40))   # 7 of 10 pass (4 plain + 3 with a comment), 3 buggy
SAMPLE_S2 = list(range(40, 45))   # 2 of 10 pass
SAMPLE_S3 = [45, 46, 49]          # 0 pass: 9 buggy + 1 without code
SAMPLE_S4 = [51, 52]              # 10 pass, two distinct correct programs (5 + 5)


def _with_comment(code: str) -> str:
    return "# a comment that normalisation removes\n" + code.replace("\n", "  # note\n", 1)


def sample_scenario(fake: FakeLLM) -> Scenario:
    """n = 10 per problem.

    pass@1 = (10·0.7 + 5·0.2 + 3·0 + 2·1)/20 = 0.5; pass@5 = (10·1 + 5·(1 − C(8,5)/C(10,5))
    + 0 + 2)/20 = (12 + 5·0.777778)/20 = 0.794444; pass@10 = (10 + 5 + 2)/20 = 0.85.
    Samples 200, passing 70 + 10 + 20 = 100, no code 3,
    judged unique 10·2 + 5·2 + 3·1 + 2·2 = 37,
    kept 10 + 5 + 4 = 19. Verdicts: accepted 100, wrong_answer 30 + 40 + 27 = 97, no_code 3.
    """
    all_p = {int(p.id.split("/")[1]): p for p in humanevalpack()}
    problems = []
    for i in SAMPLE_S1 + SAMPLE_S2 + SAMPLE_S3 + SAMPLE_S4:
        p = all_p[i]
        good, bad = p.solution or "", p.metadata["buggy_solution"]
        key = f"def {p.entry_point}("
        if i in SAMPLE_S1:
            answers = [py(good)] * 4 + [py(_with_comment(good))] * 3 + [py(bad)] * 3
        elif i in SAMPLE_S2:
            answers = [py(good)] * 2 + [py(bad)] * 8
        elif i in SAMPLE_S3:
            answers = [py(bad)] * 9 + ["Sorry, I do not know."]
        else:
            other = good.rstrip() + "\n\n\n_unused = 0\n"
            answers = [py(good)] * 5 + [py(other)] * 5
        fake.add(key, *answers, name=f"S{i}")
        problems.append(p)
    expected = {
        "problems": 20, "samples": 200, "passing_samples": 100, "no_code": 3,
        "unique_evaluated": 37, "kept_unique_passing": 19, "problems_solved": 17,
        "duplicates_removed": 160,
        "pass_at_k": {"1": 0.5, "5": 0.794444, "10": 0.85},
        "verdicts": {"accepted": 100, "no_code": 3, "wrong_answer": 97},
        "calls": 200,
    }
    return Scenario(problems, expected)


# ------------------------------------------------------------------------------- translate
C_SOLUTIONS: dict[int, str] = {
    2: "#include <math.h>\ndouble truncate_number(double number) {\n"
       "    return number - floor(number);\n}\n",
    13: "int greatest_common_divisor(int a, int b) {\n    while (b) { int t = a % b; a = b; "
        "b = t; }\n    return a;\n}\n",
    24: "int largest_divisor(int n) {\n    for (int i = n - 1; i > 0; i--)\n"
        "        if (n % i == 0) return i;\n    return 1;\n}\n",
    31: "#include <stdbool.h>\nbool is_prime(long long n) {\n    if (n < 2) return false;\n"
        "    for (long long k = 2; k * k <= n; k++)\n        if (n % k == 0) return false;\n"
        "    return true;\n}\n",
    36: "int fizz_buzz(int n) {\n    int count = 0;\n    for (int i = 0; i < n; i++)\n"
        "        if (i % 11 == 0 || i % 13 == 0)\n"
        "            for (int x = i; x > 0; x /= 10) if (x % 10 == 7) count++;\n"
        "    return count;\n}\n",
    39: "static int cf_is_prime(long long p) {\n    if (p < 2) return 0;\n"
        "    for (long long k = 2; k * k <= p; k++) if (p % k == 0) return 0;\n"
        "    return 1;\n}\nlong long prime_fib(int n) {\n    long long a = 0, b = 1;\n"
        "    for (;;) {\n        long long c = a + b; a = b; b = c;\n"
        "        if (cf_is_prime(b) && --n == 0) return b;\n    }\n}\n",
    41: "int car_race_collision(int n) {\n    return n * n\n}\n",  # missing ';': does not parse
    45: "double triangle_area(double a, double h) {\n    return a * h / 2.0;\n}\n",
    46: "int fib4(int n) {\n    int r[4] = {0, 0, 2, 0};\n    if (n < 4) return r[n];\n"
        "    for (int i = 4; i <= n; i++) {\n        int next = r[0] + r[1] + r[2] + r[3];\n"
        "        r[0] = r[1]; r[1] = r[2]; r[2] = r[3]; r[3] = next;\n    }\n"
        "    return r[3];\n}\n",
    49: "int modp(int n, int p) {\n    int ret = 1;\n    for (int i = 0; i < n; i++) "
        "ret = (2 * ret) % p;\n    return ret;\n}\n",
    55: "int fib(int n) {\n    if (n < 2) return n;\n    return fib(n - 1) + fib(n - 2);\n}\n",
    59: "int largest_prime_factor(int n) {\n    int largest = 1;\n"
        "    for (int j = 2; j <= n; j++) {\n        if (n % j) continue;\n"
        "        int prime = 1;\n        for (int k = 2; k < j; k++) if (j % k == 0) "
        "{ prime = 0; break; }\n        if (prime && j > largest) largest = j;\n    }\n"
        "    return largest;\n}\n",
    60: "int sum_to_n(int n) {\n    return n * (n - 1) / 2;\n}\n",  # builds, wrong answer
    63: "int fibfib(int n) {\n    if (n < 2) return 0;\n    if (n == 2) return 1;\n"
        "    return fibfib(n - 1) + fibfib(n - 2) + fibfib(n - 3);\n}\n",
    77: "#include <stdbool.h>\n#include <stdlib.h>\nbool iscube(int a) {\n    int x = abs(a);\n"
        "    for (int i = 0; i * i * i <= x; i++) if (i * i * i == x) return true;\n"
        "    return false;\n}\n",
    97: "#include <stdlib.h>\nint multiply(int a, int b) {\n"
        "    return abs(a % 10) * abs(b % 10);\n}\n",
    138: "#include <stdbool.h>\nbool is_equal_to_sum_even(int n) {\n"
         "    return n % 2 == 0 && n >= 8;\n}\n",
    139: "long long special_factorial(int n) {\n    long long fact = 1, special = 1;\n"
         "    for (int i = 1; i <= n; i++) { fact *= i; special *= fact; }\n"
         "    return special;\n}\n",
    150: "",  # the model answers without code
    157: "#include <stdbool.h>\nbool right_angle_triangle(int a, int b, int c) {\n"
         "    return a*a == b*b + c*c || b*b == a*a + c*c || c*c == a*a + b*b;\n}\n",
}
# 13: calls a helper that does not exist: parses, does not build (undefined reference)
C_SOLUTIONS[13] = ("int gcd_helper(int a, int b);\nint greatest_common_divisor(int a, int b) {\n"
                   "    return gcd_helper(a, b);\n}\n")
T_NO_CODE, T_SYNTAX, T_LINK, T_WRONG = 150, 41, 13, 60
T_FEWER, T_VACUOUS = 97, 138


def _c_expr(node: ast.expr) -> str:
    """A Python test expression (HumanEval style) as C."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            return "1" if node.value else "0"
        if isinstance(node.value, str):
            return json.dumps(node.value)
        if isinstance(node.value, int) and abs(node.value) > 2**31 - 1:
            return f"{node.value}LL"
        return repr(node.value)
    if isinstance(node, ast.Call):
        name = ast.unparse(node.func)
        name = {"abs": "fabs"}.get(name, name)
        return f"{name}({', '.join(_c_expr(a) for a in node.args)})"
    if isinstance(node, ast.Compare):
        ops = {ast.Eq: "==", ast.Lt: "<", ast.Gt: ">", ast.NotEq: "!="}
        return f"{_c_expr(node.left)} {ops[type(node.ops[0])]} {_c_expr(node.comparators[0])}"
    if isinstance(node, ast.BinOp):
        ops = {ast.Mult: "*", ast.Sub: "-", ast.Add: "+"}
        return f"({_c_expr(node.left)} {ops[type(node.op)]} {_c_expr(node.right)})"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return f"-{_c_expr(node.operand)}"
    raise ValueError(f"cannot render {ast.dump(node)}")


def c_tests(p: Problem, keep: int | None = None) -> str:
    """The HumanEval asserts of `p` as a C `main` (what a good model would write)."""
    tree = ast.parse(p.tests.script if p.tests and p.tests.script else "")
    checks = [f"    assert({_c_expr(n.test)});" for n in ast.walk(tree)
              if isinstance(n, ast.Assert)]
    if keep is not None:
        checks = checks[:keep]
    return ("#include <assert.h>\n#include <math.h>\nint main(void) {\n"
            + "\n".join(checks) + "\n    return 0;\n}\n")


def c_answer(code: str) -> str:
    return f"```c\n{code.rstrip()}\n```\n"


def translate_scenario(fake: FakeLLM) -> Scenario:
    """20 HumanEvalPack problems, Python → C.

    Funnel: attempted 20 → generated 19 (150 has no code) → parses 18 (41 misses a ';') →
    builds 17 (13 calls a missing helper) → passes 16 (60 is wrong) → kept 14 (97's tests
    dropped checks, 138's tests pass against a stub). 40 model calls less the 1 test
    translation never asked for (no code for 150) = 39.
    """
    all_p = {int(p.id.split("/")[1]): p for p in humanevalpack()}
    problems = []
    for i, code in C_SOLUTIONS.items():
        p = all_p[i]
        if i == T_FEWER:
            tests = c_tests(p, keep=3)
        elif i == T_VACUOUS:
            n = len(c_tests(p).splitlines()) - 5
            tests = ("#include <assert.h>\nint main(void) {\n"
                     + f"    assert({p.entry_point}(4) == 0);\n" * n + "    return 0;\n}\n")
        else:
            tests = c_tests(p)
        fake.add(f"check({p.entry_point})", f"```c tests\n{tests}```\n",
                 when=["Translate these Python tests"],
                 name=f"T{i}-tests")
        # keyed on the translation prompt's own phrase: a canonical solution may define
        # another problem's function (39 and 59 define is_prime)
        fake.add(f"Keep the function name `{p.entry_point}`",
                 c_answer(code) if code else "I cannot translate this one.",
                 when=["Translate this Python solution"], name=f"T{i}")
        problems.append(p)
    expected = {
        "translations": 20,
        "funnel": {"c": {"attempted": 20, "generated": 19, "parses": 18, "builds": 17,
                         "passes": 16, "kept": 14}},
        "test_source": {"model": 19},
        "tests_rejected_by_guard": 2,
        "calls": 39,
    }
    return Scenario(problems, expected)
