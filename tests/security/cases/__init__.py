"""The hostile catalogue of SECURITY.md as data: one table per language.

A language plugs in by adding `cases/<language>.py` with a `CASES` list and naming it in
`LANGUAGES` below. Each `Case` is one hostile submission with the verdict it must get and a
benign twin (the same shape of submission, harmless) that must be `accepted`.

Code may use placeholders that the suite fills in at run time (see `render`):
`@LO@` (127.0.0.1), `@GW@` (the Docker bridge gateway), `@LPORT@`/`@GPORT@` (the suite's own
listeners on loopback and on the gateway), `@GRPORT@`/`@GAPORT@` (its listeners on the gateway
at the Redis and API port numbers), `@RPORT@`/`@APORT@` (the stack's Redis and API ports on
loopback), `@CANARY_PATH@` (a host file the worker can read).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

LANGUAGES = ["python", "c"]

# Small limits keep the suite fast; a case may lower them further.
LIMITS = {"time_s": 2, "memory_mb": 128, "output_kb": 16}

VERDICTS = {"accepted", "static_error", "compile_error", "wrong_answer", "runtime_error",
            "time_limit", "memory_limit", "output_limit", "internal_error"}


@dataclass(frozen=True)
class Case:
    """One hostile submission.

    expected: the verdict it must get, or `http_422` for submissions the API must refuse.
    proof: strings that must appear in the run's stdout (escape probes print what they
    found; they exit non-zero, or fail a check, if an attack succeeded).
    absent: strings that must not appear anywhere in the result.
    followup: a second submission run after this one completed (e.g. "does the next job see
    the files this one left?"); it must be accepted and print its own proof.
    """

    name: str
    group: str  # resource | escape | tool | fake_pass
    code: str
    expected: str
    twin: dict[str, Any]
    tests: dict[str, Any] | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] | None = None
    stdin: str | None = None
    proof: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    followup: dict[str, Any] | None = None
    static_analysis: bool = False
    xfail: str | None = None


def twin(code: str, tests: dict | None = None, stdin: str | None = None,
         **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, **extra}
    if tests is not None:
        out["tests"] = tests
    if stdin is not None:
        out["stdin"] = stdin
    return out


def render(value: Any, ctx: dict[str, str]) -> Any:
    """Fill the @PLACEHOLDERS@ in every string of a (nested) value."""
    if isinstance(value, str):
        for key, sub in ctx.items():
            value = value.replace(f"@{key}@", sub)
        return value
    if isinstance(value, dict):
        return {k: render(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, ctx) for v in value]
    return value


def body(language: str, case: Case, fields: dict[str, Any] | None = None,
         ctx: dict[str, str] | None = None) -> dict[str, Any]:
    """The submission body of a case (or of its twin/followup when `fields` is given)."""
    src = fields if fields is not None else {
        "code": case.code, "tests": case.tests, "files": case.files, "stdin": case.stdin}
    # cache: false: every submission must really run (a cached answer touches no sandbox)
    sub: dict[str, Any] = {"language": language,
                           "limits": {**LIMITS, **case.limits, **(src.get("limits") or {})},
                           "static_analysis": src.get("static_analysis", case.static_analysis),
                           "cache": False}
    for key in ("code", "tests", "files", "stdin"):
        if src.get(key) is not None:
            sub[key] = src[key]
    return render(sub, ctx or {})


def all_cases() -> list[tuple[str, Case]]:
    out = []
    for language in LANGUAGES:
        module = importlib.import_module(f"tests.security.cases.{language}")
        names = [c.name for c in module.CASES]
        assert len(names) == len(set(names)), f"duplicate case names in {language}"
        for case in module.CASES:
            assert case.expected in VERDICTS or case.expected == "http_422", case.name
            # a hostile case is never accepted; a probe that may be must prove containment
            assert case.expected != "accepted" or case.proof or case.absent, case.name
            out.append((language, case))
    return out
