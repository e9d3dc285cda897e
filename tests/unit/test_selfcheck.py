"""The worker's self-check turns a weak sandbox posture into reasons (fake sandbox)."""

from __future__ import annotations

import json

from runners.base import JobResult, StepResult
from runners.sandbox.base import FakeSandbox
from workers.selfcheck import probe

GOOD = {"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "NoNewPrivs": "1",
        "Seccomp": "2", "uid": 10001, "net": ["lo"], "broker": "unreachable: OSError"}


def answer(out: dict) -> FakeSandbox:
    return FakeSandbox(lambda job: JobResult(steps={"probe": StepResult(
        status="ok", exit_code=0, stdout=json.dumps(out))}))


def test_good_posture_has_no_problems() -> None:
    assert probe(answer(GOOD), "img", ("127.0.0.1", 6379)) == []


def test_each_weakness_is_named() -> None:
    bad = {**GOOD, "CapEff": "00000000a80425fb", "NoNewPrivs": "0", "Seccomp": "0", "uid": 0,
           "net": ["eth0", "lo"], "broker": "reachable"}
    problems = probe(answer(bad), "img", ("127.0.0.1", 6379))
    assert len(problems) == 6 and all(p.startswith("img: ") for p in problems)


def test_probe_that_cannot_run_is_a_problem() -> None:
    sb = FakeSandbox(lambda job: JobResult(error="image missing"))
    assert probe(sb, "img", ("127.0.0.1", 6379)) == ["img: probe did not run (image missing)"]
