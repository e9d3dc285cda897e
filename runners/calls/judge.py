"""Read a calls step's report into one TESTCASE per case, comparing values outside the sandbox.

The in-sandbox side of every language speaks these lines on the private channel (each with the
step's nonce): `start {index}`, then `call {index, value}` (the return value as JSON text),
`call {index, refused}` (not a plain JSON value: the message names the type), or
`call {index, error, error_type}` (it raised, crashed or tried to exit); `load_error {message}`
when the solution could not even be loaded; `compile_error`; `done` at the end. The worker knows
the cases (it never asks the sandbox which cases exist) and their expected values (never sent).
A case without its own result line, a second result for a case, or a run without `done` fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codefeedback.models import Outcome, TestCase
from runners.base import StepResult
from runners.calls.literals import Literals
from runners.calls.values import EXACT, Tolerance, compare, decode
from runners.report import TestRun, compile_diagnostic, events, step_signal, stop_reason


@dataclass
class JudgedCase:
    """One case as the worker keeps it: the expected value stays here."""

    name: str
    expected: Any
    call: str  # `add(1, 2)` in the language's syntax, for the message
    line: int | None = None
    tolerance: Tolerance = EXACT


def read_calls_step(step: StepResult, nonce: str, kind: str, cases: list[JudgedCase],
                    lit: Literals, memory_markers: tuple[str, ...] = (),
                    file: str | None = None) -> TestRun:
    run = TestRun()
    results: dict[int, list[dict[str, Any]]] = {}
    started: int | None = None
    load_error: dict[str, Any] | None = None
    done = False
    for ev in events(step, nonce):
        what = ev.get("event")
        index = ev.get("index")
        if what == "start" and _index(index, cases):
            started = index
        elif what == "call" and _index(index, cases):
            results.setdefault(index, []).append(ev)
            started = None
        elif what == "load_error" and load_error is None:
            load_error = ev
        elif what == "compile_error":
            run.compile_errors.append(compile_diagnostic(ev, file))
        elif what == "done":
            done = True
    if run.compile_errors:
        return run
    signal = step_signal(step, memory_markers)
    if signal:
        run.signals.add(signal)
    stopped = stop_reason(step, signal)
    for i, case in enumerate(cases):
        base = {"name": case.name, "kind": kind, "line": case.line,
                "expected": lit.render(case.expected)[:2000] if _renderable(case.expected) else None}
        got = results.get(i)
        if got and len(got) == 1:
            run.cases.append(_judge(case, got[0], lit, base))
        elif got:
            run.cases.append(TestCase(outcome=Outcome.error, message=(
                f"{len(got)} results arrived for this one call (something else wrote on the "
                "harness's channel)"), **base))
        elif load_error is not None:
            message = str(load_error.get("message", "the solution could not be loaded"))
            run.cases.append(TestCase(outcome=Outcome.error, message=message[:3000], **base))
        elif started == i and signal == "time_limit":
            run.cases.append(TestCase(outcome=Outcome.timeout,
                                      message=f"time limit exceeded in {case.call}", **base))
        elif started == i:
            run.cases.append(TestCase(outcome=Outcome.error,
                                      message=f"{case.call} did not return: {stopped}", **base))
        else:
            run.cases.append(TestCase(outcome=Outcome.error,
                                      message=f"{case.call} was not run: {stopped}", **base))
    if not done and all(c.outcome == Outcome.passed for c in run.cases):
        run.cases.append(TestCase(name=f"{kind}:completion", outcome=Outcome.error, kind=kind,
                                  message=f"the test run did not complete: {stopped}"))
    if not done and not signal and step.status in ("signaled", "ok"):
        run.signals.add("runtime_error")
    for case in run.cases:
        if (case.outcome == Outcome.error and memory_markers
                and any(m in (case.message or "") for m in memory_markers)):
            run.signals.add("memory_limit")
    return run


def _judge(case: JudgedCase, ev: dict[str, Any], lit: Literals, base: dict[str, Any]) -> TestCase:
    extra = {"duration_ms": _int(ev.get("duration_ms")),
             "stdout": _text(ev.get("stdout")), "stderr": _text(ev.get("stderr"))}
    if "error" in ev:
        kind = str(ev.get("error_type") or "error")
        return TestCase(outcome=Outcome.error, message=f"{case.call} raised {kind}: "
                        f"{_text(ev.get('error'), 3000)}", **base, **extra)
    if "refused" in ev:
        return TestCase(outcome=Outcome.failed, message=f"{case.call} returned "
                        f"{_text(ev.get('refused'), 1000)}", **base, **extra)
    ok, value = decode(str(ev.get("value", "")))
    if not ok:
        return TestCase(outcome=Outcome.error, message="the return value could not be read",
                        **base, **extra)
    actual = (lit.render(value) if _renderable(value) else str(value))[:2000]
    why = compare(case.expected, value, case.tolerance)
    if why is None:
        return TestCase(outcome=Outcome.passed, actual=actual, **base, **extra)
    return TestCase(outcome=Outcome.failed, actual=actual,
                    message=f"{case.call} returned a wrong value: {why}", **base, **extra)


def _renderable(v: Any) -> bool:
    try:
        Literals().render(v)
        return True
    except (TypeError, RecursionError, ValueError):
        return False


def _index(v: Any, cases: list[JudgedCase]) -> bool:
    return type(v) is int and 0 <= v < len(cases)


def _int(v: Any) -> int | None:
    return v if type(v) is int else None


def _text(v: Any, limit: int = 2000) -> str | None:
    if v is None:
        return None
    s = v if isinstance(v, str) else str(v)
    return s[:limit]
