"""Run outside problem sets through the service and print verdict histograms.

Usage: python bench/datasets_check.py [--url URL] [--set humanevalpack-python|mbpp] [--limit N]
HumanEvalPack Python: every canonical solution must be `accepted` (never `static_error`) and
every buggy one must not be. MBPP: the canonical code with its asserts as `script` tests.
Numbers only: a record whose verdict is off is printed with its feedback.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

import httpx

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def humanevalpack_python(limit: int) -> list[tuple[str, str, dict]]:
    out = []
    path = DATASETS / "humanevalpack" / "python" / "humanevalpack.jsonl"
    for line in path.read_text().splitlines()[:limit]:
        r = json.loads(line)
        test = r["test"] + f"\ncheck({r['entry_point']})\n"
        for kind in ("canonical", "buggy"):
            code = r["prompt"] + r[f"{kind}_solution"]
            out.append((f"{r['task_id']}:{kind}", "accepted" if kind == "canonical" else "!accepted",
                        {"language": "python", "code": code, "tests": {"script": test}}))
    return out


def mbpp(limit: int) -> list[tuple[str, str, dict]]:
    out = []
    for line in (DATASETS / "mbpp" / "mbpp.jsonl").read_text().splitlines()[:limit]:
        r = json.loads(line)
        tests = "\n".join([r.get("test_setup_code", ""), *r["test_list"]]) + "\n"
        out.append((f"mbpp/{r['task_id']}", "accepted",
                    {"language": "python", "code": r["code"], "tests": {"script": tests}}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("CODEFEEDBACK_URL", "http://localhost:8000"))
    ap.add_argument("--set", default="humanevalpack-python", choices=["humanevalpack-python",
                                                                      "mbpp"])
    ap.add_argument("--limit", type=int, default=1000)
    args = ap.parse_args()
    items = humanevalpack_python(args.limit) if args.set != "mbpp" else mbpp(args.limit)
    start = time.perf_counter()
    with httpx.Client(base_url=args.url, timeout=60) as client:
        r = client.post("/v1/batches", json={"submissions": [i[2] for i in items]})
        r.raise_for_status()
        batch = r.json()
        while True:
            got = client.get(f"/v1/batches/{batch['id']}").json()
            print(f"\r{got['completed']}/{got['total']} done", end="", flush=True)
            if got["status"] == "completed":
                break
            time.sleep(2)
        print()
        wall = time.perf_counter() - start
        hist: dict[str, Counter] = {}
        off = 0
        for (name, want, _), s in zip(items, got["submissions"], strict=True):
            kind = name.rsplit(":", 1)[-1] if ":" in name else "solution"
            hist.setdefault(kind, Counter())[s["verdict"]] += 1
            ok = s["verdict"] == want if not want.startswith("!") else s["verdict"] != want[1:]
            if not ok:
                off += 1
                full = client.get(f"/v1/submissions/{s['id']}").json()
                print(f"--- {name}: {s['verdict']} (wanted {want})\n{full['feedback'][:600]}")
    for kind, counts in hist.items():
        print(f"{kind:10s} {dict(counts)}")
    print(f"{len(items)} jobs in {wall:.0f} s ({len(items) / wall:.2f} jobs/s); "
          f"{off} not as expected")


if __name__ == "__main__":
    main()
