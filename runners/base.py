"""What a language runner is: a description of one sandbox job, and parsers for its results.

A runner never executes anything itself. `build_job` says which files go into the sandbox and
which steps run there (analysis, build, tests); the sandbox executes them all in one container;
`interpret` turns the bounded bytes that came back into diagnostics and test cases. The shared
pipeline (`runners.pipeline`) does the rest: io comparisons, the verdict and the feedback text.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from codefeedback.models import (
    CompileResult,
    Diagnostic,
    Finding,
    Integrity,
    LanguageInfo,
    Limits,
    RunResult,
    StaticResult,
    Submission,
    TestCase,
)


@dataclass
class Step:
    """One process the agent runs inside the container (see runners/agent/agent.py)."""

    id: str
    argv: list[str] | None = None
    fork: dict[str, Any] | None = None  # {"module": "pytest", "argv": [...], "path": [...]}
    time_s: float = 10.0
    memory_mb: int | None = None  # RLIMIT_DATA for user code; None for trusted tools
    output_kb: int = 64
    stdin: str | None = None
    report: bool = False  # open a private result pipe on fd 3
    after: list[str] = field(default_factory=list)  # run only if these exited 0
    user: bool = False  # runs untrusted code: first in line for the OOM killer
    parallel: str | None = None  # consecutive steps with the same key run together
    env: dict[str, str] = field(default_factory=dict)
    fsize_mb: int = 64

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if v not in (None, [], {})}
        data["user"] = self.user
        data["report"] = self.report
        return data


@dataclass
class Job:
    """Everything the sandbox needs: image, files, steps, limits. Serialisable to the agent."""

    image: str
    files: dict[str, str]
    steps: list[Step]
    memory_mb: int  # the user's memory limit; the sandbox adds the tools' headroom
    time_s: float  # used to bound the whole job
    nonce: str = field(default_factory=lambda: secrets.token_hex(16))
    modes: dict[str, int] = field(default_factory=dict)
    tag: str | None = None  # the submission id: names the container, so a redelivery finds it
    # What the worker keeps to judge the result and never sends (expected values of calls).
    judging: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Every step with a private report channel learns the job's nonce (harnesses tag
        # their lines with it and scrub it before user code runs).
        for step in self.steps:
            if step.report:
                step.env.setdefault("CF_RUN_NONCE", self.nonce)

    def to_agent(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "files": self.files,
            "modes": self.modes,
            "steps": [s.to_json() for s in self.steps],
        }

    def total_time_s(self) -> float:
        """The longest the agent could legitimately take: every step at its deadline."""
        return sum(s.time_s for s in self.steps) + 5.0


@dataclass
class StepResult:
    status: str  # ok | skipped | timeout | output_limit | oom | signaled | error | missing
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    report: str | None = None
    truncated: bool = False
    wall_ms: int | None = None
    cpu_ms: int | None = None
    memory_kb: int | None = None
    message: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepResult:
        known = {k: data.get(k) for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    @property
    def ran(self) -> bool:
        return self.status not in ("skipped", "missing", "error")

    @property
    def succeeded(self) -> bool:
        return self.status == "ok" and self.exit_code == 0

    def report_lines(self) -> list[dict[str, Any]]:
        """Parse the private channel: one JSON object per line; junk lines are dropped."""
        out = []
        for line in (self.report or "").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def to_run(self) -> RunResult:
        return RunResult(
            exit_code=self.exit_code,
            signal=self.signal,
            stdout=self.stdout,
            stderr=self.stderr,
            truncated=self.truncated,
            wall_ms=self.wall_ms,
            cpu_ms=self.cpu_ms,
            memory_kb=self.memory_kb,
        )


@dataclass
class JobResult:
    """What came back from the sandbox. `error` means the sandbox itself failed."""

    steps: dict[str, StepResult] = field(default_factory=dict)
    error: str | None = None  # the service failed (no image, engine down): internal_error
    lost: str | None = None  # no result from the agent: "killed" | "oom" | "timeout" | ...
    image: str | None = None
    agent: dict[str, Any] = field(default_factory=dict)  # agent timings, for benchmarks

    def step(self, step_id: str) -> StepResult:
        return self.steps.get(step_id) or StepResult(status="missing")


@dataclass
class Interpretation:
    """A runner's reading of a job result; the pipeline turns it into a verdict."""

    static: StaticResult | None = None
    compile: CompileResult | None = None
    cases: list[TestCase] | None = None  # None when no tests were given
    run: RunResult | None = None
    signals: set[str] = field(default_factory=set)  # verdicts the steps call for
    internal_error: str | None = None
    integrity: Integrity | None = None  # reward-hack findings (never change the verdict)


class Runner:
    """Base class of a language runner. A language folder defines one subclass as `RUNNER`."""

    id: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[str]
    toolchain: ClassVar[str]
    aliases: ClassVar[list[str]] = []
    image: ClassVar[str]
    test_kinds: ClassVar[list[str]] = []
    static_tools: ClassVar[list[str]] = []
    files: ClassVar[dict[str, str]] = {}
    reserved_files: ClassVar[set[str]] = set()
    unit_tests: ClassVar[str] = ""
    severity_mapping: ClassVar[str] = ""
    preload: ClassVar[list[str]] = []  # modules the pooled agent imports before a job
    calls_support: ClassVar[str] = ""  # how `calls` reach the function (GET /v1/languages/{id})
    folder: ClassVar[Path]

    def build_job(self, sub: Submission, tool_time_s: float) -> Job:
        raise NotImplementedError

    def interpret(self, sub: Submission, job: Job, result: JobResult) -> Interpretation:
        raise NotImplementedError

    # ---------------------------------------------------------------- shared helpers
    def example(self) -> dict[str, Any]:
        """The worked example shipped in the runner folder (a valid submission body)."""
        path = self.folder / "example" / "accepted.json"
        return json.loads(path.read_text())

    def examples(self) -> dict[str, dict[str, Any]]:
        """Every example in the folder, keyed by file stem: `<verdict>[.<variant>]`."""
        out = {}
        for path in sorted((self.folder / "example").glob("*.json")):
            out[path.stem] = json.loads(path.read_text())
        return out

    def info(self) -> LanguageInfo:
        return LanguageInfo(
            id=self.id,
            name=self.name,
            version=self.version,
            aliases=list(self.aliases),
            test_kinds=list(self.test_kinds),
            static_tools=list(self.static_tools),
            files=dict(self.files),
            unit_tests=self.unit_tests,
            severity_mapping=self.severity_mapping,
            calls=self.calls_support or None,
            example=self.example(),
        )

    def check_calls(self, sub: Submission) -> Any:
        """Check a `calls` test before it is queued; raise `SignatureError` for a 422.

        The default reads the optional signature (types and cases must agree); languages that
        need one, or support fewer types, override this."""
        if sub.tests is None or sub.tests.calls is None or sub.tests.calls.signature is None:
            return None
        from runners.calls.signature import signature_of

        return signature_of(sub.tests.calls)

    def check_files(self, sub: Submission) -> str | None:
        """Refuse user files that would shadow the solution, the tests or a harness/config file."""
        reserved = set(self.files.values()) | self.reserved_files
        for name in sub.files or {}:
            if name in reserved or name.lower() in {r.lower() for r in reserved}:
                return f"file name {name!r} is reserved by the {self.id} runner"
        return None


def diag(tool: str, severity: str, message: str, **kw: Any) -> Diagnostic:
    return Diagnostic(tool=tool, severity=severity, message=message, **kw)


def user_limits(limits: Limits) -> dict[str, Any]:
    return {"time_s": limits.time_s, "memory_mb": limits.memory_mb, "output_kb": limits.output_kb}


INTEGRITY_STEP = "integrity"
MAX_FINDINGS = 50


def read_integrity(result: JobResult, file: str) -> Integrity | None:
    """The `integrity` step's JSON (`{"findings": [{rule, message, line}]}`), or None if the job
    had no such step or it failed (findings are data, so a failed scan is just absent)."""
    step = result.steps.get(INTEGRITY_STEP)
    if step is None or not step.succeeded:
        return None
    try:
        data = json.loads(step.stdout or "{}")
    except ValueError:
        return None
    found = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(found, list):
        return None
    findings = []
    for item in found[:MAX_FINDINGS]:
        if not isinstance(item, dict) or not isinstance(item.get("rule"), str):
            continue
        line = item.get("line")
        findings.append(Finding(rule=item["rule"][:100], message=str(item.get("message", ""))[:500],
                                line=line if type(line) is int else None, file=file))
    return Integrity(suspicious=bool(findings), findings=findings)
