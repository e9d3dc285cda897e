"""C runner: gcc JSON parsing, test-name discovery, drivers and verdicts (no Docker).

The gcc outputs below were recorded from gcc 12.2.0 in the C runner image.
"""

from __future__ import annotations

import json
from pathlib import Path

from codefeedback.models import Submission, Verdict
from runners.base import JobResult, StepResult
from runners.languages.c.runner import (
    RUNNER,
    find_unit_tests,
    has_main,
    macro_names,
    parse_gcc_output,
    script_driver,
    split_equality,
    static_sizes_kb,
    strip_comments,
    unit_driver,
)
from runners.pipeline import SubmissionError, assemble, check

SOURCE = '#include <stdio.h>\nint add(int a, int b) {\n\tint unused;\n    const char *s = "héllo"; int x = y;\n    return a + b\n}\n'
# gcc -fdiagnostics-format=json -Wall -Wextra -c solution.c (stderr)
GCC_ERRORS = '[{"kind": "error", "column-origin": 1, "children": [{"kind": "note", "escape-source": false, "locations": [{"caret": {"byte-column": 39, "display-column": 38, "line": 4, "file": "solution.c", "column": 38}}], "message": "each undeclared identifier is reported only once for each function it appears in"}], "escape-source": false, "locations": [{"caret": {"byte-column": 39, "display-column": 38, "line": 4, "file": "solution.c", "column": 38}}], "message": "‘y’ undeclared (first use in this function)"}, {"kind": "error", "column-origin": 1, "children": [], "fixits": [{"next": {"byte-column": 17, "display-column": 17, "line": 5, "file": "solution.c", "column": 17}, "string": ";", "start": {"byte-column": 17, "display-column": 17, "line": 5, "file": "solution.c", "column": 17}}], "locations": [{"caret": {"byte-column": 17, "display-column": 17, "line": 5, "file": "solution.c", "column": 17}}, {"caret": {"byte-column": 1, "display-column": 1, "line": 6, "file": "solution.c", "column": 1}}], "message": "expected ‘;’ before ‘}’ token", "escape-source": false}, {"kind": "warning", "locations": [{"caret": {"byte-column": 35, "display-column": 34, "line": 4, "file": "solution.c", "column": 34}}], "column-origin": 1, "option": "-Wunused-variable", "escape-source": false, "children": [], "option_url": "https://gcc.gnu.org/onlinedocs/gcc/Warning-Options.html#index-Wunused-variable", "message": "unused variable ‘x’"}, {"kind": "warning", "locations": [{"caret": {"byte-column": 17, "display-column": 17, "line": 4, "file": "solution.c", "column": 17}}], "column-origin": 1, "option": "-Wunused-variable", "escape-source": false, "children": [], "option_url": "https://gcc.gnu.org/onlinedocs/gcc/Warning-Options.html#index-Wunused-variable", "message": "unused variable ‘s’"}, {"kind": "warning", "locations": [{"finish": {"byte-column": 11, "display-column": 18, "line": 3, "file": "solution.c", "column": 18}, "caret": {"byte-column": 6, "display-column": 13, "line": 3, "file": "solution.c", "column": 13}}], "column-origin": 1, "option": "-Wunused-variable", "escape-source": false, "children": [], "option_url": "https://gcc.gnu.org/onlinedocs/gcc/Warning-Options.html#index-Wunused-variable", "message": "unused variable ‘unused’"}]\n'
# gcc ... link.c -o prog: an implicit declaration, then the linker's text errors
GCC_LINK = '[{"kind": "warning", "locations": [{"finish": {"byte-column": 37, "display-column": 37, "line": 1, "file": "link.c", "column": 37}, "caret": {"byte-column": 32, "display-column": 32, "line": 1, "file": "link.c", "column": 32}}], "column-origin": 1, "option": "-Wimplicit-function-declaration", "escape-source": false, "children": [], "option_url": "https://gcc.gnu.org/onlinedocs/gcc/Warning-Options.html#index-Wimplicit-function-declaration", "message": "implicit declaration of function ‘helper’"}]\n/usr/bin/ld: /tmp/ccDQPEPg.o: in function `add\':\n/work/link.c:1: undefined reference to `helper\'\n/usr/bin/ld: /work/link.c:1: undefined reference to `helper\'\ncollect2: error: ld returned 1 exit status\n'
SIZE = """prog  :
section              size    addr
.text                 300    4096
.data                  16   16400
.bss           1073741856   16416
Total          1073742172

prog_script  :
section              size    addr
.data                2048   16400
.bss                 4096   16416
"""


def test_json_diagnostics_severity_location_and_notes():
    diags, text = parse_gcc_output(GCC_ERRORS, {"solution.c": SOURCE})
    assert text == ""
    by_msg = {d.message.split(" (")[0]: d for d in diags}
    undeclared = by_msg["‘y’ undeclared"]
    assert undeclared.severity == "error"
    assert undeclared.file == "solution.c"
    # byte column 39, but "é" is two bytes: the character column is 38
    assert (undeclared.line, undeclared.column) == (4, 38)
    assert "note: each undeclared identifier is reported only once" in undeclared.message
    semicolon = by_msg["expected ‘;’ before ‘}’ token"]
    assert (semicolon.severity, semicolon.line, semicolon.column) == ("error", 5, 17)
    unused = by_msg["unused variable ‘unused’"]
    # a tab counts as one character (gcc's display column would say 13)
    assert (unused.severity, unused.code, unused.line, unused.column) == (
        "warning", "-Wunused-variable", 3, 6)
    assert (unused.end_line, unused.end_column) == (3, 12)  # exclusive end
    assert sum(d.severity == "error" for d in diags) == 2
    assert sum(d.severity == "warning" for d in diags) == 3


def test_note_alone_is_info_and_unknown_source_keeps_gcc_column():
    items = [{"kind": "note", "message": "declared here", "locations": [
        {"caret": {"file": "/work/other.h", "line": 2, "column": 7, "byte-column": 7}}]}]
    diags, _ = parse_gcc_output(json.dumps(items), {})
    assert diags[0].severity == "info"
    assert (diags[0].file, diags[0].line, diags[0].column) == ("other.h", 2, 7)


def test_linker_errors_are_errors_once_each():
    diags, text = parse_gcc_output(GCC_LINK, {"link.c": "x"})
    errors = [d for d in diags if d.severity == "error"]
    assert len(errors) == 1
    assert errors[0].tool == "ld"
    assert errors[0].message == "undefined reference to `helper'"
    assert (errors[0].file, errors[0].line) == ("link.c", 1)
    assert [d.severity for d in diags if d.tool == "gcc"] == ["warning"]
    assert "collect2" in text


def test_linker_error_in_generated_file_loses_its_location():
    out = "/usr/bin/ld: /work/cf_script.c:1: undefined reference to `x'\n"
    diags, _ = parse_gcc_output(out, {"solution.c": ""})
    assert (diags[0].file, diags[0].line) == (None, None)


def test_missing_main_and_compiler_kills_are_explained():
    out = ("/usr/bin/ld: Scrt1.o: in function `_start':\n(.text+0x17): undefined reference to "
           "`main'\ncollect2: error: ld returned 1 exit status\n")
    diags, _ = parse_gcc_output(out, {})
    assert "need a main function" in diags[0].message
    diags, _ = parse_gcc_output("cc1: out of memory allocating 65331424 bytes after a total "
                                "of 46276608 bytes\n", {})
    assert diags[0].severity == "error" and "compile-time bomb" in diags[0].message
    diags, _ = parse_gcc_output("gcc: fatal error: Killed signal terminated program cc1\n"
                                "compilation terminated.\n", {})
    assert len(diags) == 1 and diags[0].severity == "error"


def test_truncated_json_is_not_a_crash():
    diags, text = parse_gcc_output('[{"kind": "error", "message": "x", "locations": [', {})
    assert diags == [] and text.startswith("[")


def test_find_unit_tests():
    src = """#include <string.h>
/* void test_commented(void) { } */
// void test_line_comment(void) {}
static const char *s = "void test_in_string(void) {";
void test_prototype(void);
void test_a(void) {
    CF_ASSERT(1);
}
static void test_b(void)
{
}
void
test_c() { }
int test_not_void(void) { return 0; }
void helper(void) { }
  void test_indented ( void ) { }
void test_a(void) { }
"""
    assert find_unit_tests(src) == ["test_a", "test_b", "test_c", "test_indented"]


def test_strip_comments_keeps_lines():
    src = 'a /* x\ny */ b "q // r" // c\nd'
    out = strip_comments(src)
    assert out.count("\n") == 2
    assert "x" not in out and "r" not in out and out.endswith("d")


def test_has_main_and_macro_names():
    assert has_main("int main(void) { return 0; }")
    assert not has_main("// int main(void)\nassert(f() == 1);")
    assert macro_names("#define assert(x)\n  #  define NDEBUG 1\n/* #define hidden */\n%:define A") \
        == {"assert", "NDEBUG", "A"}


def test_split_equality():
    assert split_equality("add(1, 2) == 3") == ("add(1, 2)", "3")
    assert split_equality('strcmp(f("a==b"), "x") == 0') == ('strcmp(f("a==b"), "x")', "0")
    assert split_equality("a == b && c == d") is None
    assert split_equality("a != b") is None
    assert split_equality("f(a == b)") is None
    assert split_equality("a == b == c") is None


def test_static_sizes():
    assert static_sizes_kb(SIZE) == {"prog": 1048576, "prog_script": 6}


def test_drivers_guard_the_tests():
    drv = script_driver(True, ["assert", "strcmp"])
    lines = drv.splitlines()
    solution = lines.index('#include "solution.c"')
    assert lines.index("#undef assert") > solution
    assert lines.index("#undef strcmp") > solution
    assert lines.index('#include "/opt/codefeedback/harness/cf_test.h"') > solution
    assert lines.index('#include "test_script.c"') > lines.index(
        '#include "/opt/codefeedback/harness/cf_test.h"')
    assert "cf_suite_kind = 1" in drv
    wrapped = script_driver(False)
    assert "int main(void) {" in wrapped
    unit = unit_driver(["test_a", "test_b"])
    assert 'cf_suite_names[] = {"test_a", "test_b", 0}' in unit
    assert "cf_suite_fns[])(void) = {test_a, test_b, 0}" in unit
    assert "cf_suite_count = 2" in unit


def _sub(**kw):
    return Submission(language="c", code="int add(int a, int b) { return a + b; }\n", **kw)


def test_solution_macros_are_hidden_from_the_tests():
    code = ("#include <stdbool.h>\n#define false 1\n#define LIMIT 10\n#define helper(x) x\n"
            "int add(int a, int b) { return a - b; }\n#define add(a, b) 1 || (a)\n")
    tests = {"script": "int main(void) { assert(add(1, 2) == 3 && false == 0); }",
             "unit": "void test_a(void) { CF_ASSERT(add(1, 2) == 3); }"}
    job = RUNNER.build_job(Submission(language="c", code=code, tests=tests), 30)
    script = job.files["cf_script.c"].split("cf_test.h", 1)[0]
    unit = job.files["cf_unit.c"].split("cf_test.h", 1)[0]
    for drv in (script, unit):
        assert "#undef add" in drv  # the tests call the function, not the macro
        assert "#undef false\n#define false 0" in drv  # a standard macro gets its meaning back
        assert "#undef LIMIT" not in drv and "#undef helper" not in drv  # not used by tests
    header = (Path(__file__).parents[2] / "runners/languages/c/harness/cf_test.h").read_text()
    for name in ("strcmp", "memcmp", "strlen", "fabs", "abs"):
        assert f"#define {name} cf_t_{name}" in header  # the tests' helpers are the harness's


def test_job_steps_and_channel():
    sub = _sub(tests={"script": "int main(void) { assert(add(1, 2) == 3); }",
                      "unit": "void test_a(void) { CF_ASSERT_EQ(add(1, 2), 3); }",
                      "io": [{"stdin": "1 2", "stdout": "3"}]},
               stdin="ignored")
    job = RUNNER.build_job(sub, 30)
    steps = {s.id: s for s in job.steps}
    assert list(steps) == ["compile", "build-script", "build-unit", "integrity", "size", "scrub",
                           "script", "unit", "io-0"]
    assert "-fdiagnostics-format=json" in steps["compile"].argv
    assert "-Werror" not in steps["compile"].argv
    assert steps["compile"].user is False and steps["compile"].output_kb == 1024
    assert steps["script"].after == ["build-script", "scrub"] and steps["script"].report
    # peeking: the tests and drivers are removed after the builds, before any user code runs
    assert steps["scrub"].argv[:2] == ["rm", "-f"] and not steps["scrub"].user
    assert {"test_script.c", "test_solution.c", "cf_script.c", "cf_unit.c", "cf_calls.c"} <= set(
        steps["scrub"].argv)
    assert steps["integrity"].parallel == steps["compile"].parallel == "build"
    assert steps["integrity"].argv[-2:] == ["/opt/codefeedback/harness/cf_integrity.py",
                                            "solution.c"]
    assert steps["script"].env["CF_RUN_NONCE"] == job.nonce and steps["script"].user
    assert "CF_RUN_NONCE" not in steps["io-0"].env and steps["io-0"].after == ["compile"]
    assert steps["io-0"].memory_mb == sub.limits.memory_mb
    assert {"solution.c", "test_script.c", "test_solution.c", "cf_script.c",
            "cf_unit.c"} <= set(job.files)
    assert "-c" not in steps["compile"].argv  # io needs a linked ./prog


def test_reserved_files():
    for name in ("Makefile", "cf_test.h", "stdio.h", "solution.c", "test_script.c", "prog"):
        try:
            check(_sub(files={name: "x"}))
        except SubmissionError as exc:
            assert exc.code == "reserved_file_name"
        else:
            raise AssertionError(name)
    assert check(_sub(files={"data.txt": "1"})) is RUNNER


def _ev(nonce, event, **kw):
    return json.dumps({"event": event, "nonce": nonce, **kw})


def _result(job, **steps):
    ok = StepResult(status="ok", exit_code=0)
    res = {s.id: ok for s in job.steps}
    res.update(steps)
    return JobResult(steps=res)


def test_script_verdicts_fail_closed():
    sub = _sub(tests={"script": "int main(void) { assert(add(1, 2) == 3); }"})
    job = RUNNER.build_job(sub, 30)
    n = job.nonce
    passed = "\n".join([_ev(n, "expected", tests=["script"]), _ev(n, "start", name="script"),
                         _ev(n, "test", name="script", outcome="passed"), _ev(n, "done")])
    fb = assemble(RUNNER, sub, job, _result(job, script=StepResult(
        status="ok", exit_code=0, report=passed)))
    assert fb.verdict == Verdict.accepted
    # _exit(0) in the function under test: started, never finished
    early = "\n".join([_ev(n, "expected", tests=["script"]), _ev(n, "start", name="script")])
    fb = assemble(RUNNER, sub, job, _result(job, script=StepResult(
        status="ok", exit_code=0, report=early, stdout="ALL TESTS PASSED")))
    assert fb.verdict == Verdict.runtime_error
    # a forged report without the nonce is ignored
    forged = passed.replace(n, "0" * 32)
    fb = assemble(RUNNER, sub, job, _result(job, script=StepResult(
        status="ok", exit_code=0, report=forged)))
    assert fb.verdict == Verdict.runtime_error
    # a failed assert: SIGABRT after the harness reported it -> wrong_answer, sides split
    failed = "\n".join([_ev(n, "expected", tests=["script"]), _ev(n, "start", name="script"),
                         _ev(n, "test", name="script", outcome="failed", line=1,
                             message="Assertion `add(1, 2) == 3' failed (at test_script.c:1)"),
                         _ev(n, "done")])
    fb = assemble(RUNNER, sub, job, _result(job, script=StepResult(
        status="signaled", signal=6, report=failed)))
    assert fb.verdict == Verdict.wrong_answer
    case = fb.tests.cases[0]
    assert (case.actual, case.expected, case.line) == ("add(1, 2)", "3", 1)


def test_memory_and_limits():
    sub = _sub(limits={"memory_mb": 128})
    job = RUNNER.build_job(sub, 30)
    steps = [s.id for s in job.steps]
    assert steps == ["compile", "integrity", "size", "run"]
    fb = assemble(RUNNER, sub, job, _result(job, run=StepResult(
        status="signaled", signal=11, memory_kb=9000,
        stderr="\ncodefeedback: memory limit exceeded (allocations failed near the limit)\n")))
    assert fb.verdict == Verdict.memory_limit
    fb = assemble(RUNNER, sub, job, _result(job, size=StepResult(
        status="ok", exit_code=0, stdout=SIZE), run=StepResult(status="signaled", signal=11)))
    assert fb.verdict == Verdict.memory_limit  # a 1 GB .bss cannot even be loaded
    fb = assemble(RUNNER, sub, job, _result(job, run=StepResult(status="signaled", signal=11,
                                                                  memory_kb=9000)))
    assert fb.verdict == Verdict.runtime_error
    fb = assemble(RUNNER, sub, job, _result(job, run=StepResult(status="timeout", signal=9)))
    assert fb.verdict == Verdict.time_limit
    fb = assemble(RUNNER, sub, job, _result(job, run=StepResult(status="output_limit")))
    assert fb.verdict == Verdict.output_limit


def test_compile_error_and_static_mapping():
    sub = _sub()
    job = RUNNER.build_job(sub, 30)
    fb = assemble(RUNNER, sub, job, _result(job, compile=StepResult(
        status="ok", exit_code=1, stderr=GCC_ERRORS), size=StepResult(status="skipped"),
        run=StepResult(status="skipped")))
    assert fb.verdict == Verdict.compile_error
    assert fb.compile is not None and not fb.compile.ok
    assert fb.static is not None and fb.static.ok
    assert {d.severity for d in fb.static.diagnostics} == {"warning"}
    # warnings alone never fail a build, and never make static_error
    warn_only = json.dumps([json.loads(GCC_ERRORS)[2]])
    fb = assemble(RUNNER, sub, job, _result(job, compile=StepResult(
        status="ok", exit_code=0, stderr=warn_only)))
    assert fb.verdict == Verdict.accepted
    assert fb.static.diagnostics[0].severity == "warning"
    # a build that hung: a clear compile_error, not a hang or an internal error
    fb = assemble(RUNNER, sub, job, _result(job, compile=StepResult(status="timeout", signal=9),
                                            run=StepResult(status="skipped")))
    assert fb.verdict == Verdict.compile_error
    assert "build time limit" in fb.compile.diagnostics[0].message


def test_examples_are_valid_submissions():
    examples = RUNNER.examples()
    kinds = {name.split(".")[0] for name in examples}
    assert kinds == {"accepted", "wrong_answer", "compile_error", "runtime_error"}
    for body in examples.values():
        assert "language" not in body
        check(Submission(language="c", **body))
    assert RUNNER.info().example == examples["accepted"]
