"""The one type and comparison rule of trusted judging (CONTRACT.md `calls`).

Both sides are plain JSON values here: `expected` from the request, `actual` decoded from what
the sandbox sent (the in-sandbox serialiser already refused anything that was not exactly a
builtin type). `bool` never equals a number, `int` and `float` compare numerically (integers
exactly at any size), tuples arrive as lists, NaN matches only an expected NaN, object keys are
strings and must match as a set.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tolerance:
    """`|a-b| <= max(abs, rel*|expected|)`; `strict` makes it `<` (from `abs(x - y) < tol`)."""

    rel: float = 0.0
    abs: float = 0.0
    strict: bool = False


EXACT = Tolerance()
MAX_DEPTH = 200


def compare(expected: Any, actual: Any, tol: Tolerance = EXACT) -> str | None:
    """None when `actual` matches `expected`; otherwise where and why it does not."""
    return _cmp(expected, actual, tol, "", 0)


def _num(v: Any) -> bool:
    return type(v) in (int, float)


def _cmp(exp: Any, act: Any, tol: Tolerance, path: str, depth: int) -> str | None:
    where = f" at {path}" if path else ""
    if depth > MAX_DEPTH:
        return f"values nested deeper than {MAX_DEPTH} levels{where}"
    if type(exp) is bool or type(act) is bool:
        if type(exp) is bool and type(act) is bool and exp == act:
            return None
        return f"expected {kind(exp)} {short(exp)}, got {kind(act)} {short(act)}{where}"
    if _num(exp) and _num(act):
        return None if numbers_match(exp, act, tol) else \
            f"expected {short(exp)}, got {short(act)}{where}"
    if type(exp) is not type(act):
        return f"expected {kind(exp)}, got {kind(act)} {short(act)}{where}"
    if type(exp) is list:
        if len(exp) != len(act):
            return f"expected {len(exp)} elements, got {len(act)}{where}"
        for i, (e, a) in enumerate(zip(exp, act, strict=True)):
            why = _cmp(e, a, tol, f"{path}[{i}]", depth + 1)
            if why:
                return why
        return None
    if type(exp) is dict:
        if set(exp) != set(act):
            missing, extra = sorted(set(exp) - set(act)), sorted(set(act) - set(exp))
            parts = ([f"missing keys {missing[:5]}"] if missing else []) + (
                [f"unexpected keys {extra[:5]}"] if extra else [])
            return ", ".join(parts) + where
        for key in exp:
            why = _cmp(exp[key], act[key], tol, f"{path}[{json.dumps(key)}]", depth + 1)
            if why:
                return why
        return None
    return None if exp == act else f"expected {short(exp)}, got {short(act)}{where}"


def numbers_match(exp: int | float, act: int | float, tol: Tolerance = EXACT) -> bool:
    if type(exp) is int and type(act) is int:
        if tol.abs == 0 and tol.rel == 0:
            return exp == act
    if isinstance(exp, float) and math.isnan(exp):
        return isinstance(act, float) and math.isnan(act)
    if isinstance(act, float) and math.isnan(act):
        return False
    try:
        e, a = float(exp), float(act)
    except OverflowError:  # an int beyond a double: only exact equality can hold
        return exp == act
    if math.isinf(e) or math.isinf(a):
        return e == a
    if tol.abs == 0 and tol.rel == 0:
        return exp == act  # int == float compares exactly in Python
    bound = max(tol.abs, tol.rel * abs(e))
    diff = abs(e - a)
    return diff < bound if tol.strict else diff <= bound


def kind(v: Any) -> str:
    return {type(None): "null", bool: "bool", int: "int", float: "float", str: "string",
            list: "list", dict: "object"}.get(type(v), type(v).__name__)


def short(v: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(v, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decode(text: str) -> tuple[bool, Any]:
    """The value a sandbox sent as JSON text (NaN and ±Infinity allowed); (False, None) if junk."""
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None
