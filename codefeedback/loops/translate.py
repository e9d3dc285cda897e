"""Translation: source solutions (+ tests) → target languages, kept only if they pass the gates.

Gates, in order, each judged by the service from one submission of the translated code with its
tests: **parses** (no syntax-class diagnostic from the parser, analysers or compiler), **builds**
(not `compile_error`), **passes** (`accepted`). A translation that passes with model-translated
tests is kept only if those tests pass the integrity guard (they fail against a stub of the
function and have at least as many checks as the source tests): the **kept** stage.

Tests reach the target language in one of two ways: `calls` tests (language-neutral cases) are
sent as they are when the target lists `calls` in its `test_kinds`; otherwise the model
translates them into the kind the target supports (`script` first, then `unit`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefeedback.client import AsyncClient
from codefeedback.extract import extract_code, extract_tests
from codefeedback.loops import prompts
from codefeedback.loops.common import (
    LanguageCache,
    Progress,
    drive,
    evaluate,
    histogram_add,
    pick_test_kind,
)
from codefeedback.loops.guard import guard_tests
from codefeedback.loops.jsonl import JsonlWriter, done_ids, read_jsonl, write_json
from codefeedback.loops.llm import LLM, Usage
from codefeedback.loops.problems import Problem
from codefeedback.models import Limits, Submission, SubmissionResource, Tests, Verdict

STAGES = ("generated", "parses", "builds", "passes", "kept")

_SYNTAX = re.compile(
    r"syntax|parse error|expected [^\n]{0,40}before|expected (expression|identifier|declaration|"
    r"statement|';'|'\)'|'\]'|'\}'|'\{'|','|':')|unexpected (token|end|indent|EOF)|unterminated|"
    r"missing terminating|stray '|indentation|invalid character|E0001", re.IGNORECASE)


@dataclass
class TranslateConfig:
    targets: tuple[str, ...] = ("c",)
    system: str | None = prompts.SYSTEM
    limits: Limits = field(default_factory=Limits)
    concurrency: int = 8


def is_syntax_diagnostic(message: str, code: str | None = None) -> bool:
    return bool(_SYNTAX.search(message) or (code and _SYNTAX.search(code)))


def reached_stage(res: SubmissionResource) -> str:
    """The last gate a judged translation got through (`generated` = did not parse)."""
    diags = []
    for part in (res.compile, res.static):
        if part is not None:
            diags += [d for d in part.diagnostics if d.severity.value == "error"]
    if any(is_syntax_diagnostic(d.message, d.code) for d in diags):
        return "generated"
    if res.verdict == Verdict.compile_error:
        output = res.compile.output if res.compile else ""
        if not diags and is_syntax_diagnostic(output):
            return "generated"
        return "parses"
    return "passes" if res.verdict == Verdict.accepted else "builds"


async def translate_one(
    p: Problem, target: str, llm: LLM, client: AsyncClient, langs: LanguageCache,
    cfg: TranslateConfig,
) -> dict[str, Any]:
    """Translate one solution into one language and run it through the gates."""
    if not p.solution:
        raise ValueError(f"{p.id}: translation needs a source `solution`")
    usage = Usage()
    info = await langs.get(target)
    rec: dict[str, Any] = {"id": f"{p.id}:{target}", "source_id": p.id, "language": target,
                           "source_language": p.language, "reached": "none", "kept": False}
    messages = prompts.translation_messages(p.solution, p.language, target, problem=p.problem,
                                            entry_point=p.entry_point, system=cfg.system)
    comp = await llm.complete(messages)
    usage.add(comp)
    messages.append({"role": "assistant", "content": comp.text})
    rec["usage"] = usage.as_dict()
    ex = extract_code(comp.text, target, p.entry_point)
    if not ex.ok:
        rec.update(reason=f"no_code: {ex.reason}", verdict="no_code")
        return rec
    code = ex.code or ""
    rec.update(reached="generated", code=code, messages=messages)

    # tests: rendered by the service from `calls`, or translated by the model
    tests: Tests | None = None
    if p.tests is not None and p.tests.calls is not None and info and "calls" in info.test_kinds:
        tests, rec["test_source"] = Tests(calls=p.tests.calls), "calls"
    elif p.tests is not None:
        kind = pick_test_kind(info)
        tmsgs = prompts.test_translation_messages(
            prompts.tests_to_text(p.tests), p.language, target, code, kind=kind, info=info,
            entry_point=p.entry_point, system=cfg.system)
        tcomp = await llm.complete(tmsgs)
        usage.add(tcomp)
        rec["usage"] = usage.as_dict()
        ttext = extract_tests(tcomp.text, target)
        if ttext is None:
            tex = extract_code(tcomp.text, target)
            ttext = tex.code
        rec["test_messages"] = [*tmsgs, {"role": "assistant", "content": tcomp.text}]
        if not ttext:
            rec.update(reason="no tests in the test-translation answer", verdict="no_tests")
            return rec
        tests, rec["test_source"] = Tests(**{kind: ttext}), "model"
    else:
        rec.update(reason="the source problem has no tests", verdict="no_tests")
        return rec
    rec["tests"] = tests.model_dump(exclude_none=True)

    sub = Submission(language=target, code=code, tests=tests, limits=cfg.limits,
                     metadata={"problem_id": p.id[:200], "target": target})
    res = await evaluate(client, sub)
    rec["verdict"] = res.verdict.value if res.verdict else None
    rec["submission_id"] = res.id
    rec["reached"] = reached_stage(res)
    if rec["reached"] != "passes":
        rec["reason"] = f"stopped at gate after '{rec['reached']}': {rec['verdict']}"
        rec["feedback"] = prompts.render_feedback(res, 2000)
        return rec
    if rec["test_source"] == "model":
        g = await guard_tests(client, language=target, code=code, tests=tests,
                              entry_point=p.entry_point, original=p.tests,
                              original_language=p.language, limits=cfg.limits)
        rec["guard"] = g.as_dict()
        if not g.ok:
            rec["reason"] = f"translated tests rejected: {g.message()}"
            return rec
    rec["reached"], rec["kept"] = "kept", True
    return rec


class TranslateStats:
    """Per-language funnel plus verdicts and usage, over finished records."""

    def __init__(self) -> None:
        self.funnel: dict[str, dict[str, int]] = {}
        self.verdicts: dict[str, dict[str, int]] = {}
        self.test_source: dict[str, int] = {}
        self.guard_rejected = 0
        self.usage = Usage()
        self.records = 0

    def add(self, rec: dict[str, Any]) -> None:
        self.records += 1
        lang = rec["language"]
        f = self.funnel.setdefault(lang, {"attempted": 0, **{s: 0 for s in STAGES}})
        f["attempted"] += 1
        reached = rec.get("reached", "none")
        if reached in STAGES:
            for s in STAGES[:STAGES.index(reached) + 1]:
                f[s] += 1
        histogram_add(self.verdicts.setdefault(lang, {}), rec.get("verdict"))
        if rec.get("test_source"):
            histogram_add(self.test_source, rec["test_source"])
        if rec.get("guard") and not rec["guard"].get("ok"):
            self.guard_rejected += 1
        u = rec.get("usage") or {}
        self.usage.calls += u.get("calls", 0)
        self.usage.prompt_tokens += u.get("prompt_tokens", 0)
        self.usage.completion_tokens += u.get("completion_tokens", 0)

    def to_dict(self) -> dict[str, Any]:
        rates = {}
        for lang, f in self.funnel.items():
            rates[lang] = {s: (round(f[s] / f["attempted"], 4) if f["attempted"] else None)
                           for s in STAGES}
        return {"translations": self.records, "funnel": self.funnel, "funnel_rates": rates,
                "verdicts": self.verdicts, "test_source": self.test_source,
                "tests_rejected_by_guard": self.guard_rejected, **self.usage.as_dict()}


def translate_stats(paths: Iterable[str | Path]) -> dict[str, Any]:
    stats = TranslateStats()
    for path in paths:
        if Path(path).exists():
            for rec in read_jsonl(path):
                stats.add(rec)
    return stats.to_dict()


async def run_translate(
    problems: Iterable[Problem],
    *,
    llm: LLM,
    client: AsyncClient,
    out_path: str | Path,
    rejected_path: str | Path,
    stats_path: str | Path,
    cfg: TranslateConfig,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Stream (problem, target) pairs through the gates; resumes by record id."""
    progress = progress or Progress()
    done = done_ids([out_path, rejected_path])
    langs = LanguageCache(client)

    def todo() -> Iterator[tuple[Problem, str]]:
        for p in problems:
            for target in cfg.targets:
                if f"{p.id}:{target}" in done:
                    progress.skipped += 1
                    progress.update()
                    continue
                yield p, target

    with JsonlWriter(out_path) as out, JsonlWriter(rejected_path) as rej:
        def on_result(item: tuple[Problem, str], rec: dict[str, Any]) -> None:
            (out if rec["kept"] else rej).write(rec)
            progress.finished(rec["kept"])

        def on_error(item: tuple[Problem, str], exc: BaseException) -> None:
            progress.error(f"{item[0].id}:{item[1]}", exc)

        await drive(todo(), lambda it: translate_one(it[0], it[1], llm, client, langs, cfg),
                    concurrency=cfg.concurrency, on_result=on_result, on_error=on_error)

    stats = translate_stats([out_path, rejected_path])
    stats["this_run"] = {"finished": progress.done, "skipped_already_done": progress.skipped,
                         "unfinished_errors": progress.errors,
                         "last_error": progress.last_error, "llm": llm.usage.as_dict()}
    write_json(stats_path, stats)
    return stats
