"""One verdict from everything a job produced, by the precedence in CONTRACT.md.

internal_error > compile_error > time_limit > memory_limit > output_limit > runtime_error >
wrong_answer > static_error > accepted. `accepted` needs every expected test to have passed.
"""

from __future__ import annotations

from collections.abc import Iterable

from codefeedback.models import (
    VERDICT_PRECEDENCE,
    Outcome,
    Severity,
    StaticResult,
    TestCase,
    Verdict,
)

OUTCOME_SIGNAL = {
    Outcome.failed: Verdict.wrong_answer,
    Outcome.error: Verdict.runtime_error,
    Outcome.timeout: Verdict.time_limit,
    Outcome.skipped: Verdict.wrong_answer,  # a skipped test blocks `accepted`
}


def decide(
    *,
    internal_error: bool = False,
    compile_ok: bool = True,
    cases: list[TestCase] | None = None,
    signals: Iterable[str] = (),
    static: StaticResult | None = None,
) -> Verdict:
    """The first verdict, in precedence order, that anything in the job calls for."""
    raised: set[Verdict] = {Verdict(s) for s in signals}
    if internal_error:
        raised.add(Verdict.internal_error)
    if not compile_ok:
        raised.add(Verdict.compile_error)
    if cases is not None:
        if not cases:
            raised.add(Verdict.runtime_error)  # tests were given but none reported: fail closed
        for case in cases:
            if case.outcome != Outcome.passed:
                raised.add(OUTCOME_SIGNAL[case.outcome])
    if static is not None and any(d.severity == Severity.error for d in static.diagnostics):
        raised.add(Verdict.static_error)
    for verdict in VERDICT_PRECEDENCE:
        if verdict in raised:
            return verdict
    return Verdict.accepted
