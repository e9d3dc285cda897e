"""Dataset runs through the compose stack: honest code passes, buggy code does not.

HumanEvalPack Python (164 problems with a canonical and a human-written buggy solution) as
`script` tests, and, where `script_calls.recognise` takes the test apart, as `calls`; 20 MBPP
problems as `calls`. Built by bench/datasets_to_calls.py; posted as batches with
`static_analysis: false` and `cache: false` (every submission really runs).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from bench.datasets_to_calls import (
    ACCEPTED,
    DATASETS,
    SETS,
    convert_all,
    describe,
    meets,
    run_batches,
)
from runners.languages.python.script_calls import recognise

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Buggy solutions allowed to pass their `calls` cases, each with the reason (the conversion may
# drop checks a script has). Measured: none — every recognised HumanEvalPack Python test keeps
# all its asserts as cases, and every buggy solution fails at least one of them.
BUGGY_CALLS_ALLOWED: dict[str, str] = {}
# at least this many problems convert (measured: 142 of 164 HumanEvalPack Python, 20 MBPP)
MIN_CONVERTED = {"humanevalpack-canonical-calls": 142, "humanevalpack-buggy-calls": 142,
                 "humanevalpack-canonical-script": 164, "humanevalpack-buggy-script": 164,
                 "mbpp-calls": 20}


@pytest.fixture(scope="module")
def judged(api_url: str) -> dict:
    if not (DATASETS / "humanevalpack").is_dir() or not (DATASETS / "mbpp").is_dir():
        pytest.fail(f"the datasets are missing under {DATASETS}")
    conv = convert_all()
    print("\n" + describe(conv))
    with httpx.Client(base_url=api_url, timeout=90) as client:
        kinds = client.get("/v1/languages/python").json().get("test_kinds", [])
        sets = dict(conv.sets)
        start = time.perf_counter()
        results = run_batches(client, sets, deadline_s=240)
    wall = time.perf_counter() - start
    print(f"{sum(len(v) for v in sets.values())} submissions judged in {wall:.1f} s")
    return {"sets": sets, "results": results, "kinds": kinds}


def _need(judged: dict, name: str) -> None:
    assert "calls" in judged["kinds"], f"python must support calls: {judged['kinds']}"
    assert name in judged["sets"], name


def _show(name: str, subs: list[dict], results: list[dict], bad: list[int]) -> str:
    lines = [f"{name}: {len(bad)} of {len(subs)} not {subs[0]['metadata']['expect']}"]
    for i in bad:
        r = results[i]
        lines.append(f"--- {subs[i]['metadata']['task']}: {r.get('verdict')}\n"
                     f"{str(r.get('feedback'))[:1200]}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", list(SETS))
def test_set(judged: dict, name: str) -> None:
    _need(judged, name)
    subs, results = judged["sets"][name], judged["results"][name]
    assert len(subs) >= MIN_CONVERTED[name]
    assert len(results) == len(subs)
    allowed = BUGGY_CALLS_ALLOWED if name == "humanevalpack-buggy-calls" else {}
    bad = [i for i, (s, r) in enumerate(zip(subs, results, strict=True))
           if r.get("status") != "completed"
           or not (meets(r.get("verdict"), s["metadata"]["expect"])
                   or s["metadata"]["task"] in allowed)]
    counts: dict[str, int] = {}
    for r in results:
        counts[str(r.get("verdict"))] = counts.get(str(r.get("verdict")), 0) + 1
    print(f"\n{name}: {json.dumps(counts, sort_keys=True)}")
    assert not bad, _show(name, subs, results, bad)


@pytest.mark.parametrize("name", [n for n in SETS if n.endswith("-calls")
                                  and SETS[n] == ACCEPTED])
def test_calls_judge_every_case(judged: dict, name: str) -> None:
    """An accepted `calls` submission has one passed result per case, judged as calls."""
    _need(judged, name)
    subs, results = judged["sets"][name], judged["results"][name]
    wrong = []
    for s, r in zip(subs, results, strict=True):
        cases = s["tests"]["calls"]["cases"]
        tests = r.get("tests") or {}
        got = tests.get("cases") or []
        if (tests.get("total"), tests.get("passed")) != (len(cases), len(cases)) \
                or any(c.get("kind") != "calls" for c in got):
            wrong.append(f"{s['metadata']['task']}: {len(cases)} cases, tests "
                         f"{ {k: tests.get(k) for k in ('total', 'passed', 'failed', 'errors')} }, "
                         f"kinds {sorted({str(c.get('kind')) for c in got})}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", [n for n in SETS if n.endswith("-script")])
def test_recognised_scripts_judged_per_assert(judged: dict, name: str) -> None:
    """A script `recognise` takes apart is judged like calls: one result per assert, named by its
    line, passed or not (a missing result would be a failure, never a silent pass)."""
    subs, results = judged["sets"][name], judged["results"][name]
    wrong, recognised = [], 0
    for s, r in zip(subs, results, strict=True):
        got = recognise(s["tests"]["script"])
        if got is None:
            continue
        recognised += 1
        names = [c.get("name") for c in (r.get("tests") or {}).get("cases") or []]
        if names != [f"line {c.line}" for c in got.cases]:
            wrong.append(f"{s['metadata']['task']}: {r.get('verdict')}, {len(got.cases)} asserts, "
                         f"results {names[:5]}{'…' if len(names) > 5 else ''}")
    assert recognised >= 144
    assert not wrong, "\n".join(wrong)
