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
from runners.calls.signature import SignatureError
from runners.checkers import (
    CheckerRun,
    attach_checks,
    check_submission,
    checker_job,
    read_checks,
    uses_program,
)
from runners.registry import resolve
from runners.render import render
from runners.report import CHECKER_FAILED
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
    try:
        runner.check_calls(sub)
    except SignatureError as exc:
        raise SubmissionError("unsupported_signature", str(exc)) from None
    problem = check_submission(sub)
    if problem:
        raise SubmissionError("unsupported_checker_language", problem)
    return runner


def evaluate(sub: Submission, sandbox: Sandbox, tools: ToolLimits | None = None,
             tag: str | None = None) -> Feedback:
    """Run every check of one submission in one sandbox job and return the feedback.

    With a `program` io checker, a second job follows in the Python runner's image: the
    submitter's checker on every io case whose program exited 0 (runners/checkers.py)."""
    runner = check(sub)
    tools = tools or ToolLimits()
    job = runner.build_job(sub, tools.time_s)
    job.tag = tag
    result = sandbox.run(job)
    checks = None
    if uses_program(sub):
        checks = {}
        judge = checker_job(sub, result, tools.time_s)
        if judge is not None:
            judge.tag = tag
            checks = read_checks(judge, sandbox.run(judge), tools.time_s)
    return assemble(runner, sub, job, result, checks)


def assemble(runner: Runner, sub: Submission, job: Job, result: JobResult,
             checks: dict[int, CheckerRun] | None = None) -> Feedback:
    """Runner interpretation + shared verdict + rendered text.

    `checks` are a program io checker's verdicts by io case index (from `evaluate`); without
    them such a checker's cases are `internal_error`. Other io kinds need nothing but `result`.
    """
    env = Environment(image=result.image or runner.image, toolchain=runner.toolchain,
                      limits=sub.limits.model_dump())
    if result.error:
        fb = Feedback(verdict=Verdict.internal_error, environment=env, reason=result.error)
        fb.feedback = render(fb, {}, sub.feedback_max_chars)
        return fb
    if uses_program(sub):
        result = attach_checks(result, checks or {})
    interp: Interpretation = runner.interpret(sub, job, result)
    if uses_program(sub) and "internal_error" in interp.signals and not interp.internal_error:
        interp.internal_error = checker_failure(interp)
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


def checker_failure(interp: Interpretation) -> str:
    """The reason of an internal_error caused by the submitter's io checker program."""
    failed = [c for c in interp.cases or [] if c.kind == "io" and c.outcome == Outcome.error
              and (c.message or "").startswith(CHECKER_FAILED)]
    names = ", ".join(c.name for c in failed[:5]) + (" …" if len(failed) > 5 else "")
    what = ""
    if failed:
        lines = [ln.strip() for ln in (failed[0].message or "").splitlines() if ln.strip()]
        what = lines[0].removeprefix(CHECKER_FAILED + ": ").split("; ", 1)[0]
        if len(lines) > 2:  # the last line of its output: usually the exception
            what += f" ({lines[-1][:300]})"
    return (f"the io checker (tests.io_checker.program) failed on {names or 'an io case'}"
            f"{': ' + what if what else ''}; the submitter's checker failed, not the submitted "
            f"code, so the output could not be judged")
