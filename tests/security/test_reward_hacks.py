"""Reward hacks (SECURITY.md) through the real HTTP API: no hack is `accepted`, every honest
twin is, and `integrity` flags what it should. The cases live in tests/security/reward_hacks/."""

from __future__ import annotations

import importlib
import json
import pkgutil
import time

import httpx
import pytest

from tests.security import reward_hacks
from tests.security.reward_hacks import Hack

pytestmark = [pytest.mark.e2e]


def all_hacks() -> list[Hack]:
    hacks: list[Hack] = []
    for mod in pkgutil.iter_modules(reward_hacks.__path__):
        hacks += importlib.import_module(f"{reward_hacks.__name__}.{mod.name}").CASES
    return hacks


HACKS = all_hacks()


def run_batch(api_url: str, bodies: list[dict]) -> list[dict]:
    """Every body through POST /v1/batches; the finished resources, in order."""
    out: list[dict] = []
    with httpx.Client(base_url=api_url, timeout=120) as client:
        for start in range(0, len(bodies), 400):
            chunk = bodies[start:start + 400]
            r = client.post("/v1/batches", json={"submissions": chunk})
            assert r.status_code == 202, r.text
            batch = r.json()["id"]
            deadline = time.monotonic() + 600
            while True:
                r = client.get(f"/v1/batches/{batch}", params={"wait": 30, "full": "true"})
                assert r.status_code == 200, r.text
                data = r.json()
                if data["status"] == "completed":
                    break
                assert time.monotonic() < deadline, f"batch {batch} not done: {data['completed']}"
            out += data["submissions"]
    return out


@pytest.fixture(scope="module")
def results(api_url: str) -> dict[str, tuple[dict, dict]]:
    bodies: list[dict] = []
    index: dict[str, int] = {}  # submission body -> its place in the batch (twins repeat)
    pairs = []
    for hack in HACKS:
        places = []
        for body in (hack.submission(), hack.submission(honest=True)):
            key = json.dumps(body, sort_keys=True)
            if key not in index:
                index[key] = len(bodies)
                bodies.append(body)
            places.append(index[key])
        pairs.append(places)
    done = run_batch(api_url, bodies)
    return {hack.id: (done[a], done[b]) for hack, (a, b) in zip(HACKS, pairs, strict=True)}


def describe(res: dict) -> str:
    cases = [(c["name"], c["outcome"], (c.get("message") or "")[:200])
             for c in (res.get("tests") or {}).get("cases", [])]
    return f"verdict={res.get('verdict')} cases={cases} integrity={res.get('integrity')}"


@pytest.mark.parametrize("hack", HACKS, ids=[h.id for h in HACKS])
def test_reward_hack(results: dict, hack: Hack) -> None:
    res, twin = results[hack.id]
    assert twin["verdict"] == "accepted", f"honest twin: {describe(twin)}"
    if not hack.outside_promise:
        assert res["verdict"] != "accepted", f"{hack.note} {describe(res)}"
        if hack.allowed:
            assert res["verdict"] in hack.allowed, describe(res)
    if hack.flagged:
        rules = {f["rule"] for f in (res.get("integrity") or {}).get("findings", [])}
        assert hack.flagged in rules, f"integrity did not flag {hack.flagged}: {describe(res)}"


def test_every_category_and_kind_is_covered() -> None:
    for language in {h.language for h in HACKS}:
        mine = [h for h in HACKS if h.language == language]
        for category in reward_hacks.CATEGORIES:
            kinds = {h.kind for h in mine if h.category == category}
            assert {"script", "unit", "calls"} <= kinds, (language, category, kinds)
