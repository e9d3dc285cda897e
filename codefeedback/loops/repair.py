"""The repair loop (Llama 3 §4.3.1): generate → evaluate → revise with feedback, ≤ K rounds.

Every dialog is recorded: those that pass every check go to the SFT file (chat messages), the
others to the rejected file, each with its rounds, verdicts, test provenance and usage. The
statistics are recomputed from both files at the end of every run, so they cover resumed runs
too and need no memory beyond counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefeedback.client import AsyncClient
from codefeedback.extract import extract_code, extract_tests
from codefeedback.loops import prompts
from codefeedback.loops.common import (
    LanguageCache,
    Progress,
    ServiceFailure,
    drive,
    evaluate,
    histogram_add,
    pick_test_kind,
    resource_brief,
)
from codefeedback.loops.guard import count_checks, guard_tests
from codefeedback.loops.jsonl import JsonlWriter, done_ids, read_jsonl, write_json
from codefeedback.loops.llm import LLM, Usage
from codefeedback.loops.problems import Problem
from codefeedback.models import Limits, Submission, Tests


@dataclass
class RepairConfig:
    max_rounds: int = 3  # revisions after the first attempt (K)
    write_tests: bool = True  # ask for unit tests when a problem has none
    allow_test_edits: bool = False  # let revised tests replace given ones (always flagged)
    sft_format: str = "dialog"  # "dialog": every turn; "final": problem + final answer
    system: str | None = prompts.SYSTEM
    limits: Limits = field(default_factory=Limits)
    concurrency: int = 8
    feedback_chars: int = 4000


class _Dialog:
    """State of one problem's dialog while it runs."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.messages: list[dict[str, str]] = []
        self.rounds: list[dict[str, Any]] = []
        self.usage = Usage()
        self.evidence: Tests | None = p.tests
        self.tests_source = "given" if p.tests is not None else "none"
        self.model_checks: int | None = None
        self.test_edits: list[dict[str, Any]] = []
        self.passed_round: int | None = None
        self.final_code: str | None = None


async def repair_problem(p: Problem, llm: LLM, client: AsyncClient, langs: LanguageCache,
                         cfg: RepairConfig) -> dict[str, Any]:
    """Run one dialog to acceptance or K revisions; returns its record."""
    d = _Dialog(p)
    lang = p.language
    info = await langs.get(lang)
    kind = pick_test_kind(info)
    write_tests = p.tests is None and cfg.write_tests
    d.messages = prompts.generation_messages(p.problem, lang, write_tests=write_tests,
                                             test_kind=kind, info=info, system=cfg.system)
    for r in range(cfg.max_rounds + 1):
        comp = await llm.complete(d.messages)
        d.usage.add(comp)
        d.messages.append({"role": "assistant", "content": comp.text})
        ex = extract_code(comp.text, lang, p.entry_point)
        rnd: dict[str, Any] = {"round": r, "extraction": ex.outcome,
                               "completion_tokens": comp.completion_tokens}
        tests_note = await _handle_tests(d, comp.text, ex.code, kind, write_tests, r, rnd,
                                         client, cfg)
        if not ex.ok:
            verdict, feedback = "no_code", prompts.no_code_feedback(ex.reason, lang)
        elif d.evidence is None and write_tests:
            verdict = "tests_rejected" if "tests_guard" in rnd else "no_tests"
            feedback = tests_note or ("No unit tests were found in your answer. "
                                      + prompts.tests_instruction(lang, kind, info))
            tests_note = None
        else:
            sub = Submission(language=lang, code=ex.code or "", tests=d.evidence,
                             problem=p.problem[:100_000], limits=cfg.limits,
                             feedback_max_chars=cfg.feedback_chars,
                             metadata={"problem_id": p.id[:200], "round": r})
            res = await evaluate(client, sub)
            rnd.update(resource_brief(res))
            verdict = res.verdict.value if res.verdict else "unknown"
            feedback = prompts.render_feedback(res, cfg.feedback_chars)
        rnd["verdict"] = verdict
        d.rounds.append(rnd)
        if verdict == "accepted":
            d.passed_round, d.final_code = r, ex.code
            break
        if r < cfg.max_rounds:
            d.messages.append(prompts.revision_message(p.problem, lang, ex.code, feedback,
                                                       tests_note=tests_note))
    return _record(d, cfg)


async def _handle_tests(d: _Dialog, text: str, code: str | None, kind: str, write_tests: bool,
                        r: int, rnd: dict[str, Any], client: AsyncClient, cfg: RepairConfig
                        ) -> str | None:
    """Guard model-written tests and edits of given tests; returns a note for the model."""
    p = d.p
    tests_text = extract_tests(text, p.language)
    if not tests_text:
        return None
    new_tests = Tests(**{kind: tests_text})
    if p.tests is not None:  # an edit of the given tests: always flagged
        edit: dict[str, Any] = {"round": r, "allowed": cfg.allow_test_edits,
                                "checks": count_checks(new_tests, p.language),
                                "checks_original": count_checks(p.tests, p.language),
                                "accepted": False}
        note = None
        if cfg.allow_test_edits and code is not None:
            g = await guard_tests(client, language=p.language, code=code, tests=new_tests,
                                  entry_point=p.entry_point, original=p.tests,
                                  limits=cfg.limits)
            edit["guard"] = g.as_dict()
            if g.ok:
                d.evidence, d.tests_source, edit["accepted"] = new_tests, "edited", True
            else:
                note = f"Your edit of the given tests was rejected ({g.message()}); " \
                       "the given tests still apply."
        else:
            note = "The given tests cannot be changed; only the solution is evaluated."
        edit["tests"] = tests_text
        d.test_edits.append(edit)
        return note
    if not write_tests or code is None:
        return None
    g = await guard_tests(client, language=p.language, code=code, tests=new_tests,
                          entry_point=p.entry_point, min_checks=d.model_checks,
                          limits=cfg.limits)
    rnd["tests_guard"] = g.as_dict()
    if g.ok:
        d.evidence, d.tests_source, d.model_checks = new_tests, "model", g.checks
        return None
    return (f"Your tests were rejected: {g.message()}. Write tests with exact expected values "
            "that a wrong solution would fail, in a block tagged "
            f"`{p.language} tests`.")


def _record(d: _Dialog, cfg: RepairConfig) -> dict[str, Any]:
    passed = d.passed_round is not None
    messages = d.messages
    if passed and cfg.sft_format == "final":
        head = [m for m in messages[:2] if m["role"] in ("system", "user")]
        messages = [*head, messages[-1]]
    rec: dict[str, Any] = {
        "id": d.p.id,
        "language": d.p.language,
        "passed": passed,
        "passed_round": d.passed_round,
        "final_verdict": d.rounds[-1]["verdict"] if d.rounds else None,
        "rounds": d.rounds,
        "tests_source": d.tests_source,
        "tests_edited": bool(d.test_edits),
        "test_edits": d.test_edits,
        "tests": d.evidence.model_dump(exclude_none=True) if d.evidence else None,
        "final_code": d.final_code,
        "usage": d.usage.as_dict(),
        "messages": messages,
    }
    if not passed:
        rec["reason"] = f"not accepted after {len(d.rounds)} attempt(s)"
    return rec


# ------------------------------------------------------------------------------- stats
class RepairStats:
    """Counters over finished dialog records (fed by streaming the output files)."""

    def __init__(self, max_rounds: int) -> None:
        self.max_rounds = max_rounds
        self.problems = 0
        self.passed_at: dict[int, int] = {}
        self.verdicts: dict[str, int] = {}
        self.first_verdicts: dict[str, int] = {}
        self.final_verdicts: dict[str, int] = {}
        self.tests_source: dict[str, int] = {}
        self.dialogs_with_test_edits = 0
        self.test_edits_accepted = 0
        self.tests_rejected_by_guard = 0
        self.usage = Usage()

    def add(self, rec: dict[str, Any]) -> None:
        self.problems += 1
        pr = rec.get("passed_round")
        if pr is not None:
            self.passed_at[pr] = self.passed_at.get(pr, 0) + 1
        rounds = rec.get("rounds") or []
        for i, rnd in enumerate(rounds):
            histogram_add(self.verdicts, rnd.get("verdict"))
            if i == 0:
                histogram_add(self.first_verdicts, rnd.get("verdict"))
            g = rnd.get("tests_guard")
            if g is not None and not g.get("ok"):
                self.tests_rejected_by_guard += 1
        histogram_add(self.final_verdicts, rec.get("final_verdict"))
        histogram_add(self.tests_source, rec.get("tests_source"))
        edits = rec.get("test_edits") or []
        if edits:
            self.dialogs_with_test_edits += 1
            self.test_edits_accepted += sum(1 for e in edits if e.get("accepted"))
            self.tests_rejected_by_guard += sum(
                1 for e in edits if e.get("guard") and not e["guard"].get("ok"))
        u = rec.get("usage") or {}
        self.usage.calls += u.get("calls", 0)
        self.usage.prompt_tokens += u.get("prompt_tokens", 0)
        self.usage.completion_tokens += u.get("completion_tokens", 0)
        self.usage.errors += u.get("errors", 0)

    def to_dict(self) -> dict[str, Any]:
        n = self.problems
        rounds = max([self.max_rounds, *self.passed_at.keys()]) if self.passed_at else \
            self.max_rounds
        cumulative, after = 0, {}
        for r in range(rounds + 1):
            cumulative += self.passed_at.get(r, 0)
            after[str(r)] = _rate(cumulative, n)
        passed = sum(self.passed_at.values())
        round0 = self.passed_at.get(0, 0)
        initially_wrong = n - round0
        corrected = passed - round0
        return {
            "problems": n,
            "passed": passed,
            "rejected": n - passed,
            "pass_rate_round0": _rate(round0, n),
            "pass_rate_after_round": after,
            "passed_at_round": {str(k): v for k, v in sorted(self.passed_at.items())},
            "initially_wrong": initially_wrong,
            "self_corrected": corrected,
            "self_corrected_share_of_initially_wrong": _rate(corrected, initially_wrong),
            "self_corrected_share_of_all": _rate(corrected, n),
            "verdicts": dict(sorted(self.verdicts.items())),
            "first_round_verdicts": dict(sorted(self.first_verdicts.items())),
            "final_verdicts": dict(sorted(self.final_verdicts.items())),
            "tests_source": dict(sorted(self.tests_source.items())),
            "dialogs_with_test_edits": self.dialogs_with_test_edits,
            "test_edits_accepted": self.test_edits_accepted,
            "tests_rejected_by_guard": self.tests_rejected_by_guard,
            **self.usage.as_dict(),
        }


def _rate(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def repair_stats(paths: Iterable[str | Path], max_rounds: int) -> dict[str, Any]:
    stats = RepairStats(max_rounds)
    for path in paths:
        if Path(path).exists():
            for rec in read_jsonl(path):
                stats.add(rec)
    return stats.to_dict()


# -------------------------------------------------------------------------------- runner
async def run_repair(
    problems: Iterable[Problem],
    *,
    llm: LLM,
    client: AsyncClient,
    sft_path: str | Path,
    rejected_path: str | Path,
    stats_path: str | Path,
    cfg: RepairConfig,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Stream problems through the loop; skips ids already in either output (resume)."""
    progress = progress or Progress()
    done = done_ids([sft_path, rejected_path])
    langs = LanguageCache(client)

    def todo() -> Iterable[Problem]:
        for p in problems:
            if p.id in done:
                progress.skipped += 1
                progress.update()
                continue
            yield p

    with JsonlWriter(sft_path) as sft, JsonlWriter(rejected_path) as rej:
        def on_result(p: Problem, rec: dict[str, Any]) -> None:
            (sft if rec["passed"] else rej).write(rec)
            progress.finished(rec["passed"])

        def on_error(p: Problem, exc: BaseException) -> None:
            progress.error(p.id, exc)

        await drive(todo(), lambda p: repair_problem(p, llm, client, langs, cfg),
                    concurrency=cfg.concurrency, on_result=on_result, on_error=on_error)

    stats = repair_stats([sft_path, rejected_path], cfg.max_rounds)
    stats["this_run"] = {"finished": progress.done, "skipped_already_done": progress.skipped,
                         "unfinished_errors": progress.errors,
                         "last_error": progress.last_error,
                         "llm": llm.usage.as_dict()}
    write_json(stats_path, stats)
    return stats


__all__ = ["RepairConfig", "RepairStats", "ServiceFailure", "repair_problem", "repair_stats",
           "run_repair"]
