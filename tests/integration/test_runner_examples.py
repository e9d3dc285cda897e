"""Every runner's shipped examples get the verdict their file name says, in the real sandbox."""

from __future__ import annotations

import pytest

from codefeedback.models import Submission
from runners.pipeline import evaluate
from runners.registry import all_runners

pytestmark = [pytest.mark.docker]

CASES = [(lang, name, ex) for lang, runner in all_runners().items()
         for name, ex in runner.examples().items()]


@pytest.mark.parametrize(("language", "name", "example"), CASES,
                         ids=[f"{lang}-{name}" for lang, name, _ in CASES])
def test_example_verdict(sandbox, language: str, name: str, example: dict) -> None:
    fb = evaluate(Submission(language=language, **example), sandbox)
    expected = name.split(".")[0]
    assert fb.verdict.value == expected, fb.feedback
    assert fb.feedback.startswith(f"Verdict: {expected}")
    if expected == "compile_error":
        assert fb.compile is not None and not fb.compile.ok
        assert any(d.line for d in fb.compile.diagnostics), fb.compile
    if expected != "compile_error" and example.get("tests"):
        assert fb.tests is not None and fb.tests.total >= 1
    if expected == "accepted":
        assert fb.tests is None or fb.tests.passed == fb.tests.total


def test_every_runner_ships_the_four_examples() -> None:
    for runner in all_runners().values():
        verdicts = {name.split(".")[0] for name in runner.examples()}
        assert {"accepted", "wrong_answer", "compile_error", "runtime_error"} <= verdicts, runner.id
