"""Recognise HumanEval / MultiPL-E shaped Python test scripts so they can be judged like `calls`
(DESIGN.md "Trusted comparison"). Pure analysis: the script is parsed with `ast.parse` and only
literal nodes are evaluated, with `ast.literal_eval` on the node; nothing is executed.

Recognised (anything else -> None, and the script runs in-process as before):
* ignored statements: `METADATA = <literal>`, `import` / `from ... import` (not binding the
  function's name, no `*`), docstrings, `assert True[, msg]`;
* checks, each `assert <check>[, msg]` where `<check>` is
  `<call> == <literal>` or `<literal> == <call>`, `<call> is True|False|None`,
  `abs(<call> - <number>) < <number>` or `abs(<number> - <call>) < <number>` (or `<=`);
* the checks stand at top level calling the solution's function by name, or inside
  `def check(<param>):` calling `<param>(...)`, with `check(<name>)` once at top level after it
  (or MultiPL-E's `def test_check():\n    check(<name>)` and `test_check()`).
A call's arguments are positional literals only; the expected value must be plain under the type
rule (deeply None, bool, int, float, str, list, tuple, dict with str keys; tuples become lists).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Any

MAX_SCRIPT_BYTES = 1_000_000
MAX_DEPTH = 100
CALL_SOURCE_CAP = 300
_CHECK, _TEST_CHECK, _METADATA = "check", "test_check", "METADATA"
_EOL = re.compile(rb"\r\n|\r|\n")
_RESERVED = {_CHECK, _TEST_CHECK, _METADATA, "abs"}


@dataclass
class ScriptCall:
    line: int                 # 1-based line of the assert in the script
    args_source: str          # Python source of the positional arguments ("" for none)
    call_source: str          # the call as written with the function's real name (cap 300 chars)
    expected: Any             # the literal's value as a plain JSON-able value (tuples -> lists)
    tolerance: float | None   # from `abs(<call> - <number>) < tol`, else None
    tolerance_strict: bool = True          # `<` (True) or `<=` (False); only with a tolerance
    args: tuple[Any, ...] = field(default=())  # the evaluated arguments (tuples/sets kept)


@dataclass
class ScriptCalls:
    function: str             # the name the calls go to (e.g. from `check(has_close_elements)`)
    cases: list[ScriptCall]


class _NotRecognised(Exception):
    pass


def recognise(script: str, max_cases: int = 500) -> ScriptCalls | None:
    """The script's checks as calls, or None when it is not exactly the recognised shape."""
    try:
        if not isinstance(script, str) or len(script) > MAX_SCRIPT_BYTES \
                or len(script.encode("utf-8", "surrogatepass")) > MAX_SCRIPT_BYTES:
            return None
        return _Recogniser(script, max_cases).run()
    except _NotRecognised:
        return None
    except Exception:  # noqa: BLE001 - SyntaxError, RecursionError, MemoryError, ValueError, ...
        return None


def _fail() -> None:
    raise _NotRecognised


class _Recogniser:
    def __init__(self, script: str, max_cases: int) -> None:
        self.script = script
        self.max_cases = max_cases
        self.bound: set[str] = set()      # names imports and METADATA bind at top level
        self.cases: list[ScriptCall] = []
        self.function: str | None = None
        self._data = script.encode("utf-8", "surrogatepass")
        self._starts = _line_starts(self._data)

    def _segment(self, node: ast.expr) -> str:
        """The node's source (ast.get_source_segment re-splits the whole script per call)."""
        end_line, end_col = node.end_lineno, node.end_col_offset
        if end_line is None or end_col is None:
            _fail()
        start = self._starts[node.lineno - 1] + node.col_offset
        end = self._starts[end_line - 1] + end_col
        return self._data[start:end].decode("utf-8", "surrogatepass")

    def run(self) -> ScriptCalls | None:
        tree = ast.parse(self.script)
        check: ast.FunctionDef | None = None    # `def check(param)`, not yet called
        test_check_target: str | None = None    # the name `test_check` passes to check
        checked = False                        # check's asserts have been taken (once only)
        defined: set[str] = set()
        for stmt in tree.body:
            if _ignorable(stmt):
                continue
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                self._bind_import(stmt)
            elif isinstance(stmt, ast.Assign):
                if not (len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                        and stmt.targets[0].id == _METADATA):
                    _fail()
                ast.literal_eval(stmt.value)
                self.bound.add(_METADATA)
            elif isinstance(stmt, ast.Assert):
                self._take_assert(stmt, None)
            elif isinstance(stmt, ast.FunctionDef):
                if stmt.name in defined or not _plain_def(stmt):
                    _fail()
                defined.add(stmt.name)
                if stmt.name == _CHECK:
                    if len(stmt.args.args) != 1 or stmt.args.args[0].arg in _RESERVED:
                        _fail()
                    check = stmt
                elif stmt.name == _TEST_CHECK:
                    if stmt.args.args or check is None:
                        _fail()
                    body = [s for s in stmt.body if not _docstring(s)]
                    if len(body) != 1:
                        _fail()
                    test_check_target = _check_call_target(body[0])
                    if test_check_target is None:
                        _fail()
                else:
                    _fail()
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                target = _check_call_target(stmt)
                if target is not None:
                    if check is None or checked or _TEST_CHECK in defined:
                        _fail()
                elif (_TEST_CHECK in defined and isinstance(stmt.value.func, ast.Name)
                      and stmt.value.func.id == _TEST_CHECK and not stmt.value.args
                      and not stmt.value.keywords and not checked):
                    target = test_check_target
                else:
                    _fail()
                assert check is not None and target is not None
                self._set_function(target)
                for inner in check.body:
                    if _ignorable(inner):
                        continue
                    if not isinstance(inner, ast.Assert):
                        _fail()
                    self._take_assert(inner, check.args.args[0].arg)
                checked = True
            else:
                _fail()
        if check is not None and not checked:
            _fail()
        if not self.cases or self.function is None:
            return None
        if self.function in self.bound or self.function in defined:
            return None
        return ScriptCalls(function=self.function, cases=self.cases)

    def _set_function(self, name: str) -> None:
        if name in _RESERVED or (self.function is not None and self.function != name):
            _fail()
        self.function = name

    def _bind_import(self, stmt: ast.Import | ast.ImportFrom) -> None:
        for alias in stmt.names:
            if alias.name == "*":
                _fail()
            self.bound.add(alias.asname or alias.name.split(".")[0])

    def _take_assert(self, stmt: ast.Assert, param: str | None) -> None:
        """One `assert <check>[, msg]`; `param` is check's parameter (None at top level)."""
        test = stmt.test
        if not isinstance(test, ast.Compare) or len(test.ops) != 1:
            _fail()
        left, op, right = test.left, test.ops[0], test.comparators[0]
        tolerance: float | None = None
        strict = True
        if isinstance(op, ast.Eq):
            if self._is_call(left, param):
                call, lit = left, right
            elif self._is_call(right, param):
                call, lit = right, left
            else:
                _fail()
            expected = _plain(ast.literal_eval(lit), 0)
        elif isinstance(op, ast.Is):
            if not (self._is_call(left, param) and isinstance(right, ast.Constant)
                    and (right.value is True or right.value is False or right.value is None)):
                _fail()
            call, expected = left, right.value
        elif isinstance(op, ast.Lt | ast.LtE):
            strict = isinstance(op, ast.Lt)
            call, expected, tolerance = self._abs_diff(left, right, param)
        else:
            _fail()
        assert isinstance(call, ast.Call)
        self._add_case(stmt, call, expected, tolerance, strict, param)

    def _abs_diff(self, left: ast.expr, right: ast.expr,
                  param: str | None) -> tuple[ast.Call, Any, float]:
        """`abs(<call> - <number>) < <number>` or `abs(<number> - <call>) < <number>`."""
        if not (isinstance(left, ast.Call) and isinstance(left.func, ast.Name)
                and left.func.id == "abs" and len(left.args) == 1 and not left.keywords
                and isinstance(left.args[0], ast.BinOp) and isinstance(left.args[0].op, ast.Sub)):
            _fail()
        diff = left.args[0]
        assert isinstance(diff, ast.BinOp)
        if self._is_call(diff.left, param):
            call, num = diff.left, diff.right
        elif self._is_call(diff.right, param):
            call, num = diff.right, diff.left
        else:
            _fail()
        expected = _number(num)
        tol = _number(right)
        if not tol > 0 or not math.isfinite(tol) or not math.isfinite(expected):
            _fail()
        assert isinstance(call, ast.Call)
        return call, expected, float(tol)

    def _is_call(self, node: ast.expr, param: str | None) -> bool:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            return False
        if param is not None:
            return node.func.id == param
        if node.func.id in _RESERVED:
            return False
        return True

    def _add_case(self, stmt: ast.Assert, call: ast.Call, expected: Any,
                  tolerance: float | None, strict: bool, param: str | None) -> None:
        if call.keywords:
            _fail()
        for arg in call.args:
            if isinstance(arg, ast.Starred):
                _fail()
        if param is None:
            assert isinstance(call.func, ast.Name)
            self._set_function(call.func.id)
        if len(self.cases) >= self.max_cases:
            _fail()
        args = tuple(ast.literal_eval(a) for a in call.args)
        args_source = ", ".join(self._segment(a) for a in call.args)
        assert self.function is not None
        call_source = f"{self.function}({args_source})"
        if len(call_source) > CALL_SOURCE_CAP:
            call_source = call_source[: CALL_SOURCE_CAP - 1] + "…"
        self.cases.append(ScriptCall(line=stmt.lineno, args_source=args_source,
                                     call_source=call_source, expected=expected,
                                     tolerance=tolerance,
                                     tolerance_strict=strict if tolerance is not None else True,
                                     args=args))


def _line_starts(data: bytes) -> list[int]:
    """Byte offset of each line's start; lines end in \\n, \\r\\n or \\r (as in the tokenizer)."""
    return [0, *(m.end() for m in _EOL.finditer(data))]


def _docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
        and isinstance(stmt.value.value, str)


def _ignorable(stmt: ast.stmt) -> bool:
    """Docstrings and `assert True[, msg]`."""
    if _docstring(stmt):
        return True
    return isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Constant) \
        and stmt.test.value is True


def _plain_def(fn: ast.FunctionDef) -> bool:
    """No decorators, annotations, defaults or special parameters (nothing evaluated at def)."""
    a = fn.args
    if fn.decorator_list or fn.returns is not None or getattr(fn, "type_params", None):
        return False
    if a.posonlyargs or a.vararg or a.kwonlyargs or a.kwarg or a.defaults or a.kw_defaults:
        return False
    return all(p.annotation is None for p in a.args)


def _check_call_target(stmt: ast.stmt) -> str | None:
    """`check(<name>)` as a statement: the name, else None."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    if not (isinstance(call.func, ast.Name) and call.func.id == _CHECK and len(call.args) == 1
            and not call.keywords and isinstance(call.args[0], ast.Name)):
        return None
    return call.args[0].id


def _number(node: ast.expr) -> float | int:
    value = ast.literal_eval(node)
    if type(value) not in (int, float):
        _fail()
    return value


def _plain(value: Any, depth: int) -> Any:
    """The value under the type rule, tuples turned into lists; anything else is not recognised."""
    if depth > MAX_DEPTH:
        _fail()
    t = type(value)
    if value is None or t in (bool, int, float, str):
        return value
    if t in (list, tuple):
        return [_plain(v, depth + 1) for v in value]
    if t is dict:
        if any(type(k) is not str for k in value):
            _fail()
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    _fail()
    return None
