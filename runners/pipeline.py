"""`evaluate(submission) -> Feedback`: the whole evaluation as a plain function.

Nothing here knows about HTTP or Celery: the worker task, the CLI and the tests call it alike.
The runner describes the job, the sandbox executes it, the runner reads the result; the verdict
and the feedback text are the same for every language.
"""

from __future__ import annotations

from dataclasses import dataclass

from codefeedback.models import (
    Environment,
    Feedback,
    Outcome,
    Submission,
    TestsResult,
    Verdict,
)
from runners.base import Interpretation, Job, JobResult, Runner, read_integrity
from runners.registry import resolve
from runners.render import render
from runners.sandbox.base import Sandbox
from runners.verdict import decide

LOST_SIGNAL = {"oom": "memory_limit", "timeout": "time_limit", "output_limit": "output_limit",
               "killed": "runtime_error"}


class SubmissionError(ValueError):
    """The submission cannot be evaluated as asked (an API 422, never an internal error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ToolLimits:
    """The service's own limits for analysers and builds (not the user's)."""

    time_s: float = 30.0


def check(sub: Submission) -> Runner:
    """Everything about a submission that depends on its language; raises SubmissionError."""
    runner = resolve(sub.language)
    if runner is None:
        from runners.registry import all_runners

        known = ", ".join(all_runners())
        raise SubmissionError("unknown_language",
                              f"unknown language {sub.language!r}; known languages: {known}")
    if sub.tests is not None:
        bad = [k for k in sub.tests.kinds() if k not in runner.test_kinds]
        if bad:
            raise SubmissionError(
                "unsupported_test_kind",
                f"language {runner.id!r} does not support test kind(s) {', '.join(bad)}; "
                f"it supports: {', '.join(runner.test_kinds)}")
    problem = runner.check_files(sub)
    if problem:
        raise SubmissionError("reserved_file_name", problem)
    return runner


def evaluate(sub: Submission, sandbox: Sandbox, tools: ToolLimits | None = None,
             tag: str | None = None) -> Feedback:
    """Run every check of one submission in one sandbox job and return the feedback."""
    runner = check(sub)
    job = runner.build_job(sub, (tools or ToolLimits()).time_s)
    job.tag = tag
    result = sandbox.run(job)
    return assemble(runner, sub, job, result)


def assemble(runner: Runner, sub: Submission, job: Job, result: JobResult) -> Feedback:
    """Runner interpretation + shared verdict + rendered text."""
    env = Environment(image=result.image or runner.image, toolchain=runner.toolchain,
                      limits=sub.limits.model_dump())
    if result.error:
        fb = Feedback(verdict=Verdict.internal_error, environment=env, reason=result.error)
        fb.feedback = render(fb, {}, sub.feedback_max_chars)
        return fb
    interp: Interpretation = runner.interpret(sub, job, result)
    signals = set(interp.signals)
    if result.lost:
        signals.add(LOST_SIGNAL.get(result.lost, "runtime_error"))
    tests = None
    if interp.cases is not None:
        cases = interp.cases
        tests = TestsResult(
            total=len(cases),
            passed=sum(c.outcome == Outcome.passed for c in cases),
            failed=sum(c.outcome in (Outcome.failed, Outcome.timeout) for c in cases),
            errors=sum(c.outcome in (Outcome.error, Outcome.skipped) for c in cases),
            cases=cases,
        )
    compile_ok = interp.compile is None or interp.compile.ok
    verdict = decide(
        internal_error=interp.internal_error is not None,
        compile_ok=compile_ok,
        cases=interp.cases if compile_ok else None,
        signals=signals if compile_ok else (),
        static=interp.static,
    )
    fb = Feedback(verdict=verdict, static=interp.static, compile=interp.compile, tests=tests,
                  run=interp.run, environment=env, reason=interp.internal_error,
                  integrity=interp.integrity or read_integrity(result, runner.files.get(
                      "solution", "")))
    sources = {name: text for name, text in job.files.items() if name in runner.files.values()}
    fb.feedback = render(fb, sources, sub.feedback_max_chars, sub.limits.model_dump())
    return fb
