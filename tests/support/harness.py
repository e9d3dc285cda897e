"""Runs the loop scenarios through the `codefeedback` CLI and checks their outputs, against
whatever service URL it is given (the real stack, or the FakeService replaying its recorded
results)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.fake_llm import FakeLLM
from support.scenarios import (
    EDIT_ATTEMPT,
    REPAIR_F,
    Scenario,
    repair_scenario,
    sample_scenario,
    translate_scenario,
)
from typer.testing import CliRunner

from codefeedback.cli import app
from codefeedback.loops.jsonl import read_jsonl


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return res.exit_code, res.output


def assert_subset(actual: dict[str, Any], expected: dict[str, Any], path: str = "") -> None:
    for k, v in expected.items():
        assert k in actual, f"{path}{k} missing from stats"
        if isinstance(v, dict):
            assert_subset(actual[k], v, f"{path}{k}.")
        elif isinstance(v, float):
            assert actual[k] == pytest.approx(v, abs=1e-6), f"{path}{k}"
        else:
            assert actual[k] == v, f"{path}{k}: {actual[k]!r} != {v!r}"


def _head(src: Path, dst: Path, n: int) -> Path:
    lines = src.read_text().splitlines(keepends=True)[:n]
    dst.write_text("".join(lines))
    return dst


def repair_run(tmp: Path, service_url: str, *, resume_split: int = 10) -> dict[str, Any]:
    """Repair on 20 problems in two runs (interrupted after `resume_split`, then resumed)."""
    with FakeLLM() as fake:
        sc: Scenario = repair_scenario(fake)
        full = sc.write(tmp / "problems.jsonl")
        first = _head(full, tmp / "first.jsonl", resume_split)
        out = tmp / "sft.jsonl"
        common = ["--url", service_url, "--base-url", fake.base_url, "--model", "fake",
                  "-k", "2", "-j", "4"]
        code, output = cli("repair", first, out, *common)
        assert code == 0, output
        calls_first = len(fake.log)
        code, output = cli("repair", full, out, *common)
        assert code == 0, output
        stats = json.loads((tmp / "sft.stats.json").read_text())
        assert_subset(stats, sc.expected)
        assert stats["this_run"]["skipped_already_done"] == resume_split
        # resumed problems were not asked again: the totals equal one uninterrupted run
        assert len(fake.log) == sc.expected["calls"] and calls_first < len(fake.log)
        tot = fake.totals()
        assert stats["prompt_tokens"] == tot["prompt_tokens"]
        assert stats["completion_tokens"] == tot["completion_tokens"]

        sft = list(read_jsonl(out))
        rejected = list(read_jsonl(tmp / "sft.rejected.jsonl"))
        assert len(sft) == 19 and len(rejected) == 1
        assert len({r["id"] for r in sft + rejected}) == 20
        for rec in sft:
            roles = [m["role"] for m in rec["messages"]]
            assert roles[0] == "system" and roles[-1] == "assistant"
            assert len(roles) == 2 + 2 * (rec["passed_round"] + 1) - 1
            assert rec["final_code"] and rec["rounds"][-1]["verdict"] == "accepted"
        # a revision prompt carries the problem, the faulty code and the service's feedback
        b = next(r for r in sft if r["passed_round"] == 1 and r["tests_source"] == "given"
                 and r["rounds"][0]["verdict"] == "wrong_answer")
        revision = b["messages"][3]["content"]
        assert "Verdict: wrong_answer" in revision and "Your code:" in revision
        assert "Problem:" in revision
        edited = next(r for r in sft if r["id"] == f"HumanEval/{EDIT_ATTEMPT}")
        assert edited["tests_edited"] and edited["test_edits"][0]["accepted"] is False
        model_tests = next(r for r in sft if r["id"] == f"HumanEval/{REPAIR_F[0]}")
        assert model_tests["tests_source"] == "model"
        assert model_tests["rounds"][0]["verdict"] == "tests_rejected"
        assert model_tests["rounds"][0]["tests_guard"]["ok"] is False
        assert model_tests["rounds"][1]["tests_guard"]["ok"] is True
        assert rejected[0]["rounds"][-1]["verdict"] == "wrong_answer"
        assert len(rejected[0]["rounds"]) == 3
        return stats


def sample_run(tmp: Path, service_url: str) -> dict[str, Any]:
    with FakeLLM() as fake:
        sc = sample_scenario(fake)
        inp = sc.write(tmp / "problems.jsonl")
        out = tmp / "samples.jsonl"
        code, output = cli("sample", inp, out, "--url", service_url, "--base-url",
                           fake.base_url, "--model", "fake", "-n", "10", "-t", "0.8",
                           "-j", "4")
        assert code == 0, output
        stats = json.loads((tmp / "samples.stats.json").read_text())
        assert_subset(stats, sc.expected)
        assert all(e["temperature"] == 0.8 for e in fake.log)
        kept = list(read_jsonl(out))
        assert len(kept) == 19 and len({r["id"] for r in kept}) == 19
        assert sum(r["samples"] for r in kept) == 100
        summaries = {r["id"]: r for r in read_jsonl(tmp / "samples.problems.jsonl")}
        assert summaries["HumanEval/30"]["c"] == 7 and summaries["HumanEval/30"]["unique"] == 2
        # a second run finds everything done and asks the model nothing
        calls = len(fake.log)
        code, output = cli("sample", inp, out, "--url", service_url, "--base-url",
                           fake.base_url, "-n", "10")
        assert code == 0, output
        assert len(fake.log) == calls and len(list(read_jsonl(out))) == 19
        return stats


def translate_run(tmp: Path, service_url: str) -> dict[str, Any]:
    with FakeLLM() as fake:
        sc = translate_scenario(fake)
        inp = sc.write(tmp / "problems.jsonl")
        out = tmp / "c.jsonl"
        code, output = cli("translate", inp, out, "--to", "c", "--url", service_url,
                           "--base-url", fake.base_url, "--model", "fake", "-j", "4")
        assert code == 0, output
        stats = json.loads((tmp / "c.stats.json").read_text())
        assert_subset(stats, sc.expected)
        kept = {r["source_id"]: r for r in read_jsonl(out)}
        rejected = {r["source_id"]: r for r in read_jsonl(tmp / "c.rejected.jsonl")}
        assert len(kept) == 14 and len(rejected) == 6
        assert rejected["HumanEval/150"]["reached"] == "none"
        assert rejected["HumanEval/41"]["reached"] == "generated"
        assert rejected["HumanEval/13"]["reached"] == "parses"
        assert rejected["HumanEval/60"]["reached"] == "builds"
        assert "fewer checks" in rejected["HumanEval/97"]["reason"]
        assert "stub" in rejected["HumanEval/138"]["reason"]
        assert all(r["guard"]["ok"] and r["tests"]["script"] for r in kept.values())
        return stats
