"""The LLM feedback text: short, precise, capped."""

from __future__ import annotations

from codefeedback.models import (
    CompileResult,
    Diagnostic,
    Feedback,
    RunResult,
    StaticResult,
    TestCase,
    TestsResult,
)
from runners.render import render

SRC = {"solution.py": "def add(a, b):\n    return a - b\n"}


def test_failing_test_shows_expected_actual_and_source_line() -> None:
    fb = Feedback(
        verdict="wrong_answer",
        tests=TestsResult(total=2, passed=1, failed=1, errors=0, cases=[
            TestCase(name="test_ok", outcome="passed"),
            TestCase(name="test_add", outcome="failed", expected="3", actual="-1", line=4,
                     message="assert -1 == 3")]),
        static=StaticResult(ok=True, diagnostics=[
            Diagnostic(tool="pylint", severity="warning", code="W0101", message="bad thing",
                       file="solution.py", line=2, column=5),
            Diagnostic(tool="ruff", severity="info", code="E501", message="noise",
                       file="solution.py", line=1, column=1)]),
    )
    text = render(fb, SRC)
    assert text.startswith("Verdict: wrong_answer.") and "Tests: 1/2 passed." in text
    assert "- test_add (line 4): failed\n  expected: 3\n  actual:   -1" in text
    assert "test_ok" not in text
    assert "solution.py:2:5: warning W0101: bad thing [pylint]\n    2 |     return a - b" in text
    assert "noise" not in text  # info findings are left out


def test_compile_error_lists_errors_only() -> None:
    fb = Feedback(verdict="compile_error", compile=CompileResult(ok=False, diagnostics=[
        Diagnostic(tool="gcc", severity="warning", message="unused", file="solution.py", line=1),
        Diagnostic(tool="gcc", severity="error", message="expected ';'", file="solution.py",
                   line=2, column=17)]))
    text = render(fb, SRC)
    assert "solution.py:2:17: error: expected ';' [gcc]" in text and "unused" not in text


def test_crash_output_tail_and_cap() -> None:
    fb = Feedback(verdict="runtime_error",
                  run=RunResult(exit_code=1, stderr="Traceback...\n" + "x" * 10000))
    text = render(fb, {}, max_chars=500)
    assert len(text) <= 500 and text.endswith("[... truncated]")
    assert "Exit code: 1" in text


def test_accepted_is_one_line() -> None:
    fb = Feedback(verdict="accepted", run=RunResult(exit_code=0, stdout="hi\n"))
    assert render(fb, {}) == "Verdict: accepted. All checks passed."
