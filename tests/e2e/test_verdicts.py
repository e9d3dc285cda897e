"""Every verdict of issue 2's list, for Python and C, through HTTP against the compose stack."""

from __future__ import annotations

import httpx
import pytest

pytestmark = [pytest.mark.e2e]

PY_UNIT = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
PY_SCRIPT = "assert add(1, 2) == 3\nassert add(2, 3) == 5\n"
C_SCRIPT = "#include <assert.h>\nint main(void) {\n    assert(add(1, 2) == 3);\n    return 0;\n}\n"
C_OK = "int add(int a, int b) {\n    return a + b;\n}\n"

CASES = {
    # name: (language, code, tests, limits, expected verdict)
    "py-accepted": ("python", "def add(a, b):\n    return a + b\n",
                    {"unit": PY_UNIT, "script": PY_SCRIPT}, None, "accepted"),
    "py-wrong": ("python", "def add(a, b):\n    return a * b\n", {"unit": PY_UNIT}, None,
                 "wrong_answer"),
    "py-syntax": ("python", "def add(a, b)\n    return a + b\n", {"unit": PY_UNIT}, None,
                  "compile_error"),
    "py-crash": ("python", "def add(a, b):\n    return [][a]\n", {"script": PY_SCRIPT}, None,
                 "runtime_error"),
    "py-time": ("python", "def add(a, b):\n    while True:\n        pass\n",
                {"script": PY_SCRIPT}, {"time_s": 1}, "time_limit"),
    "py-memory": ("python", "def add(a, b):\n    x = []\n    while True:\n"
                  "        x.append(bytearray(10**7))\n", {"script": PY_SCRIPT},
                  {"memory_mb": 128}, "memory_limit"),
    "py-output": ("python", "def add(a, b):\n    while True:\n        print('spam' * 100)\n",
                  {"script": PY_SCRIPT}, {"output_kb": 8}, "output_limit"),
    "py-exit0": ("python", "import sys\nsys.exit(0)\n", {"script": PY_SCRIPT}, None,
                 "runtime_error"),
    "c-accepted": ("c", C_OK, {"script": C_SCRIPT}, None, "accepted"),
    "c-wrong": ("c", "int add(int a, int b) {\n    return a - b;\n}\n", {"script": C_SCRIPT},
                None, "wrong_answer"),
    "c-compile": ("c", "int add(int a, int b) {\n    return a + b\n}\n", {"script": C_SCRIPT},
                  None, "compile_error"),
    "c-crash": ("c", "int add(int a, int b) {\n    int *p = 0;\n    return *p + a + b;\n}\n",
                {"script": C_SCRIPT}, None, "runtime_error"),
    "c-time": ("c", "int add(int a, int b) {\n    for (;;) {}\n    return 0;\n}\n",
               {"script": C_SCRIPT}, {"time_s": 1}, "time_limit"),
    "c-memory": ("c", "#include <stdlib.h>\n#include <string.h>\nint add(int a, int b) {\n"
                 "    for (;;) { char *p = malloc(1 << 20); if (!p) abort(); memset(p, 1, 1 << 20); }\n"
                 "    return a + b;\n}\n", {"script": C_SCRIPT}, {"memory_mb": 64},
                 "memory_limit"),
    "c-output": ("c", "#include <stdio.h>\nint add(int a, int b) {\n"
                 "    for (;;) puts(\"spam spam spam\");\n    return 0;\n}\n",
                 {"script": C_SCRIPT}, {"output_kb": 8}, "output_limit"),
    "c-exit0": ("c", "#include <stdlib.h>\nint add(int a, int b) {\n    exit(0);\n}\n",
                {"script": C_SCRIPT}, None, "runtime_error"),
}


@pytest.fixture(scope="module")
def results(api_url: str) -> dict[str, dict]:
    """Submit every case as one batch, then read each result once it is done."""
    subs = []
    for lang, code, tests, limits, _ in CASES.values():
        sub = {"language": lang, "code": code, "tests": tests}
        if limits:
            sub["limits"] = limits
        subs.append(sub)
    with httpx.Client(base_url=api_url, timeout=30) as client:
        r = client.post("/v1/batches", json={"submissions": subs})
        assert r.status_code == 202, r.text
        ids = r.json()["submission_ids"]
        out = {}
        for name, sub_id in zip(CASES, ids, strict=True):
            for _ in range(20):
                res = client.get(f"/v1/submissions/{sub_id}", params={"wait": 30})
                if res.json()["status"] == "completed":
                    break
            out[name] = res.json()
        return out


@pytest.mark.parametrize("name", list(CASES))
def test_verdict(results: dict, name: str) -> None:
    res = results[name]
    assert res["status"] == "completed"
    assert res["verdict"] == CASES[name][4], res["feedback"]
    assert res["feedback"].startswith(f"Verdict: {CASES[name][4]}")


def test_python_lint_error_line(api_url: str) -> None:
    code = "def add(a, b):\n    if a is None:\n        return nothing_here\n    return a + b\n"
    r = httpx.post(f"{api_url}/v1/submissions", params={"wait": 60}, timeout=90,
                   json={"language": "python", "code": code, "tests": {"unit": PY_UNIT}})
    body = r.json()
    assert r.status_code == 200 and body["verdict"] == "static_error", body
    errors = [d for d in body["static"]["diagnostics"] if d["severity"] == "error"]
    assert errors and all(d["line"] == 3 for d in errors)
    assert "solution.py:3:16" in body["feedback"]


def test_c_warning_and_error_lines(api_url: str) -> None:
    code = "int add(int a, int b) {\n    int unused;\n    return a + b;\n}\n"
    r = httpx.post(f"{api_url}/v1/submissions", params={"wait": 60}, timeout=90,
                   json={"language": "c", "code": code, "tests": {"script": C_SCRIPT}})
    body = r.json()
    assert body["verdict"] == "accepted", body["feedback"]
    warn = [d for d in body["compile"]["diagnostics"] if d["severity"] == "warning"]
    assert any(d["line"] == 2 and d["column"] == 9 for d in warn), warn
    bad = "int add(int a, int b) {\n    return a + c;\n}\n"
    r = httpx.post(f"{api_url}/v1/submissions", params={"wait": 60}, timeout=90,
                   json={"language": "c", "code": bad, "tests": {"script": C_SCRIPT}})
    body = r.json()
    assert body["verdict"] == "compile_error"
    err = [d for d in body["compile"]["diagnostics"] if d["severity"] == "error"]
    assert any(d["line"] == 2 and d["column"] == 16 for d in err), err
    assert "solution.c:2:16" in body["feedback"]
