"""Test-integrity guard: model-written or model-edited tests count as evidence only if they can
fail.

Three rules (issue 3, item 6):
1. the tests must fail against a stub of the function that returns a default value (tests that
   a stub passes check nothing);
2. they must not have fewer checks than the original (given tests, the previous version of the
   model's own tests, or the source tests being translated);
3. an edit of *given* tests is always flagged in the dialog record, accepted or not.

The stub is the model's own code with only the entry point's body replaced, so helpers, imports
and types still exist and the tests still build. Languages without a stub builder fail closed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from codefeedback.client import AsyncClient, CodefeedbackError
from codefeedback.models import Limits, Submission, Tests, Verdict

# A stub that makes the tests fail shows up as one of these.
FAILING = {Verdict.wrong_answer, Verdict.runtime_error, Verdict.time_limit,
           Verdict.memory_limit, Verdict.output_limit}


@dataclass
class GuardResult:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    checks: int = 0
    checks_original: int | None = None
    stub_verdict: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "tests accepted"


# ------------------------------------------------------------------------------ stubs
_PY_DEFAULTS = {"int": "0", "float": "0.0", "str": "''", "bool": "False", "list": "[]",
                "List": "[]", "dict": "{}", "Dict": "{}", "tuple": "()", "Tuple": "()",
                "set": "set()", "Set": "set()", "bytes": "b''"}


def _py_default(annotation: ast.expr | None) -> str:
    if annotation is None:
        return "None"
    base = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
    return _PY_DEFAULTS.get(name or "", "None")


def python_stub(code: str, entry_point: str) -> str | None:
    """The code with `entry_point`'s body replaced by `return <default for its return type>`."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            default = ast.parse(_py_default(node.returns), mode="eval").body
            node.body = [ast.Return(value=default)]
            return ast.unparse(tree) + "\n"
    return None


_C_FUNC = r"(?m)^(?P<head>[ \t]*(?P<ret>[A-Za-z_][\w \t\*]*?[\s\*]))\b{name}\s*\([^;{{}}]*\)\s*\{{"


def _match_brace(code: str, open_idx: int) -> int | None:
    """Index of the brace closing the one at `open_idx`, skipping strings and comments."""
    depth, i, n = 0, open_idx, len(code)
    while i < n:
        ch = code[i]
        if ch in "\"'":
            q = ch
            i += 1
            while i < n and code[i] != q:
                i += 2 if code[i] == "\\" else 1
        elif code.startswith("//", i):
            i = code.find("\n", i)
            if i < 0:
                return None
        elif code.startswith("/*", i):
            i = code.find("*/", i)
            if i < 0:
                return None
            i += 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def c_like_stub(code: str, entry_point: str) -> str | None:
    """C/C++-style stub: the body becomes `{ static T r; return r; }` (zero of any type)."""
    m = re.search(_C_FUNC.format(name=re.escape(entry_point)), code)
    if not m:
        return None
    ret = re.sub(r"\b(static|inline|extern|constexpr)\b", "", m.group("ret")).strip()
    open_idx = m.end() - 1
    close_idx = _match_brace(code, open_idx)
    if close_idx is None:
        return None
    body = " " if ret == "void" else f" static {ret} cf_stub_r; return cf_stub_r; "
    return code[:open_idx + 1] + body + code[close_idx:]


def make_stub(code: str, language: str, entry_point: str) -> str | None:
    lang = language.lower()
    if lang in ("python", "py", "python3"):
        return python_stub(code, entry_point)
    if lang in ("c", "cpp", "c++"):
        return c_like_stub(code, entry_point)
    return None


def python_entry_point(code: str) -> str | None:
    """First top-level function, when a problem names none."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node.name
    return None


# ---------------------------------------------------------------------------- counting
_GENERIC_CHECK = re.compile(
    r"\b(assert\w*|ASSERT_\w+|EXPECT_\w+|CHECK\w*|REQUIRE\w*|expect|check_eq)\s*!?\(")


def _is_python_check(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith("assert"))


def count_source_checks(source: str, language: str) -> int:
    """Syntactic checks in test source: Python asserts (and `self.assert*` calls), else
    assert-like calls. A check inside a loop counts once — what matters is not dropping any."""
    if language.lower() in ("python", "py", "python3"):
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return len(re.findall(r"\bassert\b", source))
        return sum(1 for node in ast.walk(tree) if _is_python_check(node))
    return len(_GENERIC_CHECK.findall(source))


def count_checks(tests: Tests | None, language: str) -> int:
    if tests is None:
        return 0
    n = 0
    if tests.script:
        n += count_source_checks(tests.script, language)
    if tests.unit:
        n += count_source_checks(tests.unit, language)
    if tests.io:
        n += len(tests.io)
    if tests.calls:
        n += len(tests.calls.cases)
    return n


# ------------------------------------------------------------------------------- guard
async def guard_tests(
    client: AsyncClient,
    *,
    language: str,
    code: str,
    tests: Tests,
    entry_point: str | None,
    original: Tests | None = None,
    original_language: str | None = None,
    min_checks: int | None = None,
    limits: Limits | None = None,
) -> GuardResult:
    """Apply the three rules; every failure is listed in `reasons` (fail closed)."""
    checks = count_checks(tests, language)
    result = GuardResult(ok=True, checks=checks)
    if original is not None:
        result.checks_original = count_checks(original, original_language or language)
    elif min_checks is not None:
        result.checks_original = min_checks
    if checks == 0:
        result.reasons.append("the tests contain no checks")
    if result.checks_original is not None and checks < result.checks_original:
        result.reasons.append(f"the tests have fewer checks ({checks}) than the original "
                              f"({result.checks_original})")
    entry = entry_point or (python_entry_point(code) if language == "python" else None)
    stub = make_stub(code, language, entry) if entry else None
    if stub is None:
        result.reasons.append(f"no stub could be built for `{entry}` in {language}; "
                              "the tests cannot be validated")
    elif not result.reasons:  # spare the service when the tests are already rejected
        sub = Submission(language=language, code=stub, tests=tests, static_analysis=False,
                         limits=limits or Limits(), metadata={"purpose": "test-guard"})
        try:
            res = await client.run(sub)
        except CodefeedbackError as exc:
            result.reasons.append(f"the stub run failed: {exc}")
        else:
            result.stub_verdict = res.verdict.value if res.verdict else None
            if res.verdict not in FAILING:
                if res.verdict in (Verdict.accepted, Verdict.static_error):
                    result.reasons.append(
                        f"the tests pass against a stub of `{entry}` that returns a default "
                        "value, so they do not check the result")
                else:
                    result.reasons.append(
                        f"the tests could not be run against a stub of `{entry}` "
                        f"(verdict {result.stub_verdict})")
    result.ok = not result.reasons
    return result
