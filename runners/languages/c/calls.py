"""`calls` tests in C: the checks of a signature, the generated driver, C literals for feedback.

The solution and a generated driver (cf_calls.c) are compiled as one translation unit; each case
is a function of the driver that calls the solution's function with harness-owned arguments and
hands the return value to the harness (harness/cf_values.c), which serialises it as JSON by its
C type inside the sandbox. Each case runs in its own forked child. Expected values stay on the
worker (`JudgedCase`), which compares (runners/calls/judge.py).
"""

from __future__ import annotations

import math
from typing import Any

from codefeedback.models import CallTests
from runners.calls.judge import JudgedCase
from runners.calls.literals import Literals
from runners.calls.signature import (
    ParsedSignature,
    SignatureError,
    Type,
    parse_signature,
    signature_of,
)
from runners.calls.values import EXACT, Tolerance

SCALARS = {"int", "float", "bool", "str"}
ELEMENT_C = {"int": "int", "float": "double", "bool": "_Bool", "str": "char *"}
INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)

SUPPORT = (
    "`calls` (C): `tests.calls.signature` is required ({\"params\": [...], \"returns\": ...} or "
    "`(int, list[int]) -> int`). Types: `int` (any C integer type: the argument is an integer "
    "literal converted to the parameter's type, so `int add(int a, int b)`, `long` and `long "
    "long` all work; arguments must fit in 64 bits), `float` (`double`; `float` parameters "
    "work, a `float` return is judged at float precision), `bool` (`bool` from stdbool.h; a "
    "`bool` return must have the C type `bool`: an `int` 0/1 is a number and does not equal "
    "true/false), `str` (`const char *` or `char *` in: a writable NUL-terminated UTF-8 copy; "
    "`char *`/`const char *` out; strings must not contain NUL), `Optional[str]` (NULL is null,"
    " both ways; a `str` return of NULL is null too, which matches only an expected null), "
    "`None` return (`void`), and one-level arrays `list[int]` (`int *`, elements must fit in 32"
    " bits), `list[float]` (`double *`), `list[bool]` (`bool *`), `list[str]` (`char **` or "
    "`const char **`). An array parameter is passed as two C parameters: the pointer, then its "
    "length as `int`, e.g. `(list[int], int) -> int` is `int f(int *xs, int n, int k)`. An "
    "array return adds a last parameter `int *out_len` that the function must set; it returns a"
    " pointer to the elements (malloc'd or static, never freed; NULL is null: declare "
    "`Optional[list[T]]` to expect it), e.g. `(list[int]) -> list[int]` is `int *f(int *xs, int"
    " n, int *out_len)`. Return values are judged by their C type (integers exactly, doubles "
    "printed with %.17g, NaN/Infinity kept, strings must be UTF-8, at most 1 MB of JSON). The "
    "harness owns the arguments: fresh writable copies in every case, and each case runs in its"
    " own forked process, so a crash, exit() or abort() ends only that case (as an error, never"
    " a pass). The solution and the driver are one translation unit (static functions work; "
    "`main` is ignored). Expected values never enter the sandbox."
)


class CLiterals(Literals):
    """JSON values as C literals (TESTCASE expected/actual, call texts)."""

    null = "NULL"

    def float(self, v: float, t: Type) -> str:
        if math.isnan(v):
            return "NAN"
        if math.isinf(v):
            return "INFINITY" if v > 0 else "-INFINITY"
        return repr(v)

    def str(self, v: str, t: Type) -> str:
        out = []
        for ch in v:
            code = ord(ch)
            if ch in '"\\':
                out.append("\\" + ch)
            elif ch in "\n\t\r":
                out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
            elif code < 0x20 or code == 0x7F:
                out.append(f"\\x{code:02x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'

    def list(self, items: list[str], t: Type) -> str:
        return "{" + ", ".join(items) + "}"


LITERALS = CLiterals()


# ---------------------------------------------------------------------- checks
def check_calls(calls: CallTests) -> ParsedSignature:
    """The signature of a `calls` test if C can run it; raises SignatureError saying why not."""
    if calls.signature is None:
        raise SignatureError(
            "C needs `tests.calls.signature`, e.g. {\"params\": [\"int\", \"int\"], "
            "\"returns\": \"int\"} or \"(int, int) -> int\"")
    if calls.function == "main" or calls.function.lower().startswith(("cf_", "__wrap_",
                                                                       "__real_")):
        raise SignatureError(f"function {calls.function!r} cannot be called by `calls` in C "
                             "(main and cf_/__wrap_ names are the harness's)")
    parsed = parse_signature(calls.signature)
    assert parsed is not None
    for i, t in enumerate(parsed.params):
        _supported(t, f"parameter {i}")
    if parsed.returns.name != "None":
        _supported(parsed.returns, "the return type")
    sig = signature_of(calls)  # arity and value shapes
    assert sig is not None
    for i, case in enumerate(calls.cases):
        for j, (value, t) in enumerate(zip(case.args, sig.params, strict=True)):
            problem = _value_problem(value, t)
            if problem:
                raise SignatureError(f"case {i}, argument {j}: {problem}")
    return sig


def _supported(t: Type, what: str) -> None:
    if t.name == "Optional" and t.args[0].name in ("str", "list"):  # a NULL pointer is null
        _supported(t.args[0], what)
        return
    if t.name in SCALARS or (t.name == "list" and t.args[0].name in SCALARS):
        return
    raise SignatureError(
        f"{what} has type {t}, which C `calls` do not support; supported: int, float, bool, "
        "str, list[int], list[float], list[bool], list[str], Optional[str], Optional[list[T]] "
        "(and None as the return type)")


def _value_problem(value: Any, t: Type) -> str | None:
    if t.name == "Optional":
        return None if value is None else _value_problem(value, t.args[0])
    if t.name == "list":
        for k, item in enumerate(value):
            problem = _value_problem(item, t.args[0])
            if problem is None and t.args[0].name == "int" and not INT32[0] <= item <= INT32[1]:
                problem = f"{item} does not fit a C int (list[int] is passed as `int *`)"
            if problem:
                return f"element {k}: {problem}"
        return None
    if t.name == "int" and not INT64[0] <= value <= INT64[1]:
        return f"{value} does not fit in 64 bits"
    if t.name == "str":
        if "\0" in value:
            return "a C string cannot contain NUL"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "the string is not valid Unicode (a lone surrogate)"
    return None


def tolerance(calls: CallTests) -> Tolerance:
    tol = calls.float_tolerance
    return Tolerance(rel=tol.rel, abs=tol.abs) if tol is not None else EXACT


def judged_cases(calls: CallTests, sig: ParsedSignature) -> list[JudgedCase]:
    tol = tolerance(calls)
    return [JudgedCase(name=c.name or f"case {i}", expected=c.expected, tolerance=tol,
                       call=call_text(calls.function, c.args, sig))
            for i, c in enumerate(calls.cases)]


def call_text(function: str, args: list[Any], sig: ParsedSignature, limit: int = 300) -> str:
    """`sum((int[]){1, 2, 3}, 3, &out_len)`: the call exactly as the driver makes it."""
    parts = []
    for value, t in zip(args, sig.params, strict=True):
        t = _bare(t)
        if value is None:
            parts += ["NULL", "0"] if t.name == "list" else ["NULL"]
        elif t.name == "list":
            ctype = ELEMENT_C[t.args[0].name]
            parts.append(f"({ctype}[]){LITERALS.render(value, t)}")
            parts.append(str(len(value)))
        else:
            parts.append(LITERALS.render(value, t))
    if _bare(sig.returns).name == "list":
        parts.append("&out_len")
    text = f"{function}({', '.join(parts)})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bare(t: Type) -> Type:
    return t.args[0] if t.name == "Optional" else t


def driver_hint(calls: CallTests, sig: ParsedSignature) -> str:
    """Appended to a gcc diagnostic in the generated driver: how it calls the function."""
    first = calls.cases[0]
    return (f" (in the generated `calls` driver, which calls {call_text(calls.function, first.args, sig)}"
            " as the signature says; the C conventions are in GET /v1/languages/c, `calls`)")


# ---------------------------------------------------------------------- the driver
def c_string(value: str) -> str:
    """A C string literal of the UTF-8 bytes (octal escapes for anything not plain ASCII)."""
    out = []
    for b in value.encode("utf-8"):
        ch = chr(b)
        if 0x20 <= b < 0x7F and ch not in '"\\?':
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def c_scalar(value: Any, t: Type) -> str:
    if t.name == "bool":
        return "1" if value else "0"
    if t.name == "int":
        if value == INT64[0]:
            return "(-9223372036854775807LL - 1)"
        return f"{value}LL" if not INT32[0] <= value <= INT32[1] else str(value)
    v = float(value)
    if math.isnan(v):
        return '__builtin_nan("")'
    if math.isinf(v):
        return "__builtin_inf()" if v > 0 else "(-__builtin_inf())"
    return repr(v)


def case_function(index: int, function: str, args: list[Any], sig: ParsedSignature) -> list[str]:
    """One case: its arguments as static (per-process, writable) data, then the call."""
    decls: list[str] = []
    call_args: list[str] = []
    for j, (value, t) in enumerate(zip(args, sig.params, strict=True)):
        name = f"cf_a{j}"
        t = _bare(t)
        if value is None:  # Optional: a NULL pointer (and length 0 for an array)
            call_args += ["0", "0"] if t.name == "list" else ["0"]
        elif t.name == "str":
            decls.append(f"static char {name}[] = {c_string(value)};")
            call_args.append(name)
        elif t.name == "list":
            et = t.args[0]
            if et.name == "str":
                for k, item in enumerate(value):
                    decls.append(f"static char {name}_{k}[] = {c_string(item)};")
                items = [f"{name}_{k}" for k in range(len(value))] + ["0"]
                decls.append(f"static char *{name}[] = {{{', '.join(items)}}};")
                call_args.append(f"(void *){name}")  # char ** or const char ** alike
            else:
                ctype = ELEMENT_C[et.name]
                if value:
                    items = ", ".join(c_scalar(v, et) for v in value)
                    decls.append(f"static {ctype} {name}[] = {{{items}}};")
                else:
                    decls.append(f"static {ctype} {name}[1];")
                call_args.append(name)
            call_args.append(str(len(value)))
        else:
            call_args.append(c_scalar(value, t))
    lines = [f"static void cf_case_{index}(void)", "{"]
    lines += ["    " + d for d in decls]
    if _bare(sig.returns).name == "list":
        lines += ["    union { long long ll; int i[2]; } cf_n = {0};", "    cf_n.i[0] = -1;"]
        call = f"{function}({', '.join(call_args + ['&cf_n.i[0]'])})"
        lines.append(f"    CF_RET_LIST({call}, cf_n);")
    elif sig.returns.name == "None":
        lines.append(f"    {function}({', '.join(call_args)});")
        lines.append("    cf_ret_none();")
    else:
        lines.append(f"    CF_RET({function}({', '.join(call_args)}));")
    lines.append("}")
    return lines


def calls_driver(head: list[str], calls: CallTests, sig: ParsedSignature,
                 harness: str, undefine: list[str]) -> str:
    """The whole driver: `head` includes the solution (runner._head), then the cases."""
    lines = list(head)
    lines += [f"#undef {name}" for name in undefine]
    lines.append(f'#include "{harness}/cf_calls.h"')
    for i, case in enumerate(calls.cases):
        lines += case_function(i, calls.function, case.args, sig)
    n = len(calls.cases)
    lines += [
        "const int cf_suite_kind = 3;",
        f"const int cf_suite_count = {n};",
        "const char *const cf_suite_names[] = {" + "".join(f'"case {i}", ' for i in range(n))
        + "0};",
        "void (*const cf_suite_fns[])(void) = {" + "".join(f"cf_case_{i}, " for i in range(n))
        + "0};",
        "int main(void) { return 0; }", "",
    ]
    return "\n".join(lines)
