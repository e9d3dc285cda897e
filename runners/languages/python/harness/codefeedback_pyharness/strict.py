"""The type rule inside the sandbox: plain values only (DESIGN.md "Trusted comparison").

`to_json` serialises a `calls` return value, refusing anything that is not exactly a builtin
JSON type (no subclasses, no objects with their own `__eq__`); the worker compares it.
`check_eq` / `check_ne` are what rewritten `assert a == b` statements call in script and unit
tests: against a plain value, the other side must be plain too and they compare by value only.
Everything this module uses is bound when it is imported, before any user code runs.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring_ascii as _quote

_type, _len, _id, _repr, _zip, _isnan = type, len, id, repr, zip, math.isnan
_int_repr, _float_repr = int.__repr__, float.__repr__
_list, _tuple, _dict, _str, _bool, _float, _int = list, tuple, dict, str, bool, float, int
_none = type(None)
_sorted_keys = dict.keys
JSON_TYPES = frozenset((_none, bool, int, float, str, list, tuple, dict))
PLAIN_TYPES = JSON_TYPES | {set, frozenset, bytes, complex}
MAX_DEPTH = 200
MAX_JSON = 1 << 20


class Refused(Exception):
    """The value is not plain; the message names the type and where it was found."""


def type_name(value: object) -> str:
    t = _type(value)
    mod = getattr(t, "__module__", "?")
    bases = [b.__name__ for b in getattr(t, "__mro__", ())[1:-1] if b in PLAIN_TYPES]
    sub = f", a subclass of {bases[0]}" if bases else ""
    return f"{t.__qualname__}" + ("" if mod == "builtins" else f" (from {mod}{sub})")


def to_json(value: object) -> str:
    """JSON text of a plain value, or Refused. NaN/Infinity are written as JSON extensions."""
    out: list[str] = []
    size = [0]

    def put(text: str) -> None:
        size[0] += _len(text)
        if size[0] > MAX_JSON:
            raise Refused(f"a value larger than {MAX_JSON} bytes as JSON")
        out.append(text)

    def walk(v: object, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise Refused(f"a value nested deeper than {MAX_DEPTH} levels (a cycle?) at {path}")
        t = _type(v)
        if v is None:
            put("null")
        elif t is _bool:
            put("true" if v else "false")
        elif t is _int:
            try:
                put(_int_repr(v))
            except ValueError as exc:  # more digits than int_max_str_digits
                raise Refused(f"an int too large to send ({exc}) at {path}") from None
        elif t is _float:
            put("NaN" if _isnan(v) else "Infinity" if v == math.inf else
                "-Infinity" if v == -math.inf else _float_repr(v))
        elif t is _str:
            put(_quote(v))
        elif t is _list or t is _tuple:
            put("[")
            for i, item in enumerate(v):
                if i:
                    put(",")
                walk(item, f"{path}[{i}]", depth + 1)
            put("]")
        elif t is _dict:
            put("{")
            for i, key in enumerate(_sorted_keys(v)):
                if _type(key) is not _str:
                    raise Refused(f"a dict key of type {type_name(key)} at {path} "
                                  "(object keys must be str)")
                if i:
                    put(",")
                put(_quote(key) + ":")
                walk(_dict.__getitem__(v, key), f"{path}[{_quote(key)}]", depth + 1)
            put("}")
        else:
            where = f" at {path}" if path != "value" else ""
            raise Refused(f"a value of type {type_name(v)}{where}, not a plain value "
                          "(None, bool, int, float, str, list, tuple or dict; no subclasses)")

    walk(value, "value", 0)
    return "".join(out)


def is_plain(value: object, depth: int = 0) -> bool:
    t = _type(value)
    if t not in PLAIN_TYPES or depth > MAX_DEPTH:
        return False
    if t is _list or t is _tuple or t is set or t is frozenset:
        return all(is_plain(v, depth + 1) for v in value)
    if t is _dict:
        return all(is_plain(k, depth + 1) and is_plain(_dict.__getitem__(value, k), depth + 1)
                   for k in _sorted_keys(value))
    return True


def plain_equal(actual: object, expected: object, depth: int = 0) -> bool:
    """Equality of two plain values: bool is not a number, int/float numerically, tuples as
    lists, NaN equals an expected NaN. Only builtin methods of exact builtin types run here."""
    ta, te = _type(actual), _type(expected)
    if ta is _bool or te is _bool:
        return ta is te and actual is expected
    if ta in (_int, _float) and te in (_int, _float):
        if te is _float and _isnan(expected):
            return ta is _float and _isnan(actual)
        return actual == expected
    if ta in (_list, _tuple) and te in (_list, _tuple):
        return _len(actual) == _len(expected) and all(
            plain_equal(a, e, depth + 1) for a, e in _zip(actual, expected))
    if ta is not te:
        return False
    if ta is _dict:
        if _len(actual) != _len(expected):
            return False
        for key in _sorted_keys(expected):
            if not _dict.__contains__(actual, key):
                return False
            if not plain_equal(_dict.__getitem__(actual, key), _dict.__getitem__(expected, key),
                               depth + 1):
                return False
        return True
    return actual == expected  # str, bytes, complex, set, frozenset, None: builtin __eq__


def _approx(value: object) -> bool:
    mod = getattr(_type(value), "__module__", "")
    return mod in ("_pytest.python_api", "_pytest.approx") and _type(value).__name__ in (
        "ApproxScalar", "ApproxSequenceLike", "ApproxMapping", "ApproxDecimal")


# The last failure raised here: (the exception, its details). The harness reads it to report
# actual/expected without trusting the exception's own text.
LAST: list = [None, None]


def _show(value: object, limit: int = 1000) -> str:
    try:
        text = _repr(value)
    except BaseException as exc:  # noqa: BLE001 - a user object may break repr
        text = f"<unrepresentable {type_name(value)}: {_type(exc).__name__}>"
    if _type(text) is not _str:
        text = f"<{type_name(value)}>"
    return text if _len(text) <= limit else text[:limit] + "…"


def _fail(actual: object, expected: object, msg: object, note: str | None,
          op: str = "==") -> AssertionError:
    shown_a, shown_e = _show(actual), _show(expected)
    if not is_plain(actual):
        shown_a += f"  [type {type_name(actual)}]"
    text = f"assert {shown_a} {op} {shown_e}" + (f"  ({note})" if note else "")
    if msg is not None:
        text = f"{_show(msg) if _type(msg) is not _str else msg}\n{text}"
    exc = AssertionError(text)
    LAST[0], LAST[1] = exc, {"actual": shown_a, "expected": shown_e, "note": note}
    return exc


def _refuse(actual: object, expected: object, msg: object, op: str) -> AssertionError:
    bad = actual if not is_plain(actual) else expected
    side = "the left side" if bad is actual else "the right side"
    note = (f"{side} is a {type_name(bad)}, which is never equal to a plain value: values are "
            "compared only as None, bool, int, float, str, list, tuple, dict, set, bytes or "
            "complex (exact types, no subclasses)")
    return _fail(actual, expected, msg, note, op)


def check_eq(actual: object, expected: object, msg: object = None) -> bool:
    """`assert actual == expected`, type-strict against plain values (raises on failure)."""
    __tracebackhide__ = True  # pytest shows the test's line, not this frame
    a_plain, e_plain = is_plain(actual), is_plain(expected)
    if a_plain and e_plain:
        if plain_equal(actual, expected):
            return True
        raise _fail(actual, expected, msg, None)
    if (a_plain or e_plain) and not (a_plain and _approx(expected)):
        raise _refuse(actual, expected, msg, "==")
    if actual == expected:
        return True
    raise _fail(actual, expected, msg, None)


def check_ne(actual: object, expected: object, msg: object = None) -> bool:
    """`assert actual != expected`: against a plain value, both plain and different."""
    __tracebackhide__ = True
    a_plain, e_plain = is_plain(actual), is_plain(expected)
    if a_plain and e_plain:
        if not plain_equal(actual, expected):
            return True
        raise _fail(actual, expected, msg, "the values are equal", "!=")
    if (a_plain or e_plain) and not (a_plain and _approx(expected)):
        raise _refuse(actual, expected, msg, "!=")
    if actual != expected:
        return True
    raise _fail(actual, expected, msg, "the values are equal", "!=")

