"""Run the user's pytest file, one report line per test on the private channel.

Before pytest imports anything of the user's, the test file is parsed (not run) to name the
tests it must report (`expected`); the worker treats a missing result as a failure. Assertion
values come from `pytest_assertrepr_compare`: in `assert f(x) == y`, `f(x)` is the actual value
and `y` the expected one. Plugins are not autoloaded and conftest.py files are ignored.
"""

from __future__ import annotations

import ast
import os
import sys

import pytest

from codefeedback_pyharness import emit, open_channel, short_repr


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

    def pytest_runtest_logstart(self, nodeid: str, location: tuple) -> None:
        self.current = nodeid
        emit("start", name=nodeid.split("::", 1)[-1])

    def pytest_assertrepr_compare(self, config: object, op: str, left: object, right: object):
        if op == "==" and self.current is not None:
            self.compare[self.current] = (short_repr(left), short_repr(right))
        return None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):  # noqa: ANN001, ANN201
        yield
        if call.excinfo is None:
            return
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
    with open(test_file, encoding="utf-8") as fh:
        source = fh.read()
    try:
        expected = expected_tests(source, test_file)
    except SyntaxError as exc:
        emit("compile_error", file=test_file, line=exc.lineno, column=exc.offset,
             message=f"SyntaxError: {exc.msg}")
        return 2
    emit("expected", tests=expected)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    # No terminal reporter: results travel on the private channel, and pytest's own summary
    # would only be noise in the program's output.
    args = [test_file, "-p", "no:terminal", "-p", "no:cacheprovider", "--noconftest",
            "-p", "no:stepwise", "--rootdir", os.path.dirname(os.path.abspath(test_file)),
            "-o", "addopts=", "-c", os.devnull, "-W", "ignore::DeprecationWarning"]
    code = pytest.main(args, plugins=[Reporter(test_file)])
    emit("done", exit=int(code))
    return 0 if int(code) in (0, 1) else int(code)


if __name__ == "__main__":
    raise SystemExit(main())
