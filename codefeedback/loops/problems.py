"""The problem record the loops read, and converters from the shared datasets.

Input JSONL lines look like `{id, problem, language, tests?, entry_point?}`; translation also
needs the source `solution`. `tests` uses the public `Tests` model, so whatever the service
accepts can be given. The converters turn HumanEval / HumanEvalPack / MBPP files into this shape
(`codefeedback prepare`), keeping the reference and buggy solutions in `metadata`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from codefeedback.loops.jsonl import read_jsonl
from codefeedback.models import Tests


class Problem(BaseModel):
    """One task for a loop. Unknown input fields are kept in `extra` and ignored."""

    model_config = ConfigDict(extra="allow")

    id: str
    problem: str = Field(..., description="The task as the model sees it.")
    language: str = "python"
    tests: Tests | None = None
    entry_point: str | None = None
    solution: str | None = Field(None, description="Reference solution (translation source).")
    metadata: dict[str, Any] = Field(default_factory=dict)


def load_problems(path: str | Path) -> Iterator[Problem]:
    """Stream problems; `id` is coerced to a string (MBPP's task ids are ints)."""
    for rec in read_jsonl(path, strict=True):
        if "id" not in rec and "task_id" in rec:
            rec["id"] = rec["task_id"]
        rec["id"] = str(rec["id"])
        yield Problem.model_validate(rec)


# ------------------------------------------------------------------------ dataset converters
def from_humaneval(rec: dict[str, Any]) -> Problem:
    """OpenAI HumanEval, HumanEval-X python or HumanEvalPack python record → Problem.

    The test becomes a `script` test (appended after the solution) that calls `check(...)`.
    """
    entry = rec["entry_point"]
    test = rec["test"]
    if not re.search(r"^check\(", test, re.MULTILINE):
        test = test.rstrip("\n") + f"\n\ncheck({entry})\n"
    prompt = rec["prompt"]
    meta: dict[str, Any] = {"source": rec["task_id"], "prompt": prompt}
    if "buggy_solution" in rec:
        meta["buggy_solution"] = prompt + rec["buggy_solution"]
        meta["bug_type"] = rec.get("bug_type")
    return Problem(
        id=str(rec["task_id"]).replace("Python/", "HumanEval/"),
        problem=("Complete the following Python function. Write the whole function, "
                 "including the signature.\n\n" + prompt),
        language="python",
        tests=Tests(script=test),
        entry_point=entry,
        solution=prompt + rec["canonical_solution"],
        metadata=meta,
    )


_CALLED = re.compile(r"([A-Za-z_]\w*)\s*\(")
_NOT_ENTRY = {"assert", "set", "sorted", "abs", "round", "math", "isclose", "list", "tuple",
              "str", "int", "float", "len", "all", "any", "frozenset", "dict", "type"}


def mbpp_entry_point(code: str, test_list: list[str]) -> str | None:
    """The function the tests call that the reference solution defines."""
    defined = set(re.findall(r"^def\s+([A-Za-z_]\w*)", code, re.MULTILINE))
    for name in _CALLED.findall(test_list[0] if test_list else ""):
        if name in defined:
            return name
    for name in _CALLED.findall(test_list[0] if test_list else ""):
        if name not in _NOT_ENTRY:
            return name
    return None


def from_mbpp(rec: dict[str, Any]) -> Problem:
    """MBPP (full or sanitized) record → Problem; the prompt shows the tests, as in the paper."""
    text = rec.get("text") or rec.get("prompt") or ""
    code = (rec.get("code") or "").replace("\r\n", "\n")
    tests = list(rec["test_list"])
    setup = "\n".join(rec.get("test_imports") or []) or rec.get("test_setup_code") or ""
    script = (setup + "\n" if setup.strip() else "") + "\n".join(tests) + "\n"
    return Problem(
        id=f"MBPP/{rec['task_id']}",
        problem=f"{text}\nYour code should pass these tests:\n\n" + "\n".join(tests),
        language="python",
        tests=Tests(script=script),
        entry_point=mbpp_entry_point(code, tests),
        solution=code,
        metadata={"source": f"MBPP/{rec['task_id']}"},
    )


def dataset_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records of a shared dataset file: JSONL (optionally gzipped) or a JSON list."""
    p = str(path)
    if p.endswith(".json"):
        yield from json.loads(Path(p).read_text(encoding="utf-8"))
    else:
        yield from read_jsonl(p, strict=True)


def convert(path: str | Path, kind: str | None = None) -> Iterator[Problem]:
    """Convert a shared dataset file; `kind` is `humaneval` or `mbpp` (guessed from fields)."""
    for rec in dataset_records(path):
        k = kind or ("humaneval" if "entry_point" in rec else "mbpp")
        yield from_humaneval(rec) if k == "humaneval" else from_mbpp(rec)
