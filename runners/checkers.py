"""How an `io` test's stdout is judged (CONTRACT.md v1.1 `io_checker`, docs/CHECKERS.md).

Two families:

* built-in kinds, compared here by the worker, outside every sandbox: `exact` (trailing
  whitespace per line and trailing blank lines ignored), `tokens` (whitespace-separated tokens
  equal), `float` (tokens; numbers within `max(abs, rel*|expected|)`, the `float_tolerance` rule
  of `runners.calls.values`), `unordered_lines` (the multiset of normalised non-empty lines).
  Each comparison returns None or the first difference, with its position.
* `program`: the submitter's testlib-style checker, run by the pipeline as a second sandbox job
  in the Python runner's image, after the user's job (so no process of the user's program is
  left), one step per io case in a fresh directory. `checker_job` builds that job from the
  user's result, `read_checks` reads what came back, and `attach_checks` hands each verdict to
  `runners.report.io_case` (the one place io cases are judged) on the user's io step.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from codefeedback.models import IOChecker, Submission
from runners.base import Job, JobResult, Step, StepResult
from runners.calls.values import Tolerance, numbers_match

# ------------------------------------------------------------------------- built-in kinds
SHOW = 80  # characters of a token/line quoted in a message


def normalise_output(text: str) -> str:
    """Trailing whitespace per line and trailing blank lines are ignored (CONTRACT.md)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _q(text: str) -> str:
    """A token or line quoted for a message (repr-style, cut to SHOW characters)."""
    if len(text) > SHOW:
        text = text[: SHOW - 1] + "…"
    return repr(text)


def compare_exact(expected: str, actual: str) -> str | None:
    """None if equal after `normalise_output`; else the first differing line."""
    exp, act = normalise_output(expected), normalise_output(actual)
    if exp == act:
        return None
    el, al = exp.split("\n") if exp else [], act.split("\n") if act else []
    for i, (e, a) in enumerate(zip(el, al, strict=False), start=1):
        if e != a:
            col = next((j for j, (x, y) in enumerate(zip(e, a, strict=False), start=1)
                        if x != y),
                       min(len(e), len(a)) + 1)
            return f"line {i}, column {col}: expected {_q(e)}, got {_q(a)}"
    if len(al) < len(el):
        return (f"the output has {len(al)} line(s), {len(el)} expected; line {len(al) + 1} "
                f"should be {_q(el[len(al)])}")
    return (f"the output has {len(al)} line(s), {len(el)} expected; unexpected line "
            f"{len(el) + 1}: {_q(al[len(el)])}")


def tokens(text: str) -> list[tuple[int, int, str]]:
    """(line, index in line, token) of every whitespace-separated token, 1-based."""
    out = []
    for ln, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        for ti, tok in enumerate(line.split(), start=1):
            out.append((ln, ti, tok))
    return out


def _where(n: int, tok: tuple[int, int, str]) -> str:
    return f"token {n} (line {tok[0]}, token {tok[1]} of the line)"


def _compare_token_lists(expected: str, actual: str,
                         same: Callable[[str, str], str | None]) -> str | None:
    et, at = tokens(expected), tokens(actual)
    for n, (e, a) in enumerate(zip(et, at, strict=False), start=1):
        why = same(e[2], a[2])
        if why is not None:
            return f"{_where(n, a)}: {why}"
    if len(at) < len(et):
        nxt = et[len(at)]
        return (f"the output has {len(at)} token(s), {len(et)} expected; it ends before "
                f"expected token {len(at) + 1} {_q(nxt[2])} (line {nxt[0]} of the expected "
                f"output)")
    if len(at) > len(et):
        extra = at[len(et)]
        return (f"the output has {len(at)} token(s), {len(et)} expected; unexpected "
                f"{_where(len(et) + 1, extra)}: {_q(extra[2])}")
    return None


def compare_tokens(expected: str, actual: str) -> str | None:
    """None if the whitespace-separated tokens are equal; else the first differing token."""
    return _compare_token_lists(
        expected, actual, lambda e, a: None if e == a else f"expected {_q(e)}, got {_q(a)}")


# A number token: decimal integer or float, optional exponent, or nan/inf/infinity (any case).
# Stricter than float(): no underscores, no hex, no surrounding spaces.
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|"
                    r"(?i:nan|inf|infinity))")
INTEGER = re.compile(r"[+-]?\d+")


def parse_number(token: str) -> int | float | None:
    """The number a token spells (integers stay exact), or None if it is not one."""
    if not NUMBER.fullmatch(token):
        return None
    if INTEGER.fullmatch(token):
        return int(token)
    try:
        return float(token)
    except (ValueError, OverflowError):
        return None


def compare_floats(expected: str, actual: str, rel: float, abs_: float) -> str | None:
    """Tokens; where both parse as numbers, |a-b| <= max(abs, rel*|expected|) (NaN matches
    only NaN), other tokens exactly."""
    tol = Tolerance(rel=rel, abs=abs_)

    def same(e: str, a: str) -> str | None:
        ev, av = parse_number(e), parse_number(a)
        if ev is not None and av is not None:
            if numbers_match(ev, av, tol):
                return None
            bound = _bound(ev, tol)
            return (f"expected {_q(e)}, got {_q(a)} (allowed difference {bound:g}: "
                    f"max(abs={tol.abs:g}, rel={tol.rel:g} * |expected|))")
        if e == a:
            return None
        if ev is not None:
            return f"expected the number {_q(e)}, got {_q(a)}"
        return f"expected {_q(e)}, got {_q(a)}"

    return _compare_token_lists(expected, actual, same)


def _bound(v: int | float, tol: Tolerance) -> float:
    try:
        e = abs(float(v))
    except OverflowError:
        return tol.abs
    if math.isnan(e) or math.isinf(e):
        return 0.0
    return max(tol.abs, tol.rel * e)


def compare_unordered_lines(expected: str, actual: str) -> str | None:
    """None if the multisets of normalised non-empty lines are equal; else what differs."""
    def lines(text: str) -> list[tuple[int, str]]:
        return [(i, ln.rstrip()) for i, ln in
                enumerate(text.replace("\r\n", "\n").split("\n"), start=1) if ln.strip()]

    el, al = lines(expected), lines(actual)
    ec, ac = Counter(t for _, t in el), Counter(t for _, t in al)
    if ec == ac:
        return None
    parts = []
    extra = ac - ec
    missing = ec - ac
    if extra:
        # the first output line that is one too many (line numbers of the output)
        seen: Counter[str] = Counter()
        for i, text in al:
            seen[text] += 1
            if seen[text] > ec[text]:
                more = sum(extra.values()) - 1
                parts.append(f"unexpected output line {i}: {_q(text)}"
                             + (f" (and {more} more unexpected line(s))" if more else ""))
                break
    if missing:
        seen = Counter()
        for i, text in el:
            seen[text] += 1
            if seen[text] > ac[text]:
                more = sum(missing.values()) - 1
                parts.append(f"missing expected line {i}: {_q(text)}"
                             + (f" (and {more} more missing line(s))" if more else ""))
                break
    return (f"the lines differ as a multiset ({len(al)} non-empty line(s), {len(el)} "
            f"expected): " + "; ".join(parts))


def compare_output(expected: str, actual: str, checker: IOChecker | None) -> str | None:
    """A built-in comparison by `checker.kind` (default `exact`): None = same."""
    kind = checker.kind if checker is not None else "exact"
    if kind == "tokens":
        return compare_tokens(expected, actual)
    if kind == "float":
        assert checker is not None
        return compare_floats(expected, actual, checker.rel, checker.abs)
    if kind == "unordered_lines":
        return compare_unordered_lines(expected, actual)
    if kind == "exact":
        return compare_exact(expected, actual)
    raise ValueError(f"{kind!r} is not a built-in io comparison")


# ------------------------------------------------------------------------ program checkers
CHECKER_LANGUAGES = ("python",)
CHECKER_FILE = "checker.py"  # /work/checker.py
CASE_DIR = "case-{}"  # /work/case-<i>/ (i = the io case's index)
INPUT, OUTPUT, ANSWER = "input.txt", "output.txt", "answer.txt"
IO_STEP = "io-{}"  # the runners' step id of io case i
CHECK_STEP = "check-{}"
CHECKER_MEMORY_MB = 512  # the checker's own memory limit (not the user's)
CHECKER_OUTPUT_KB = 64
CRASH_EXIT = 3  # an uncaught exception in the checker (testlib's "fail")
SHOW_OUTPUT = 1000  # characters of the checker's stdout/stderr kept in a message
WORKDIR = "/work"

# Runs /work/checker.py as __main__ with sys.argv = [checker, input, output, answer]; an uncaught
# exception (which CPython would turn into exit 1, i.e. "wrong answer") exits CRASH_EXIT instead.
RUN_CHECKER = (
    "import runpy, sys, traceback\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "except SystemExit:\n"
    "    raise\n"
    "except BaseException as exc:\n"
    "    tb = exc.__traceback__\n"
    "    while tb is not None and tb.tb_frame.f_code.co_filename != sys.argv[0]:\n"
    "        tb = tb.tb_next\n"
    "    traceback.print_exception(type(exc), exc, tb or exc.__traceback__)\n"
    f"    sys.exit({CRASH_EXIT})\n"
)


@dataclass
class CheckerStep(Step):
    """A step that starts in its own directory (the agent honours `cwd`)."""

    cwd: str | None = None


@dataclass
class CheckerRun:
    """What the program checker said about one io case."""

    outcome: str  # passed | wrong_answer | presentation_error | failed (the checker failed)
    detail: str = ""  # exit code / signal / why it did not run
    output: str = ""  # the checker's stdout + stderr, capped

    @property
    def checker_failed(self) -> bool:
        return self.outcome == "failed"


@dataclass
class CheckedStep(StepResult):
    """A user's io step together with the program checker's verdict on its output."""

    check: CheckerRun | None = None


def uses_program(sub: Submission) -> bool:
    t = sub.tests
    return t is not None and t.io is not None and t.io_checker is not None \
        and t.io_checker.kind == "program"


def check_submission(sub: Submission) -> str | None:
    """Why this submission's io_checker cannot be run (a 422 message), or None."""
    if not uses_program(sub):
        return None
    assert sub.tests is not None and sub.tests.io_checker is not None
    program = sub.tests.io_checker.program
    assert program is not None
    lang = program.language.strip().lower()
    if lang not in CHECKER_LANGUAGES and lang not in ("py", "python3"):
        return (f"io_checker.program.language {program.language!r} is not supported: checker "
                f"programs run in the Python runner's image and must be written in "
                f"{', '.join(CHECKER_LANGUAGES)} (standard library only)")
    return None


def checker_job(sub: Submission, result: JobResult, tool_time_s: float) -> Job | None:
    """The sandbox job that runs the submitter's checker on every io case whose program ran and
    exited 0 (None when there is no such case or no program checker)."""
    if not uses_program(sub) or result.error:
        return None
    from runners.registry import resolve

    tests = sub.tests
    assert tests is not None and tests.io is not None and tests.io_checker is not None
    assert tests.io_checker.program is not None
    files = {CHECKER_FILE: tests.io_checker.program.code}
    steps: list[Step] = []
    for i, case in enumerate(tests.io):
        step = result.steps.get(IO_STEP.format(i))
        if step is None or not step.succeeded:
            continue
        folder = CASE_DIR.format(i)
        files[f"{folder}/{INPUT}"] = case.stdin
        files[f"{folder}/{OUTPUT}"] = step.stdout
        files[f"{folder}/{ANSWER}"] = case.stdout
        steps.append(CheckerStep(
            CHECK_STEP.format(i),
            argv=["python3", "-I", "-B", "-c", RUN_CHECKER, f"{WORKDIR}/{CHECKER_FILE}",
                  INPUT, OUTPUT, ANSWER],
            cwd=f"{WORKDIR}/{folder}", time_s=tool_time_s, memory_mb=CHECKER_MEMORY_MB,
            output_kb=CHECKER_OUTPUT_KB, user=True))
    if not steps:
        return None
    python = resolve("python")
    assert python is not None
    return Job(image=python.image, files=files, steps=steps, memory_mb=CHECKER_MEMORY_MB,
               time_s=tool_time_s)


def _output(step: StepResult) -> str:
    parts = []
    if step.stdout.strip():
        parts.append(step.stdout.strip())
    if step.stderr.strip():
        parts.append(step.stderr.strip())
    text = "\n".join(parts)
    return text if len(text) <= SHOW_OUTPUT else "…" + text[-(SHOW_OUTPUT - 1):]


def read_check(step: StepResult, tool_time_s: float) -> CheckerRun:
    """One checker step -> its verdict (testlib exit codes; anything else: the checker failed)."""
    out = _output(step)
    if step.status == "ok":
        if step.exit_code == 0:
            return CheckerRun("passed", "exit code 0", out)
        if step.exit_code == 1:
            return CheckerRun("wrong_answer", "exit code 1", out)
        if step.exit_code == 2:
            return CheckerRun("presentation_error", "exit code 2", out)
        if step.exit_code == CRASH_EXIT and "Traceback (most recent call last)" in step.stderr:
            return CheckerRun("failed", "raised an exception", out)
        return CheckerRun("failed", f"exited with code {step.exit_code}", out)
    why = {
        "timeout": f"did not finish within the service's time limit ({tool_time_s:g} s)",
        "oom": f"ran out of memory (its limit is {CHECKER_MEMORY_MB} MiB)",
        "output_limit": f"wrote more than {CHECKER_OUTPUT_KB} KiB of output",
        "signaled": f"was killed by signal {step.signal}",
    }.get(step.status)
    if why is None:
        why = "did not run" + (f" ({step.message})" if step.message else f" ({step.status})")
    return CheckerRun("failed", why, out)


def read_checks(job: Job, result: JobResult, tool_time_s: float) -> dict[int, CheckerRun]:
    """Every checker step of `job` -> its verdict, keyed by io case index."""
    checks = {}
    for step in job.steps:
        i = int(step.id.rsplit("-", 1)[1])
        if result.error:
            checks[i] = CheckerRun("failed", f"could not run: {result.error}")
        elif step.id not in result.steps and result.lost:
            checks[i] = CheckerRun("failed", f"did not run (the checker job was lost: "
                                             f"{result.lost})")
        else:
            checks[i] = read_check(result.step(step.id), tool_time_s)
    return checks


def attach_checks(result: JobResult, checks: dict[int, CheckerRun]) -> JobResult:
    """A copy of the user's result whose io steps carry the checker's verdicts (`CheckedStep`),
    so `io_case` judges them; io steps without a verdict carry `check=None`."""
    steps = dict(result.steps)
    for sid, step in result.steps.items():
        if not sid.startswith("io-") or not sid[3:].isdigit():
            continue
        data = {f.name: getattr(step, f.name) for f in fields(StepResult)}
        steps[sid] = CheckedStep(**data, check=checks.get(int(sid[3:])))
    return replace(result, steps=steps)


__all__ = [
    "CheckedStep", "CheckerRun", "CheckerStep", "attach_checks", "check_submission",
    "checker_job", "compare_exact", "compare_floats", "compare_output", "compare_tokens",
    "compare_unordered_lines", "normalise_output", "parse_number", "read_check", "read_checks",
    "tokens", "uses_program",
]
