"""C runner: gcc diagnostics, and script / unit / io / calls tests, built and run in one container.

Every gcc invocation runs inside the sandbox as a trusted tool step (the service's tool time
limit, a 1 MB output cap, `-fmax-errors=50`); the harness objects were built into the image.
After the builds and before any user code runs, a trusted step removes the test sources and
generated drivers from /work (a solution cannot read its tests there). The `integrity` step scans
solution.c inside the sandbox (harness/cf_integrity.py) for known reward-hack patterns.

Severity mapping (written down, as CONTRACT.md asks): gcc runs with `-Wall -Wextra`, no `-Werror`.
* gcc `error`, `fatal error`, `sorry, unimplemented` and linker errors (`undefined reference`,
  `multiple definition`) -> `error`, and the verdict is compile_error (only these; a warning
  never fails a build);
* gcc `warning` (every -W option, including implicit declarations and "control reaches end of
  non-void function") -> `warning`;
* a gcc `note` on its own -> `info`; notes attached to a diagnostic are folded into its message.
`static.diagnostics` holds the warnings and notes gcc reports in the solution itself, so
`static.ok` is true for every solution that compiles: a correct solution never gets static_error.
Columns are 1-based characters (from gcc's byte columns and the source); `end_column` is
exclusive (gcc's inclusive `finish` + 1).

Memory: user processes run with RLIMIT_DATA = `memory_mb`, so C programs mostly see malloc fail.
It is reported as memory_limit when the process dies (crash or non-zero exit) with its data
segment at >= 85% of the limit (a hook linked into every program prints a marker), when the
cgroup OOM killer stops it, or when a program's static data is too big to even start
(execve ENOMEM). A program that handles malloc failure and exits 0 is judged on its output.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

from codefeedback.models import (
    CompileResult,
    Diagnostic,
    Outcome,
    StaticResult,
    Submission,
    TestCase,
)
from runners.base import INTEGRITY_STEP, Interpretation, Job, JobResult, Runner, Step, StepResult
from runners.calls.judge import read_calls_step
from runners.calls.signature import ParsedSignature
from runners.languages.c.calls import (
    LITERALS,
    SUPPORT,
    calls_driver,
    check_calls,
    driver_hint,
    judged_cases,
)
from runners.report import STATUS_SIGNAL, io_case, read_test_step

SOLUTION = "solution.c"
UNIT = "test_solution.c"
SCRIPT = "test_script.c"
HARNESS = "/opt/codefeedback/harness"
DRIVERS = {"script": "cf_script.c", "unit": "cf_unit.c", "calls": "cf_calls.c"}
PROGRAMS = {"script": "prog_script", "unit": "prog_unit", "calls": "prog_calls"}
HARNESS_OBJECTS = {"script": ["cf_harness.o"], "unit": ["cf_harness.o"],
                   "calls": ["cf_harness.o", "cf_values.o"]}
CFLAGS = ["-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-pipe", "-fdiagnostics-format=json",
          "-fmax-errors=50"]
COMPILE_OUTPUT_KB = 1024
BUILD_MEMORY_MB = 512  # RLIMIT_DATA of gcc and its cc1/as/ld: a compile-time bomb fails cleanly
MEMORY_MARKERS = ("codefeedback: memory limit exceeded", "cannot start step: [Errno 12]")
MEMORY_FRACTION = 0.85
def _words(text: str) -> set[str]:
    return set(text.split())


C_HEADERS = {f"{h}.h" for h in _words(
    "assert complex ctype errno fenv float inttypes iso646 limits locale math setjmp signal "
    "stdalign stdarg stdatomic stdbool stddef stdint stdio stdlib stdnoreturn string tgmath "
    "threads time uchar wchar wctype unistd fcntl")}
C_KEYWORDS = _words(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while _Bool _Generic _Static_assert _Noreturn __typeof__ "
    "typeof __extension__")
# Macros a solution may not carry into the tests: they would change what a check means.
GUARDED_MACROS = C_KEYWORDS | _words(
    "main exit _exit abort strcmp strncmp memcmp strlen strcasecmp abs labs llabs fabs fabsf "
    "fabsl fmod isnan isinf isfinite printf fprintf puts putchar fflush free malloc calloc "
    "realloc memset memcpy memmove strcpy strncpy strdup strstr strchr atoi atol atof strtol "
    "strtod fork signal raise sigaction setjmp longjmp on_exit atexit isnan isinf isfinite")
# Standard macros a solution may redefine (`#define false 1`): the tests get the real ones back.
STANDARD_MACROS = {"true": "1", "false": "0", "bool": "_Bool", "NULL": "((void *)0)",
                   "EOF": "(-1)", "INT_MAX": "__INT_MAX__", "INT_MIN": "(-__INT_MAX__ - 1)",
                   "LLONG_MAX": "__LONG_LONG_MAX__", "LLONG_MIN": "(-__LONG_LONG_MAX__ - 1LL)"}
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")


class CRunner(Runner):
    id = "c"
    name = "C"
    version = "gcc 12.2.0"
    toolchain = "gcc 12.2.0 (Debian 12.2.0-14+deb12u1), glibc 2.36, -std=gnu11 -O1"
    aliases: ClassVar[list[str]] = ["gcc", "c11"]
    image = "codefeedback-runner-c:latest"
    test_kinds: ClassVar[list[str]] = ["unit", "script", "io", "calls"]
    calls_support = SUPPORT
    static_tools: ClassVar[list[str]] = ["gcc -Wall -Wextra"]
    files: ClassVar[dict[str, str]] = {"solution": SOLUTION, "unit": UNIT, "script": SCRIPT}
    reserved_files: ClassVar[set[str]] = {
        "Makefile", "makefile", "GNUmakefile", "a.out", "prog", "solution.o", "solution.h",
        *DRIVERS.values(), *PROGRAMS.values(), *C_HEADERS,
    }
    unit_tests = (
        f"`unit`: C source ({UNIT}) compiled in one translation unit after the solution (so it "
        f"sees every function and type of {SOLUTION}, static ones too; include the headers it "
        "uses). Every function defined as `void test_xxx(void)` (name starting with `test`, at "
        "the start of a line) is one test, run in its own forked process in source order, so a "
        "crash ends only that test. Checks: `assert(cond)` (never disabled, NDEBUG is ignored), "
        "`CF_ASSERT(cond)`, `CF_ASSERT_EQ(actual, expected)` (integers, floating point within "
        "1e-9, `char *` strings; both values reported), `CF_ASSERT_EQ_INT/_UINT/_DBL/_STR`, "
        "`CF_ASSERT_NEAR(actual, expected, tol)`, `CF_ASSERT_EQ_MEM(a, e, size)`, "
        "`CF_FAIL(msg)`; the first failed check ends the test. Tests hidden in `#if 0` are "
        f"still found (they fail to build). `script`: {SCRIPT} is appended to the solution "
        "(HumanEval-X style): an `int main(void)` with `assert`s (the CF_ macros work too); a "
        "script without `main` is wrapped in one. It passes only if main returns 0 and the "
        "harness sees it return: exit()/_exit() early or a crash fails; a failed assert is "
        "wrong_answer. A `main` in the solution is ignored for script and unit tests. The tests "
        "never see the solution's macros for names they use (the function under test must be a "
        "function), and strcmp/strncmp/memcmp/strlen/abs/labs/llabs/fabs/isnan/isinf in the "
        "tests are the harness's own, whatever the solution defines. `io` and "
        f"run-only: `./prog` built from {SOLUTION} alone (it needs `main`), fed stdin. gcc "
        f"{' '.join(CFLAGS[:5])} -lm. Names starting with `cf_`/`CF_` are reserved. The test "
        "sources are removed from the working directory before the tests run."
    )
    severity_mapping = __doc__ or ""

    # ------------------------------------------------------------------ job
    def check_files(self, sub: Submission) -> str | None:
        problem = super().check_files(sub)
        if problem:
            return problem
        for name in sub.files or {}:
            if name.lower().startswith("cf_"):
                return f"file name {name!r} is reserved by the c runner (cf_ prefix)"
        return None

    def check_calls(self, sub: Submission) -> ParsedSignature | None:
        """C needs a signature, of the types in `calls_support`; raises SignatureError (a 422
        from `pipeline.check`, before the submission is queued)."""
        if sub.tests is None or sub.tests.calls is None:
            return None
        return check_calls(sub.tests.calls)

    def build_job(self, sub: Submission, tool_time_s: float) -> Job:
        lim = sub.limits
        files = {SOLUTION: sub.code, **(sub.files or {})}
        tests = sub.tests
        user = {"time_s": lim.time_s, "memory_mb": lim.memory_mb, "output_kb": lim.output_kb,
                "user": True}
        tool = {"time_s": tool_time_s, "output_kb": COMPILE_OUTPUT_KB, "parallel": "build",
                "memory_mb": BUILD_MEMORY_MB}
        needs_prog = tests is None or bool(tests.io)
        if needs_prog:
            argv = ["gcc", *CFLAGS, SOLUTION, f"{HARNESS}/cf_rt.o", "-o", "prog", "-lm"]
        else:
            argv = ["gcc", *CFLAGS, "-c", SOLUTION, "-o", "solution.o"]
        steps = [Step("compile", argv=argv, **tool)]
        runs: list[Step] = []
        macros = macro_names(sub.code)
        guarded = sorted(n for n in macros if n in GUARDED_MACROS or n in STANDARD_MACROS)
        judging = {}
        for kind, file in (("script", SCRIPT), ("unit", UNIT), ("calls", None)):
            source = getattr(tests, kind, None) if tests is not None else None
            if source is None:
                continue
            if kind == "calls":
                sig = self.check_calls(sub)
                judging[kind] = judged_cases(source, sig)
                own = sorted(n for n in macros if n.lower().startswith("cf_")) + _SUITE_NAMES
                files[DRIVERS[kind]] = calls_driver(_head(kind, guarded), source, sig, HARNESS,
                                                    own)
            else:
                # A solution macro the tests use (`#define add(a, b) 1 || 0`) would rewrite the
                # checks: the tests see the solution's functions, never its macros.
                hidden = sorted(set(guarded) | (macros & set(_IDENT.findall(
                    strip_comments(source)))))
                files[file] = source
                files[DRIVERS[kind]] = (script_driver(has_main(source), hidden)
                                        if kind == "script" else
                                        unit_driver(find_unit_tests(source), hidden))
            steps.append(Step(f"build-{kind}", argv=[
                "gcc", *CFLAGS, DRIVERS[kind], *(f"{HARNESS}/{o}" for o in HARNESS_OBJECTS[kind]),
                "-Wl,--wrap=main", "-o", PROGRAMS[kind], "-lm"], **tool))
            runs.append(Step(kind, argv=[f"./{PROGRAMS[kind]}"], report=True,
                             after=[f"build-{kind}", "scrub"], **user))
        steps.append(Step(INTEGRITY_STEP, argv=["python3", "-I", "-B",
                                                f"{HARNESS}/cf_integrity.py", SOLUTION],
                          time_s=tool_time_s, output_kb=256, parallel="build",
                          memory_mb=BUILD_MEMORY_MB))
        programs = (["prog"] if needs_prog else []) + [
            PROGRAMS[k] for k in DRIVERS if tests is not None and getattr(tests, k) is not None]
        steps.append(Step("size", argv=["size", "-A", "-d", *programs],
                          after=[s.id for s in steps if s.id != INTEGRITY_STEP],
                          time_s=tool_time_s, output_kb=64))
        if runs:  # peeking: the tests and drivers leave /work before any user code runs
            steps.append(Step("scrub", argv=["rm", "-f", SCRIPT, UNIT, *DRIVERS.values()],
                              time_s=tool_time_s, output_kb=16))
        if tests is None:
            runs.append(Step("run", argv=["./prog"], stdin=sub.stdin, after=["compile"], **user))
        else:
            for i, case in enumerate(tests.io or []):
                runs.append(Step(f"io-{i}", argv=["./prog"], stdin=case.stdin,
                                 after=["compile"], **user))
        return Job(image=self.image, files=files, steps=steps + runs, memory_mb=lim.memory_mb,
                   time_s=lim.time_s, judging=judging)

    # ------------------------------------------------------------------ result
    def interpret(self, sub: Submission, job: Job, result: JobResult) -> Interpretation:
        out = Interpretation()
        tests = sub.tests
        sources = {name: text for name, text in job.files.items()
                   if name in (SOLUTION, SCRIPT, UNIT)}
        builds = ["compile"] + [s.id for s in job.steps if s.id.startswith("build-")]
        diags: list[Diagnostic] = []
        seen: set[tuple] = set()
        ok = True
        texts = []
        own: list[Diagnostic] = []
        for step_id in builds:
            step = result.step(step_id)
            found, text = build_diagnostics(step, sources)
            if step_id == "compile":
                own = [d for d in found if d.file == SOLUTION and d.severity != "error"]
            if not step.succeeded:
                ok = False
                found += build_failure(step, found)
            for d in found:
                key = (d.file, d.line, d.column, d.severity, d.message)
                if key not in seen:
                    seen.add(key)
                    diags.append(d)
            if text:
                texts.append(text)
        if tests is not None and tests.calls is not None:
            hint = driver_hint(tests.calls, self.check_calls(sub))
            for d in diags:
                if d.file == DRIVERS["calls"] and d.severity != "info":
                    d.message += hint
        out.compile = CompileResult(ok=ok, diagnostics=diags, output=render_output(diags, texts))
        if sub.static_analysis:
            out.static = StaticResult(ok=True, diagnostics=own)
        if not ok:
            return out
        limit_kb = sub.limits.memory_mb * 1024
        sizes = static_sizes_kb(result.step("size").stdout)
        if tests is None:
            step = result.step("run")
            out.run = step.to_run()
            signal = run_signal(step, limit_kb, sizes.get("prog", 0))
            if signal:
                out.signals.add(signal)
            return out
        out.cases = []
        for kind, file in (("script", SCRIPT), ("unit", UNIT), ("calls", SOLUTION)):
            if getattr(tests, kind) is None:
                continue
            step = result.step(kind)
            if kind == "calls":
                run = read_calls_step(step, job.nonce, kind, job.judging[kind], LITERALS,
                                      MEMORY_MARKERS, SOLUTION)
            else:
                run = read_test_step(step, job.nonce, kind, file, MEMORY_MARKERS)
            out.cases.extend(split_assertions(c) for c in run.cases)
            out.signals |= run.signals
            if "runtime_error" in run.signals and memory_exhausted(
                    step, limit_kb, sizes.get(PROGRAMS[kind], 0)):
                out.signals.add("memory_limit")
            if out.run is None:
                out.run = step.to_run()
        for i, case in enumerate(tests.io or []):
            step = result.step(f"io-{i}")
            tc, signal = io_case(i, case.stdout, step, case.name, MEMORY_MARKERS,
                                 checker=tests.io_checker)
            if signal == "runtime_error" and memory_exhausted(step, limit_kb,
                                                              sizes.get("prog", 0)):
                signal = "memory_limit"
            out.cases.append(tc)
            if signal:
                out.signals.add(signal)
            if out.run is None and tc.outcome != Outcome.passed:
                out.run = step.to_run()
        return out


# ---------------------------------------------------------------------- verdict helpers
def memory_exhausted(step: StepResult, limit_kb: int, static_kb: int = 0) -> bool:
    """A crashed user process whose peak memory, or whose static data alone (a huge global
    array: the kernel kills it while loading it), reached the memory limit (RLIMIT_DATA)."""
    if step.status != "signaled":
        return False
    peak = max(step.memory_kb or 0, static_kb)
    return peak >= MEMORY_FRACTION * limit_kb


def static_sizes_kb(size_output: str) -> dict[str, int]:
    """`size -A -d prog ...` -> program -> KB of static data (.data + .bss)."""
    sizes: dict[str, int] = {}
    current = None
    for line in size_output.splitlines():
        if line.rstrip().endswith(" :"):
            current = line.rstrip()[:-2].strip()
            sizes[current] = 0
            continue
        parts = line.split()
        if current and len(parts) >= 2 and parts[0] in (".data", ".bss") and parts[1].isdigit():
            sizes[current] += int(parts[1]) // 1024
    return sizes


def run_signal(step: StepResult, limit_kb: int, static_kb: int = 0) -> str | None:
    """The verdict signal of the run-only program."""
    if step.status in STATUS_SIGNAL:
        return STATUS_SIGNAL[step.status]
    if (any(m in step.stderr for m in MEMORY_MARKERS)
            or memory_exhausted(step, limit_kb, static_kb)):
        return "memory_limit"
    if not step.succeeded:
        return "runtime_error"
    return None


ASSERTION = re.compile(r"^Assertion `(?P<expr>.*)' failed", re.DOTALL)


def split_assertions(case: TestCase) -> TestCase:
    """`Assertion `f(x) == y' failed` -> actual `f(x)`, expected `y` (as source text)."""
    if case.outcome != Outcome.failed or case.expected is not None or not case.message:
        return case
    m = ASSERTION.match(case.message)
    if not m:
        return case
    parts = split_equality(m.group("expr"))
    if parts is None:
        return case
    case.actual, case.expected = parts
    case.message += " [expected/actual: the source text of both sides]"
    return case


def split_equality(expr: str) -> tuple[str, str] | None:
    """Split `a == b` at its single top-level `==` (none inside brackets, strings, && or ||)."""
    depth = 0
    quote = ""
    found: list[int] = []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            pair = expr[i:i + 2]
            if pair in ("&&", "||") or ch == "?" or ch == ",":
                return None
            if pair == "==":
                found.append(i)
                i += 2
                continue
        i += 1
    if len(found) != 1:
        return None
    left, right = expr[:found[0]].strip(), expr[found[0] + 2:].strip()
    return (left, right) if left and right else None


# ---------------------------------------------------------------------- source scanning
_TOKENS = re.compile(
    r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.DOTALL)


def strip_comments(source: str) -> str:
    """Comments and string/char literals blanked out (newlines kept, so lines still match)."""
    def blank(m: re.Match[str]) -> str:
        text = m.group(0)
        if text.startswith(("/", )):
            return re.sub(r"[^\n]", " ", text)
        return text[0] + re.sub(r"[^\n]", " ", text[1:-1]) + text[-1]

    return _TOKENS.sub(blank, source.replace("\\\n", ""))


_TEST_FN = re.compile(
    r"^[ \t]*(?:static[ \t]+)?(?:inline[ \t]+)?void[ \t\n]+(test\w*)[ \t\n]*\([ \t\n]*"
    r"(?:void)?[ \t\n]*\)[ \t\n]*\{", re.MULTILINE)
MAX_UNIT_TESTS = 1000


def find_unit_tests(source: str) -> list[str]:
    """Names of the `void test_xxx(void) {` definitions in a C test source, in order."""
    names: list[str] = []
    for m in _TEST_FN.finditer(strip_comments(source)):
        if m.group(1) not in names:
            names.append(m.group(1))
    return names[:MAX_UNIT_TESTS]


_MAIN = re.compile(r"\bmain[ \t\n]*\(")


def has_main(source: str) -> bool:
    return bool(_MAIN.search(strip_comments(source)))


_DEFINE = re.compile(r"^[ \t]*(?:#|%:)[ \t]*define[ \t]+([A-Za-z_]\w*)", re.MULTILINE)


def macro_names(source: str) -> set[str]:
    return set(_DEFINE.findall(strip_comments(source)))


# ---------------------------------------------------------------------- drivers
def _head(kind: str, guarded: list[str]) -> list[str]:
    lines = [
        f"/* generated by codefeedback: the solution, then the {kind} tests, in one unit */",
        f'#include "{HARNESS}/cf_prelude.h"',
        "#define main cf_solution_main",
        f'#include "{SOLUTION}"',
        "#undef main",
    ]
    for name in guarded:
        lines.append(f"#undef {name}")
        if name in STANDARD_MACROS:
            lines.append(f"#define {name} {STANDARD_MACROS[name]}")
    lines.append(f'#include "{HARNESS}/cf_test.h"')
    return lines


_SUITE_NAMES = ["cf_suite_kind", "cf_suite_count", "cf_suite_names", "cf_suite_fns"]


def script_driver(with_main: bool, guarded: list[str] = ()) -> str:
    lines = _head("script", list(guarded))
    if with_main:
        lines.append(f'#include "{SCRIPT}"')
    else:
        lines += ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>",
                  "#include <stdbool.h>", "#include <math.h>", "int main(void) {",
                  f'#include "{SCRIPT}"', "return 0;", "}"]
    lines += [f"#undef {n}" for n in _SUITE_NAMES]
    lines += ["const int cf_suite_kind = 1;", "const int cf_suite_count = 1;",
              'const char *const cf_suite_names[] = {"script", 0};',
              "void (*const cf_suite_fns[])(void) = {0};", ""]
    return "\n".join(lines)


def unit_driver(names: list[str], guarded: list[str] = ()) -> str:
    lines = _head("unit", list(guarded))
    lines += ["#define main cf_tests_main", f'#include "{UNIT}"', "#undef main"]
    lines += [f"#undef {n}" for n in _SUITE_NAMES]
    lines += [
        "const int cf_suite_kind = 2;",
        f"const int cf_suite_count = {len(names)};",
        "const char *const cf_suite_names[] = {" + "".join(f'"{n}", ' for n in names) + "0};",
        "void (*const cf_suite_fns[])(void) = {" + "".join(f"{n}, " for n in names) + "0};",
        "int main(void) { return 0; }", "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------- gcc output
def _rel(path: str | None) -> str | None:
    if not path:
        return None
    for prefix in ("/work/", "./"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def _char_column(loc: dict, sources: dict[str, str]) -> int | None:
    """gcc's 1-based byte column -> 1-based character column (tabs count as one)."""
    byte_col, line = loc.get("byte-column"), loc.get("line")
    text = sources.get(_rel(loc.get("file")) or "")
    if isinstance(byte_col, int) and isinstance(line, int) and text is not None:
        lines = text.splitlines()
        if 1 <= line <= len(lines):
            raw = lines[line - 1].encode("utf-8", "surrogatepass")
            return len(raw[:max(0, byte_col - 1)].decode("utf-8", "replace")) + 1
    col = loc.get("column")
    return col if isinstance(col, int) else None


def _severity(kind: str) -> str:
    if "error" in kind or kind in ("sorry, unimplemented", "ice"):
        return "error"
    return "warning" if kind == "warning" else "info"


def gcc_json_diagnostics(items: list, sources: dict[str, str]) -> list[Diagnostic]:
    """gcc's -fdiagnostics-format=json array -> diagnostics (mapping in the module docstring)."""
    out = []
    for it in items:
        if not isinstance(it, dict):
            continue
        message = str(it.get("message", ""))
        notes = []
        for child in (it.get("children") or [])[:3]:
            if not isinstance(child, dict):
                continue
            where = ""
            locs = child.get("locations") or []
            caret = (locs[0].get("caret") or {}) if locs and isinstance(locs[0], dict) else {}
            if caret.get("line"):
                where = f" at {_rel(caret.get('file'))}:{caret.get('line')}"
            notes.append(f"{child.get('kind', 'note')}: {child.get('message', '')}{where}")
        if notes:
            message += " (" + "; ".join(notes) + ")"
        locs = it.get("locations") or []
        first = locs[0] if locs and isinstance(locs[0], dict) else {}
        caret, finish = first.get("caret") or {}, first.get("finish") or {}
        end_col = _char_column(finish, sources) if finish else None
        out.append(Diagnostic(
            tool="gcc", severity=_severity(str(it.get("kind", "error"))),
            code=it.get("option") or None, message=message[:2000],
            file=_rel(caret.get("file")), line=caret.get("line"),
            column=_char_column(caret, sources) if caret else None,
            end_line=finish.get("line") if finish else None,
            end_column=end_col + 1 if end_col is not None else None))
    return out


_LD_LOCATED = re.compile(r"^(?:.*?: )?(?P<file>[\w./+-]+\.[ch]):(?P<line>\d+):\s*(?P<msg>.+)$")
_LD_ERRORS = ("undefined reference to", "multiple definition of", "relocation truncated",
              "cannot find", "File too large", "No space left", "Cannot allocate memory")
_TOOL_ERRORS = re.compile(
    r"^(?:gcc|cc1|as|collect2|ld|/usr/bin/ld|/usr/bin/as)(?:: |\S*: )?(?:fatal error|error|"
    r"Fatal error)?:?\s*(?P<msg>.*(?:fatal error|Fatal error|Killed signal|terminated|"
    r"File too large|No space left|Cannot allocate|virtual memory exhausted|out of memory).*)$")


def parse_gcc_output(stderr: str, sources: dict[str, str]) -> tuple[list[Diagnostic], str]:
    """gcc's stderr (JSON arrays + linker/driver text) -> (diagnostics, the text lines)."""
    diags: list[Diagnostic] = []
    text: list[str] = []
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("["):
            try:
                items = json.loads(line)
            except ValueError:
                items = None
            if isinstance(items, list):
                diags += gcc_json_diagnostics(items, sources)
                continue
        text.append(line)
        if line.startswith("collect2: error: ld returned"):
            continue
        m = _LD_LOCATED.match(line)
        if m and any(e in m.group("msg") for e in _LD_ERRORS):
            diags.append(Diagnostic(tool="ld", severity="error", message=m.group("msg")[:2000],
                                    file=_rel(m.group("file")), line=int(m.group("line"))))
        elif any(e in line for e in _LD_ERRORS):
            msg = line.split(": ", 1)[-1] if ": " in line else line
            if "undefined reference to `main'" in line:
                msg += " (io and run-only tests need a main function)"
            if "File too large" in line or "No space left" in line:
                msg += " (the program is too large to build: huge initialised static data?)"
            diags.append(Diagnostic(tool="ld", severity="error", message=msg[:2000]))
        else:
            m2 = _TOOL_ERRORS.match(line)
            if m2:
                msg = line
                if "Killed signal terminated program" in line or "out of memory" in line:
                    msg += (" (the compiler ran out of the service's build memory or time: "
                            "a compile-time bomb such as exponential macro expansion?)")
                diags.append(Diagnostic(tool="gcc", severity="error", message=msg[:2000]))
    return _dedupe_ld(diags, sources), "\n".join(text)


def _dedupe_ld(diags: list[Diagnostic], sources: dict[str, str]) -> list[Diagnostic]:
    """One linker error per message, located in a submitted file when ld named one."""
    out: list[Diagnostic] = []
    best: dict[str, Diagnostic] = {}
    for d in diags:
        if d.tool != "ld":
            out.append(d)
            continue
        if d.file is not None and d.file not in sources:
            d.file, d.line = None, None
        have = best.get(d.message)
        if have is None:
            best[d.message] = d
            out.append(d)
        elif have.file is None and d.file is not None:
            have.file, have.line = d.file, d.line
    return out


def build_diagnostics(step: StepResult, sources: dict[str, str]) -> tuple[list[Diagnostic], str]:
    if not step.ran:
        return [], ""
    return parse_gcc_output(step.stderr, sources)


def build_failure(step: StepResult, found: list[Diagnostic]) -> list[Diagnostic]:
    """A clear error for a build that failed without (or beyond) its own diagnostics."""
    why = {
        "timeout": "the compiler took longer than the service's build time limit",
        "oom": "the compiler ran out of the service's build memory",
        "output_limit": f"the compiler's output exceeded {COMPILE_OUTPUT_KB} KB "
                        "(an error flood, or a program too large to build)",
        "signaled": f"the compiler was killed by signal {step.signal}",
        "skipped": None,
        "missing": "the build did not run",
        "error": f"the build could not start: {step.message}",
    }.get(step.status)
    if step.status == "skipped":
        return []
    if why is None:
        if any(d.severity == "error" for d in found):
            return []
        tail = step.stderr.strip()[-1500:]
        why = f"the build failed (exit code {step.exit_code})" + (f": {tail}" if tail else "")
    return [Diagnostic(tool="gcc", severity="error", message=why)]


def render_output(diags: list[Diagnostic], texts: list[str]) -> str:
    """A gcc-like text form of the build output (the raw JSON is not useful to read)."""
    lines = []
    for d in diags:
        where = ":".join(str(x) for x in (d.file, d.line, d.column) if x is not None)
        code = f" [{d.code}]" if d.code else ""
        severity = getattr(d.severity, "value", d.severity)
        lines.append(f"{where + ': ' if where else ''}{severity}: {d.message}{code}")
    extra = "\n".join(texts).strip()
    out = "\n".join(lines) + ("\n" + extra if extra else "")
    return out[-8000:]


RUNNER = CRunner()
