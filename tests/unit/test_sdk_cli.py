"""The `codefeedback` command against the local service double over real HTTP (it serves
results recorded from the real service): output, exit codes, resumable batches, dataset
preparation."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.fake_service import FakeService
from support.scenarios import DATASETS

from codefeedback.cli import app
from codefeedback.loops.jsonl import read_jsonl


@pytest.fixture
def svc():
    service = FakeService()
    served = service.serve()
    service.url = served.url
    yield service
    served.close()
    assert service.misses == [], "not recorded:\n" + "\n".join(service.misses)


def run(*args) -> tuple[int, str]:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


def test_check_accepted_exits_0(tmp_path, svc):
    f = tmp_path / "add.py"
    f.write_text("def add(a, b):\n    return a + b\n")
    t = tmp_path / "t.py"
    t.write_text("assert add(1, 2) == 3\n")
    code, out = run("check", f, "--lang", "python", "--tests", t, "--url", svc.url)
    assert code == 0, out
    assert "accepted" in out


def test_check_wrong_answer_exits_1_and_shows_expected(tmp_path, svc):
    f = tmp_path / "add.py"
    f.write_text("def add(a, b):\n    return a - b\n")
    t = tmp_path / "t.py"
    t.write_text("assert add(1, 2) == 3\n")
    code, out = run("check", f, "-l", "python", "--tests", t, "--url", svc.url)
    assert code == 1
    assert "wrong_answer" in out and "expected: 3" in out  # the service's feedback text
    code, out = run("check", f, "-l", "python", "--tests", t, "--url", svc.url, "--json")
    res = json.loads(out)
    assert code == 1 and res["verdict"] == "wrong_answer"
    assert (res["tests"]["cases"][0]["expected"], res["tests"]["cases"][0]["actual"]) == ("3", "-1")


def test_check_io_file(tmp_path, svc):
    f = tmp_path / "echo.py"
    f.write_text("a, b = map(int, input().split())\nprint(a + b)\n")
    io = tmp_path / "io.json"
    io.write_text(json.dumps([{"stdin": "1 2\n", "stdout": "3\n"},
                              {"stdin": "2 2\n", "stdout": "5\n"}]))
    code, out = run("check", f, "-l", "python", "--io", io, "--url", svc.url)
    assert code == 1 and "1/2 passed" in out


def test_check_usage_and_unreachable_exit_codes(tmp_path):
    f = tmp_path / "a.py"
    f.write_text("print(1)\n")
    bad_io = tmp_path / "io.json"
    bad_io.write_text('[{"stdin": "1"}]')
    assert run("check", f, "-l", "python", "--io", bad_io)[0] == 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out = run("check", f, "-l", "python", "--url", f"http://127.0.0.1:{port}",
                    "--retries", "0")
    assert code == 3, out


def test_languages_lists_test_kinds(svc):
    code, out = run("languages", "--url", svc.url)
    assert code == 0 and "python" in out and "script" in out
    code, out = run("languages", "--url", svc.url, "--json")
    assert {x["id"] for x in json.loads(out)} == {"python", "c"}


def test_batch_is_resumable_and_records_invalid_lines(tmp_path, svc):
    inp = tmp_path / "in.jsonl"
    lines = [{"id": f"s{i}", "language": "python", "code": f"print({i})\n",
              "tests": {"io": [{"stdin": "", "stdout": "1\n"}]}} for i in range(5)]
    lines.append({"id": "bad", "language": "python"})  # no code: invalid
    inp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out.jsonl"
    code, output = run("batch", inp, out, "--url", svc.url, "--chunk-size", "2", "-j", "2")
    assert code == 1, output  # one invalid input
    recs = {r["id"]: r for r in read_jsonl(out)}
    assert set(recs) == {"s0", "s1", "s2", "s3", "s4", "bad"}
    assert recs["s1"]["verdict"] == "accepted" and recs["s0"]["verdict"] == "wrong_answer"
    assert recs["bad"]["error"]["code"] == "invalid_submission"
    judged = svc.judged
    # drop one finished line (as if the run had been killed) and resume
    kept = [json.dumps(r) + "\n" for r in read_jsonl(out) if r["id"] != "s3"]
    out.write_text("".join(kept))
    code, output = run("batch", inp, out, "--url", svc.url)
    assert code == 0, output
    assert svc.judged == judged + 1
    assert sorted(r["id"] for r in read_jsonl(out)) == ["bad", "s0", "s1", "s2", "s3", "s4"]


def test_prepare_converts_shared_datasets(tmp_path):
    out = tmp_path / "mbpp.jsonl"
    code, _ = run("prepare", str(DATASETS / "mbpp" / "mbpp.jsonl"), out, "--limit", "3",
                  "--offset", "1")
    assert code == 0
    recs = list(read_jsonl(out))
    assert [r["id"] for r in recs] == ["MBPP/2", "MBPP/3", "MBPP/4"]
    assert recs[0]["entry_point"] == "similar_elements" and "assert" in recs[0]["tests"]["script"]
    out2 = tmp_path / "he.jsonl"
    code, _ = run("prepare", str(DATASETS / "openai-humaneval" / "HumanEval.jsonl.gz"), out2,
                  "--limit", "2", "--drop-tests")
    recs = list(read_jsonl(out2))
    assert code == 0 and len(recs) == 2 and "tests" not in recs[0]
    assert recs[0]["solution"].startswith("from typing import List")


def test_render_shows_integrity_findings() -> None:
    from io import StringIO

    from rich.console import Console

    from codefeedback.cli import render_result
    from codefeedback.models import SubmissionResource

    res = SubmissionResource.model_validate({
        "id": "sub_x", "status": "completed", "language": "python", "verdict": "wrong_answer",
        "integrity": {"suspicious": True, "findings": [
            {"rule": "eq-override", "message": "class Yes: __eq__ returns True", "line": 2,
             "file": "solution.py"}]}})
    out = StringIO()
    render_result(res, Console(file=out, width=120))
    assert "eq-override" in out.getvalue() and "solution.py:2" in out.getvalue()
