"""The one schema: submissions, tests, limits, diagnostics, test cases, verdicts and feedback.

The API, the workers, the SDK, the CLI and the loops all import these models, so the public
shape in CONTRACT.md is written down exactly once. Server-side maximums (which depend on
settings) are checked by the service on top of the structural rules here.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Structural bounds shared by every component (the service's configurable maximums come on top).
MAX_CODE_BYTES = 1_000_000
MAX_TEST_SOURCE_BYTES = 1_000_000
MAX_FILES = 100
MAX_FILE_BYTES = 1_000_000
MAX_IO_CASES = 200
MAX_CALL_CASES = 500
MAX_STDIN_BYTES = 1_000_000
MAX_METADATA_BYTES = 16_000
MAX_PROBLEM_BYTES = 100_000
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class Verdict(str, Enum):
    """One word for the whole result, in precedence order (first wins)."""

    internal_error = "internal_error"
    compile_error = "compile_error"
    time_limit = "time_limit"
    memory_limit = "memory_limit"
    output_limit = "output_limit"
    runtime_error = "runtime_error"
    wrong_answer = "wrong_answer"
    static_error = "static_error"
    accepted = "accepted"


VERDICT_PRECEDENCE: list[Verdict] = list(Verdict)


class Status(str, Enum):
    queued = "queued"
    running = "running"
    completed = "completed"


class Severity(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


class Outcome(str, Enum):
    passed = "passed"
    failed = "failed"
    error = "error"
    timeout = "timeout"
    skipped = "skipped"


class _Strict(BaseModel):
    """Request models reject unknown fields so typos are 422s, not silent no-ops."""

    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------- request side
class Limits(_Strict):
    """Per-submission limits; the service checks them against its own maximums."""

    time_s: float = Field(10, gt=0, description="Wall time of each run of user code, seconds.")
    memory_mb: int = Field(512, gt=0, description="Memory of the user's processes, MiB.")
    output_kb: int = Field(64, gt=0, description="Captured stdout+stderr per run, KiB.")

    @field_validator("time_s")
    @classmethod
    def _finite(cls, v: float) -> float:
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("time_s must be a finite number")
        return v


class IOCase(_Strict):
    stdin: str = Field("", max_length=MAX_STDIN_BYTES)
    stdout: str = Field(..., max_length=MAX_STDIN_BYTES, description="Expected stdout.")
    name: str | None = Field(None, max_length=200)


class CallCase(_Strict):
    args: list[Any] = Field(default_factory=list)
    expected: Any = None
    name: str | None = Field(None, max_length=200)


class Signature(_Strict):
    """Types in Python annotation syntax: `int`, `float`, `bool`, `str`, `None`, `list[T]`,
    `dict[str, T]`, `tuple[T, ...]`, `Optional[T]`."""

    params: list[str] = Field(default_factory=list, max_length=50)
    returns: str = Field("None", max_length=500)


class FloatTolerance(_Strict):
    """Two numbers match when `|a-b| <= max(abs, rel*|expected|)` (as `math.isclose`)."""

    rel: float = Field(1e-9, ge=0, le=1)
    abs: float = Field(0.0, ge=0)


class CallTests(_Strict):
    function: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,100}$")
    cases: list[CallCase] = Field(..., min_length=1, max_length=MAX_CALL_CASES)
    signature: Signature | str | None = Field(
        None, description="Parameter and return types (needed by statically typed languages); "
        "the string form `(int, list[int]) -> int` is an alias.")
    float_tolerance: FloatTolerance | None = Field(
        None, description="Default: numbers compare exactly (int and float numerically).")

    @field_validator("signature")
    @classmethod
    def _signature_text(cls, v: Signature | str | None) -> Signature | str | None:
        if isinstance(v, str) and len(v) > 2000:
            raise ValueError("signature is longer than 2000 characters")
        return v


class CheckerProgram(_Strict):
    language: str = Field("python", min_length=1, max_length=50)
    code: str = Field(..., min_length=1, max_length=MAX_TEST_SOURCE_BYTES)


class IOChecker(_Strict):
    """How `io` outputs are compared (CONTRACT v1.1). `program` runs a testlib-style checker."""

    kind: Literal["exact", "tokens", "float", "unordered_lines", "program"] = "exact"
    rel: float = Field(1e-6, ge=0, le=1)
    abs: float = Field(1e-9, ge=0)
    program: CheckerProgram | None = None

    @model_validator(mode="after")
    def _program_matches_kind(self) -> IOChecker:
        if self.kind == "program" and self.program is None:
            raise ValueError("io_checker kind 'program' needs `program` ({language, code})")
        if self.kind != "program" and self.program is not None:
            raise ValueError("io_checker `program` is only used with kind 'program'")
        return self


class Tests(_Strict):
    """Any of four kinds; a language lists which it supports in `test_kinds`."""

    unit: str | None = Field(None, max_length=MAX_TEST_SOURCE_BYTES)
    script: str | None = Field(None, max_length=MAX_TEST_SOURCE_BYTES)
    io: list[IOCase] | None = Field(None, min_length=1, max_length=MAX_IO_CASES)
    calls: CallTests | None = None
    io_checker: IOChecker | None = Field(
        None, description="How io outputs are compared; default exact (trailing whitespace "
        "per line and trailing blank lines ignored).")

    def kinds(self) -> list[str]:
        return [k for k in ("unit", "script", "io", "calls") if getattr(self, k) is not None]

    @model_validator(mode="after")
    def _checker_needs_io(self) -> Tests:
        if self.io_checker is not None and self.io is None:
            raise ValueError("io_checker is given but there are no io tests")
        return self


class Submission(_Strict):
    """What a user sends: `language` and `code` are required, everything else has a default."""

    language: str = Field(..., min_length=1, max_length=50)
    code: str = Field(..., max_length=MAX_CODE_BYTES)
    tests: Tests | None = None
    problem: str | None = Field(None, max_length=MAX_PROBLEM_BYTES)
    files: dict[str, str] | None = None
    stdin: str = Field("", max_length=MAX_STDIN_BYTES)
    limits: Limits = Field(default_factory=Limits)
    static_analysis: bool = True
    feedback_max_chars: int = Field(4000, ge=200, le=100_000)
    metadata: dict[str, Any] | None = None
    cache: bool = Field(
        True, description="Answer identical work from the result cache (CONTRACT v1.1): the same "
        "language, code, tests, files, stdin, limits, static_analysis and feedback_max_chars, "
        "judged by the same runner image and judge version, for the same API key. false forces "
        "a run (whose result then refreshes the cache entry).")

    @field_validator("code", "stdin", "problem")
    @classmethod
    def _no_nul(cls, v: str | None) -> str | None:
        if v is not None and "\x00" in v:
            raise ValueError("NUL bytes are not allowed")
        return v

    @field_validator("files")
    @classmethod
    def _file_names(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is None:
            return v
        if len(v) > MAX_FILES:
            raise ValueError(f"at most {MAX_FILES} files")
        for name, content in v.items():
            if not FILE_NAME_RE.match(name) or name in (".", "..") or name.startswith("."):
                raise ValueError(
                    f"file name {name!r} is not a plain name ([A-Za-z0-9._-], no leading dot)"
                )
            if len(content.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
                raise ValueError(f"file {name!r} is larger than {MAX_FILE_BYTES} bytes")
            if "\x00" in content:
                raise ValueError(f"file {name!r} contains NUL bytes (text files only)")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        import json

        if v is not None and len(json.dumps(v)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes as JSON")
        return v

    @model_validator(mode="after")
    def _empty_tests(self) -> Submission:
        if self.tests is not None and not self.tests.kinds():
            self.tests = None
        return self


class BatchRequest(_Strict):
    submissions: list[Submission] = Field(..., min_length=1)


# ---------------------------------------------------------------------------- result side
class Diagnostic(BaseModel):
    tool: str
    severity: Severity
    code: str | None = None
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None


class TestCase(BaseModel):
    __test__ = False  # not a pytest class

    name: str
    outcome: Outcome
    message: str | None = None
    expected: str | None = None
    actual: str | None = None
    line: int | None = None
    duration_ms: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    kind: str | None = Field(None, description="unit | script | io | calls")


class StaticResult(BaseModel):
    ok: bool
    diagnostics: list[Diagnostic] = Field(default_factory=list)


class CompileResult(BaseModel):
    ok: bool
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    output: str = ""


class TestsResult(BaseModel):
    __test__ = False

    total: int
    passed: int
    failed: int
    errors: int
    cases: list[TestCase] = Field(default_factory=list)


class RunResult(BaseModel):
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    wall_ms: int | None = None
    cpu_ms: int | None = None
    memory_kb: int | None = None


class Environment(BaseModel):
    image: str | None = None
    toolchain: str | None = None
    limits: dict[str, Any] = Field(default_factory=dict)


class Finding(BaseModel):
    rule: str
    message: str
    line: int | None = None
    file: str | None = None


class Integrity(BaseModel):
    """Known reward-hack patterns in the submitted code: data for pipelines, never a verdict."""

    suspicious: bool = False
    findings: list[Finding] = Field(default_factory=list)


class Feedback(BaseModel):
    """What the pipeline produces for one submission (the result part of the resource)."""

    verdict: Verdict
    static: StaticResult | None = None
    compile: CompileResult | None = None
    tests: TestsResult | None = None
    run: RunResult | None = None
    feedback: str = ""
    environment: Environment | None = None
    reason: str | None = Field(None, description="Why internal_error, when it is one.")
    integrity: Integrity | None = Field(
        None, description="Known reward-hack patterns found in the code; never changes the verdict.")
    cached: bool = Field(False, description="True when this result was answered from the result "
                         "cache (identical earlier work) instead of a new run.")


class SubmissionResource(BaseModel):
    """GET /v1/submissions/{id}."""

    id: str
    status: Status
    language: str
    verdict: Verdict | None = None
    static: StaticResult | None = None
    compile: CompileResult | None = None
    tests: TestsResult | None = None
    run: RunResult | None = None
    feedback: str | None = None
    environment: Environment | None = None
    integrity: Integrity | None = None
    metadata: dict[str, Any] | None = None
    created_at: float | None = None
    completed_at: float | None = None
    cached: bool = Field(False, description="True when the result came from the result cache "
                         "(identical earlier work of the same API key), not from a new run.")


class BatchCreated(BaseModel):
    id: str
    submission_ids: list[str]


class BatchResource(BaseModel):
    id: str
    status: Status
    total: int
    completed: int
    verdicts: dict[str, int] = Field(default_factory=dict)
    submissions: list[SubmissionResource] = Field(default_factory=list)


class LanguageInfo(BaseModel):
    id: str
    name: str
    version: str
    aliases: list[str] = Field(default_factory=list)
    test_kinds: list[str] = Field(default_factory=list)
    static_tools: list[str] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)
    unit_tests: str | None = Field(None, description="How unit tests reach the solution.")
    severity_mapping: str | None = None
    calls: str | None = Field(None, description="How `calls` cases reach the function: "
                              "supported types, whether a signature is needed.")
    example: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


ResourceStatus = Literal["queued", "running", "completed"]
