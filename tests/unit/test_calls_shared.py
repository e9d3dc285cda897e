"""The shared `calls` layer: the comparison rule, signatures, literals and the fail-closed reader."""

from __future__ import annotations

import json
import math

import pytest

from codefeedback.models import CallTests
from runners.base import StepResult
from runners.calls.judge import JudgedCase, read_calls_step
from runners.calls.literals import Literals, PythonLiterals, call_text
from runners.calls.signature import SignatureError, parse_signature, parse_type, signature_of
from runners.calls.values import Tolerance, compare, decode


@pytest.mark.parametrize(("expected", "actual", "same"), [
    (3, 3, True), (3, 3.0, True), (3.0, 3, True), (True, 1, False), (1, True, False),
    (False, 0, False), ([1, [2]], [1, [2]], True), ([1, 2], [2, 1], False),
    ({"a": 1}, {"a": 1.0}, True), ({"a": 1}, {"b": 1}, False), (None, 0, False),
    ("3", 3, False), (float("nan"), float("nan"), True), (1.0, float("nan"), False),
    (10**40, 10**40, True), (10**40, 10**40 + 1, False), (math.inf, math.inf, True),
    (0.3, 0.1 + 0.2, False), ([], {}, False),
])
def test_one_rule(expected, actual, same: bool) -> None:
    assert (compare(expected, actual) is None) is same


def test_tolerance_like_isclose_and_strict() -> None:
    assert compare(0.3, 0.1 + 0.2, Tolerance(rel=1e-9)) is None
    assert compare(1.0, 1.05, Tolerance(abs=0.1)) is None
    assert compare(1.0, 1.2, Tolerance(abs=0.1)) is not None
    assert compare(1.0, 1.05, Tolerance(abs=0.05, strict=True)) is not None
    assert compare(True, 1.0, Tolerance(abs=1)) is not None  # bool is never a number


def test_signature_forms() -> None:
    assert str(parse_type("List[Dict[str, Optional[int]]]")) == "list[dict[str, Optional[int]]]"
    assert str(parse_type("tuple[int, ...]")) == "tuple[int, ...]"
    sig = parse_signature("(a: int, b: list[float]) -> str | None")
    assert [str(p) for p in sig.params] == ["int", "list[float]"]
    assert str(sig.returns) == "Optional[str]"
    for bad in ("set[int]", "dict[int, str]", "list[int", "int int", "(int ->"):
        with pytest.raises(SignatureError):
            parse_signature(bad if bad.startswith("(") else f"({bad}) -> int")


def test_signature_checks_the_cases() -> None:
    calls = CallTests(function="f", cases=[{"args": [1, [1.5]], "expected": "x"}],
                      signature={"params": ["int", "list[float]"], "returns": "str"})
    assert signature_of(calls) is not None
    calls.cases[0].args = [True, [1.5]]
    with pytest.raises(SignatureError, match="bool"):
        signature_of(calls)


def test_literals() -> None:
    py = PythonLiterals()
    assert py.render([None, True, 1.5, "a'b", {"k": [1]}]) == "[None, True, 1.5, \"a'b\", {'k': [1]}]"
    assert py.render(float("nan")) == "float('nan')"
    assert Literals().render({"a": None}) == '{"a": null}'
    assert call_text("add", [1, "x"], py) == "add(1, 'x')"


def _step(*events: dict, nonce: str = "N", status: str = "ok", code: int = 0) -> StepResult:
    lines = "\n".join(json.dumps({**e, "nonce": e.get("nonce", nonce)}) for e in events)
    return StepResult(status=status, exit_code=code, report=lines)


CASES = [JudgedCase(name="case 0", expected=3, call="add(1, 2)"),
         JudgedCase(name="case 1", expected=[1, 2], call="add([1], [2])")]


def test_reader_compares_outside() -> None:
    run = read_calls_step(_step({"event": "call", "index": 0, "value": "3"},
                                {"event": "call", "index": 1, "value": "[1, 3]"},
                                {"event": "done"}), "N", "calls", CASES, PythonLiterals())
    assert [c.outcome.value for c in run.cases] == ["passed", "failed"]
    assert (run.cases[1].expected, run.cases[1].actual) == ("[1, 2]", "[1, 3]")


@pytest.mark.parametrize("events", [
    [{"event": "call", "index": 0, "value": "3"}, {"event": "call", "index": 1, "value": "[1,2]"}],
    [{"event": "call", "index": 0, "value": "3"}, {"event": "call", "index": 0, "value": "3"},
     {"event": "call", "index": 1, "value": "[1,2]"}, {"event": "done"}],
    [{"event": "call", "index": 0, "value": "3", "nonce": "forged"},
     {"event": "call", "index": 1, "value": "[1,2]"}, {"event": "done"}],
    [{"event": "call", "index": 0, "refused": "a value of type Yes"},
     {"event": "call", "index": 1, "value": "[1,2]"}, {"event": "done"}],
    [{"event": "load_error", "message": "boom"}, {"event": "done"}],
])
def test_reader_fails_closed(events: list[dict]) -> None:
    run = read_calls_step(_step(*events), "N", "calls", CASES, PythonLiterals())
    assert any(c.outcome.value != "passed" for c in run.cases)


def test_decode_accepts_nan_and_refuses_junk() -> None:
    ok, value = decode("NaN")
    assert ok and math.isnan(value)
    assert decode("{not json")[0] is False
