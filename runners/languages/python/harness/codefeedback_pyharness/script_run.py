"""Run the solution and then the test script in one `__main__` namespace (HumanEval style).

`assert left == right` statements in the test script are rewritten (on the AST, before any user
code runs) so a failure carries both values: `left` is the actual value, `right` the expected.
The rewrite uses only an assignment expression and the assert statement itself, so user code
cannot disable it by rebinding a name. The run passes only if the harness reaches its own
completion report after the script: SystemExit, os._exit or a killed process all fail.
"""

from __future__ import annotations

import ast
import sys
import traceback
import types

from codefeedback_pyharness import emit, open_channel, short_repr

MARK = "__cf_eq__"


class _EqAsserts(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        test = node.test
        if (isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.ops[0], ast.Eq)):
            actual = ast.NamedExpr(target=ast.Name("_cf_actual_", ast.Store()), value=test.left)
            expected = ast.NamedExpr(target=ast.Name("_cf_expected_", ast.Store()),
                                     value=test.comparators[0])
            msg = ast.Tuple([ast.Constant(MARK), ast.Name("_cf_actual_", ast.Load()),
                             ast.Name("_cf_expected_", ast.Load()),
                             node.msg or ast.Constant(None)], ast.Load())
            new = ast.Assert(test=ast.Compare(actual, [ast.Eq()], [expected]), msg=msg)
            return ast.copy_location(new, node)
        return node


def _line_in(tb: types.TracebackType | None, filename: str) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


def _tail(exc: BaseException, limit: int = 3000) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return text[-limit:]


def main() -> int:
    open_channel()
    solution_path, tests_path = sys.argv[1], sys.argv[2]
    with open(solution_path, encoding="utf-8") as fh:
        solution_src = fh.read()
    with open(tests_path, encoding="utf-8") as fh:
        tests_src = fh.read()
    try:
        solution_code = compile(solution_src, solution_path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        emit("compile_error", file=solution_path, line=exc.lineno, column=exc.offset,
             message=f"SyntaxError: {exc.msg}")
        return 2
    try:
        tree = _EqAsserts().visit(ast.parse(tests_src, filename=tests_path))
        ast.fix_missing_locations(tree)
        tests_code = compile(tree, tests_path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        emit("compile_error", file=tests_path, line=exc.lineno, column=exc.offset,
             message=f"SyntaxError: {exc.msg}")
        return 2
    emit("expected", tests=["script"])
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
        args = exc.args[0] if exc.args else None
        data: dict[str, object] = {"message": _tail(exc)}
        if isinstance(args, tuple) and len(args) == 4 and args[0] == MARK:
            data["actual"], data["expected"] = short_repr(args[1]), short_repr(args[2])
            data["message"] = "AssertionError" + (f": {args[3]}" if args[3] is not None else "")
        data["line"] = _line_in(exc.__traceback__, tests_path)
        data["solution_line"] = _line_in(exc.__traceback__, solution_path)
        emit("test", name="script", outcome="failed", **data)
        emit("done")
        return 1
    except SystemExit as exc:
        emit("test", name="script", outcome="error",
             message=f"the program exited early (SystemExit({exc.code!r})) before the tests finished",
             line=_line_in(exc.__traceback__, tests_path))
        emit("done")
        return 1
    except BaseException as exc:  # noqa: BLE001 - any crash of the user program
        emit("test", name="script", outcome="error", message=_tail(exc),
             error_type=type(exc).__name__,
             line=_line_in(exc.__traceback__, tests_path),
             solution_line=_line_in(exc.__traceback__, solution_path))
        emit("done")
        return 1
    emit("test", name="script", outcome="passed")
    emit("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
