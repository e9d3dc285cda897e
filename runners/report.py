"""Turn what a test step sent on its private channel into test cases, failing closed.

Every language harness speaks the same line protocol on fd 3 (one JSON object per line, each
with the step's nonce): `expected` (the tests that must report, sent before user code loads),
`start`, `test` (one result), `collect_error`, `compile_error` and `done`. This module is the
only reader of that protocol. A test counts as passed only if its own `test` line said so and
the harness reached `done`; anything expected but missing is a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codefeedback.models import Diagnostic, IOChecker, Outcome, TestCase
from runners.base import StepResult
from runners.checkers import CheckerRun, compare_output
from runners.checkers import normalise_output as normalise_output  # the exact rule, re-exported

# What a step status means for the verdict (see codefeedback.models.Verdict).
STATUS_SIGNAL = {
    "timeout": "time_limit",
    "oom": "memory_limit",
    "output_limit": "output_limit",
}


@dataclass
class TestRun:
    """The reading of one test step."""

    __test__ = False

    cases: list[TestCase] = field(default_factory=list)
    signals: set[str] = field(default_factory=set)
    compile_errors: list[Diagnostic] = field(default_factory=list)
    collect_error: str | None = None


def events(step: StepResult, nonce: str) -> list[dict[str, Any]]:
    """The step's report lines that carry its nonce (anything else is ignored)."""
    return [e for e in step.report_lines() if e.get("nonce") == nonce]


def step_signal(step: StepResult, memory_markers: tuple[str, ...] = ()) -> str | None:
    """The verdict signal of a step that was stopped or crashed, if any.

    A program that had already failed for lack of memory (its runtime said so) and was then
    stopped by the clock while it unwound is a memory_limit: that came first.
    """
    out_of_memory = bool(memory_markers) and any(m in step.stderr for m in memory_markers)
    if step.status == "timeout" and out_of_memory:
        return "memory_limit"
    if step.status in STATUS_SIGNAL:
        return STATUS_SIGNAL[step.status]
    return "memory_limit" if out_of_memory else None


def read_test_step(
    step: StepResult,
    nonce: str,
    kind: str,
    file: str,
    memory_markers: tuple[str, ...] = (),
) -> TestRun:
    """Cases of one test step, with every expected-but-missing test turned into a failure."""
    run = TestRun()
    evs = events(step, nonce)
    expected: list[str] | None = None
    started: str | None = None
    done = False
    tampered: list[str] = []
    results: dict[str, list[TestCase]] = {}
    for ev in evs:
        kind_ = ev.get("event")
        if kind_ == "expected" and expected is None:
            expected = [str(t) for t in ev.get("tests", [])]
        elif kind_ == "start":
            started = str(ev.get("name"))
        elif kind_ == "test":
            case = _case(ev, kind)
            results.setdefault(base_name(case.name), []).append(case)
            started = None
        elif kind_ == "collect_error":
            run.collect_error = str(ev.get("message", ""))[-4000:]
        elif kind_ == "compile_error":
            run.compile_errors.append(compile_diagnostic(ev, file))
        elif kind_ == "tamper":
            tampered += [str(c)[:300] for c in (ev.get("changes") or ["unknown"])][:10]
        elif kind_ == "done":
            done = True
    if run.compile_errors:
        return run
    signal = step_signal(step, memory_markers)
    if signal:
        run.signals.add(signal)
    for cases in results.values():
        run.cases.extend(cases)
        for case in cases:
            if (case.outcome == Outcome.error and memory_markers
                    and any(m in (case.message or "") for m in memory_markers)):
                run.signals.add("memory_limit")
    stopped = stop_reason(step, signal)
    names = expected if expected is not None else []
    for name in names:
        if name in results:
            continue
        if started is not None and base_name(started) == name and signal == "time_limit":
            outcome, msg = Outcome.timeout, "time limit exceeded while this test ran"
        elif started is not None and base_name(started) == name:
            outcome, msg = Outcome.error, f"this test did not finish: {stopped}"
        else:
            outcome, msg = Outcome.error, f"no result for this test: {stopped}"
        run.cases.append(TestCase(name=name, outcome=outcome, message=msg, kind=kind))
    if expected is None and not run.cases:
        msg = run.collect_error or f"the tests did not start: {stopped}"
        run.cases.append(TestCase(name=kind, outcome=Outcome.error, message=msg, kind=kind))
    elif expected is not None and not expected and not run.cases:
        msg = run.collect_error or "no tests were found in the test source"
        run.cases.append(TestCase(name=kind, outcome=Outcome.error, message=msg, kind=kind))
    if tampered:
        run.cases.append(TestCase(
            name=f"{kind}:integrity", outcome=Outcome.error, kind=kind,
            message="the grader's environment was changed while the tests ran, so their "
                    "results are void: " + "; ".join(tampered)))
    if not done and all(c.outcome == Outcome.passed for c in run.cases):
        # Every result arrived but the harness never finished: something cut it short.
        run.cases.append(TestCase(name=f"{kind}:completion", outcome=Outcome.error,
                                  message=f"the test run did not complete: {stopped}", kind=kind))
    if not done and not signal and step.status in ("signaled", "ok"):
        run.signals.add("runtime_error")
    return run


def compile_diagnostic(ev: dict[str, Any], file: str | None) -> Diagnostic:
    """A harness's `compile_error` line (a test or solution that does not parse)."""
    return Diagnostic(tool=str(ev.get("tool") or "compiler"), severity="error",
                      message=str(ev.get("message", "does not compile"))[:2000],
                      file=ev.get("file") or file, line=_int(ev.get("line")),
                      column=_int(ev.get("column")))


def stop_reason(step: StepResult, signal: str | None) -> str:
    if signal == "time_limit":
        return "the time limit was exceeded"
    if signal == "memory_limit":
        return "the memory limit was exceeded"
    if signal == "output_limit":
        return "the output limit was exceeded"
    if step.signal:
        return f"the process was killed by signal {step.signal}"
    if step.status in ("skipped", "missing", "error"):
        return "the test step did not run"
    if step.exit_code not in (None, 0, 1):
        return f"the process exited with code {step.exit_code} before the harness finished"
    return "the process exited before the harness finished (early exit or a killed harness)"


def base_name(name: str) -> str:
    """`test_x[1-2]` -> `test_x`: parametrised cases report under their function's name."""
    return name.split("[", 1)[0]


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _case(ev: dict[str, Any], kind: str) -> TestCase:
    outcome = ev.get("outcome")
    if outcome not in Outcome.__members__:
        outcome = "error"
    return TestCase(
        name=str(ev.get("name", kind))[:300],
        outcome=Outcome(outcome),
        message=_str(ev.get("message")),
        expected=_str(ev.get("expected")),
        actual=_str(ev.get("actual")),
        line=_int(ev.get("line")),
        duration_ms=_int(ev.get("duration_ms")),
        stdout=_str(ev.get("stdout")),
        stderr=_str(ev.get("stderr")),
        kind=kind,
    )


def _str(v: Any, limit: int = 4000) -> str | None:
    if v is None:
        return None
    text = v if isinstance(v, str) else str(v)
    return text[:limit]


def io_case(index: int, expected: str, step: StepResult, name: str | None = None,
            memory_markers: tuple[str, ...] = (),
            checker: IOChecker | None = None) -> tuple[TestCase, str | None]:
    """Judge one io case outside the untrusted process: the program's stdout against the
    expected one by `checker` (runners/checkers.py; default `exact`). With a `program` checker
    the verdict is the one the pipeline attached to the step (`CheckedStep.check`)."""
    label = name or f"io[{index}]"
    signal = step_signal(step, memory_markers)
    common = {"name": label, "kind": "io", "duration_ms": step.wall_ms,
              "stdout": step.stdout[-2000:] or None, "stderr": step.stderr[-2000:] or None}
    if signal == "time_limit":
        return TestCase(outcome=Outcome.timeout, message="time limit exceeded", **common), signal
    if signal:
        return TestCase(outcome=Outcome.error, message=signal.replace("_", " ") + " exceeded",
                        **common), signal
    if not step.ran:
        return TestCase(outcome=Outcome.error, message="not run", **common), None
    if step.exit_code != 0:
        why = (f"killed by signal {step.signal}" if step.signal
               else f"exited with code {step.exit_code}")
        return TestCase(outcome=Outcome.error, message=f"the program {why}",
                        expected=expected, actual=step.stdout[-2000:], **common), "runtime_error"
    shown = {"expected": expected[-2000:], "actual": step.stdout[-2000:]}
    if checker is not None and checker.kind == "program":
        return checked_case(getattr(step, "check", None), shown, common)
    why = compare_output(expected, step.stdout, checker)
    if why is None:
        return TestCase(outcome=Outcome.passed, **common), None
    kind = checker.kind if checker is not None else "exact"
    prefix = ("stdout differs from the expected output" if kind == "exact"
              else f"stdout differs from the expected output ({kind} comparison)")
    return TestCase(outcome=Outcome.failed, message=f"{prefix}: {why}", **shown, **common), None


CHECKER_FAILED = "the io checker failed"
NOT_THE_CODE = "the submitter's io_checker program failed, not the submitted code"


def checked_case(check: CheckerRun | None, shown: dict[str, Any],
                 common: dict[str, Any]) -> tuple[TestCase, str | None]:
    """The test case for a program checker's verdict (testlib exit codes, CHECKERS.md)."""
    if check is None:
        return TestCase(outcome=Outcome.error, message=f"{CHECKER_FAILED}: it did not run "
                        f"on this case; {NOT_THE_CODE}", **shown, **common), "internal_error"
    said = f"\nchecker output:\n{check.output}" if check.output else ""
    if check.outcome == "passed":
        return TestCase(outcome=Outcome.passed, message=(said.lstrip("\n") or None),
                        **common), None
    if check.outcome == "wrong_answer":
        return TestCase(outcome=Outcome.failed, message="wrong answer (the io checker exited "
                        f"with code 1){said}", **shown, **common), None
    if check.outcome == "presentation_error":
        return TestCase(outcome=Outcome.failed, message="presentation error (the io checker "
                        f"exited with code 2; counted as wrong answer){said}", **shown,
                        **common), None
    return TestCase(outcome=Outcome.error, message=f"{CHECKER_FAILED}: it {check.detail}; "
                    f"{NOT_THE_CODE}{said}", **shown, **common), "internal_error"
