"""Render a result as short, precise text for an LLM: what failed, where, expected vs actual.

Only what helps a model fix the code: the verdict in one line, each error with file:line:col and
the offending source line, each failing test with expected vs actual, and the tail of the
program's output when it crashed. Style noise (info findings) is left out; the text is capped.
"""

from __future__ import annotations

from codefeedback.models import Diagnostic, Feedback, Outcome, Severity, Verdict

SUMMARY = {
    Verdict.accepted: "All checks passed.",
    Verdict.static_error: "The tests pass, but static analysis found errors.",
    Verdict.wrong_answer: "The code runs, but some tests fail.",
    Verdict.runtime_error: "The program crashed or exited early.",
    Verdict.output_limit: "The program printed more output than allowed.",
    Verdict.memory_limit: "The program used more memory than allowed.",
    Verdict.time_limit: "The program ran longer than the time limit.",
    Verdict.compile_error: "The code does not parse or compile; no tests were run.",
    Verdict.internal_error: "The service failed to evaluate this submission (not the code's fault).",
}
MAX_DIAGNOSTICS = 10
MAX_CASES = 8


def render(fb: Feedback, sources: dict[str, str], max_chars: int = 4000,
           limits: dict | None = None) -> str:
    """The feedback text for one result; `sources` maps file names to their content."""
    parts: list[str] = [f"Verdict: {fb.verdict.value}. {SUMMARY[fb.verdict]}"]
    if fb.verdict == Verdict.internal_error and fb.reason:
        parts.append(f"Reason: {fb.reason}")
    if fb.tests is not None and fb.tests.total:
        t = fb.tests
        parts[0] += f" Tests: {t.passed}/{t.total} passed."
    if fb.verdict == Verdict.time_limit and limits:
        parts.append(f"Time limit: {limits.get('time_s')} s per run.")
    if fb.verdict == Verdict.memory_limit and limits:
        parts.append(f"Memory limit: {limits.get('memory_mb')} MB.")
    if fb.compile is not None and not fb.compile.ok:
        parts.append(_diagnostics("Compile errors", fb.compile.diagnostics, sources, errors_only=True)
                     or ("Compile output:\n" + _tail(fb.compile.output, 1500)))
    if fb.tests is not None:
        failing = [c for c in fb.tests.cases if c.outcome != Outcome.passed]
        if failing:
            lines = ["Failing tests:"]
            for case in failing[:MAX_CASES]:
                lines.append(_case(case, sources))
            if len(failing) > MAX_CASES:
                lines.append(f"... and {len(failing) - MAX_CASES} more failing tests")
            parts.append("\n".join(lines))
    if fb.run is not None and fb.verdict not in (Verdict.accepted, Verdict.compile_error):
        out = []
        if fb.run.exit_code not in (None, 0):
            out.append(f"Exit code: {fb.run.exit_code}")
        if fb.run.signal:
            out.append(f"Killed by signal {fb.run.signal}")
        if fb.run.stderr.strip():
            out.append("stderr (tail):\n" + _tail(fb.run.stderr, 1200))
        if fb.run.stdout.strip():
            out.append("stdout (tail):\n" + _tail(fb.run.stdout, 600))
        if out:
            parts.append("\n".join(out))
    if fb.static is not None and fb.verdict != Verdict.compile_error:
        block = _diagnostics("Static analysis", fb.static.diagnostics, sources)
        if block:
            parts.append(block)
    text = "\n\n".join(p for p in parts if p)
    if len(text) > max_chars:
        text = text[: max_chars - 20].rstrip() + "\n[... truncated]"
    return text


def _diagnostics(title: str, diags: list[Diagnostic], sources: dict[str, str],
                 errors_only: bool = False) -> str:
    rank = {Severity.error: 0, Severity.warning: 1, Severity.info: 2}
    shown = [d for d in diags if d.severity != Severity.info]
    if errors_only and any(d.severity == Severity.error for d in shown):
        shown = [d for d in shown if d.severity == Severity.error]
    shown.sort(key=lambda d: (rank[d.severity], d.line or 0, d.column or 0))
    seen: set[tuple] = set()
    lines = [f"{title}:"]
    count = 0
    for d in shown:
        key = (d.file, d.line, d.severity, d.message.lower()[:40])
        if key in seen:
            continue
        seen.add(key)
        count += 1
        if count > MAX_DIAGNOSTICS:
            lines.append(f"... and more ({len(shown)} findings in all)")
            break
        where = ":".join(str(x) for x in (d.file or "?", d.line, d.column) if x is not None)
        code = f" {d.code}" if d.code else ""
        lines.append(f"{where}: {d.severity.value}{code}: {d.message} [{d.tool}]")
        src = _source_line(sources, d.file, d.line)
        if src is not None:
            lines.append(f"    {d.line} | {src}")
    return "\n".join(lines) if count else ""


def _case(case, sources: dict[str, str]) -> str:
    head = f"- {case.name}"
    if case.line:
        head += f" (line {case.line})"
    head += f": {case.outcome.value}"
    lines = [head]
    if case.expected is not None or case.actual is not None:
        lines.append(f"  expected: {_clip(case.expected)}")
        lines.append(f"  actual:   {_clip(case.actual)}")
    if case.message:
        lines.append("  " + _tail(case.message, 800).replace("\n", "\n  "))
    return "\n".join(lines)


def _source_line(sources: dict[str, str], file: str | None, line: int | None) -> str | None:
    if not file or not line or file not in sources:
        return None
    lines = sources[file].splitlines()
    if 1 <= line <= len(lines):
        return lines[line - 1].rstrip()[:200]
    return None


def _clip(text: str | None, limit: int = 300) -> str:
    if text is None:
        return "(none)"
    return text if len(text) <= limit else text[:limit] + "…"


def _tail(text: str, limit: int) -> str:
    text = text.rstrip()
    return text if len(text) <= limit else "…" + text[-limit:]
