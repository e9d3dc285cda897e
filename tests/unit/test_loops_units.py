"""Pieces of the loops in isolation: prompts, feedback rendering, pass@k, normalisation, stats,
streaming I/O and the bounded driver, the test-integrity guard."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from math import comb
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.fake_service import FakeService

from codefeedback.client import AsyncClient
from codefeedback.loops import prompts
from codefeedback.loops.common import drive, sibling
from codefeedback.loops.guard import (
    c_like_stub,
    count_checks,
    count_source_checks,
    guard_tests,
    python_stub,
)
from codefeedback.loops.jsonl import JsonlWriter, done_ids, prune, read_jsonl
from codefeedback.loops.llm import Completion
from codefeedback.loops.normalize import code_key, normalize_code
from codefeedback.loops.passk import ks_for, pass_at_k
from codefeedback.loops.problems import Problem
from codefeedback.loops.repair import RepairStats
from codefeedback.loops.sample import SampleConfig, sample_problem, sample_stats
from codefeedback.loops.translate import TranslateStats, reached_stage
from codefeedback.models import SubmissionResource
from codefeedback.models import Tests as SpecOfTests

# ----------------------------------------------------------------------------- prompts


def failing_resource() -> SubmissionResource:
    return SubmissionResource.model_validate({
        "id": "s1", "status": "completed", "language": "python", "verdict": "wrong_answer",
        "feedback": "test_add failed: assert add(1, 2) == 3",
        "compile": {"ok": True, "diagnostics": []},
        "static": {"ok": False, "diagnostics": [
            {"tool": "pylint", "severity": "error", "code": "E0602",
             "message": "Undefined variable 'x'", "file": "solution.py", "line": 3,
             "column": 5},
            {"tool": "pylint", "severity": "warning", "code": "W0612", "message": "unused"}]},
        "tests": {"total": 2, "passed": 1, "failed": 1, "errors": 0, "cases": [
            {"name": "test_ok", "outcome": "passed"},
            {"name": "test_add", "outcome": "failed", "expected": "3", "actual": "4",
             "line": 4, "message": "AssertionError"}]},
        "run": {"exit_code": 1, "stdout": "debug 4\n", "stderr": "Traceback ...\n"},
    })


def test_render_feedback_without_service_text_has_verdict_errors_cases_and_streams():
    res = failing_resource()
    res.feedback = None
    text = prompts.render_feedback(res)
    assert text.startswith("Verdict: wrong_answer")
    assert "solution.py:3:5 pylint E0602 Undefined variable 'x'" in text
    assert "unused" not in text  # warnings are not errors
    assert "Tests: 1/2 passed" in text and "expected 3, got 4" in text
    assert "test_ok" not in text
    assert "Exit code: 1" in text and "debug 4" in text and "Traceback" in text


def test_render_feedback_passes_the_service_text_on_once():
    res = failing_resource()
    assert prompts.render_feedback(res) == ("Verdict: wrong_answer\n\n"
                                            "test_add failed: assert add(1, 2) == 3")
    # the real service's text starts with its own verdict line: nothing is repeated
    res.feedback = ("Verdict: wrong_answer. The code runs, but some tests fail. Tests: 1/2 "
                    "passed.\n\nFailing tests:\n- test_add (line 4): failed\n  expected: 3\n"
                    "  actual:   4\n\nExit code: 1\n")
    text = prompts.render_feedback(res)
    assert text == res.feedback.strip()
    assert text.count("Verdict:") == 1 and text.count("Exit code") == 1


def test_render_feedback_is_capped():
    res = failing_resource()
    res.run.stderr = "x" * 50_000
    res.feedback = None
    assert len(prompts.render_feedback(res, max_chars=1000)) < 1100
    res.feedback = "y" * 50_000
    assert len(prompts.render_feedback(res, max_chars=1000)) < 1100


def test_revision_message_contains_problem_code_and_feedback():
    msg = prompts.revision_message("Add two ints.", "python", "def add(a, b):\n    return a-b",
                                   "Verdict: wrong_answer\nexpected 3", tests_note="NOTE")
    c = msg["content"]
    assert msg["role"] == "user"
    assert c.index("Add two ints.") < c.index("return a-b") < c.index("expected 3")
    assert "```python\ndef add" in c and "NOTE" in c and "tagged `python`" in c


def test_generation_messages_ask_for_tests_only_when_needed():
    with_tests = prompts.generation_messages("P", "python", write_tests=True)
    without = prompts.generation_messages("P", "python", write_tests=False, system=None)
    assert with_tests[0]["role"] == "system" and "`python tests`" in with_tests[-1]["content"]
    assert len(without) == 1 and "tests" not in without[0]["content"]
    c_tests = prompts.generation_messages("P", "c", write_tests=True, test_kind="script")
    assert "int main(void)" in c_tests[-1]["content"]


def test_fence_survives_backticks_in_code():
    assert prompts.fence("s = '```'", "python").startswith("````python")


def test_translation_prompts_name_the_entry_point_and_target():
    m = prompts.translation_messages("def f(): pass", "python", "c", entry_point="f")
    assert "Keep the function name `f`" in m[-1]["content"] and "into idiomatic C" in \
        m[-1]["content"]
    t = prompts.test_translation_messages("assert f() == 1", "python", "c", "int f(void);",
                                          kind="script", entry_point="f")
    assert "Translate these Python tests into C" in t[-1]["content"]
    assert "`c tests`" in t[-1]["content"]


# ----------------------------------------------------------------------------- pass@k


@pytest.mark.parametrize("n,c,k", [(10, 0, 1), (10, 3, 1), (10, 3, 5), (10, 7, 5), (10, 10, 10),
                                   (20, 1, 10), (5, 2, 5)])
def test_pass_at_k_matches_its_definition(n, c, k):
    # fraction of k-subsets of the n samples containing at least one correct sample
    samples = [True] * c + [False] * (n - c)
    brute = sum(any(s) for s in itertools.combinations(samples, k)) / comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_k_known_values_and_bad_input():
    assert pass_at_k(10, 7, 1) == pytest.approx(0.7)
    assert pass_at_k(10, 2, 5) == pytest.approx(1 - 56 / 252)
    assert ks_for(7) == [1, 5] and ks_for(3) == [1]
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 1, 10)


# --------------------------------------------------------------------------- normalise


def test_normalisation_ignores_comments_docstrings_layout_but_not_logic():
    a = "def f(x):\n    '''doc'''\n    # comment\n    return x+1\n"
    b = "def f(x):\n\n    return (x + 1)  # other\n"
    c = "def f(x):\n    return x + 2\n"
    assert code_key(a, "python") == code_key(b, "python") != code_key(c, "python")
    assert normalize_code("int f(){ /* c */ return 1; // x\n}", "c") == "int f(){return 1;}"
    assert code_key("int f() {return 1;}", "c") == code_key("int f()  {\n return 1;\n}", "c")


# ------------------------------------------------------------------------------- stats


def rec(pid, verdicts, *, passed_round=None, source="given", edits=(), calls=None):
    return {"id": pid, "rounds": [{"verdict": v} for v in verdicts],
            "passed_round": passed_round, "final_verdict": verdicts[-1],
            "tests_source": source, "test_edits": list(edits),
            "usage": {"calls": calls or len(verdicts), "prompt_tokens": 10,
                      "completion_tokens": 5}}


def test_repair_stats_by_hand():
    s = RepairStats(max_rounds=2)
    s.add(rec("a", ["accepted"], passed_round=0))
    s.add(rec("b", ["wrong_answer", "accepted"], passed_round=1))
    s.add(rec("c", ["no_code", "runtime_error", "accepted"], passed_round=2))
    s.add(rec("d", ["wrong_answer", "wrong_answer", "wrong_answer"],
              edits=[{"accepted": False, "guard": {"ok": False}}]))
    d = s.to_dict()
    assert d["problems"] == 4 and d["passed"] == 3 and d["rejected"] == 1
    assert d["pass_rate_round0"] == 0.25
    assert d["pass_rate_after_round"] == {"0": 0.25, "1": 0.5, "2": 0.75}
    assert d["initially_wrong"] == 3 and d["self_corrected"] == 2
    assert d["self_corrected_share_of_initially_wrong"] == pytest.approx(0.6667)
    assert d["verdicts"] == {"accepted": 3, "no_code": 1, "runtime_error": 1,
                             "wrong_answer": 4}
    assert d["first_round_verdicts"] == {"accepted": 1, "no_code": 1, "wrong_answer": 2}
    assert d["dialogs_with_test_edits"] == 1 and d["tests_rejected_by_guard"] == 1
    assert d["calls"] == 9 and d["prompt_tokens"] == 40


def test_repair_stats_empty_has_no_division_by_zero():
    d = RepairStats(3).to_dict()
    assert d["problems"] == 0 and d["pass_rate_round0"] is None


def test_sample_stats_mean_pass_at_k(tmp_path):
    path = tmp_path / "p.jsonl"
    with JsonlWriter(path) as w:
        w.write({"id": "a", "n": 10, "c": 10, "unique": 1, "unique_passing": 1,
                 "verdicts": {"accepted": 10}, "pass_at_k": {"1": 1.0, "5": 1.0, "10": 1.0}})
        w.write({"id": "b", "n": 10, "c": 0, "no_code": 2, "unique": 3, "unique_passing": 0,
                 "verdicts": {"wrong_answer": 8, "no_code": 2},
                 "pass_at_k": {"1": 0.0, "5": 0.0, "10": 0.0}})
    d = sample_stats(path)
    assert d["pass_at_k"] == {"1": 0.5, "5": 0.5, "10": 0.5}
    assert d["problems_solved"] == 1 and d["duplicates_removed"] == 20 - 2 - 4


def test_translate_funnel_counts_each_stage_reached():
    s = TranslateStats()
    for reached in ["none", "generated", "parses", "builds", "passes", "kept", "kept"]:
        s.add({"language": "c", "reached": reached, "verdict": "x"})
    f = s.to_dict()["funnel"]["c"]
    assert f == {"attempted": 7, "generated": 6, "parses": 5, "builds": 4, "passes": 3,
                 "kept": 2}


def _res(verdict, diags=(), output=""):
    return SubmissionResource.model_validate({
        "id": "x", "status": "completed", "language": "c", "verdict": verdict,
        "compile": {"ok": verdict != "compile_error", "output": output,
                    "diagnostics": [{"tool": "gcc", "severity": "error", "message": m}
                                    for m in diags]}})


def test_reached_stage_tells_parse_from_build_failures():
    assert reached_stage(_res("compile_error", ["expected ';' before '}' token"])) == \
        "generated"
    assert reached_stage(_res("compile_error", ["invalid syntax"])) == "generated"
    assert reached_stage(_res("compile_error", ["undefined reference to `g'"])) == "parses"
    assert reached_stage(_res("compile_error", ["implicit declaration of function 'g'"])) == \
        "parses"
    assert reached_stage(_res("wrong_answer")) == "builds"
    assert reached_stage(_res("static_error")) == "builds"
    assert reached_stage(_res("accepted")) == "passes"


# --------------------------------------------------------------------- streaming, driver


def test_writer_cuts_partial_tail_and_done_ids(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "trunc')
    assert done_ids([path, tmp_path / "missing.jsonl"]) == {"a", "b"}
    with JsonlWriter(path) as w:
        w.write({"id": "d"})
    assert [r["id"] for r in read_jsonl(path, strict=True)] == ["a", "b", "d"]


def test_prune_drops_unfinished_records(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps({"problem_id": p}) + "\n" for p in "aabc"))
    assert prune(path, lambda r: r["problem_id"] in {"a", "c"}) == 1
    assert [r["problem_id"] for r in read_jsonl(path)] == ["a", "a", "c"]


def test_sibling_paths():
    assert sibling("out/sft.jsonl", ".stats.json") == Path("out/sft.stats.json")
    assert sibling("x.txt", ".rejected.jsonl") == Path("x.rejected.jsonl")


def test_drive_reads_input_lazily_and_bounds_concurrency():
    pulled = 0
    in_flight = 0
    peak = {"in_flight": 0, "ahead": 0}
    finished = []

    def items():
        nonlocal pulled
        for i in range(200):
            pulled += 1
            peak["ahead"] = max(peak["ahead"], pulled - len(finished))
            yield i

    async def worker(i):
        nonlocal in_flight
        in_flight += 1
        peak["in_flight"] = max(peak["in_flight"], in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        if i == 13:
            raise RuntimeError("boom")
        return i * 2

    errors = []
    asyncio.run(drive(items(), worker, concurrency=5,
                      on_result=lambda i, r: finished.append(r),
                      on_error=lambda i, e: (finished.append(None), errors.append(i))))
    assert len(finished) == 200 and errors == [13]
    assert peak["in_flight"] <= 5
    assert peak["ahead"] <= 5, "the driver must not read ahead of its free slots"


# ------------------------------------------------------------------------------- guard


def test_python_stub_keeps_helpers_and_returns_typed_default():
    code = ("from typing import List\n\ndef helper(x):\n    return x\n\n"
            "def f(xs: List[int]) -> List[int]:\n    '''doc'''\n"
            "    return [helper(x) for x in xs]\n")
    stub = python_stub(code, "f")
    assert "def helper(x):" in stub and "return []" in stub and "helper(x) for" not in stub
    assert python_stub("def g(): pass", "f") is None
    assert python_stub("def f(:", "f") is None


def test_c_stub_replaces_only_the_body_with_a_zero_value():
    code = ('#include <string.h>\nstatic const char *f(int a) {\n  if (a) { return "}"; }\n'
            "  /* } */ return \"x\";\n}\nint g(void) { return 2; }\n")
    stub = c_like_stub(code, "f")
    assert "static const char * cf_stub_r; return cf_stub_r;" in stub
    assert "int g(void) { return 2; }" in stub and 'return "x"' not in stub
    assert c_like_stub("void f(int *a)\n{\n  a[0] = 1;\n}\n", "f") == "void f(int *a)\n{ }\n"


def test_check_counting():
    assert count_source_checks("def check(c):\n    assert c(1) == 2\n    for i in range(3):\n"
                               "        assert c(i)\n", "python") == 2
    assert count_source_checks("self.assertEqual(a, b)\nassert x", "python") == 2
    assert count_source_checks("int main(){assert(f(1)==2); assert (f(2)==3);}", "c") == 2
    t = SpecOfTests(script="assert f(1) == 1\n", io=[{"stdin": "", "stdout": "1"}] * 3)
    assert count_checks(t, "python") == 4


@pytest.fixture
def fake_service():
    svc = FakeService()
    yield svc
    assert svc.misses == [], "submissions without a recording:\n" + "\n".join(svc.misses)


@pytest.fixture
def fake_client(fake_service):
    client = AsyncClient("http://fake", transport=fake_service.transport())
    yield client
    asyncio.run(client.aclose())


CODE = "def inc(x: int) -> int:\n    return x + 1\n"


def test_guard_accepts_tests_that_fail_on_a_stub(fake_client):
    g = asyncio.run(guard_tests(fake_client, language="python", code=CODE,
                                tests=SpecOfTests(
                                    script="assert inc(1) == 2\nassert inc(-1) == 0\n"),
                                entry_point="inc"))
    assert g.ok and g.stub_verdict == "wrong_answer" and g.checks == 2


def test_guard_rejects_vacuous_and_shrunk_tests(fake_client):
    vacuous = asyncio.run(guard_tests(fake_client, language="python", code=CODE,
                                      tests=SpecOfTests(script="assert inc(-1) == 0\n"),
                                      entry_point="inc"))
    assert not vacuous.ok and vacuous.stub_verdict == "accepted"
    assert "stub" in vacuous.message()
    shrunk = asyncio.run(guard_tests(
        fake_client, language="python", code=CODE, tests=SpecOfTests(script="assert inc(1) == 2\n"),
        entry_point="inc", original=SpecOfTests(script="assert inc(1) == 2\nassert inc(2) == 3\n")))
    assert not shrunk.ok and "fewer checks (1) than the original (2)" in shrunk.message()
    assert shrunk.stub_verdict is None  # no service call for tests already rejected
    empty = asyncio.run(guard_tests(fake_client, language="python", code=CODE,
                                    tests=SpecOfTests(script="print('hi')\n"), entry_point="inc"))
    assert not empty.ok and "no checks" in empty.message()


def test_guard_fails_closed_without_a_stub(fake_client):
    g = asyncio.run(guard_tests(fake_client, language="ruby", code="def inc(x) x+1 end",
                                tests=SpecOfTests(script="raise unless inc(1) == 2"),
                                entry_point="inc"))
    assert not g.ok and "no stub" in g.message()


def test_guard_on_c(fake_client, fake_service):
    if not fake_service.has_recordings("c") and not fake_service.upstream:
        pytest.skip("no C results recorded yet (see tests/support/fake_service.py)")
    code = "int twice(int x) {\n    return 2 * x;\n}\n"
    good = "#include <assert.h>\nint main(void) { assert(twice(2) == 4); return 0; }\n"
    weak = "#include <assert.h>\nint main(void) { assert(twice(0) == 0); return 0; }\n"
    assert asyncio.run(guard_tests(fake_client, language="c", code=code,
                                   tests=SpecOfTests(script=good), entry_point="twice")).ok
    assert not asyncio.run(guard_tests(fake_client, language="c", code=code,
                                       tests=SpecOfTests(script=weak), entry_point="twice")).ok


class _ScriptedLLM:
    """Answers the n identical sample requests with `answers` in the given order."""

    def __init__(self, answers: list[str]) -> None:
        self._answers = iter(answers)

    async def complete(self, messages, temperature=None):
        return Completion(next(self._answers), 1, 1)


def test_sample_judges_the_same_representative_whatever_the_sample_order(fake_client):
    plain = "def add(a, b):\n    return a + b\n"
    commented = "def add(a, b):\n    return a + b  # the sum\n"  # same program, larger string
    p = Problem(id="t/1", problem="Add two ints.", entry_point="add",
                tests=SpecOfTests(script="assert add(1, 2) == 3\n"))
    for order in ([commented, plain], [plain, commented]):
        llm = _ScriptedLLM([f"```python\n{c}```\n" for c in order])
        kept, summary = asyncio.run(sample_problem(p, llm, fake_client, SampleConfig(n=2)))
        assert summary["unique"] == 1 and summary["c"] == 2
        assert [(k["code"].rstrip("\n"), k["samples"]) for k in kept] == [(plain.rstrip(), 2)]
