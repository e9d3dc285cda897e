"""Run the user's pytest file, one report line per test on the private channel.

Before pytest imports anything of the user's, the test source is parsed (not run) to name the
tests it must report (`expected`); the worker treats a missing result as a failure. The source
comes in the step's spec (the file in /work is an empty placeholder, so the solution cannot read
the expected values) and the test module is compiled here: `assert a == b` / `!=` become the
type-strict checks of `strict.py` (as in script tests), then pytest's own assertion rewriting
runs. After every test phase the protected modules are compared with their fingerprint
(`guard.py`), and a report that says `passed` for a call that raised is refused: either voids
the run. In `assert f(x) == y`, `f(x)` is the actual value and `y` the expected one. Plugins are
not autoloaded and conftest.py files are ignored.
"""

from __future__ import annotations

import ast
import linecache
import os
import sys
import traceback
import types
import warnings

import pytest
from _pytest.assertion.rewrite import rewrite_asserts

from codefeedback_pyharness import emit, open_channel, short_repr, strict, tests_source
from codefeedback_pyharness.guard import Guard
from codefeedback_pyharness.rewrite import bind, rewrite

SOURCE: dict[str, str] = {}


def load_module(path: str, config: object) -> types.ModuleType:
    """Compile the test source (strict asserts, then pytest's rewriting) and import it."""
    source = SOURCE[path]
    tree = rewrite(ast.parse(source, filename=path))
    rewrite_asserts(tree, source.encode("utf-8"), path, config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        code = bind(compile(tree, path, "exec", dont_inherit=True))
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)
    name = os.path.splitext(os.path.basename(path))[0]
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    exec(code, module.__dict__)  # noqa: S102 - the sandboxed test module
    return module


class StrictModule(pytest.Module):
    """A pytest Module whose object is compiled by `load_module`, not by pytest's importer."""

    def _getobj(self):  # noqa: ANN202
        try:
            return load_module(str(self.path), self.config)
        except Exception as exc:  # noqa: BLE001 - reported as a collection error
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            raise self.CollectError(f"error while importing the test module:\n{text[-3000:]}") \
                from None


def expected_tests(source: str, filename: str) -> list[str]:
    """Names pytest will collect from the file: test_* functions and Test* class methods."""
    names: list[str] = []
    for node in ast.parse(source, filename=filename).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    names.append(f"{node.name}::{item.name}")
    return names


class Reporter:
    """A pytest plugin that forwards each test's outcome to the private channel."""

    def __init__(self, test_file: str) -> None:
        self.test_file = os.path.abspath(test_file)
        self.compare: dict[str, tuple[str, str]] = {}
        self.current: str | None = None
        self.failure_line: dict[str, int] = {}
        self.guard: Guard | None = None
        self.tampered: list[str] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session) -> None:  # noqa: ANN001
        # Fingerprint once pytest has set itself up and before the test module (and with it
        # the solution) is imported during collection.
        self.guard = Guard()

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(self, module_path, parent):  # noqa: ANN001, ANN201
        if os.path.abspath(str(module_path)) == self.test_file:
            return StrictModule.from_parent(parent, path=module_path)
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:  # noqa: ANN001
        # Before pytest unconfigures itself (its legacy-path plugin then removes attributes).
        self.check("the end of the session")

    def check(self, where: str) -> None:
        if self.tampered:
            return
        if self.guard is None:
            self.tampered = ["the session never started"]
            emit("tamper", changes=self.tampered, where=where)
            return
        changed = self.guard.changes()
        if changed:
            self.tampered = changed
            emit("tamper", changes=changed, where=where)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple) -> None:
        self.current = nodeid
        emit("start", name=nodeid.split("::", 1)[-1])

    def pytest_assertrepr_compare(self, config: object, op: str, left: object, right: object):
        if op == "==" and self.current is not None:
            self.compare[self.current] = (short_repr(left), short_repr(right))
        return None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):  # noqa: ANN001, ANN201
        outcome = yield
        report = outcome.get_result()
        if call.excinfo is not None and getattr(report, "outcome", None) == "passed" \
                and not self.tampered:
            self.tampered = [f"the report of {item.nodeid} ({call.when}) says passed, but the "
                             f"test raised {call.excinfo.typename}"]
            emit("tamper", changes=self.tampered, where=item.nodeid)
        if call.excinfo is None:
            return
        if call.when == "call" and strict.LAST[0] is call.excinfo.value:
            details = strict.LAST[1]
            self.compare[item.nodeid] = (details["actual"], details["expected"])
        line = None
        for entry in call.excinfo.traceback:
            if os.path.abspath(str(entry.path)) == self.test_file:
                line = entry.lineno + 1
        if line is not None:
            self.failure_line[item.nodeid] = line

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            emit("collect_error", message=str(report.longreprtext)[-4000:])

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "teardown":  # fixtures (monkeypatch) have undone their changes
            self.check(report.nodeid)
        if report.when != "call" and report.passed:
            return
        if report.when == "teardown" and report.skipped:
            return
        name = report.nodeid.split("::", 1)[-1]
        data: dict[str, object] = {"name": name, "duration_ms": int(report.duration * 1000)}
        if report.passed:
            data["outcome"] = "passed"
        elif report.skipped:
            data["outcome"] = "skipped"
            data["message"] = "xfail" if hasattr(report, "wasxfail") else _skip_reason(report)
        else:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longreprtext)
            is_assert = message.startswith("AssertionError") or message.startswith("assert ")
            data["outcome"] = "failed" if report.when == "call" and is_assert else "error"
            data["message"] = message[:2000]
            data["traceback"] = str(report.longreprtext)[-3000:]
            data["line"] = self.failure_line.get(report.nodeid)
            if report.nodeid in self.compare and data["outcome"] == "failed":
                data["actual"], data["expected"] = self.compare[report.nodeid]
            if report.when != "call":
                data["message"] = f"error in {report.when}: {data['message']}"
        if report.capstdout:
            data["stdout"] = report.capstdout[-2000:]
        if report.capstderr:
            data["stderr"] = report.capstderr[-2000:]
        emit("test", **data)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return "skipped"


def main() -> int:
    open_channel()
    test_file = sys.argv[1]
    source = tests_source.take(test_file)
    SOURCE[os.path.abspath(test_file)] = source
    try:
        expected = expected_tests(source, test_file)
    except SyntaxError as exc:
        emit("compile_error", file=test_file, line=exc.lineno, column=exc.offset,
             message=f"SyntaxError: {exc.msg}")
        return 2
    emit("expected", tests=expected)
    reporter = Reporter(test_file)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    # No terminal reporter: results travel on the private channel, and pytest's own summary
    # would only be noise in the program's output.
    args = [test_file, "-p", "no:terminal", "-p", "no:cacheprovider", "--noconftest",
            "-p", "no:stepwise", "--rootdir", os.path.dirname(os.path.abspath(test_file)),
            "-o", "addopts=", "-c", os.devnull, "-W", "ignore::DeprecationWarning"]
    code = pytest.main(args, plugins=[reporter])
    if reporter.guard is None:
        reporter.check("pytest did not start the session")
    emit("done", exit=int(code))
    return 0 if int(code) in (0, 1) else int(code)


if __name__ == "__main__":
    raise SystemExit(main())
