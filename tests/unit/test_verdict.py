"""Verdict precedence and fail-closed accounting (pure logic)."""

from __future__ import annotations

import json

import pytest

from codefeedback.models import Diagnostic, StaticResult, TestCase, Verdict
from runners.base import StepResult
from runners.report import io_case, normalise_output, read_test_step
from runners.verdict import decide

NONCE = "n0"


def step(events: list[dict], status: str = "ok", exit_code: int | None = 0, **kw) -> StepResult:
    report = "\n".join(json.dumps({**e, "nonce": e.get("nonce", NONCE)}) for e in events)
    return StepResult(status=status, exit_code=exit_code, report=report, **kw)


def case(outcome: str) -> TestCase:
    return TestCase(name="t", outcome=outcome)


def test_precedence_order() -> None:
    assert decide(signals=["wrong_answer", "time_limit", "output_limit"]) == Verdict.time_limit
    assert decide(compile_ok=False, signals=["time_limit"]) == Verdict.compile_error
    assert decide(internal_error=True, compile_ok=False) == Verdict.internal_error
    assert decide(cases=[case("failed"), case("error")]) == Verdict.runtime_error
    assert decide(signals=["memory_limit", "output_limit"]) == Verdict.memory_limit


def test_static_error_only_when_everything_else_passes() -> None:
    static = StaticResult(ok=False, diagnostics=[Diagnostic(tool="x", severity="error",
                                                            message="m")])
    assert decide(cases=[case("passed")], static=static) == Verdict.static_error
    assert decide(cases=[case("failed")], static=static) == Verdict.wrong_answer
    warn = StaticResult(ok=True, diagnostics=[Diagnostic(tool="x", severity="warning",
                                                         message="m")])
    assert decide(cases=[case("passed")], static=warn) == Verdict.accepted


@pytest.mark.parametrize("outcome", ["skipped", "failed", "error", "timeout"])
def test_any_non_passed_case_blocks_accepted(outcome: str) -> None:
    assert decide(cases=[case("passed"), case(outcome)]) != Verdict.accepted


def test_no_cases_when_tests_were_given_is_not_accepted() -> None:
    assert decide(cases=[]) == Verdict.runtime_error


def test_missing_expected_test_fails_closed() -> None:
    s = step([{"event": "expected", "tests": ["test_a", "test_b"]},
              {"event": "test", "name": "test_a", "outcome": "passed"},
              {"event": "done"}])
    run = read_test_step(s, NONCE, "unit", "t.py")
    outcomes = {c.name: c.outcome.value for c in run.cases}
    assert outcomes == {"test_a": "passed", "test_b": "error"}


def test_results_without_done_are_not_accepted() -> None:
    s = step([{"event": "expected", "tests": ["test_a"]},
              {"event": "test", "name": "test_a", "outcome": "passed"}])
    run = read_test_step(s, NONCE, "unit", "t.py")
    assert decide(cases=run.cases, signals=run.signals) == Verdict.runtime_error


def test_forged_lines_without_the_nonce_are_ignored() -> None:
    s = step([{"event": "expected", "tests": ["test_a"]},
              {"event": "test", "name": "test_a", "outcome": "passed", "nonce": "forged"},
              {"event": "done", "nonce": "forged"}])
    run = read_test_step(s, NONCE, "unit", "t.py")
    assert [c.outcome.value for c in run.cases] == ["error"]


def test_timeout_is_attributed_to_the_running_test() -> None:
    s = step([{"event": "expected", "tests": ["test_a", "test_b"]},
              {"event": "test", "name": "test_a", "outcome": "passed"},
              {"event": "start", "name": "test_b"}], status="timeout", exit_code=None, signal=9)
    run = read_test_step(s, NONCE, "unit", "t.py")
    assert {c.name: c.outcome.value for c in run.cases} == {"test_a": "passed",
                                                            "test_b": "timeout"}
    assert run.signals == {"time_limit"}


def test_parametrised_results_count_for_their_function() -> None:
    s = step([{"event": "expected", "tests": ["test_p"]},
              {"event": "test", "name": "test_p[1]", "outcome": "passed"},
              {"event": "test", "name": "test_p[2]", "outcome": "failed"},
              {"event": "done"}])
    run = read_test_step(s, NONCE, "unit", "t.py")
    assert decide(cases=run.cases) == Verdict.wrong_answer and len(run.cases) == 2


def test_memory_marker_in_a_case_message_is_memory_limit() -> None:
    s = step([{"event": "expected", "tests": ["script"]},
              {"event": "test", "name": "script", "outcome": "error", "message": "MemoryError"},
              {"event": "done"}])
    run = read_test_step(s, NONCE, "script", "s.py", ("MemoryError",))
    assert decide(cases=run.cases, signals=run.signals) == Verdict.memory_limit


def test_io_comparison_ignores_trailing_whitespace_only() -> None:
    assert normalise_output("1 2  \n3\n\n\n") == normalise_output("1 2\n3")
    assert normalise_output(" 1") != normalise_output("1")
    ok, _ = io_case(0, "3\n", StepResult(status="ok", exit_code=0, stdout="3   \n\n"))
    assert ok.outcome.value == "passed"
    bad, _ = io_case(0, "3\n", StepResult(status="ok", exit_code=0, stdout="4\n"))
    assert (bad.outcome.value, bad.expected, bad.actual) == ("failed", "3\n", "4\n")
    crash, signal = io_case(0, "3\n", StepResult(status="signaled", exit_code=None, signal=11))
    assert crash.outcome.value == "error" and signal == "runtime_error"
    slow, signal = io_case(0, "3\n", StepResult(status="timeout", exit_code=None, signal=9))
    assert slow.outcome.value == "timeout" and signal == "time_limit"


def test_memory_error_then_timeout_is_memory_limit() -> None:
    from runners.report import step_signal

    oom_then_slow = StepResult(status="timeout", exit_code=None, signal=9,
                               stderr="Traceback ...\nMemoryError\n")
    assert step_signal(oom_then_slow, ("MemoryError",)) == "memory_limit"
    slow = StepResult(status="timeout", exit_code=None, signal=9, stderr="")
    assert step_signal(slow, ("MemoryError",)) == "time_limit"
