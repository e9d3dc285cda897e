"""Signatures of `calls`: `int`, `float`, `bool`, `str`, `None`, `list[T]`, `dict[str, T]`,
`tuple[T, ...]`, `Optional[T]` (Python annotation syntax), parsed without `eval` or `ast`.

The string alias is `(int, list[int]) -> int`. A runner that needs types (C, and the statically
typed languages to come) asks `signature_of(calls)`; dynamic languages may ignore it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from codefeedback.models import CallTests, Signature

SCALARS = {"int", "float", "bool", "str", "None", "Any"}
ALIASES = {"List": "list", "Dict": "dict", "Tuple": "tuple", "string": "str", "double": "float",
           "NoneType": "None", "none": "None", "Optional": "Optional", "typing.List": "list"}
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<punct>\.\.\.|[\[\],|]))")


class SignatureError(ValueError):
    """A signature the service cannot read (an API 422)."""


@dataclass(frozen=True)
class Type:
    """`name` is a scalar, `list`, `dict`, `tuple` or `Optional`; `args` its parameters."""

    name: str
    args: tuple[Type, ...] = ()
    variadic: bool = False  # tuple[T, ...]

    def __str__(self) -> str:
        if not self.args:
            return self.name
        inner = ", ".join(str(a) for a in self.args) + (", ..." if self.variadic else "")
        return f"{self.name}[{inner}]"

    @property
    def element(self) -> Type:
        """The element type of a list (or of a homogeneous tuple), the value type of a dict."""
        return self.args[-1] if self.args else ANY


ANY = Type("Any")


@dataclass
class ParsedSignature:
    params: list[Type] = field(default_factory=list)
    returns: Type = field(default_factory=lambda: Type("None"))


def parse_type(text: str) -> Type:
    tokens: list[tuple[str | None, str | None]] = []
    at = 0
    while at < len(text.rstrip()):
        m = _TOKEN.match(text, at)
        if not m:
            raise SignatureError(f"cannot read type {text!r}")
        tokens.append((m.group("name"), m.group("punct")))
        at = m.end()
    pos = 0

    def parse() -> Type:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos][0] is None:
            raise SignatureError(f"type expected in {text!r}")
        name = ALIASES.get(tokens[pos][0], tokens[pos][0])
        pos += 1
        args: list[Type] = []
        variadic = False
        if pos < len(tokens) and tokens[pos][1] == "[":
            pos += 1
            while True:
                if pos < len(tokens) and tokens[pos][1] == "...":
                    variadic = True
                    pos += 1
                else:
                    args.append(parse())
                if pos < len(tokens) and tokens[pos][1] == ",":
                    pos += 1
                    continue
                if pos < len(tokens) and tokens[pos][1] == "]":
                    pos += 1
                    break
                raise SignatureError(f"']' expected in {text!r}")
        result = _check(Type(name, tuple(args), variadic), text)
        if pos < len(tokens) and tokens[pos][1] == "|":  # int | None
            pos += 1
            other = parse()
            if other.name == "None":
                return Type("Optional", (result,))
            if result.name == "None":
                return Type("Optional", (other,))
            raise SignatureError(f"only `T | None` unions are supported, not {text!r}")
        return result

    out = parse()
    if pos != len(tokens):
        raise SignatureError(f"unexpected text after the type in {text!r}")
    return out


def _check(t: Type, text: str) -> Type:
    arity = {"list": 1, "dict": 2, "Optional": 1}
    if t.name in SCALARS:
        if t.args:
            raise SignatureError(f"{t.name} takes no parameters in {text!r}")
    elif t.name in arity:
        if len(t.args) != arity[t.name] or t.variadic:
            raise SignatureError(f"{t.name} needs {arity[t.name]} type parameter(s) in {text!r}")
        if t.name == "dict" and t.args[0].name != "str":
            raise SignatureError(f"dict keys must be str (JSON object keys) in {text!r}")
    elif t.name == "tuple":
        if not t.args or (t.variadic and len(t.args) != 1):
            raise SignatureError(f"tuple needs types, or `tuple[T, ...]`, in {text!r}")
    else:
        raise SignatureError(
            f"unknown type {t.name!r} in {text!r}; use int, float, bool, str, None, list[T], "
            "dict[str, T], tuple[T, ...] or Optional[T]")
    return t


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts]


def parse_signature(sig: Signature | str | None) -> ParsedSignature | None:
    """The signature of a `calls` test, or None when none was given."""
    if sig is None:
        return None
    if isinstance(sig, Signature):
        return ParsedSignature([parse_type(p) for p in sig.params], parse_type(sig.returns))
    m = re.fullmatch(r"\s*(?:def\s+\w+\s*)?\((?P<params>.*)\)\s*->\s*(?P<ret>.+?)\s*:?\s*", sig,
                     re.DOTALL)
    if not m:
        raise SignatureError("signature text must look like `(int, list[int]) -> int`")
    params = []
    for part in _split_top(m.group("params")):
        if ":" in part:  # `a: int`
            part = part.split(":", 1)[1]
        params.append(parse_type(part.strip()))
    return ParsedSignature(params, parse_type(m.group("ret")))


def signature_of(calls: CallTests) -> ParsedSignature | None:
    """Parse and check a `calls` test's signature against its cases (arity, value shapes)."""
    sig = parse_signature(calls.signature)
    if sig is None:
        return None
    for i, case in enumerate(calls.cases):
        if len(case.args) != len(sig.params):
            raise SignatureError(f"case {i} has {len(case.args)} argument(s); the signature "
                                 f"has {len(sig.params)}")
        for j, (value, t) in enumerate(zip(case.args, sig.params, strict=True)):
            problem = fits(value, t)
            if problem:
                raise SignatureError(f"case {i}, argument {j}: {problem}")
        if sig.returns.name != "None" or case.expected is not None:
            problem = fits(case.expected, sig.returns)
            if problem:
                raise SignatureError(f"case {i}, expected value: {problem}")
    return sig


def fits(value: Any, t: Type) -> str | None:
    """Why a JSON value does not have type `t` (None when it does)."""
    name = t.name
    if name == "Any":
        return None
    if name == "Optional":
        return None if value is None else fits(value, t.args[0])
    ok = {
        "None": value is None,
        "bool": type(value) is bool,
        "int": type(value) is int,
        "float": type(value) in (int, float),
        "str": type(value) is str,
        "list": type(value) is list,
        "tuple": type(value) is list,
        "dict": type(value) is dict,
    }[name]
    if not ok:
        return f"{_json_type(value)} {_short(value)} is not a {t}"
    if name == "list":
        for v in value:
            problem = fits(v, t.args[0])
            if problem:
                return problem
    elif name == "dict":
        for v in value.values():
            problem = fits(v, t.args[1])
            if problem:
                return problem
    elif name == "tuple":
        types = list(t.args) * len(value) if t.variadic else list(t.args)
        if len(types) != len(value):
            return f"{_short(value)} does not have {len(t.args)} elements ({t})"
        for v, et in zip(value, types, strict=False):
            problem = fits(v, et)
            if problem:
                return problem
    return None


def _json_type(value: Any) -> str:
    return {type(None): "null", bool: "bool", int: "int", float: "float", str: "string",
            list: "list", dict: "object"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
