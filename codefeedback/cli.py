"""The `codefeedback` command: check one file, run a JSONL batch, list languages, prepare
datasets, and run the repair / sample / translate loops against any OpenAI-compatible endpoint.

Exit codes (for scripts):
  0  success (check: accepted; batch/loops: every item finished)
  1  check: evaluated and not accepted; batch: some inputs were invalid
  2  usage error (bad option, unreadable or invalid input file)
  3  the service or the model endpoint could not be reached / refused the request
  4  the service failed to judge (internal_error) or a wait timed out
  5  a batch or loop run left items unfinished (rerun the same command to resume them)
Progress and tables go to stderr; `--json` output goes to stdout.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from codefeedback.client import (
    APIConnectionError,
    APIStatusError,
    AsyncClient,
    BadRequestError,
    Client,
    CodefeedbackError,
    WaitTimeout,
)
from codefeedback.loops import common
from codefeedback.loops.jsonl import JsonlWriter, count_lines, done_ids, read_jsonl
from codefeedback.loops.llm import LLM, LLMError, ModelSettings
from codefeedback.loops.problems import Problem, convert, load_problems
from codefeedback.models import IOCase, Limits, Submission, SubmissionResource, Tests, Verdict

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_SERVICE, EXIT_UNFINISHED = range(6)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Execution feedback for LLM-generated code (codefeedback SDK + loops).")
err = Console(stderr=True)
out = Console()

# ----------------------------------------------------------------------- shared options
UrlOpt = Annotated[str | None, typer.Option("--url", envvar="CODEFEEDBACK_URL",
                                            help="Service base URL [default: localhost:8000].")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="CODEFEEDBACK_API_KEY",
                                            help="Service API key (Bearer).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="HTTP timeout per request, s.")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, envvar="CODEFEEDBACK_MAX_RETRIES",
                                         help="Retries on 429/5xx/connection errors.")]
BaseUrlOpt = Annotated[str, typer.Option("--base-url", envvar="OPENAI_BASE_URL",
                                         help="OpenAI-compatible endpoint, e.g. "
                                              "http://localhost:8001/v1 (vLLM).")]
ModelOpt = Annotated[str, typer.Option("--model", envvar="CODEFEEDBACK_MODEL",
                                       help="Model name as the endpoint knows it.")]
ModelKeyOpt = Annotated[str | None, typer.Option("--model-api-key", envvar="OPENAI_API_KEY",
                                                 help="Key for the model endpoint.")]
MaxTokOpt = Annotated[int, typer.Option("--max-tokens", help="Max tokens per answer.")]
ConcOpt = Annotated[int, typer.Option("--concurrency", "-j", min=1,
                                      help="Items in flight at once.")]
TimeSOpt = Annotated[float | None, typer.Option("--time-limit", help="time_s per run.")]
MemOpt = Annotated[int | None, typer.Option("--memory-limit", help="memory_mb.")]


def _limits(time_s: float | None, memory_mb: int | None) -> Limits:
    kw: dict[str, Any] = {}
    if time_s is not None:
        kw["time_s"] = time_s
    if memory_mb is not None:
        kw["memory_mb"] = memory_mb
    return Limits(**kw)


def _fail(code: int, message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _api_exit(exc: CodefeedbackError) -> typer.Exit:
    if isinstance(exc, WaitTimeout):
        return _fail(EXIT_SERVICE, str(exc))
    if isinstance(exc, BadRequestError):
        return _fail(EXIT_USAGE, f"the service refused the request: {exc}")
    if isinstance(exc, APIStatusError | APIConnectionError):
        return _fail(EXIT_UNREACHABLE, str(exc))
    return _fail(EXIT_UNREACHABLE, str(exc))


# ---------------------------------------------------------------------------- rendering
VERDICT_STYLE = {"accepted": "bold green", "static_error": "yellow", "wrong_answer": "bold red",
                 "compile_error": "bold magenta", "internal_error": "bold white on red"}


def render_result(res: SubmissionResource, console: Console) -> None:
    """A readable view of one result: verdict, diagnostics, tests, run, feedback."""
    v = res.verdict.value if res.verdict else res.status.value
    console.print(f"[{VERDICT_STYLE.get(v, 'bold red')}]{v}[/]  "
                  f"[dim]{res.id} · {res.language}"
                  + (f" · {res.environment.toolchain}" if res.environment and
                     res.environment.toolchain else "") + "[/]")
    diags = []
    for stage, part in (("compile", res.compile), ("static", res.static)):
        if part is not None:
            diags += [(stage, d) for d in part.diagnostics]
    if diags:
        t = Table("where", "sev", "tool", "code", "message", title="Diagnostics",
                  title_justify="left", show_lines=False)
        for _stage, d in diags[:50]:
            t.add_row(f"{d.file or ''}:{d.line or ''}:{d.column or ''}", d.severity.value,
                      d.tool, d.code or "", escape(d.message))
        console.print(t)
    if res.tests is not None:
        tr = res.tests
        t = Table("test", "outcome", "expected", "actual", "message",
                  title=f"Tests {tr.passed}/{tr.total} passed", title_justify="left")
        for c in tr.cases[:100]:
            style = "green" if c.outcome.value == "passed" else "red"
            t.add_row(escape(c.name), f"[{style}]{c.outcome.value}[/]",
                      escape(c.expected or ""), escape(c.actual or ""),
                      escape((c.message or "")[:200]))
        console.print(t)
    if res.run is not None:
        r = res.run
        console.print(f"[dim]exit {r.exit_code}"
                      + (f" signal {r.signal}" if r.signal else "")
                      + (f" · {r.wall_ms} ms" if r.wall_ms is not None else "")
                      + (f" · {r.memory_kb} KiB" if r.memory_kb is not None else "")
                      + (" · output truncated" if r.truncated else "") + "[/]")
        if r.stdout.strip():
            console.print("[bold]stdout[/]", escape(r.stdout[-2000:]))
        if r.stderr.strip():
            console.print("[bold]stderr[/]", escape(r.stderr[-2000:]))
    if res.integrity is not None and res.integrity.findings:
        console.print("[bold yellow]integrity[/] [dim](reward-hack patterns; the verdict "
                      "does not depend on them)[/]")
        for f in res.integrity.findings[:20]:
            console.print(f"  {f.file or ''}:{f.line or ''} {f.rule}: {escape(f.message)}")
    if res.feedback and res.verdict != Verdict.accepted:
        console.print("[bold]feedback[/]")
        console.print(escape(res.feedback))


_UNIT_HINT = re.compile(r"def test_|@Test|#\[test\]|func Test\w*\(|\bdescribe\(|\btest\(")


def _read_io(path: Path) -> list[IOCase]:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if text.lstrip().startswith("[") else list(read_jsonl(path))
    return [IOCase.model_validate(c) for c in data]


# ------------------------------------------------------------------------------ commands
@app.command()
def check(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Solution file.")],
    lang: Annotated[str, typer.Option("--lang", "-l", help="Language id (see `languages`).")],
    tests: Annotated[Path | None, typer.Option("--tests", exists=True, dir_okay=False,
                                               help="Test source file.")] = None,
    kind: Annotated[str, typer.Option("--kind", help="Kind of --tests: unit, script or auto "
                                                     "(unit when it has test functions).")]
    = "auto",
    io: Annotated[Path | None, typer.Option("--io", exists=True, dir_okay=False,
                                            help="JSON list or JSONL of {stdin, stdout}.")]
    = None,
    stdin: Annotated[Path | None, typer.Option("--stdin", exists=True, dir_okay=False,
                                               help="stdin for a run-only check.")] = None,
    no_static: Annotated[bool, typer.Option("--no-static", help="Skip static analysis.")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw resource as JSON.")]
    = False,
    time_limit: TimeSOpt = None,
    memory_limit: MemOpt = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    timeout: TimeoutOpt = 30.0,
    retries: RetriesOpt = 5,
) -> None:
    """Evaluate one file and print the feedback. Exit 0 when accepted, 1 otherwise."""
    t: dict[str, Any] = {}
    if tests is not None:
        source = tests.read_text(encoding="utf-8")
        k = kind if kind != "auto" else ("unit" if _UNIT_HINT.search(source) else "script")
        if k not in ("unit", "script"):
            raise _fail(EXIT_USAGE, f"--kind must be unit, script or auto, not {kind!r}")
        t[k] = source
    try:
        if io is not None:
            t["io"] = _read_io(io)
        sub = Submission(language=lang, code=file.read_text(encoding="utf-8"),
                         tests=Tests(**t) if t else None,
                         stdin=stdin.read_text(encoding="utf-8") if stdin else "",
                         static_analysis=not no_static, limits=_limits(time_limit, memory_limit))
    except (ValidationError, ValueError) as exc:
        raise _fail(EXIT_USAGE, f"invalid submission: {exc}") from None
    try:
        with Client(url, api_key=api_key, timeout=timeout, max_retries=retries) as cf:
            res = cf.run(sub)
    except CodefeedbackError as exc:
        raise _api_exit(exc) from None
    if as_json:
        out.print_json(res.model_dump_json(exclude_none=True))
    else:
        render_result(res, out)
    if res.verdict == Verdict.accepted:
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(EXIT_SERVICE if res.verdict == Verdict.internal_error else EXIT_REJECTED)


@app.command()
def languages(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    timeout: TimeoutOpt = 30.0,
    retries: RetriesOpt = 5,
) -> None:
    """List the languages the service runs and the test kinds each accepts."""
    try:
        with Client(url, api_key=api_key, timeout=timeout, max_retries=retries) as cf:
            langs = cf.languages()
    except CodefeedbackError as exc:
        raise _api_exit(exc) from None
    if as_json:
        out.print_json(json.dumps([x.model_dump(exclude_none=True) for x in langs]))
        return
    table = Table("id", "name", "version", "aliases", "test kinds", "static tools")
    for x in langs:
        table.add_row(x.id, x.name, x.version, ", ".join(x.aliases), ", ".join(x.test_kinds),
                      ", ".join(x.static_tools))
    out.print(table)


def _progress(total: int | None, label: str) -> tuple[Progress, Any]:
    prog = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                    transient=False)
    task = prog.add_task(label, total=total, info="")
    return prog, task


def _loop_progress(total: int | None, label: str) -> tuple[Progress, common.Progress]:
    prog, task = _progress(total, label)
    state = common.Progress(total=total)

    def update(s: common.Progress) -> None:
        prog.update(task, completed=s.done + s.skipped,
                    info=f"[green]{s.passed} ok[/] [red]{s.failed} rejected[/]"
                         + (f" [yellow]{s.errors} unfinished[/]" if s.errors else "")
                         + (f" [dim]{s.skipped} resumed[/]" if s.skipped else ""))

    state.on_update = update
    return prog, state


@app.command()
def batch(
    infile: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                           help="JSONL: one submission per line, with `id`.")],
    outfile: Annotated[Path, typer.Argument(help="JSONL results (appended; resumable).")],
    concurrency: ConcOpt = 4,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1,
                                            help="Submissions per batch request.")] = 100,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    timeout: TimeoutOpt = 30.0,
    retries: RetriesOpt = 5,
) -> None:
    """Evaluate a JSONL of submissions through the batch API; skips ids already in OUT."""
    done = done_ids([outfile])
    total = count_lines(infile)
    prog, task = _progress(total, "batch")
    counts = {"done": 0, "skipped": 0, "invalid": 0, "errors": 0, "accepted": 0}

    def chunks(writer: JsonlWriter) -> Iterator[list[tuple[str, Submission]]]:
        chunk: list[tuple[str, Submission]] = []
        for lineno, rec in enumerate(read_jsonl(infile), 1):
            sid = str(rec.pop("id", rec.get("metadata", {}) and rec["metadata"].get("id")
                              or f"line-{lineno}"))
            if sid in done:
                counts["skipped"] += 1
                prog.update(task, advance=1)
                continue
            try:
                chunk.append((sid, Submission.model_validate(rec)))
            except ValidationError as exc:
                writer.write({"id": sid, "error": {"code": "invalid_submission",
                                                   "message": str(exc)[:2000]}})
                counts["invalid"] += 1
                prog.update(task, advance=1)
                continue
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def main() -> None:
        async with AsyncClient(url, api_key=api_key, timeout=timeout,
                               max_retries=retries) as cf:
            with JsonlWriter(outfile) as writer:
                async def one(chunk: list[tuple[str, Submission]]) -> None:
                    async for i, res in cf.run_batch([s for _, s in chunk],
                                                     chunk_size=len(chunk)):
                        writer.write({**res.model_dump(mode="json", exclude_none=True),
                                      "id": chunk[i][0], "submission_id": res.id})
                        counts["done"] += 1
                        counts["accepted"] += res.verdict == Verdict.accepted
                        prog.update(task, advance=1, info=f"[green]{counts['accepted']} "
                                                          "accepted[/]")

                def on_error(chunk: list[tuple[str, Submission]], exc: BaseException) -> None:
                    counts["errors"] += len(chunk)
                    err.print(f"[yellow]chunk starting at {chunk[0][0]} unfinished:[/] "
                              f"{escape(str(exc))}")

                await common.drive(chunks(writer), one, concurrency=concurrency,
                                   on_result=lambda c, r: None, on_error=on_error)

    with prog:
        asyncio.run(main())
    err.print(f"{counts['done']} judged ({counts['accepted']} accepted), "
              f"{counts['skipped']} already in {outfile}, {counts['invalid']} invalid, "
              f"{counts['errors']} unfinished")
    if counts["errors"]:
        raise typer.Exit(EXIT_UNFINISHED)
    raise typer.Exit(EXIT_REJECTED if counts["invalid"] else EXIT_OK)


@app.command()
def prepare(
    dataset: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                            help="A shared dataset file (HumanEval or MBPP).")],
    outfile: Annotated[Path, typer.Argument(help="Problems JSONL for the loops.")],
    kind: Annotated[str | None, typer.Option("--kind", help="humaneval or mbpp "
                                                            "[default: from the fields]")] = None,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
    drop_tests: Annotated[bool, typer.Option("--drop-tests", help="Leave tests out (the "
                                                                  "model writes them).")] = False,
) -> None:
    """Convert a dataset from shared/datasets into the loops' problem JSONL."""
    n = 0
    with JsonlWriter(outfile) as w:
        for i, p in enumerate(convert(dataset, kind)):
            if i < offset:
                continue
            if limit is not None and n >= limit:
                break
            rec = p.model_dump(mode="json", exclude_none=True)
            if drop_tests:
                rec.pop("tests", None)
            w.write(rec)
            n += 1
    err.print(f"wrote {n} problems to {outfile}")


# --------------------------------------------------------------------------------- loops
def _settings(base_url: str, model: str, model_api_key: str | None, temperature: float,
              max_tokens: int, concurrency: int) -> ModelSettings:
    return ModelSettings(base_url=base_url, model=model, api_key=model_api_key,
                         temperature=temperature, max_tokens=max_tokens,
                         concurrency=concurrency)


def _problems(path: Path) -> Iterator[Problem]:
    try:
        yield from load_problems(path)
    except (ValidationError, ValueError) as exc:
        raise _fail(EXIT_USAGE, f"{path}: {exc}") from None


async def _with_clients(settings: ModelSettings, url: str | None, api_key: str | None,
                        timeout: float, retries: int, fn: Any) -> dict[str, Any]:
    llm = LLM(settings)
    try:
        async with AsyncClient(url, api_key=api_key, timeout=timeout,
                               max_retries=retries) as cf:
            return await fn(llm, cf)
    finally:
        await llm.aclose()


def _finish(stats: dict[str, Any], state: common.Progress, stats_path: Path,
            summary: str) -> None:
    err.print(summary)
    err.print(f"stats: {stats_path}")
    if state.errors:
        err.print(f"[yellow]{state.errors} unfinished[/] (last: {escape(state.last_error or '')})"
                  " — rerun the same command to resume them")
        raise typer.Exit(EXIT_UNFINISHED)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


@app.command()
def repair(
    infile: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                           help="Problems JSONL {id, problem, language, "
                                                "tests?, entry_point?}.")],
    sft_out: Annotated[Path, typer.Argument(help="SFT JSONL of dialogs that passed.")],
    rejected: Annotated[Path | None, typer.Option("--rejected", help="Rejected dialogs "
                                                  "[default: <out>.rejected.jsonl].")] = None,
    stats: Annotated[Path | None, typer.Option("--stats", help="[default: "
                                               "<out>.stats.json]")] = None,
    max_rounds: Annotated[int, typer.Option("--max-rounds", "-k", min=0,
                                            help="Revisions after the first attempt.")] = 3,
    write_tests: Annotated[bool, typer.Option("--write-tests/--no-write-tests",
                                              help="Ask the model for tests when a problem "
                                                   "has none.")] = True,
    allow_test_edits: Annotated[bool, typer.Option("--allow-test-edits", help="Let guarded "
                                                   "model edits replace given tests (always "
                                                   "flagged).")] = False,
    sft_format: Annotated[str, typer.Option("--sft-format", help="dialog or final")]
    = "dialog",
    base_url: BaseUrlOpt = "http://localhost:8001/v1",
    model: ModelOpt = "default",
    model_api_key: ModelKeyOpt = None,
    temperature: Annotated[float, typer.Option("--temperature", "-t")] = 0.2,
    max_tokens: MaxTokOpt = 2048,
    concurrency: ConcOpt = 8,
    time_limit: TimeSOpt = None,
    memory_limit: MemOpt = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    timeout: TimeoutOpt = 60.0,
    retries: RetriesOpt = 5,
) -> None:
    """Generate → evaluate → revise with feedback, up to K rounds; keep passing dialogs."""
    from codefeedback.loops.repair import RepairConfig, run_repair

    if sft_format not in ("dialog", "final"):
        raise _fail(EXIT_USAGE, "--sft-format must be dialog or final")
    rejected = rejected or common.sibling(sft_out, ".rejected.jsonl")
    stats = stats or common.sibling(sft_out, ".stats.json")
    cfg = RepairConfig(max_rounds=max_rounds, write_tests=write_tests,
                       allow_test_edits=allow_test_edits, sft_format=sft_format,
                       limits=_limits(time_limit, memory_limit), concurrency=concurrency)
    settings = _settings(base_url, model, model_api_key, temperature, max_tokens, concurrency)
    prog, state = _loop_progress(count_lines(infile), "repair")

    async def go(llm: LLM, cf: AsyncClient) -> dict[str, Any]:
        return await run_repair(_problems(infile), llm=llm, client=cf, sft_path=sft_out,
                                rejected_path=rejected, stats_path=stats, cfg=cfg,
                                progress=state)

    with prog:
        result = asyncio.run(_with_clients(settings, url, api_key, timeout, retries, go))
    _finish(result, state, stats,
            f"{result['passed']}/{result['problems']} dialogs passed · round 0 "
            f"{_fmt(result['pass_rate_round0'])} → after {max_rounds} revisions "
            f"{_fmt(result['pass_rate_after_round'].get(str(max_rounds)))} · self-corrected "
            f"{_fmt(result['self_corrected_share_of_initially_wrong'])} of initially wrong · "
            f"{result['calls']} model calls, "
            f"{result['prompt_tokens'] + result['completion_tokens']} tokens")


@app.command()
def sample(
    infile: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                           help="Problems JSONL (with tests).")],
    outfile: Annotated[Path, typer.Argument(help="Kept passing samples (deduplicated).")],
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="Samples per problem.")] = 10,
    temperature: Annotated[float, typer.Option("--temperature", "-t")] = 0.8,
    problems_out: Annotated[Path | None, typer.Option("--problems-out", help="Per-problem "
                                                      "summaries [default: "
                                                      "<out>.problems.jsonl].")] = None,
    stats: Annotated[Path | None, typer.Option("--stats")] = None,
    base_url: BaseUrlOpt = "http://localhost:8001/v1",
    model: ModelOpt = "default",
    model_api_key: ModelKeyOpt = None,
    max_tokens: MaxTokOpt = 2048,
    concurrency: ConcOpt = 4,
    time_limit: TimeSOpt = None,
    memory_limit: MemOpt = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    timeout: TimeoutOpt = 60.0,
    retries: RetriesOpt = 5,
) -> None:
    """Rejection sampling: n samples per problem through the batch API, pass@k, keep passing."""
    from codefeedback.loops.sample import SampleConfig, run_sample

    problems_out = problems_out or common.sibling(outfile, ".problems.jsonl")
    stats = stats or common.sibling(outfile, ".stats.json")
    cfg = SampleConfig(n=n, temperature=temperature, limits=_limits(time_limit, memory_limit),
                       concurrency=concurrency)
    settings = _settings(base_url, model, model_api_key, temperature, max_tokens,
                         concurrency * min(n, 8))
    prog, state = _loop_progress(count_lines(infile), "sample")

    async def go(llm: LLM, cf: AsyncClient) -> dict[str, Any]:
        return await run_sample(_problems(infile), llm=llm, client=cf, out_path=outfile,
                                problems_path=problems_out, stats_path=stats, cfg=cfg,
                                progress=state)

    with prog:
        result = asyncio.run(_with_clients(settings, url, api_key, timeout, retries, go))
    passk = ", ".join(f"pass@{k} {v:.3f}" for k, v in result["pass_at_k"].items())
    _finish(result, state, stats,
            f"{result['problems']} problems · {result['samples']} samples · {passk} · kept "
            f"{result['kept_unique_passing']} unique passing · {result['calls']} model calls")


@app.command()
def translate(
    infile: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                           help="Problems JSONL with `solution` and tests.")],
    outfile: Annotated[Path, typer.Argument(help="Kept translations JSONL.")],
    to: Annotated[list[str], typer.Option("--to", help="Target language (repeatable).")],
    rejected: Annotated[Path | None, typer.Option("--rejected")] = None,
    stats: Annotated[Path | None, typer.Option("--stats")] = None,
    base_url: BaseUrlOpt = "http://localhost:8001/v1",
    model: ModelOpt = "default",
    model_api_key: ModelKeyOpt = None,
    temperature: Annotated[float, typer.Option("--temperature", "-t")] = 0.2,
    max_tokens: MaxTokOpt = 2048,
    concurrency: ConcOpt = 8,
    time_limit: TimeSOpt = None,
    memory_limit: MemOpt = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    timeout: TimeoutOpt = 60.0,
    retries: RetriesOpt = 5,
) -> None:
    """Translate solutions; keep those that parse, build and pass (funnel in the stats)."""
    from codefeedback.loops.translate import TranslateConfig, run_translate

    rejected = rejected or common.sibling(outfile, ".rejected.jsonl")
    stats = stats or common.sibling(outfile, ".stats.json")
    cfg = TranslateConfig(targets=tuple(to), limits=_limits(time_limit, memory_limit),
                          concurrency=concurrency)
    settings = _settings(base_url, model, model_api_key, temperature, max_tokens, concurrency)
    prog, state = _loop_progress(count_lines(infile) * len(to), "translate")

    async def go(llm: LLM, cf: AsyncClient) -> dict[str, Any]:
        return await run_translate(_problems(infile), llm=llm, client=cf, out_path=outfile,
                                   rejected_path=rejected, stats_path=stats, cfg=cfg,
                                   progress=state)

    with prog:
        result = asyncio.run(_with_clients(settings, url, api_key, timeout, retries, go))
    lines = [f"{lang}: " + " → ".join(f"{s} {f[s]}" for s in
                                       ("attempted", "generated", "parses", "builds", "passes",
                                        "kept"))
             for lang, f in result["funnel"].items()]
    _finish(result, state, stats, "\n".join(lines) or "nothing translated")


def main() -> None:
    """Console entry point; service/model failures outside a command map to exit codes."""
    try:
        app()
    except (LLMError, APIConnectionError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(EXIT_UNREACHABLE)


if __name__ == "__main__":
    main()
