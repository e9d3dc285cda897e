"""Dataset problems as `script` and `calls` submissions: honest code must pass, buggy code must not.

* HumanEvalPack Python (164 problems, `canonical_solution` and a human-written `buggy_solution`):
  `tests.script` is the dataset's test (plus `check(<entry_point>)` when it lacks it), and where
  `runners.languages.python.script_calls.recognise` takes the test apart, the same checks as
  `tests.calls` (`{"function", "cases": [{"args", "expected", "name": "line N"}]}`, with
  `float_tolerance: {"abs": tol, "rel": 0}` when the test uses `abs(f(x) - y) < tol`).
* MBPP (sanitized): the first `--mbpp` problems whose `test_list` converts, as `calls`.

JSON carries no tuples or sets: a problem whose arguments hold a tuple, a set, a dict with
non-string keys (or bytes, complex, a non-finite float) is skipped for calls, and the reasons are
counted. Each JSONL line written by `--out` is a valid submission body whose `metadata` says the
set, the task and what the verdict must be.

Usage:
  python bench/datasets_to_calls.py --out DIR            # write <set>.jsonl files
  python bench/datasets_to_calls.py --submit URL [--key KEY]   # post each set as a batch, print verdicts
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from runners.languages.python.script_calls import recognise  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
HUMANEVALPACK = DATASETS / "humanevalpack" / "python" / "humanevalpack.jsonl"
MBPP_SANITIZED = DATASETS / "mbpp" / "sanitized-mbpp.json"
ACCEPTED, NOT_ACCEPTED = "accepted", "not accepted"
# every set: (name, what its verdicts must be)
SETS = {
    "humanevalpack-canonical-script": ACCEPTED,
    "humanevalpack-buggy-script": NOT_ACCEPTED,
    "humanevalpack-canonical-calls": ACCEPTED,
    "humanevalpack-buggy-calls": NOT_ACCEPTED,
    "mbpp-calls": ACCEPTED,
}
# the service's own limits for these runs: canonical solutions take milliseconds; a few buggy
# ones loop forever (HumanEvalPack Python/10, /156, /160), which need not cost 10 s each
LIMITS = {"time_s": 4}


@dataclass
class Conversion:
    """Sets of submissions, plus why problems were left out of the calls sets."""

    sets: dict[str, list[dict]] = field(default_factory=dict)
    skipped: dict[str, Counter] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, set_name: str, reason: str) -> None:
        self.skipped.setdefault(set_name, Counter())[reason] += 1


def json_plain(value: Any, depth: int = 0) -> str | None:
    """None when `value` is plain JSON (lists, str-keyed dicts, finite numbers); else why not."""
    if depth > 100:
        return "nested too deeply"
    if value is None or type(value) in (bool, int, str):
        return None
    if type(value) is float:
        return None if math.isfinite(value) else "non-finite float"
    if type(value) is list:
        for v in value:
            why = json_plain(v, depth + 1)
            if why:
                return why
        return None
    if type(value) is dict:
        if any(type(k) is not str for k in value):
            return "dict with non-str keys"
        for v in value.values():
            why = json_plain(v, depth + 1)
            if why:
                return why
        return None
    return type(value).__name__


def script_to_calls(script: str) -> tuple[dict | None, str | None]:
    """`tests.calls` for a recognised script, or (None, why not)."""
    got = recognise(script)
    if got is None:
        return None, "script not recognised"
    cases = []
    tolerances = set()
    for case in got.cases:
        why = json_plain(list(case.args))
        if why:
            return None, f"{why} in args"
        why = json_plain(case.expected)
        if why:
            return None, f"{why} in expected"
        cases.append({"args": list(case.args), "expected": case.expected,
                      "name": f"line {case.line}"})
        if case.tolerance is not None:
            tolerances.add(case.tolerance)
    calls: dict[str, Any] = {"function": got.function, "cases": cases}
    if tolerances:
        # one tolerance per submission: the smallest the script uses (every recognised
        # HumanEvalPack test uses one value); exact cases next to it get it too
        calls["float_tolerance"] = {"abs": min(tolerances), "rel": 0}
    return calls, None


def submission(code: str, tests: dict, set_name: str, task: str, **meta: Any) -> dict:
    return {"language": "python", "code": code, "tests": tests, "static_analysis": False,
            "cache": False, "limits": dict(LIMITS),
            "metadata": {"set": set_name, "task": task, "expect": SETS[set_name], **meta}}


def humanevalpack_test(row: dict) -> str:
    """The dataset's test, run as a script (every row already ends with `check(<entry_point>)`)."""
    test = row["test"]
    call = f"check({row['entry_point']})"
    if call not in test:
        test = test.rstrip("\n") + f"\n\n{call}\n"
    return test


def load_humanevalpack(path: Path = HUMANEVALPACK) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def convert_humanevalpack(rows: list[dict], out: Conversion | None = None,
                          limit: int | None = None) -> Conversion:
    out = out or Conversion()
    for name in [n for n in SETS if n.startswith("humanevalpack-")]:
        out.sets.setdefault(name, [])
    for row in rows[:limit]:
        test = humanevalpack_test(row)
        calls, why = script_to_calls(test)
        if calls is not None and calls["function"] != row["entry_point"]:
            calls, why = None, "calls go to another function than entry_point"
        for kind in ("canonical", "buggy"):
            code = row["prompt"] + row[f"{kind}_solution"]
            out.sets[f"humanevalpack-{kind}-script"].append(submission(
                code, {"script": test}, f"humanevalpack-{kind}-script", row["task_id"]))
            if calls is None:
                out.skip(f"humanevalpack-{kind}-calls", str(why))
                continue
            out.sets[f"humanevalpack-{kind}-calls"].append(submission(
                code, {"calls": calls}, f"humanevalpack-{kind}-calls", row["task_id"],
                cases=len(calls["cases"])))
    return out


def load_mbpp(path: Path = MBPP_SANITIZED) -> list[dict]:
    return json.loads(path.read_text())


def convert_mbpp(rows: list[dict], count: int = 20, out: Conversion | None = None) -> Conversion:
    """The first `count` problems whose asserts convert to calls (test_imports go before the code,
    as in the dataset's own recipe `imports + code + asserts`)."""
    out = out or Conversion()
    chosen = out.sets.setdefault("mbpp-calls", [])
    for row in rows:
        if len(chosen) >= count:
            break
        calls, why = script_to_calls("\n".join(row["test_list"]) + "\n")
        if calls is None:
            out.skip("mbpp-calls", str(why))
            continue
        imports = "".join(line + "\n" for line in row.get("test_imports") or [])
        chosen.append(submission(imports + row["code"], {"calls": calls}, "mbpp-calls",
                                 f"mbpp/{row['task_id']}", cases=len(calls["cases"])))
    return out


def convert_all(mbpp_count: int = 20, limit: int | None = None) -> Conversion:
    out = convert_humanevalpack(load_humanevalpack(), limit=limit)
    return convert_mbpp(load_mbpp(), mbpp_count, out)


def describe(conv: Conversion) -> str:
    lines = []
    for name, subs in conv.sets.items():
        skipped = conv.skipped.get(name)
        why = ("; skipped " + ", ".join(f"{n} ({r})" for r, n in skipped.most_common())
               if skipped else "")
        lines.append(f"{name:32s} {len(subs):4d} submissions{why}")
    return "\n".join(lines)


def meets(verdict: str | None, expect: str) -> bool:
    return verdict == ACCEPTED if expect == ACCEPTED else verdict != ACCEPTED


def run_batches(client: Any, sets: dict[str, list[dict]], deadline_s: float = 600,
                wait_s: int = 60) -> dict[str, list[dict]]:
    """Post every set as one batch (all before waiting), then each set's full results in order.
    `client` is an httpx.Client with the service's base_url."""
    ids = {}
    for name, subs in sets.items():
        if not subs:
            continue
        r = client.post("/v1/batches", json={"submissions": subs})
        if r.status_code != 202:
            raise RuntimeError(f"{name}: POST /v1/batches answered {r.status_code}: {r.text[:2000]}")
        ids[name] = r.json()["id"]
    deadline = time.monotonic() + deadline_s
    results: dict[str, list[dict]] = {}
    for name, batch_id in ids.items():
        while True:
            got = client.get(f"/v1/batches/{batch_id}", params={"wait": wait_s},
                             timeout=wait_s + 30).json()
            if got["status"] == "completed":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: {got['completed']}/{got['total']} done after "
                                   f"{deadline_s:.0f} s")
        full = client.get(f"/v1/batches/{batch_id}", params={"full": "true"}, timeout=120)
        results[name] = full.json()["submissions"]
    return results


def report(sets: dict[str, list[dict]], results: dict[str, list[dict]],
           feedback_chars: int = 800) -> tuple[str, list[str]]:
    """Verdict counts per set, and the submissions whose verdict is not what the set needs."""
    lines, off = [], []
    for name, subs in sets.items():
        got = results.get(name, [])
        counts = Counter(r.get("verdict") for r in got)
        bad = [(s, r) for s, r in zip(subs, got, strict=True)
               if not meets(r.get("verdict"), s["metadata"]["expect"])]
        expect = subs[0]["metadata"]["expect"] if subs else ""
        lines.append(f"{name:32s} {len(got):4d}  {dict(counts.most_common())}  "
                     f"{len(bad)} off (must be {expect})")
        for s, r in bad:
            off.append(f"--- {name} {s['metadata']['task']}: {r.get('verdict')}\n"
                       f"{str(r.get('feedback'))[:feedback_chars]}")
    return "\n".join(lines), off


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write <set>.jsonl files into this directory")
    ap.add_argument("--submit", metavar="URL", help="post every set to this service as a batch")
    ap.add_argument("--key", default=os.environ.get("CODEFEEDBACK_API_KEY"),
                    help="API key (default: $CODEFEEDBACK_API_KEY)")
    ap.add_argument("--mbpp", type=int, default=20, help="MBPP problems (default 20)")
    ap.add_argument("--limit", type=int, default=None, help="first N HumanEvalPack problems")
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    args = ap.parse_args()
    conv = convert_all(args.mbpp, args.limit)
    wanted = set(args.sets.split(","))
    conv.sets = {k: v for k, v in conv.sets.items() if k in wanted}
    print(describe(conv))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, subs in conv.sets.items():
            path = args.out / f"{name}.jsonl"
            path.write_text("".join(json.dumps(s) + "\n" for s in subs))
            print(f"wrote {path}")
    if args.submit:
        import httpx

        headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
        start = time.perf_counter()
        with httpx.Client(base_url=args.submit.rstrip("/"), timeout=90, headers=headers) as client:
            results = run_batches(client, conv.sets)
        wall = time.perf_counter() - start
        table, off = report(conv.sets, results)
        for item in off:
            print(item)
        print(table)
        total = sum(len(v) for v in conv.sets.values())
        print(f"{total} submissions in {wall:.1f} s ({total / wall:.1f}/s); "
              f"{len(off)} not as expected")
        sys.exit(1 if off else 0)


if __name__ == "__main__":
    main()
