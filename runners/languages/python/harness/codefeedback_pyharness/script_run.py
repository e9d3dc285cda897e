"""Run the solution and then the test script in one `__main__` namespace (HumanEval style).

`assert left == right` (and `!=`) in the test script are rewritten on the AST, before any user
code runs, into the type-strict check of `strict.py` (`left` is the actual value, `right` the
expected): against a plain value, a subclass or an object with its own `__eq__` never passes.
The check is a constant of the compiled code, so user code cannot rebind it. The test source
arrives in the step's spec, not as a file. After the script, the protected modules are compared
with their fingerprint (`guard.py`): a patched builtin, operator or harness voids the run. The
run passes only if the harness reaches its own completion report after the script:
SystemExit, os._exit or a killed process all fail.
"""

from __future__ import annotations

import ast
import sys
import types

from codefeedback_pyharness import (
    emit,
    line_in,
    open_channel,
    strict,
    tests_source,
    traceback_tail,
)
from codefeedback_pyharness.guard import Guard
from codefeedback_pyharness.rewrite import compile_strict


def main() -> int:
    open_channel()
    solution_path, tests_path = sys.argv[1], sys.argv[2]
    with open(solution_path, encoding="utf-8") as fh:
        solution_src = fh.read()
    tests_src = tests_source.take(tests_path)
    try:
        solution_code = compile(solution_src, solution_path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        emit("compile_error", file=solution_path, line=exc.lineno, column=exc.offset,
             message=f"SyntaxError: {exc.msg}")
        return 2
    try:
        tests_code = compile_strict(ast.parse(tests_src, filename=tests_path), tests_path)
    except SyntaxError as exc:
        emit("compile_error", file=tests_path, line=exc.lineno, column=exc.offset,
             message=f"SyntaxError: {exc.msg}")
        return 2
    emit("expected", tests=["script"])
    guard = Guard()
    module = types.ModuleType("__main__")
    module.__file__ = solution_path
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    sys.argv = [solution_path]
    emit("start", name="script")
    try:
        exec(solution_code, module.__dict__)  # noqa: S102 - this is the sandboxed user program
        exec(tests_code, module.__dict__)  # noqa: S102
    except AssertionError as exc:
        data: dict[str, object] = {"message": traceback_tail(exc)}
        if strict.LAST[0] is exc:
            details = strict.LAST[1]
            data["actual"], data["expected"] = details["actual"], details["expected"]
            data["message"] = str(exc)[:3000]
        data["line"] = line_in(exc.__traceback__, tests_path)
        data["solution_line"] = line_in(exc.__traceback__, solution_path)
        emit("test", name="script", outcome="failed", **data)
        emit("done")
        return 1
    except SystemExit as exc:
        emit("test", name="script", outcome="error",
             message=f"the program exited early (SystemExit({exc.code!r})) before the tests finished",
             line=line_in(exc.__traceback__, tests_path))
        emit("done")
        return 1
    except BaseException as exc:  # noqa: BLE001 - any crash of the user program
        emit("test", name="script", outcome="error", message=traceback_tail(exc),
             error_type=type(exc).__name__,
             line=line_in(exc.__traceback__, tests_path),
             solution_line=line_in(exc.__traceback__, solution_path))
        emit("done")
        return 1
    changed = guard.changes()
    if changed:
        emit("tamper", changes=changed)
        emit("done")
        return 1
    emit("test", name="script", outcome="passed")
    emit("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
