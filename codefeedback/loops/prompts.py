"""Every prompt the loops send, built from the problem, the code and the service's feedback.

Kept in one module so that what the model sees can be read (and unit-tested) in one place. The
revision prompt follows Llama 3 §4.3.1: the problem, the faulty code, and the execution feedback
(verdict, errors, failing tests with expected vs actual, stdout, stderr, exit code).
"""

from __future__ import annotations

from codefeedback.loops.llm import Message
from codefeedback.models import LanguageInfo, SubmissionResource, Tests

SYSTEM = ("You are an expert programmer. Answer with complete, runnable code in fenced Markdown "
          "blocks tagged with the language. Do not include example usage or a main program "
          "unless asked.")

LANG_NAMES = {"python": "Python", "c": "C", "cpp": "C++", "java": "Java", "javascript":
              "JavaScript", "typescript": "TypeScript", "go": "Go", "rust": "Rust"}

MAX_STREAM_CHARS = 1500
MAX_CODE_IN_PROMPT = 12000


def lang_name(language: str) -> str:
    return LANG_NAMES.get(language.lower(), language)


def _clip(text: str | None, limit: int) -> str:
    text = text or ""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} more characters]"


def fence(code: str, tag: str) -> str:
    ticks = "````" if "```" in code else "```"
    return f"{ticks}{tag}\n{code.rstrip()}\n{ticks}"


def tests_instruction(language: str, kind: str, info: LanguageInfo | None) -> str:
    """How to write tests the service can run, for the kind the language supports."""
    name = lang_name(language)
    if kind == "script":
        if language == "python":
            how = ("plain `assert` statements at top level (no test framework); they are "
                   "appended after your solution in the same file")
        else:
            how = (f"a complete {name} test program (for C: `int main(void)` using `assert` "
                   "from <assert.h>); it is appended after your solution in the same file, so "
                   "do not repeat the solution")
    elif kind == "unit":
        how = f"unit tests in {name}'s native test framework"
        if info and info.unit_tests:
            how += f" ({info.unit_tests})"
    else:
        how = f"{kind} tests"
    return f"Put the tests in a separate block tagged `{language} tests`: {how}."


def generation_messages(
    problem: str, language: str, *, write_tests: bool = False, test_kind: str = "script",
    info: LanguageInfo | None = None, system: str | None = SYSTEM,
) -> list[Message]:
    """Round 0: the problem, and (when none were given) a request for unit tests."""
    name = lang_name(language)
    parts = [problem.rstrip(), "", (f"Write the solution in {name} in one block tagged "
             f"`{language}`.")]
    if write_tests:
        parts.append("Also write unit tests that check the solution on typical and edge "
                     "cases, with exact expected values. " +
                     tests_instruction(language, test_kind, info))
    msgs: list[Message] = [{"role": "system", "content": system}] if system else []
    msgs.append({"role": "user", "content": "\n".join(parts)})
    return msgs


def render_feedback(res: SubmissionResource, max_chars: int = 4000) -> str:
    """The service's result as text for the model: verdict first, then the details.

    The service's own `feedback` text is already written for a model (verdict, failing cases with
    expected vs actual, diagnostics, exit code, output tails), so when it is there it is passed on
    as it is, led by a `Verdict:` line unless it starts with one. Only when the service sent no
    feedback are the structured parts (compiler diagnostics, failing cases, exit code, stdout,
    stderr) rendered here, so nothing reaches the model twice.
    """
    verdict = res.verdict.value if res.verdict else "unknown"
    head = f"Verdict: {verdict}"
    text = (res.feedback or "").strip()
    if text:
        return _clip(text if text.startswith(head) else f"{head}\n\n{text}", max_chars)
    lines = [head]
    diags = []
    for part in (res.compile, res.static):
        if part is not None:
            diags += [d for d in part.diagnostics if d.severity.value == "error"]
    if diags:
        lines += ["", "Errors:"]
        for d in diags[:20]:
            where = f"{d.file or ''}:{d.line or '?'}:{d.column or '?'}"
            lines.append(f"- {where} {d.tool} {d.code or ''} {d.message}".replace("  ", " "))
    if res.compile is not None and not res.compile.ok and res.compile.output:
        lines += ["", "Compiler output:", _clip(res.compile.output, MAX_STREAM_CHARS)]
    if res.tests is not None:
        t = res.tests
        lines += ["", (f"Tests: {t.passed}/{t.total} passed, {t.failed} failed, "
                      f"{t.errors} errors")]
        for case in [c for c in t.cases if c.outcome.value != "passed"][:10]:
            desc = f"- {case.name}: {case.outcome.value}"
            if case.line:
                desc += f" (line {case.line})"
            if case.expected is not None or case.actual is not None:
                desc += f"; expected {case.expected!s}, got {case.actual!s}"
            if case.message:
                desc += f"; {_clip(case.message, 500)}"
            lines.append(desc)
    if res.run is not None:
        r = res.run
        lines += ["", f"Exit code: {r.exit_code}" + (f" (signal {r.signal})" if r.signal else "")]
        if r.stdout.strip():
            lines += ["Stdout:", _clip(r.stdout, MAX_STREAM_CHARS)]
        if r.stderr.strip():
            lines += ["Stderr:", _clip(r.stderr, MAX_STREAM_CHARS)]
    return _clip("\n".join(lines), max_chars)


def revision_message(
    problem: str, language: str, code: str | None, feedback: str, *,
    tests_note: str | None = None,
) -> Message:
    """The user turn after a failure: problem, faulty code, feedback, and what to do."""
    name = lang_name(language)
    parts = ["Your solution did not pass.", "", "Problem:", problem.rstrip(), ""]
    if code is not None:
        parts += ["Your code:", fence(_clip(code, MAX_CODE_IN_PROMPT), language), ""]
    parts += ["Execution feedback:", feedback.rstrip(), ""]
    if tests_note:
        parts += [tests_note, ""]
    parts.append(f"Explain the cause briefly, then give the complete corrected {name} solution "
                 f"in one block tagged `{language}`.")
    return {"role": "user", "content": "\n".join(parts)}


def no_code_feedback(reason: str, language: str) -> str:
    return (f"No {lang_name(language)} code was found in your answer ({reason}). "
            f"Put the whole solution in a fenced block tagged `{language}`.")


def tests_to_text(tests: Tests) -> str:
    """Given tests as the model should see them (for edit detection and translation)."""
    parts = []
    if tests.script:
        parts.append(tests.script)
    if tests.unit:
        parts.append(tests.unit)
    if tests.io:
        parts += [f"stdin: {c.stdin!r} -> stdout: {c.stdout!r}" for c in tests.io]
    if tests.calls:
        parts += [f"{tests.calls.function}(*{c.args!r}) == {c.expected!r}"
                  for c in tests.calls.cases]
    return "\n".join(parts)


def translation_messages(
    source_code: str, source_language: str, target: str, *, problem: str | None = None,
    entry_point: str | None = None, system: str | None = SYSTEM,
) -> list[Message]:
    """Translate a reference solution; the function name must stay so tests can call it."""
    src, dst = lang_name(source_language), lang_name(target)
    parts = [f"Translate this {src} solution into idiomatic {dst}."]
    if problem:
        parts += ["", "The task it solves:", _clip(problem, 4000)]
    parts += ["", fence(source_code, source_language), ""]
    rules = [f"Keep the function name `{entry_point}`." if entry_point else
             "Keep the function names.",
             "Include every header/import the code needs.",
             "Do not write a main function or tests.",
             f"Answer with the code in one block tagged `{target}`."]
    parts += rules
    msgs: list[Message] = [{"role": "system", "content": system}] if system else []
    msgs.append({"role": "user", "content": "\n".join(parts)})
    return msgs


def test_translation_messages(
    source_tests: str, source_language: str, target: str, translated_code: str, *,
    kind: str, info: LanguageInfo | None = None, entry_point: str | None = None,
    system: str | None = SYSTEM,
) -> list[Message]:
    """Translate the tests too (when the service cannot render them from `calls`)."""
    src, dst = lang_name(source_language), lang_name(target)
    parts = [(f"Translate these {src} tests into {dst}. Keep every check with the same inputs "
             "and expected values; do not drop, weaken or merge checks."), "",
             fence(source_tests, source_language), "",
             f"They must test this {dst} code"
             + (f" (function `{entry_point}`)" if entry_point else "") + ":", "",
             fence(translated_code, target), "",
             tests_instruction(target, kind, info)]
    msgs: list[Message] = [{"role": "system", "content": system}] if system else []
    msgs.append({"role": "user", "content": "\n".join(parts)})
    return msgs
