"""io_checker (CONTRACT.md v1.1, docs/CHECKERS.md): the built-in comparisons as pure logic, and
the program checker's job, reading and verdicts through the pipeline with a fake sandbox."""

from __future__ import annotations

import pytest

from codefeedback.models import IOChecker, Submission
from runners.base import Job, JobResult, StepResult
from runners.checkers import (
    ANSWER,
    CHECKER_FILE,
    CHECKER_MEMORY_MB,
    INPUT,
    OUTPUT,
    CheckedStep,
    CheckerRun,
    compare_exact,
    compare_floats,
    compare_output,
    compare_tokens,
    compare_unordered_lines,
    parse_number,
    read_check,
)
from runners.pipeline import SubmissionError, assemble, check, evaluate
from runners.registry import resolve
from runners.report import io_case, normalise_output
from runners.sandbox.base import FakeSandbox


def ok(stdout: str) -> StepResult:
    return StepResult(status="ok", exit_code=0, stdout=stdout)


# ---------------------------------------------------------------------------------- exact
def test_exact_ignores_trailing_whitespace_and_blank_lines_only() -> None:
    assert compare_exact("1 2\n3\n", "1 2   \n3\n\n\n") is None
    assert compare_exact("a\r\nb", "a\nb") is None
    assert compare_exact("", "\n\n") is None
    assert compare_exact("1", " 1") is not None  # leading whitespace counts
    assert compare_exact("1 2", "1  2") is not None  # inner whitespace counts
    assert normalise_output("x  \n\n") == "x"


def test_exact_names_the_first_differing_line_and_column() -> None:
    assert compare_exact("a\nbcd\ne", "a\nbxd\ne") == "line 2, column 2: expected 'bcd', got 'bxd'"
    assert compare_exact("ab", "abc") == "line 1, column 3: expected 'ab', got 'abc'"
    missing = compare_exact("1\n2\n3", "1\n2")
    assert missing is not None and "2 line(s), 3 expected" in missing and "line 3" in missing
    extra = compare_exact("1", "1\nzzz")
    assert extra is not None and "unexpected line 2: 'zzz'" in extra


# --------------------------------------------------------------------------------- tokens
def test_tokens_ignore_every_kind_of_whitespace() -> None:
    assert compare_tokens("1 2 3\n", "1\n2   3  ") is None
    assert compare_tokens("a\tb", "  a b\n\n") is None
    assert compare_tokens("", "  \n ") is None


def test_tokens_report_the_first_differing_token_with_its_position() -> None:
    why = compare_tokens("1 2\n3 4", "1 2\n3 5")
    assert why == "token 4 (line 2, token 2 of the line): expected '4', got '5'"
    short = compare_tokens("1 2 3", "1 2")
    assert short is not None and "2 token(s), 3 expected" in short and "'3'" in short
    long = compare_tokens("1", "1 x")
    assert long is not None and "unexpected token 2" in long and "'x'" in long
    assert compare_tokens("1.0", "1") is not None  # tokens are text


# ---------------------------------------------------------------------------------- float
def test_float_uses_the_float_tolerance_rule() -> None:
    assert compare_floats("0.3333333333\n", "0.333333\n", 1e-6, 1e-9) is None
    assert compare_floats("0.3333333333", "0.3333", 1e-6, 1e-9) is not None
    # |a-b| <= max(abs, rel*|expected|): abs dominates near zero
    assert compare_floats("0", "0.0005", 0, 1e-3) is None
    assert compare_floats("0", "0.002", 0, 1e-3) is not None
    # rel is relative to the expected value, not the actual one
    assert compare_floats("100", "100.5", 0.01, 0) is None
    assert compare_floats("1e6", "1000001", 1e-6, 0) is None
    why = compare_floats("1 2.5 3", "1 2.6 3", 1e-6, 1e-9)
    assert why is not None and why.startswith("token 2 (line 1, token 2 of the line): "
                                              "expected '2.5', got '2.6'")
    assert "allowed difference" in why


def test_float_other_tokens_exact_and_nan_only_matches_nan() -> None:
    assert compare_floats("YES 1.5", "YES 1.5000001", 1e-6, 1e-9) is None
    assert compare_floats("YES 1.5", "yes 1.5", 1e-6, 1e-9) is not None
    assert compare_floats("nan", "NaN", 1e-6, 1e-9) is None
    assert compare_floats("nan", "1", 1e-6, 1e-9) is not None
    assert compare_floats("1", "nan", 1, 1) is not None
    assert compare_floats("inf -inf", "Infinity -inf", 1e-6, 1e-9) is None
    assert compare_floats("inf", "1e308", 1, 1) is not None
    not_number = compare_floats("5", "five", 1, 1)
    assert not_number is not None and "expected the number '5'" in not_number
    # integers beyond a double compare exactly; within it, by the rule
    big = "1" + "0" * 400
    assert compare_floats(big, big, 1e-6, 0) is None
    assert compare_floats(big, big[:-1] + "1", 1e-6, 0) is not None
    assert compare_floats("3", "3.0000000001", 1e-6, 0) is None


def test_number_tokens_are_strict() -> None:
    assert parse_number("12") == 12 and isinstance(parse_number("-7"), int)
    assert parse_number("1.5e-3") == pytest.approx(1.5e-3)
    assert parse_number(".5") == 0.5 and parse_number("5.") == 5.0
    for junk in ("1_000", "0x10", "1e", "--1", "", "1,5", "infinit"):
        assert parse_number(junk) is None, junk


# ------------------------------------------------------------------------ unordered_lines
def test_unordered_lines_is_a_multiset_of_normalised_non_empty_lines() -> None:
    assert compare_unordered_lines("a\nb\nc\n", "c\n\na  \nb") is None
    assert compare_unordered_lines("a\na\nb", "a\nb\na") is None
    twice = compare_unordered_lines("a\na\nb", "a\nb\nb")
    assert twice is not None
    assert "unexpected output line 3: 'b'" in twice
    assert "missing expected line 2: 'a'" in twice
    assert compare_unordered_lines("a b", "a  b") is not None  # within a line: exact
    assert compare_unordered_lines("x", " x") is not None  # leading spaces count


def test_compare_output_dispatches_by_kind() -> None:
    assert compare_output("1 2", "1\n2", None) is not None  # default exact
    assert compare_output("1 2", "1\n2", IOChecker(kind="tokens")) is None
    assert compare_output("0.5", "0.5000001", IOChecker(kind="float", rel=1e-6)) is None
    assert compare_output("a\nb", "b\na", IOChecker(kind="unordered_lines")) is None
    with pytest.raises(ValueError):
        compare_output("a", "a", IOChecker(kind="program", program={"code": "x"}))


# ------------------------------------------------------------------- io_case with checkers
def test_io_case_uses_the_checker_and_says_which_comparison_failed() -> None:
    case, signal = io_case(0, "0.3333333333\n", ok("0.333333\n"),
                           checker=IOChecker(kind="float"))
    assert case.outcome.value == "passed" and signal is None
    case, _ = io_case(0, "0.3333333333\n", ok("0.333333\n"))
    assert case.outcome.value == "failed"
    assert case.message == ("stdout differs from the expected output: line 1, column 9: "
                            "expected '0.3333333333', got '0.333333'")
    case, _ = io_case(1, "1 2\n", ok("1 3\n"), checker=IOChecker(kind="tokens"))
    assert case.message is not None and case.message.startswith(
        "stdout differs from the expected output (tokens comparison): token 2")
    assert (case.expected, case.actual) == ("1 2\n", "1 3\n")


def test_io_case_limits_and_crashes_come_before_any_checker() -> None:
    for kind in ("float", "program"):
        checker = IOChecker(kind=kind, program={"code": "x"} if kind == "program" else None)
        slow, signal = io_case(0, "1", StepResult(status="timeout", signal=9), checker=checker)
        assert slow.outcome.value == "timeout" and signal == "time_limit"
        crash, signal = io_case(0, "1", StepResult(status="ok", exit_code=3), checker=checker)
        assert crash.outcome.value == "error" and signal == "runtime_error"


PROGRAM = IOChecker(kind="program", program={"language": "python", "code": "raise SystemExit"})


def checked(check: CheckerRun | None, stdout: str = "7 3\n") -> CheckedStep:
    return CheckedStep(status="ok", exit_code=0, stdout=stdout, check=check)


def test_program_checker_verdicts_follow_testlib_exit_codes() -> None:
    case, signal = io_case(0, "3 7", checked(CheckerRun("passed", "exit code 0", "ok")),
                           checker=PROGRAM)
    assert (case.outcome.value, signal, case.message) == ("passed", None, "checker output:\nok")
    case, signal = io_case(0, "3 7", checked(CheckerRun("wrong_answer", "exit code 1",
                                                        "sum is 11")), checker=PROGRAM)
    assert case.outcome.value == "failed" and signal is None
    assert case.message == "wrong answer (the io checker exited with code 1)\nchecker output:\n" \
                           "sum is 11"
    assert (case.expected, case.actual) == ("3 7", "7 3\n")
    case, signal = io_case(0, "3 7", checked(CheckerRun("presentation_error", "exit code 2")),
                           checker=PROGRAM)
    assert case.outcome.value == "failed" and signal is None
    assert "presentation error" in (case.message or "")
    assert "counted as wrong answer" in (case.message or "")
    case, signal = io_case(0, "3 7", checked(CheckerRun("failed", "exited with code 3", "boom")),
                           checker=PROGRAM)
    assert case.outcome.value == "error" and signal == "internal_error"
    assert "io checker failed" in (case.message or "") and "boom" in (case.message or "")
    # no verdict attached (assemble without the checker's job): fail closed, never passed
    case, signal = io_case(0, "3 7", ok("7 3"), checker=PROGRAM)
    assert case.outcome.value == "error" and signal == "internal_error"


@pytest.mark.parametrize(("step", "outcome", "detail"), [
    (StepResult(status="ok", exit_code=0), "passed", "exit code 0"),
    (StepResult(status="ok", exit_code=1), "wrong_answer", "exit code 1"),
    (StepResult(status="ok", exit_code=2), "presentation_error", "exit code 2"),
    (StepResult(status="ok", exit_code=3, stderr="Traceback (most recent call last):\n  x\n"),
     "failed", "raised an exception"),
    (StepResult(status="ok", exit_code=7), "failed", "exited with code 7"),
    (StepResult(status="signaled", signal=11), "failed", "was killed by signal 11"),
    (StepResult(status="timeout", signal=9), "failed", "did not finish within the service's "
                                                       "time limit (30 s)"),
    (StepResult(status="oom"), "failed", f"ran out of memory (its limit is "
                                         f"{CHECKER_MEMORY_MB} MiB)"),
    (StepResult(status="output_limit"), "failed", "wrote more than 64 KiB of output"),
    (StepResult(status="missing"), "failed", "did not run (missing)"),
])
def test_reading_a_checker_step(step: StepResult, outcome: str, detail: str) -> None:
    run = read_check(step, 30)
    assert (run.outcome, run.detail) == (outcome, detail)


def test_checker_output_is_capped() -> None:
    run = read_check(StepResult(status="ok", exit_code=1, stdout="x" * 5000, stderr="tail"), 30)
    assert len(run.output) <= 1000 and run.output.endswith("tail")


# ----------------------------------------------------------- the pipeline with a fake sandbox
CHECKER_CODE = "import sys\nsys.exit(0)\n"


def program_sub(cases: list[dict], language: str = "python", **kw) -> Submission:
    return Submission(language="python", code="print(input())\n", static_analysis=False, tests={
        "io": cases,
        "io_checker": {"kind": "program", "program": {"language": language,
                                                      "code": CHECKER_CODE}}}, **kw)


class Scripted:
    """Answers the user's job with `user` (step id -> StepResult, syntax ok) and the checker's
    job with `checker` (step id -> StepResult)."""

    def __init__(self, user: dict[str, StepResult], checker: dict[str, StepResult]) -> None:
        self.user, self.checker = user, checker

    def __call__(self, job: Job) -> JobResult:
        if any(s.id == "syntax" for s in job.steps):
            return JobResult(steps={"syntax": StepResult(status="ok", exit_code=0),
                                    **self.user})
        return JobResult(steps=dict(self.checker))


SECRET = "expected-answer-7f3a9c"


def test_the_checker_job_gets_the_files_argv_and_limits_documented() -> None:
    sub = program_sub([{"stdin": "in0\n", "stdout": SECRET}, {"stdin": "in1\n", "stdout": "b"},
                       {"stdin": "in2\n", "stdout": "c"}])
    user = {"io-0": ok("out0\n"), "io-1": StepResult(status="ok", exit_code=1, stdout="x"),
            "io-2": ok("out2\n")}
    sb = FakeSandbox(Scripted(user, {"check-0": StepResult(status="ok", exit_code=0),
                                     "check-2": StepResult(status="ok", exit_code=1)}))
    fb = evaluate(sub, sb)
    assert len(sb.jobs) == 2
    user_job, judge = sb.jobs
    # the expected output never enters the user's job
    assert SECRET not in repr(user_job.to_agent())
    assert judge.image == resolve("python").image
    assert judge.memory_mb == CHECKER_MEMORY_MB
    # only the cases whose program exited 0 go to the checker
    assert [s.id for s in judge.steps] == ["check-0", "check-2"]
    assert judge.files == {
        CHECKER_FILE: CHECKER_CODE,
        f"case-0/{INPUT}": "in0\n", f"case-0/{OUTPUT}": "out0\n", f"case-0/{ANSWER}": SECRET,
        f"case-2/{INPUT}": "in2\n", f"case-2/{OUTPUT}": "out2\n", f"case-2/{ANSWER}": "c",
    }
    agent = judge.to_agent()["steps"][0]
    assert agent["cwd"] == "/work/case-0"
    assert agent["argv"][:4] == ["python3", "-I", "-B", "-c"]
    assert agent["argv"][5:] == ["/work/checker.py", "input.txt", "output.txt", "answer.txt"]
    assert agent["user"] is True and agent["memory_mb"] == CHECKER_MEMORY_MB
    assert agent["time_s"] == 30.0
    cases = fb.tests.cases
    assert [c.outcome.value for c in cases] == ["passed", "error", "failed"]
    assert cases[1].message == "the program exited with code 1"
    assert fb.verdict.value == "runtime_error"


def test_a_crashing_checker_is_internal_error_naming_the_checker() -> None:
    sub = program_sub([{"stdin": "1\n", "stdout": "1"}, {"stdin": "2\n", "stdout": "2"}])
    crash = StepResult(status="ok", exit_code=3, stderr="Traceback (most recent call last):\n"
                       '  File "/work/checker.py", line 1\nZeroDivisionError: division by zero')
    sb = FakeSandbox(Scripted({"io-0": ok("1"), "io-1": ok("2")},
                              {"check-0": crash, "check-1": StepResult(status="ok", exit_code=0)}))
    fb = evaluate(sub, sb)
    assert fb.verdict.value == "internal_error"
    assert fb.reason is not None and "io checker" in fb.reason and "io[0]" in fb.reason
    assert "not the submitted code" in fb.reason and "ZeroDivisionError" in fb.reason
    assert [c.outcome.value for c in fb.tests.cases] == ["error", "passed"]  # one hides nothing
    assert "ZeroDivisionError" in (fb.tests.cases[0].message or "")
    assert "io checker" in fb.feedback


def test_a_lost_or_failed_checker_job_is_internal_error() -> None:
    sub = program_sub([{"stdin": "1\n", "stdout": "1"}])
    for answer in (JobResult(error="sandbox image x is not built"), JobResult(lost="timeout")):
        def handler(job: Job, answer: JobResult = answer) -> JobResult:
            if any(s.id == "syntax" for s in job.steps):
                return JobResult(steps={"syntax": StepResult(status="ok", exit_code=0),
                                        "io-0": ok("1")})
            return answer
        fb = evaluate(sub, FakeSandbox(handler))
        assert fb.verdict.value == "internal_error", answer
        assert "io checker" in (fb.reason or "")


def test_no_checker_job_when_no_program_exited_0() -> None:
    sub = program_sub([{"stdin": "1\n", "stdout": "1"}], limits={"time_s": 1})
    sb = FakeSandbox(Scripted({"io-0": StepResult(status="timeout", signal=9)}, {}))
    fb = evaluate(sub, sb)
    assert len(sb.jobs) == 1 and fb.verdict.value == "time_limit"


def test_assemble_without_a_sandbox_for_built_in_kinds() -> None:
    sub = Submission(language="python", code="print(1/3)\n", static_analysis=False,
                     tests={"io": [{"stdout": "0.3333333333"}], "io_checker": {"kind": "float"}})
    runner = check(sub)
    job = runner.build_job(sub, 30)
    result = JobResult(steps={"syntax": StepResult(status="ok", exit_code=0),
                              "io-0": ok("0.333333\n")})
    assert assemble(runner, sub, job, result).verdict.value == "accepted"
    # a program checker without its verdicts fails closed
    psub = program_sub([{"stdout": "1"}])
    pjob = runner.build_job(psub, 30)
    fb = assemble(runner, psub, pjob, JobResult(steps={
        "syntax": StepResult(status="ok", exit_code=0), "io-0": ok("1")}))
    assert fb.verdict.value == "internal_error"


@pytest.mark.parametrize("language", ["c", "javascript", "bash"])
def test_checker_programs_must_be_python(language: str) -> None:
    with pytest.raises(SubmissionError) as err:
        check(program_sub([{"stdout": "1"}], language=language))
    assert err.value.code == "unsupported_checker_language"
    assert repr(language) in err.value.message and "python" in err.value.message


def test_python_checker_aliases_are_accepted() -> None:
    for language in ("python", "Python", "py", "python3"):
        check(program_sub([{"stdout": "1"}], language=language))


def test_the_cache_key_covers_io_checker() -> None:
    from service.cache import cache_key

    def key(checker: dict | None) -> str:
        tests = {"io": [{"stdin": "", "stdout": "1"}]}
        if checker is not None:
            tests["io_checker"] = checker
        return cache_key(Submission(language="python", code="print(1)", tests=tests),
                         "owner", "sha256:" + "a" * 64)

    keys = {key(None), key({"kind": "tokens"}), key({"kind": "float"}),
            key({"kind": "float", "rel": 1e-3}), key({"kind": "float", "abs": 1e-3}),
            key({"kind": "unordered_lines"}),
            key({"kind": "program", "program": {"code": "import sys"}}),
            key({"kind": "program", "program": {"code": "import sys\n"}})}
    assert len(keys) == 8
