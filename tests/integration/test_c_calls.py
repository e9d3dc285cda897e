"""C `calls`, the peeking defence and the integrity scan, in the real C image (Docker sandbox)."""

from __future__ import annotations

import pytest

from codefeedback.models import Outcome, Submission, Verdict
from runners.pipeline import evaluate

pytestmark = [pytest.mark.docker]

ALL_TYPES = r"""
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

long long sum(const int *xs, int n) { long long s = 0; for (int i = 0; i < n; i++) s += xs[i]; return s; }
double mean(double *xs, int n) {
    double s = 0; for (int i = 0; i < n; i++) s += xs[i]; return n ? s / n : NAN;
}
bool all(const bool *xs, int n) { for (int i = 0; i < n; i++) if (!xs[i]) return false; return true; }
char *shout(char *s) { for (char *p = s; *p; p++) if (*p >= 'a' && *p <= 'z') *p -= 32; return s; }
char **split(const char *s, int *out_len) {
    char *copy = strdup(s), **out = malloc(sizeof(char *) * (strlen(s) + 1));
    int n = 0;
    for (char *t = strtok(copy, " "); t; t = strtok(NULL, " ")) out[n++] = t;
    *out_len = n;
    return out;
}
int total_len(char **ws, int n) { int t = 0; for (int i = 0; i < n; i++) t += (int)strlen(ws[i]); return t; }
void nothing(int x) { (void)x; }
const char *maybe(int x) { return x ? "tab\there \"q\" é" : NULL; }
int counter(int *xs, int n) { static int calls; xs[0] = 99; (void)n; return ++calls; }
"""


def _calls(code: str, function: str, signature: str, cases: list, **extra) -> Submission:
    return Submission(language="c", code=code, static_analysis=False, tests={"calls": {
        "function": function, "signature": signature,
        "cases": [{"args": a, "expected": e} for a, e in cases], **extra}})


@pytest.mark.parametrize(("function", "signature", "cases"), [
    ("sum", "(list[int]) -> int", [([[1, 2, 2**31 - 1]], 2**31 + 2), ([[]], 0)]),
    ("mean", "(list[float]) -> float", [([[1, 2.5]], 1.75), ([[]], float("nan"))]),
    ("all", "(list[bool]) -> bool", [([[True, True]], True), ([[True, False]], False)]),
    ("shout", "(str) -> str", [(["abc é"], "ABC é"), ([""], "")]),
    ("split", "(str) -> list[str]", [(["a bc  d"], ["a", "bc", "d"])]),
    ("total_len", "(list[str]) -> int", [([["ab", "c", ""]], 3)]),
    ("nothing", "(int) -> None", [([1], None)]),
    ("maybe", "(int) -> Optional[str]", [([1], 'tab\there "q" é'), ([0], None)]),
    # each case runs in a fresh process with fresh arguments: no state leaks between cases
    ("counter", "(list[int]) -> int", [([[1]], 1), ([[1]], 1), ([[1]], 1)]),
], ids=lambda v: v if isinstance(v, str) and "(" not in v else None)
def test_calls_types_accepted(sandbox, function: str, signature: str, cases: list) -> None:
    fb = evaluate(_calls(ALL_TYPES, function, signature, cases), sandbox)
    assert fb.verdict == Verdict.accepted, fb.feedback
    assert fb.tests.total == len(cases)


EXITS = r"""
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <setjmp.h>
static jmp_buf env;
static void bye(void) { _exit(0); }
static void on_abrt(int s) { (void)s; _exit(0); }
int f(int x) {
    if (x == 0) exit(0);
    if (x == 1) _exit(0);
    if (x == 2) abort();
    if (x == 3) { atexit(bye); exit(1); }
    if (x == 4) { signal(SIGABRT, on_abrt); abort(); }
    if (x == 5) { int *p = 0; return *p; }
    if (x == 6) longjmp(env, 1);
    if (x == 7) kill(getppid(), SIGKILL);
    return 42;
}
"""


@pytest.mark.parametrize("x", range(8))
def test_calls_exits_and_crashes_never_pass(sandbox, x: int) -> None:
    fb = evaluate(_calls(EXITS, "f", "(int) -> int", [([x], 1), ([9], 42)]), sandbox)
    assert fb.verdict != Verdict.accepted, fb.feedback
    assert fb.tests.cases[0].outcome != Outcome.passed
    if x != 7:  # killing the harness also loses the cases after it
        assert fb.tests.cases[1].outcome == Outcome.passed, fb.feedback


def test_calls_values_are_judged_by_type(sandbox) -> None:
    code = ("int is_even(int x) { return x % 2 == 0; }\n"
            "float tenth(void) { return 0.1f; }\n"
            "const char *bytes(void) { return \"\\xff\"; }\n")
    fb = evaluate(_calls(code, "is_even", "(int) -> bool", [([2], True)]), sandbox)
    assert fb.verdict == Verdict.wrong_answer
    assert "expected bool true, got int 1" in fb.tests.cases[0].message
    fb = evaluate(_calls(code, "tenth", "() -> float", [([], 0.1)]), sandbox)
    assert fb.verdict == Verdict.wrong_answer
    fb = evaluate(_calls(code, "tenth", "() -> float", [([], 0.1)],
                         float_tolerance={"rel": 1e-6}), sandbox)
    assert fb.verdict == Verdict.accepted, fb.feedback
    fb = evaluate(_calls(code, "bytes", "() -> str", [([], "\xff")]), sandbox)
    assert fb.verdict == Verdict.wrong_answer
    assert "not valid UTF-8" in fb.tests.cases[0].message


def test_calls_signature_mismatch_is_a_compile_error_with_a_hint(sandbox) -> None:
    fb = evaluate(_calls("int f(int a) { return a; }\n", "f", "(int, int) -> int",
                         [([1, 2], 3)]), sandbox)
    assert fb.verdict == Verdict.compile_error
    msg = " ".join(d.message for d in fb.compile.diagnostics)
    assert "too many arguments" in msg and "calls f(1, 2)" in msg


PEEK = r"""
#include <stdio.h>
#include <string.h>
int answer(void) {
    const char *names[] = {"test_script.c", "test_solution.c", "cf_script.c", "cf_unit.c"};
    for (int i = 0; i < 4; i++) {
        FILE *f = fopen(names[i], "r");
        if (f) { fclose(f); return 3; }
    }
    return -1;
}
"""


@pytest.mark.parametrize("kind", ["script", "unit"])
def test_test_sources_are_gone_before_user_code_runs(sandbox, kind: str) -> None:
    tests = {"script": "int main(void) { assert(answer() == 3); return 0; }\n",
             "unit": "void test_answer(void) { CF_ASSERT_EQ(answer(), 3); }\n"}
    fb = evaluate(Submission(language="c", code=PEEK, tests={kind: tests[kind]},
                             static_analysis=False), sandbox)
    assert fb.verdict == Verdict.wrong_answer, fb.feedback
    rules = {f.rule for f in fb.integrity.findings}
    assert "reads-tests" in rules


def test_integrity_findings_and_clean_code(sandbox) -> None:
    hack = ("#include <string.h>\n#include <stdlib.h>\n"
            "int strcmp(const char *a, const char *b) { (void)a; (void)b; return 0; }\n"
            "__attribute__((constructor)) static void init(void) { }\n"
            "int f(int x) { if (x) exit(0); return x; }\n")
    fb = evaluate(_calls(hack, "f", "(int) -> int", [([0], 0)]), sandbox)
    assert fb.integrity is not None and fb.integrity.suspicious
    by_rule = {f.rule: f for f in fb.integrity.findings}
    assert {"libc-override", "constructor", "exit-call"} <= set(by_rule)
    assert by_rule["libc-override"].line == 3 and by_rule["exit-call"].line == 5
    assert by_rule["exit-call"].file == "solution.c"
    fb = evaluate(_calls(ALL_TYPES, "sum", "(list[int]) -> int", [([[1]], 1)]), sandbox)
    assert fb.integrity is not None and not fb.integrity.suspicious, fb.integrity


@pytest.mark.parametrize("kind", ["script", "unit", "calls"])
def test_feature_macros_of_the_solution_still_work(sandbox, kind: str) -> None:
    code = ("#define _GNU_SOURCE\n#include <string.h>\n\n"
            "int find(const char *hay, const char *needle) {\n"
            "    const char *p = memmem(hay, strlen(hay), needle, strlen(needle));\n"
            "    return p ? (int)(p - hay) : -1;\n}\n")
    tests = {"script": {"script": "int main(void) { assert(find(\"abcd\", \"cd\") == 2); }\n"},
             "unit": {"unit": "void test_find(void) { CF_ASSERT_EQ(find(\"abcd\", \"cd\"), 2); }\n"},
             "calls": {"calls": {"function": "find", "signature": "(str, str) -> int",
                                 "cases": [{"args": ["abcd", "cd"], "expected": 2}]}}}
    fb = evaluate(Submission(language="c", code=code, tests=tests[kind]), sandbox)
    assert fb.verdict == Verdict.accepted, fb.feedback
