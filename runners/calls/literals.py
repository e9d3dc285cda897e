"""Rendering JSON values as literals of a language: arguments into generated code, and the
expected/actual values of a TESTCASE in the syntax the model wrote (feedback reads naturally).

A language subclasses `Literals` and overrides what differs; `render(value, type)` dispatches on
the signature's type when there is one, else on the JSON value.
"""

from __future__ import annotations

import json
import math
from typing import Any

from runners.calls.signature import ANY, Type


class Literals:
    """Defaults produce JSON-like text; override per language."""

    null = "null"
    true = "true"
    false = "false"

    def render(self, value: Any, t: Type = ANY) -> str:
        if t.name == "Optional":
            return self.none(t) if value is None else self.render(value, t.args[0])
        if value is None:
            return self.none(t)
        if type(value) is bool:
            return self.true if value else self.false
        if type(value) is int and t.name != "float":
            return self.int(value, t)
        if type(value) in (int, float):
            return self.float(float(value), t)
        if type(value) is str:
            return self.str(value, t)
        if type(value) is list:
            if t.name == "tuple":
                types = list(t.args) * len(value) if t.variadic else list(t.args)
                return self.tuple([self.render(v, et) for v, et in zip(value, types, strict=False)],
                                  t)
            return self.list([self.render(v, t.element) for v in value], t)
        if type(value) is dict:
            return self.dict({k: self.render(v, t.element) for k, v in value.items()}, t)
        raise TypeError(f"not a JSON value: {type(value).__name__}")

    def none(self, t: Type) -> str:
        return self.null

    def int(self, v: int, t: Type) -> str:
        return str(v)

    def float(self, v: float, t: Type) -> str:
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return repr(v)

    def str(self, v: str, t: Type) -> str:
        return json.dumps(v, ensure_ascii=False)

    def list(self, items: list[str], t: Type) -> str:
        return "[" + ", ".join(items) + "]"

    def tuple(self, items: list[str], t: Type) -> str:
        return self.list(items, t)

    def dict(self, items: dict[str, str], t: Type) -> str:
        return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in items.items()) + "}"


class PythonLiterals(Literals):
    null, true, false = "None", "True", "False"

    def float(self, v: float, t: Type) -> str:
        if math.isnan(v):
            return "float('nan')"
        if math.isinf(v):
            return "float('inf')" if v > 0 else "-float('inf')"
        return repr(v)

    def str(self, v: str, t: Type) -> str:
        return repr(v)

    def tuple(self, items: list[str], t: Type) -> str:
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"

    def dict(self, items: dict[str, str], t: Type) -> str:
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in items.items()) + "}"


def call_text(function: str, args: list[Any], lit: Literals, limit: int = 300) -> str:
    """`add(1, 2)`: how a case is named in feedback."""
    text = f"{function}({', '.join(lit.render(a) for a in args)})"
    return text if len(text) <= limit else text[: limit - 1] + "…"
