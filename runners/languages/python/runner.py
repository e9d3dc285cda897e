"""Python runner: syntax check, ruff + pylint, and pytest / script / io tests in one container.

Severity mapping (written down, as CONTRACT.md asks):
* syntax errors (ast.parse, ruff's syntax findings) -> `error`, and the verdict is compile_error;
* pylint fatal/error (E, F) -> `error`, except inference-heavy checks that misfire on correct
  dynamic code (no-member, not-callable, unsubscriptable, ...), which are `warning`;
  pylint warning (W) -> `warning`; convention/refactor/info are not run (noise for a model);
* ruff F821/F822/F823 (undefined names) -> `error`; other F and B rules -> `warning`;
  E/W style rules -> `info`.
"""

from __future__ import annotations

import json

from codefeedback.models import CompileResult, Diagnostic, StaticResult, Submission
from runners.base import INTEGRITY_STEP, Interpretation, Job, JobResult, Runner, Step, StepResult
from runners.calls.judge import JudgedCase, read_calls_step
from runners.calls.literals import PythonLiterals, call_text
from runners.calls.values import EXACT, Tolerance
from runners.languages.python.script_calls import recognise
from runners.report import io_case, read_test_step, step_signal

SOLUTION = "solution.py"
UNIT = "test_solution.py"
SCRIPT = "test_script.py"
CALLS_FILES = {"calls": "cf_calls.json", "script": "cf_script_calls.json"}
LITERALS = PythonLiterals()
MEMORY_MARKERS = ("MemoryError",)
PYLINT_DEMOTED = {
    "E0611", "E1101", "E1102", "E1111", "E1120", "E1121", "E1123", "E1124", "E1125", "E1126",
    "E1127", "E1128", "E1130", "E1131", "E1132", "E1133", "E1134", "E1135", "E1136", "E1137",
    "E1138", "E1139", "E0633", "E0632", "E1205", "E1206", "E0237", "E0202", "E0203", "E1307",
}
RUFF_ERRORS = {"F821", "F822", "F823"}


class PythonRunner(Runner):
    id = "python"
    name = "Python"
    version = "3.11.2"
    toolchain = "Python 3.11.2 (Debian bookworm), pytest 8.3.5, pylint 3.3.7, ruff 0.12.0"
    aliases = ["py", "python3"]
    image = "codefeedback-runner-python:latest"
    test_kinds = ["unit", "script", "io", "calls"]
    static_tools = ["pylint", "ruff"]
    files = {"solution": SOLUTION, "unit": UNIT, "script": SCRIPT}
    reserved_files = {
        "conftest.py", "sitecustomize.py", "usercustomize.py", "pytest.ini", "pyproject.toml",
        "setup.cfg", "tox.ini", "pylintrc", "ruff.toml", "codefeedback_pyharness", "pytest.py",
        "_pytest", "pylint.py", "setup.py", *CALLS_FILES.values(),
    }
    unit_tests = (
        f"pytest functions in {UNIT}; the solution is the module `solution` "
        f"(`from solution import add`). One test case per test function (parametrised cases "
        f"report separately). `script` tests are appended to the solution in one namespace "
        f"(HumanEval style); `io` runs `python3 {SOLUTION}` with each stdin."
    )
    severity_mapping = __doc__ or ""
    calls_support = (
        "`calls`: the solution is loaded as the module `solution` and `function` is called once "
        "per case with the case's `args` (JSON values: lists arrive as lists, objects as dicts); "
        "`signature` is optional and not needed. The return value must be exactly None, bool, "
        "int, float, str, list, tuple or dict with str keys (deeply; a subclass or an object "
        "with its own __eq__ fails, naming its type); it is sent as JSON and compared by the "
        "service: tuples as lists, bool never equal to a number, int and float numerically, "
        "`float_tolerance` as math.isclose. A `script` made only of `assert f(<literals>) == "
        "<literal>` checks (HumanEval's `def check(candidate)` included) is judged the same way, "
        "one test case per assert, named by its line."
    )

    def build_job(self, sub: Submission, tool_time_s: float) -> Job:
        lim = sub.limits
        files = {SOLUTION: sub.code, **(sub.files or {})}
        user = {"time_s": lim.time_s, "memory_mb": lim.memory_mb, "output_kb": lim.output_kb,
                "user": True, "after": ["syntax"]}
        steps = [Step("syntax", fork={"module": "codefeedback_pyharness.syntax",
                                      "argv": [SOLUTION]}, time_s=tool_time_s, report=True,
                      output_kb=256),
                 Step(INTEGRITY_STEP, fork={"module": "codefeedback_pyharness.integrity",
                                            "argv": [SOLUTION]}, time_s=tool_time_s,
                      output_kb=256)]
        main = "main"
        if sub.static_analysis:
            steps.append(Step("ruff", argv=["ruff", "check", "--isolated", "--no-cache",
                                            "--output-format=json", "--exit-zero",
                                            "--target-version=py311", "--select=E,W,F,B",
                                            SOLUTION],
                              time_s=tool_time_s, output_kb=2048, parallel=main))
            steps.append(Step("pylint", fork={"module": "pylint", "argv": [
                "--output-format=json", "--persistent=n", "--score=n", "--rcfile=/dev/null",
                "--disable=C,R,I,W0611,W0612,W0613", "--jobs=1", SOLUTION]},
                time_s=tool_time_s, output_kb=4096, parallel=main))
        tests = sub.tests
        judging: dict[str, list[JudgedCase]] = {}
        if tests is None:
            steps.append(Step("run", argv=["python3", "-I", "-B", SOLUTION], stdin=sub.stdin,
                              parallel=main, **user))
        else:
            # Test sources travel in the step's private spec; the files are empty placeholders
            # (a solution that opens them finds no expected values).
            if tests.unit is not None:
                files[UNIT] = ""
                steps.append(Step("unit", fork={"module": "codefeedback_pyharness.pytest_run",
                                                "argv": [UNIT], "path": ["/work"]},
                                  report=True, parallel=main, env={"CF_TEST_SOURCE": tests.unit},
                                  **user))
            shaped = recognise(tests.script) if tests.script is not None else None
            if shaped is not None:
                files[SCRIPT] = ""
                files[CALLS_FILES["script"]] = json.dumps({
                    "function": shaped.function,
                    "cases": [{"python": c.args_source} for c in shaped.cases]})
                judging["script"] = [JudgedCase(
                    name=f"line {c.line}", expected=c.expected, call=c.call_source, line=c.line,
                    tolerance=Tolerance(abs=c.tolerance, strict=c.tolerance_strict)
                    if c.tolerance is not None
                    else EXACT) for c in shaped.cases]
                steps.append(Step("script", fork={"module": "codefeedback_pyharness.calls_run",
                                                  "argv": ["main", SOLUTION, CALLS_FILES["script"]],
                                                  "path": ["/work"]},
                                  report=True, parallel=main, **user))
            elif tests.script is not None:
                files[SCRIPT] = ""
                steps.append(Step("script", fork={"module": "codefeedback_pyharness.script_run",
                                                  "argv": [SOLUTION, SCRIPT], "path": ["/work"]},
                                  report=True, parallel=main,
                                  env={"CF_TEST_SOURCE": tests.script}, **user))
            if tests.calls is not None:
                calls = tests.calls
                files[CALLS_FILES["calls"]] = json.dumps({
                    "function": calls.function,
                    "cases": [{"json": json.dumps(c.args)} for c in calls.cases]})
                tol = calls.float_tolerance
                tolerance = Tolerance(rel=tol.rel, abs=tol.abs) if tol is not None else EXACT
                judging["calls"] = [JudgedCase(
                    name=c.name or f"case {i}", expected=c.expected, tolerance=tolerance,
                    call=call_text(calls.function, c.args, LITERALS))
                    for i, c in enumerate(calls.cases)]
                steps.append(Step("calls", fork={"module": "codefeedback_pyharness.calls_run",
                                                 "argv": ["module", SOLUTION, CALLS_FILES["calls"]],
                                                 "path": ["/work"]},
                                  report=True, parallel=main, **user))
            for i, case in enumerate(tests.io or []):
                steps.append(Step(f"io-{i}", argv=["python3", "-I", "-B", SOLUTION],
                                  stdin=case.stdin, **user))
        return Job(image=self.image, files=files, steps=steps, memory_mb=lim.memory_mb,
                   time_s=lim.time_s, judging=judging)

    def interpret(self, sub: Submission, job: Job, result: JobResult) -> Interpretation:
        out = Interpretation()
        out.compile = self._syntax(result.step("syntax"), job.nonce)
        if sub.static_analysis:
            diags = ruff_diagnostics(result.step("ruff")) + pylint_diagnostics(result.step("pylint"))
            diags = [d for d in diags if not (d.severity == "error" and _is_syntax(d))]
            out.static = StaticResult(ok=not any(d.severity == "error" for d in diags),
                                      diagnostics=diags)
        if not out.compile.ok:
            return out
        tests = sub.tests
        if tests is None:
            step = result.step("run")
            out.run = step.to_run()
            signal = step_signal(step, MEMORY_MARKERS)
            if signal:
                out.signals.add(signal)
            elif step.exit_code != 0:
                out.signals.add("runtime_error")
            return out
        out.cases = []
        for kind, file in (("unit", UNIT), ("script", SCRIPT), ("calls", SOLUTION)):
            if getattr(tests, kind) is None:
                continue
            step = result.step(kind)
            if kind in job.judging:
                run = read_calls_step(step, job.nonce, kind, job.judging[kind], LITERALS,
                                      MEMORY_MARKERS, SOLUTION)
            else:
                run = read_test_step(step, job.nonce, kind, file, MEMORY_MARKERS)
            if run.compile_errors:
                out.compile = CompileResult(ok=False, diagnostics=run.compile_errors,
                                            output=step.stderr[-4000:])
                return out
            out.cases.extend(run.cases)
            out.signals |= run.signals
            if out.run is None:
                out.run = step.to_run()
        for i, case in enumerate(tests.io or []):
            step = result.step(f"io-{i}")
            tc, signal = io_case(i, case.stdout, step, case.name, MEMORY_MARKERS,
                                 checker=tests.io_checker)
            out.cases.append(tc)
            if signal:
                out.signals.add(signal)
            if out.run is None and tc.outcome != "passed":
                out.run = step.to_run()
        return out

    def _syntax(self, step: StepResult, nonce: str) -> CompileResult:
        if step.succeeded:
            return CompileResult(ok=True)
        diags = []
        for ev in step.report_lines():
            if ev.get("nonce") == nonce and ev.get("event") == "syntax_error":
                diags.append(Diagnostic(
                    tool="python", severity="error", code="syntax-error",
                    message=str(ev.get("message")), file=SOLUTION, line=ev.get("line"),
                    column=ev.get("column"), end_line=ev.get("end_line"),
                    end_column=ev.get("end_column")))
        if diags:
            return CompileResult(ok=False, diagnostics=diags)
        why = {"timeout": "took longer than the service's analysis time limit",
               "oom": "ran out of the service's analysis memory",
               "output_limit": "produced too much output"}.get(step.status, "failed")
        return CompileResult(ok=False, output=f"the syntax check {why} ({step.status}); "
                                              f"{step.stderr[-1000:]}")


def _is_syntax(d: Diagnostic) -> bool:
    return d.code in (None, "E999", "E0001", "syntax-error", "invalid-syntax")


def ruff_diagnostics(step: StepResult) -> list[Diagnostic]:
    """ruff's JSON output -> diagnostics (see the severity mapping above)."""
    try:
        items = json.loads(step.stdout or "[]")
    except ValueError:
        return []
    out = []
    for it in items if isinstance(items, list) else []:
        code = it.get("code")
        if code is None or code in RUFF_ERRORS:
            sev = "error"
        elif code.startswith(("F", "B")):
            sev = "warning"
        else:
            sev = "info"
        loc, end = it.get("location") or {}, it.get("end_location") or {}
        out.append(Diagnostic(tool="ruff", severity=sev, code=code, message=str(it.get("message")),
                              file=SOLUTION, line=loc.get("row"), column=loc.get("column"),
                              end_line=end.get("row"), end_column=end.get("column")))
    return out


def pylint_diagnostics(step: StepResult) -> list[Diagnostic]:
    """pylint's JSON output -> diagnostics; pylint columns are 0-based, ours 1-based."""
    try:
        items = json.loads(step.stdout or "[]")
    except ValueError:
        return []
    out = []
    for it in items if isinstance(items, list) else []:
        mid = str(it.get("message-id", ""))
        kind = it.get("type")
        if kind in ("error", "fatal"):
            sev = "warning" if mid in PYLINT_DEMOTED else "error"
        elif kind == "warning":
            sev = "warning"
        else:
            sev = "info"
        col, end_col = it.get("column"), it.get("endColumn")
        out.append(Diagnostic(
            tool="pylint", severity=sev, code=mid or None,
            message=f"{it.get('message')} ({it.get('symbol')})", file=SOLUTION,
            line=it.get("line"), column=col + 1 if isinstance(col, int) else None,
            end_line=it.get("endLine"),
            end_column=end_col + 1 if isinstance(end_col, int) else None))
    return out


RUNNER = PythonRunner()
