"""C `calls` (signature checks, the generated driver, C literals, fail-closed reading) and the
C integrity scanner run on sample sources with the host Python (no Docker)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from codefeedback.models import Outcome, Submission, Verdict
from runners.base import JobResult, StepResult
from runners.languages.c.calls import LITERALS, c_string, call_text, check_calls
from runners.languages.c.runner import RUNNER
from runners.pipeline import SubmissionError, assemble, check

SCANNER = Path(__file__).parents[2] / "runners/languages/c/harness/cf_integrity.py"
_spec = importlib.util.spec_from_file_location("cf_integrity", SCANNER)
cf_integrity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cf_integrity)


def _sub(signature, cases, function="f", code="int f(int a) { return a; }\n", **kw):
    calls = {"function": function, "cases": cases, **kw}
    if signature is not None:
        calls["signature"] = signature
    return Submission(language="c", code=code, tests={"calls": calls})


# ---------------------------------------------------------------------- checks (API 422)
@pytest.mark.parametrize(("signature", "cases", "words"), [
    (None, [{"args": [1], "expected": 1}], "needs `tests.calls.signature`"),
    ("(dict[str, int]) -> int", [{"args": [{}], "expected": 1}], "do not support"),
    ("(list[list[int]]) -> int", [{"args": [[[1]]], "expected": 1}], "do not support"),
    ("(int) -> tuple[int, int]", [{"args": [1], "expected": [1, 2]}], "do not support"),
    ("(int) -> int", [{"args": [2**64], "expected": 1}], "does not fit in 64 bits"),
    ("(list[int]) -> int", [{"args": [[2**40]], "expected": 1}], "does not fit a C int"),
    ("(str) -> int", [{"args": ["a\x00b"], "expected": 1}], "cannot contain NUL"),
    ("(int, int) -> int", [{"args": [1], "expected": 1}], "argument(s)"),
    ("(int) -> int", [{"args": ["x"], "expected": 1}], "is not a int"),
    ("(int) -> frob", [{"args": [1], "expected": 1}], "unknown type"),
])
def test_unsupported_signatures_are_422(signature, cases, words):
    with pytest.raises(SubmissionError) as err:
        check(_sub(signature, cases))
    assert err.value.code == "unsupported_signature"
    assert words in err.value.message


def test_reserved_function_names_are_refused():
    for name in ("main", "cf_fail", "__wrap_main"):
        with pytest.raises(SubmissionError):
            check(_sub("(int) -> int", [{"args": [1], "expected": 1}], function=name))


def test_supported_signatures_pass_the_check():
    ok = [("(int, float, bool, str) -> None", [1, 2.5, True, "x"], None),
          ({"params": ["list[int]", "list[float]", "list[bool]", "list[str]"],
            "returns": "list[str]"}, [[1], [1.5, 2], [True], ["a"]], ["b"]),
          ("(Optional[str]) -> Optional[list[int]]", [None], None)]
    for sig, args, expected in ok:
        assert check(_sub(sig, [{"args": args, "expected": expected}])) is RUNNER
    assert "calls" in RUNNER.test_kinds
    assert "out_len" in RUNNER.info().calls and "`int *`" in RUNNER.info().calls


# ---------------------------------------------------------------------- driver and literals
SECRET = 918273645


def test_driver_has_arguments_but_never_expected_values():
    sub = _sub({"params": ["list[int]", "str", "float", "bool"], "returns": "list[int]"},
               [{"args": [[1, -2], "a\"b\n\u00e9?", 0.5, True], "expected": [SECRET]},
                {"args": [[], "", float("inf"), False], "expected": [SECRET + 1]},
                {"args": [[3], "x", -(2**63), False], "expected": [0]}],
               code="int *f(int *xs, int n, const char *s, double d, bool b, int *out_len);\n")
    job = RUNNER.build_job(sub, 30)
    driver = job.files["cf_calls.c"]
    assert str(SECRET) not in json.dumps(job.to_agent())
    assert "static int cf_a0[] = {1, -2};" in driver
    assert 'static char cf_a1[] = "a\\042b\\012\\303\\251\\077";' in driver
    assert "static int cf_a0[1];" in driver  # an empty array: a valid pointer, length 0
    assert "__builtin_inf()" in driver
    assert "CF_RET_LIST(f(cf_a0, 2, cf_a1, 0.5, 1, &cf_n.i[0]), cf_n);" in driver
    assert "const int cf_suite_kind = 3;" in driver
    assert '#include "solution.c"' in driver
    steps = {s.id: s for s in job.steps}
    assert steps["build-calls"].argv[-6:-4] == ["/opt/codefeedback/harness/cf_harness.o",
                                                "/opt/codefeedback/harness/cf_values.o"]
    assert steps["calls"].report and steps["calls"].user
    assert steps["calls"].after == ["build-calls", "scrub"]
    assert [c.call for c in job.judging["calls"]][0] == (
        'f((int[]){1, -2}, 2, "a\\"b\\né?", 0.5, true, &out_len)')
    assert [c.name for c in job.judging["calls"]] == ["case 0", "case 1", "case 2"]


def test_solution_macros_cannot_rename_the_driver():
    code = ("#define cf_case_0 boom\n#define _Generic nope\n#define CF_RET(x) 0\n"
            "int f(int a) { return a; }\n")
    driver = RUNNER.build_job(_sub("(int) -> int", [{"args": [1], "expected": 1}], code=code),
                              30).files["cf_calls.c"]
    head, cases = driver.split("cf_calls.h", 1)
    assert "#undef cf_case_0" in head and "#undef _Generic" in head
    assert "CF_RET(f(1));" in cases


def test_c_literals():
    assert LITERALS.render([1, 2]) == "{1, 2}"
    assert LITERALS.render(None) == "NULL"
    assert LITERALS.render(True) == "true"
    assert LITERALS.render(float("nan")) == "NAN"
    assert LITERALS.render(-float("inf")) == "-INFINITY"
    assert LITERALS.render('a"\n\x01') == '"a\\"\\n\\x01"'
    assert c_string("é") == '"\\303\\251"'


def test_call_text_names_the_c_call():
    sub = _sub("(list[str], Optional[str]) -> int", [{"args": [["a"], None], "expected": 1}])
    sig = check_calls(sub.tests.calls)
    assert call_text("f", [["a"], None], sig) == 'f((char *[]){"a"}, 1, NULL)'


# ---------------------------------------------------------------------- reading the report
def _ev(nonce, event, **kw):
    return json.dumps({"event": event, "nonce": nonce, **kw})


def _run(sub, report, status="ok", exit_code=0, signal=None):
    job = RUNNER.build_job(sub, 30)
    ok = StepResult(status="ok", exit_code=0)
    steps = {s.id: ok for s in job.steps}
    steps["calls"] = StepResult(status=status, exit_code=exit_code, signal=signal,
                                report="\n".join(report(job.nonce)))
    return assemble(RUNNER, sub, job, JobResult(steps=steps))


def test_reading_calls_fails_closed():
    sub = _sub("(int) -> int", [{"args": [1], "expected": 1}, {"args": [2], "expected": 2}])
    fb = _run(sub, lambda n: [_ev(n, "start", index=0), _ev(n, "call", index=0, value="1"),
                              _ev(n, "start", index=1), _ev(n, "call", index=1, value="2"),
                              _ev(n, "done")])
    assert fb.verdict == Verdict.accepted
    # the function exited in case 1: no value, an error from the harness
    fb = _run(sub, lambda n: [_ev(n, "call", index=0, value="1"), _ev(n, "start", index=1),
                              _ev(n, "call", index=1, error="the function called exit(0)",
                                  error_type="exit"), _ev(n, "done")])
    assert fb.verdict == Verdict.runtime_error
    assert "exit" in fb.tests.cases[1].message
    # the harness was killed after case 0: case 1 never ran, no `done`
    fb = _run(sub, lambda n: [_ev(n, "call", index=0, value="1"), _ev(n, "start", index=1)],
              status="signaled", exit_code=None, signal=9)
    assert fb.verdict == Verdict.runtime_error
    # forged lines without the nonce, and a second result for one case, never pass
    fb = _run(sub, lambda n: [_ev("0" * 32, "call", index=0, value="1"),
                              _ev("0" * 32, "call", index=1, value="2"), _ev("0" * 32, "done")])
    assert fb.verdict == Verdict.runtime_error
    fb = _run(sub, lambda n: [_ev(n, "call", index=0, value="1"),
                              _ev(n, "call", index=0, value="1"),
                              _ev(n, "call", index=1, value="2"), _ev(n, "done")])
    assert fb.verdict != Verdict.accepted
    fb = _run(sub, lambda n: [_ev(n, "call", index=0, value="1"),
                              _ev(n, "call", index=1, value="true"), _ev(n, "done")])
    assert fb.verdict == Verdict.wrong_answer
    assert fb.tests.cases[1].outcome == Outcome.failed
    assert (fb.tests.cases[1].expected, fb.tests.cases[1].actual) == ("2", "true")


# ---------------------------------------------------------------------- the integrity scanner
def _rules(src):
    return [(f["rule"], f["line"]) for f in cf_integrity.Scan(src).run()]


def test_scanner_flags_each_rule():
    src = "\n".join([
        "#include <stdlib.h>",                                                    # 1
        "int strcmp(const char *a, const char *b) { return 0; }",                 # 2
        "#define assert(x) ((void)0)",                                            # 3
        "__attribute__((constructor)) static void init(void) { close(3); }",     # 4
        "static void h(int s) { _exit(0); }",                                     # 5
        "int f(int x) { signal(6, h); atexit(0); if (x) exit(0); return x; }",    # 6
        "void g(void) { for (int i = 0; i < 1024; i++) write(i, \"{}\", 2); }",    # 7
        "int p(void) { FILE *f = fopen(\"test_\" \"script.c\", \"r\"); return 0; }",  # 8
        "int q(void) { return open(\"/proc/self/exe\", 0) + fork(); }",           # 9
        "int cf_x; extern char __executable_start;",                              # 10
        "int m(void) { longjmp(b, 1); __asm__(\"syscall\"); return 0; }",         # 11
    ])
    got = _rules(src)
    for want in [("libc-override", 2), ("harness-symbol", 3), ("constructor", 4),
                 ("fd-tampering", 4), ("exit-call", 5), ("signal-handler", 6), ("atexit", 6),
                 ("exit-call", 6), ("fd-tampering", 7), ("reads-tests", 8),
                 ("self-inspection", 9), ("reads-tests", 9), ("process-control", 9),
                 ("harness-symbol", 10), ("self-inspection", 10), ("process-control", 11)]:
        assert want in got, (want, got)


def test_scanner_keeps_false_positives_low():
    honest = """
#include <stdio.h>
#include <stdlib.h>
/* exit(0) in a comment, close(3) too */
static const char *msg = "exit(0); test_x /proc/";
int *alloc(int n) { int *p = malloc(n * sizeof *p); if (!p) { perror("malloc"); exit(1); } return p; }
int end_of(int *xs, int end) { return xs[end - 1]; }
void show(int x) { printf("%d\\n", x); fprintf(stderr, "x\\n"); write(1, "x", 1); }
int main(void) { int n; if (scanf("%d", &n) != 1) exit(0); show(n); return 0; }
"""
    assert _rules(honest) == [("reads-tests", 5)]  # only the string naming test_ and /proc/


def test_scanner_cli_prints_json(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "solution.c"
    path.write_text("int f(void) { abort(); }\n")
    out = subprocess.run([sys.executable, "-I", "-B", str(SCANNER), str(path)],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert data == {"findings": [{"rule": "exit-call", "line": 1,
                                  "message": data["findings"][0]["message"]}]}
    assert len(cf_integrity.Scan("int f(void) { fork(); }\n" * 200).run()) == 50


@pytest.mark.redis
def test_api_answers_422_for_an_unsupported_signature(redis_url: str):
    import redis
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import ApiSettings

    url = redis_url.rsplit("/", 1)[0] + "/5"
    redis.Redis.from_url(url).flushdb()
    app = create_app(ApiSettings(redis_url=url, queue_name="cfs-unit-c-calls"),
                     configure_logging=False)
    body = {"language": "c", "code": "int f(int a) { return a; }\n",
            "tests": {"calls": {"function": "f", "cases": [{"args": [1], "expected": 1}]}}}
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/v1/submissions", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "unsupported_signature"
        body["tests"]["calls"]["signature"] = "(dict[str, int]) -> int"
        r = client.post("/v1/submissions", json=body)
        assert r.status_code == 422 and "do not support" in r.json()["error"]["message"]
        r = client.get("/v1/languages/c")
        assert "calls" in r.json()["test_kinds"] and "out_len" in r.json()["calls"]
