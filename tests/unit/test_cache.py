"""The result cache's key and rules (service/cache.py): no Redis, no Docker."""

from __future__ import annotations

from typing import Any

import pytest

from codefeedback.models import Feedback, Submission, Verdict
from service import cache
from service.cache import cache_key, cacheable

BASE: dict[str, Any] = {
    "language": "python",
    "code": "def add(a, b):\n    return a + b\n",
    "tests": {"script": "assert add(1, 2) == 3\n"},
    "problem": "Add two integers.",
    "files": {"data.csv": "a,b\n1,2\n"},
    "stdin": "1 2\n",
    "limits": {"time_s": 10, "memory_mb": 512, "output_kb": 64},
    "static_analysis": True,
    "feedback_max_chars": 4000,
    "metadata": {"sample": 7},
}
OWNER = "anonymous"
DIGEST = "sha256:" + "a" * 64


def key(owner: str = OWNER, digest: str = DIGEST, **changes: Any) -> str:
    return cache_key(Submission(**{**BASE, **changes}), owner, digest)


def test_key_is_stable_and_shaped() -> None:
    k = key()
    assert k == key()
    assert k.startswith(cache.CACHE) and len(k) == len(cache.CACHE) + 64
    # the same work written differently (dict order, int vs float limit) is the same key
    reordered = dict(reversed(list(BASE.items())))
    assert cache_key(Submission(**reordered), OWNER, DIGEST) == k
    assert key(limits={"time_s": 10.0, "memory_mb": 512, "output_kb": 64}) == k


@pytest.mark.parametrize("changes", [
    {"language": "c"},
    {"code": "def add(a, b):\n    return b + a\n"},
    {"code": BASE["code"] + " "},  # one byte
    {"tests": {"script": "assert add(2, 2) == 4\n"}},
    {"tests": {"unit": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"}},
    {"tests": {"script": BASE["tests"]["script"],
               "io": [{"stdin": "1 2\n", "stdout": "3\n"}]}},
    {"tests": {"calls": {"function": "add", "cases": [{"args": [1, 2], "expected": 3}]}}},
    {"files": {"data.csv": "a,b\n1,3\n"}},
    {"files": {"other.csv": "a,b\n1,2\n"}},
    {"files": None},
    {"stdin": ""},
    {"limits": {"time_s": 5, "memory_mb": 512, "output_kb": 64}},
    {"limits": {"time_s": 10, "memory_mb": 256, "output_kb": 64}},
    {"limits": {"time_s": 10, "memory_mb": 512, "output_kb": 32}},
    {"static_analysis": False},
    {"feedback_max_chars": 2000},
], ids=lambda c: ",".join(c))
def test_key_changes_with_every_input_that_matters(changes: dict[str, Any]) -> None:
    assert key(**changes) != key()


def test_calls_values_of_another_type_are_other_work() -> None:
    calls = {"function": "add", "cases": [{"args": [1, 2], "expected": 3}]}
    as_float = {"function": "add", "cases": [{"args": [1.0, 2], "expected": 3}]}
    as_bool = {"function": "add", "cases": [{"args": [True, 2], "expected": 3}]}
    keys = {key(tests={"calls": c}) for c in (calls, as_float, as_bool)}
    assert len(keys) == 3


def test_key_changes_with_owner_image_and_judge_version(monkeypatch: pytest.MonkeyPatch) -> None:
    k = key()
    assert key(owner="k_0123456789abcdef") != k  # a hit never crosses API keys
    assert key(digest="sha256:" + "b" * 64) != k  # a rebuilt runner image
    monkeypatch.setattr(cache, "JUDGE_VERSION", cache.JUDGE_VERSION + ".next")
    assert key() != k


@pytest.mark.parametrize("changes", [
    {"metadata": {"sample": 8}},
    {"metadata": None},
    {"problem": "Something else entirely."},
    {"problem": None},
    {"cache": False},
], ids=lambda c: ",".join(c))
def test_key_ignores_what_cannot_change_the_result(changes: dict[str, Any]) -> None:
    assert key(**changes) == key()


def fb(verdict: Verdict) -> Feedback:
    return Feedback(verdict=verdict, feedback=f"Verdict: {verdict.value}.")


@pytest.mark.parametrize("verdict", [Verdict.accepted, Verdict.wrong_answer,
                                     Verdict.compile_error, Verdict.runtime_error,
                                     Verdict.static_error, Verdict.output_limit])
def test_deterministic_verdicts_with_tests_are_cacheable(verdict: Verdict) -> None:
    assert cacheable(Submission(**BASE), fb(verdict))


@pytest.mark.parametrize("verdict", [Verdict.time_limit, Verdict.memory_limit,
                                     Verdict.internal_error])
def test_load_or_service_dependent_verdicts_are_never_cached(verdict: Verdict) -> None:
    assert not cacheable(Submission(**BASE), fb(verdict))


def test_run_only_submissions_are_never_cached() -> None:
    run_only = Submission(**{**BASE, "tests": None})
    assert not cacheable(run_only, fb(Verdict.accepted))
    # tests with no kind in them are no tests
    assert not cacheable(Submission(**{**BASE, "tests": {}}), fb(Verdict.accepted))
    assert not cacheable(Submission(**BASE), None)


def test_cached_flag_defaults() -> None:
    assert Submission(**BASE).cache is True
    assert Feedback(verdict=Verdict.accepted).cached is False
    stored = cache._encode(fb(Verdict.accepted).model_copy(update={"cached": True}))
    assert '"cached":false' in stored  # entries are stored neutral ...
    got = cache._decode(stored)
    assert got is not None and got.cached is True  # ... and read back as a hit
    assert got.verdict == Verdict.accepted
    assert cache._decode("{not json") is None and cache._decode(None) is None
