"""Rejection sampling: n samples per problem, all judged through the batch API, the passing ones
kept once each (deduplicated by normalised code), with unbiased pass@k per problem and overall.

Identical samples (after normalisation) are judged once and their verdict shared, which saves
service time without biasing pass@k: c still counts every passing sample.

Outputs: kept samples (OUT), one summary line per problem (OUT.problems.jsonl, also the resume
marker: a problem is finished when its summary is written) and OUT.stats.json.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefeedback.client import AsyncClient, CodefeedbackError
from codefeedback.extract import extract_code
from codefeedback.loops import prompts
from codefeedback.loops.common import Progress, ServiceFailure, drive, histogram_add
from codefeedback.loops.jsonl import JsonlWriter, done_ids, prune, read_jsonl, write_json
from codefeedback.loops.llm import LLM, Usage
from codefeedback.loops.normalize import code_key
from codefeedback.loops.passk import ks_for, pass_at_k
from codefeedback.loops.problems import Problem
from codefeedback.models import Limits, Submission


@dataclass
class SampleConfig:
    n: int = 10
    temperature: float = 0.8
    ks: tuple[int, ...] = (1, 5, 10)
    system: str | None = prompts.SYSTEM
    limits: Limits = field(default_factory=Limits)
    concurrency: int = 4  # problems in flight (each makes n model calls)
    batch_timeout_s: float = 1800.0


async def sample_problem(p: Problem, llm: LLM, client: AsyncClient, cfg: SampleConfig
                         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """n samples → unique codes → one batch → (kept records, problem summary)."""
    if p.tests is None:
        raise ValueError(f"{p.id}: rejection sampling needs tests")
    messages = prompts.generation_messages(p.problem, p.language, system=cfg.system)
    usage = Usage()
    comps = await asyncio.gather(*[llm.complete(messages, temperature=cfg.temperature)
                                   for _ in range(cfg.n)])
    unique: dict[str, dict[str, Any]] = {}  # key -> {code, indices, answer}
    sample_keys: list[str | None] = []
    no_code = 0
    for i, comp in enumerate(comps):
        usage.add(comp)
        ex = extract_code(comp.text, p.language, p.entry_point)
        if not ex.ok:
            no_code += 1
            sample_keys.append(None)
            continue
        key = code_key(ex.code or "", p.language)
        sample_keys.append(key)
        entry = unique.setdefault(key, {"code": ex.code, "indices": [], "answer": comp.text})
        entry["indices"].append(i)
        # the group's representative is its smallest code, not whichever sample came first,
        # so the programs judged and kept depend only on the multiset of samples
        if (ex.code or "") < entry["code"]:
            entry["code"], entry["answer"] = ex.code, comp.text
    keys = list(unique)
    subs = [Submission(language=p.language, code=unique[k]["code"], tests=p.tests,
                       limits=cfg.limits, metadata={"problem_id": p.id[:200], "key": k})
            for k in keys]
    verdict_of: dict[str, str] = {}
    if subs:
        try:
            async for idx, res in client.run_batch(subs, timeout=cfg.batch_timeout_s):
                if res.verdict is None or res.verdict.value == "internal_error":
                    raise ServiceFailure(f"{p.id}: submission {res.id} internal_error")
                verdict_of[keys[idx]] = res.verdict.value
                unique[keys[idx]]["submission_id"] = res.id
        except CodefeedbackError as exc:
            raise ServiceFailure(f"{p.id}: {exc}") from exc
    verdicts: dict[str, int] = {}
    c = 0
    for key in sample_keys:
        v = "no_code" if key is None else verdict_of[key]
        histogram_add(verdicts, v)
        c += v == "accepted"
    n = len(comps)
    kept = []
    for k in keys:
        if verdict_of[k] != "accepted":
            continue
        u = unique[k]
        kept.append({
            "id": f"{p.id}#{k}", "problem_id": p.id, "language": p.language,
            "code": u["code"], "samples": len(u["indices"]), "sample_indices": u["indices"],
            "submission_id": u.get("submission_id"),
            "messages": [*messages, {"role": "assistant", "content": u["answer"]}],
        })
    summary = {
        "id": p.id, "language": p.language, "n": n, "c": c, "no_code": no_code,
        "unique": len(keys), "unique_passing": len(kept), "verdicts": verdicts,
        "pass_at_k": {str(k): round(pass_at_k(n, c, k), 6) for k in ks_for(n, cfg.ks)},
        "usage": usage.as_dict(), "temperature": cfg.temperature,
    }
    return kept, summary


def sample_stats(problems_path: str | Path, ks: Iterable[int] = (1, 5, 10)) -> dict[str, Any]:
    """Aggregate problem summaries: mean pass@k over the problems whose n allows k."""
    ks = tuple(ks)
    sums = {k: 0.0 for k in ks}
    counts = {k: 0 for k in ks}
    total = {"problems": 0, "samples": 0, "passing_samples": 0, "no_code": 0,
             "unique_evaluated": 0, "kept_unique_passing": 0, "problems_solved": 0}
    verdicts: dict[str, int] = {}
    usage = Usage()
    if Path(problems_path).exists():
        for rec in read_jsonl(problems_path):
            total["problems"] += 1
            total["samples"] += rec["n"]
            total["passing_samples"] += rec["c"]
            total["no_code"] += rec.get("no_code", 0)
            total["unique_evaluated"] += rec.get("unique", 0)
            total["kept_unique_passing"] += rec.get("unique_passing", 0)
            total["problems_solved"] += rec["c"] > 0
            for v, cnt in (rec.get("verdicts") or {}).items():
                histogram_add(verdicts, v, cnt)
            for k in ks:
                if str(k) in rec.get("pass_at_k", {}):
                    sums[k] += rec["pass_at_k"][str(k)]
                    counts[k] += 1
            u = rec.get("usage") or {}
            usage.calls += u.get("calls", 0)
            usage.prompt_tokens += u.get("prompt_tokens", 0)
            usage.completion_tokens += u.get("completion_tokens", 0)
    return {
        **total,
        "pass_at_k": {str(k): round(sums[k] / counts[k], 6) for k in ks if counts[k]},
        "pass_at_k_problems": {str(k): counts[k] for k in ks if counts[k]},
        "duplicates_removed": total["samples"] - total["no_code"] - total["unique_evaluated"],
        "verdicts": dict(sorted(verdicts.items())),
        **usage.as_dict(),
    }


async def run_sample(
    problems: Iterable[Problem],
    *,
    llm: LLM,
    client: AsyncClient,
    out_path: str | Path,
    problems_path: str | Path,
    stats_path: str | Path,
    cfg: SampleConfig,
    progress: Progress | None = None,
) -> dict[str, Any]:
    progress = progress or Progress()
    done = done_ids([problems_path])
    # kept samples of a problem whose summary never got written are redone: drop them first
    prune(out_path, lambda rec: str(rec.get("problem_id")) in done)

    def todo() -> Iterable[Problem]:
        for p in problems:
            if p.id in done:
                progress.skipped += 1
                progress.update()
                continue
            yield p

    with JsonlWriter(out_path) as out, JsonlWriter(problems_path) as summ:
        def on_result(p: Problem, result: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
            kept, summary = result
            for rec in kept:
                out.write(rec)
            summ.write(summary)  # last: marks the problem finished
            progress.finished(bool(summary["c"]))

        def on_error(p: Problem, exc: BaseException) -> None:
            progress.error(p.id, exc)

        await drive(todo(), lambda p: sample_problem(p, llm, client, cfg),
                    concurrency=cfg.concurrency, on_result=on_result, on_error=on_error)

    stats = sample_stats(problems_path, cfg.ks)
    stats["n"] = cfg.n
    stats["temperature"] = cfg.temperature
    stats["this_run"] = {"finished": progress.done, "skipped_already_done": progress.skipped,
                         "unfinished_errors": progress.errors,
                         "last_error": progress.last_error, "llm": llm.usage.as_dict()}
    write_json(stats_path, stats)
    return stats
