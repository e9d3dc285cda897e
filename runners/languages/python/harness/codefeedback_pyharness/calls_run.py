"""Call the solution's function once per case and send each return value as plain JSON.

argv: `module|main SOLUTION CASES`. CASES (JSON, written by the worker) holds the function name
and each case's arguments only - as JSON text (`calls` tests) or as Python literal source
(HumanEval-style scripts judged as calls: tuples and sets stay what they were). Expected values
never come here: the worker compares. `module` loads the solution as the module `solution`,
`main` runs it as `__main__` (as a script test would). Each value is serialised by
`strict.to_json`, which refuses subclasses and objects with their own equality. A case that
raises, exits or tries to leave is reported as an error and the next case still runs; the run
counts only when the harness reaches `done`.
"""

from __future__ import annotations

import ast
import json
import sys
import time
import types

from codefeedback_pyharness import emit, line_in, open_channel, strict, traceback_tail

_loads, _literal_eval, _monotonic = json.loads, ast.literal_eval, time.monotonic


def _args(case: dict) -> tuple:
    if "python" in case:
        source = case["python"]
        return () if not source.strip() else tuple(_literal_eval(f"({source},)"))
    return tuple(_loads(case.get("json", "[]")))





def main() -> int:
    open_channel()
    mode, solution_path, cases_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(cases_path, encoding="utf-8") as fh:
        spec = _loads(fh.read())
    with open(solution_path, encoding="utf-8") as fh:
        source = fh.read()
    function, cases = spec["function"], spec["cases"]
    try:
        code = compile(source, solution_path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        emit("compile_error", file=solution_path, line=exc.lineno, column=exc.offset,
             message=f"SyntaxError: {exc.msg}")
        return 2
    name = "__main__" if mode == "main" else "solution"
    module = types.ModuleType(name)
    module.__file__ = solution_path
    module.__builtins__ = __builtins__
    sys.modules[name] = module
    sys.argv = [solution_path]
    try:
        exec(code, module.__dict__)  # noqa: S102 - the sandboxed user program
    except BaseException as exc:  # noqa: BLE001 - any failure to load the solution
        what = "exited while loading" if isinstance(exc, SystemExit) else "failed to load"
        emit("load_error", message=f"the solution {what}: {traceback_tail(exc, skip_harness=True)}",
             line=line_in(exc.__traceback__, solution_path))
        emit("done")
        return 1
    fn = module.__dict__.get(function)
    if not callable(fn):
        emit("load_error", message=f"the solution defines no function named {function!r}")
        emit("done")
        return 1
    for index, case in enumerate(cases):
        args = _args(case)
        emit("start", index=index)
        started = _monotonic()
        try:
            value = fn(*args)
        except SystemExit as exc:
            emit("call", index=index, error_type="SystemExit",
                 error=f"the function tried to exit (SystemExit({exc.code!r})) instead of "
                       "returning", duration_ms=int((_monotonic() - started) * 1000))
            continue
        except BaseException as exc:  # noqa: BLE001 - any crash of the call
            emit("call", index=index, error_type=type(exc).__name__,
                 error=traceback_tail(exc, skip_harness=True),
                 line=line_in(exc.__traceback__, solution_path),
                 duration_ms=int((_monotonic() - started) * 1000))
            continue
        ms = int((_monotonic() - started) * 1000)
        try:
            emit("call", index=index, value=strict.to_json(value), duration_ms=ms)
        except strict.Refused as exc:
            emit("call", index=index, refused=str(exc), duration_ms=ms)
        except BaseException as exc:  # noqa: BLE001 - a value that breaks while being read
            emit("call", index=index, error_type=type(exc).__name__,
                 error=f"the return value could not be read: {traceback_tail(exc, 1000)}",
                 duration_ms=ms)
    emit("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
