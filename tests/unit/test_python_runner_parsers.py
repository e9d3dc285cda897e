"""Python runner: job description and the pylint/ruff parsers on recorded output."""

from __future__ import annotations

import json

from codefeedback.models import Submission
from runners.base import StepResult
from runners.languages.python.runner import RUNNER, pylint_diagnostics, ruff_diagnostics

PYLINT = [
    {"type": "error", "module": "solution", "obj": "add", "line": 3, "column": 15,
     "endLine": 3, "endColumn": 27, "path": "solution.py", "symbol": "undefined-variable",
     "message": "Undefined variable 'missing_name'", "message-id": "E0602"},
    {"type": "error", "module": "solution", "obj": "f", "line": 7, "column": 4, "endLine": 7,
     "endColumn": 9, "path": "solution.py", "symbol": "no-member",
     "message": "Instance of 'X' has no 'y' member", "message-id": "E1101"},
    {"type": "warning", "module": "solution", "obj": "", "line": 9, "column": 0,
     "endLine": None, "endColumn": None, "path": "solution.py", "symbol": "unused-variable",
     "message": "Unused variable 'z'", "message-id": "W0612"},
]
RUFF = [
    {"code": "F821", "message": "Undefined name `missing_name`",
     "location": {"row": 3, "column": 16}, "end_location": {"row": 3, "column": 28},
     "filename": "/work/solution.py"},
    {"code": "F401", "message": "`os` imported but unused", "location": {"row": 1, "column": 8},
     "end_location": {"row": 1, "column": 10}, "filename": "/work/solution.py"},
    {"code": "E501", "message": "Line too long", "location": {"row": 2, "column": 1},
     "end_location": {"row": 2, "column": 200}, "filename": "/work/solution.py"},
    {"code": None, "message": "SyntaxError: Expected ':'", "location": {"row": 5, "column": 3},
     "end_location": {"row": 5, "column": 4}, "filename": "/work/solution.py"},
]


def test_pylint_mapping_and_one_based_columns() -> None:
    diags = pylint_diagnostics(StepResult(status="ok", exit_code=2, stdout=json.dumps(PYLINT)))
    assert [(d.code, d.severity.value, d.line, d.column) for d in diags] == [
        ("E0602", "error", 3, 16), ("E1101", "warning", 7, 5), ("W0612", "warning", 9, 1)]


def test_ruff_mapping() -> None:
    diags = ruff_diagnostics(StepResult(status="ok", exit_code=0, stdout=json.dumps(RUFF)))
    assert [(d.code, d.severity.value) for d in diags] == [
        ("F821", "error"), ("F401", "warning"), ("E501", "info"), (None, "error")]
    assert all(d.file == "solution.py" for d in diags)


def test_garbage_tool_output_gives_no_diagnostics() -> None:
    assert pylint_diagnostics(StepResult(status="ok", stdout="Traceback ...")) == []
    assert ruff_diagnostics(StepResult(status="timeout", stdout='{"not": "a list"}')) == []


def test_job_shape() -> None:
    sub = Submission(language="python", code="x = 1\n",
                     tests={"unit": "def test_a():\n    pass\n",
                            "io": [{"stdin": "1", "stdout": "1"}]},
                     files={"data.txt": "d"}, limits={"time_s": 3, "memory_mb": 100})
    job = RUNNER.build_job(sub, 30)
    ids = [s.id for s in job.steps]
    assert ids == ["syntax", "integrity", "ruff", "pylint", "unit", "io-0"]
    assert set(job.files) == {"solution.py", "test_solution.py", "data.txt"}
    # the test source travels in the step's private spec; the file is an empty placeholder
    assert job.files["test_solution.py"] == ""
    unit = next(s for s in job.steps if s.id == "unit")
    assert unit.env["CF_TEST_SOURCE"] == "def test_a():\n    pass\n"
    user = {s.id: s for s in job.steps if s.user}
    assert set(user) == {"unit", "io-0"}
    assert all(s.time_s == 3 and s.memory_mb == 100 and s.after == ["syntax"]
               for s in user.values())
    assert all(s.env.get("CF_RUN_NONCE") == job.nonce for s in job.steps if s.report)


def test_no_static_analysis_skips_linters() -> None:
    job = RUNNER.build_job(Submission(language="python", code="x", static_analysis=False), 30)
    assert [s.id for s in job.steps] == ["syntax", "integrity", "run"]


def test_calls_and_humaneval_script_keep_expected_values_out_of_the_job() -> None:
    script = "def check(candidate):\n    assert candidate(1, 2) == 31337\n\ncheck(add)\n"
    calls = {"function": "add", "cases": [{"args": [1, 2], "expected": 27182}]}
    job = RUNNER.build_job(Submission(language="python", code="def add(a, b):\n    return 0\n",
                                      tests={"script": script, "calls": calls}), 30)
    sent = json.dumps(job.to_agent())
    assert "31337" not in sent and "27182" not in sent
    assert [c.expected for c in job.judging["script"]] == [31337]
    assert [c.expected for c in job.judging["calls"]] == [27182]
