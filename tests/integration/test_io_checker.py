"""io_checker through the real stack (uvicorn API -> Redis -> Celery worker -> Docker cells):
built-in kinds, testlib-style program checkers for Python and C solutions, checker failures,
and that the expected output never reaches the user's program (docs/CHECKERS.md)."""

from __future__ import annotations

import secrets

import httpx
import pytest

pytestmark = [pytest.mark.docker, pytest.mark.redis]

# "Print any two integers that sum to N" (N on stdin): many answers are right.
SUM_CHECKER = """\
import sys

inp, out, ans = sys.argv[1:4]
n = int(open(inp).read())
toks = open(out).read().split()
if len(toks) != 2:
    print(f"expected 2 numbers, got {len(toks)}")
    sys.exit(2)
try:
    a, b = int(toks[0]), int(toks[1])
except ValueError:
    print("not integers")
    sys.exit(2)
if a + b != n:
    print(f"{a} + {b} = {a + b}, not {n}")
    sys.exit(1)
print(f"ok: {a} + {b} = {n}")
"""
SUM_CASES = [{"stdin": "5\n", "stdout": "2 3\n"}, {"stdin": "10\n", "stdout": "5 5\n"},
             {"stdin": "-4\n", "stdout": "-2 -2\n"}]


def submit(url: str, body: dict, status: int = 200) -> dict:
    r = httpx.post(f"{url}/v1/submissions", params={"wait": 60}, timeout=120,
                   json={"static_analysis": False, "cache": False, **body})
    assert r.status_code == status, r.text
    out = r.json()
    if status == 200:
        assert out["status"] == "completed", out
    return out


def py(code: str, io: list[dict], checker: dict | None = None) -> dict:
    tests: dict = {"io": io}
    if checker is not None:
        tests["io_checker"] = checker
    return {"language": "python", "code": code, "tests": tests}


def program(code: str = SUM_CHECKER) -> dict:
    return {"kind": "program", "program": {"language": "python", "code": code}}


def cases(body: dict) -> list[dict]:
    return body["tests"]["cases"]


# ---------------------------------------------------------------------------- built-in kinds
def test_float_answer_is_accepted_with_float_and_wrong_with_exact(host_stack) -> None:
    url = host_stack["url"]
    code = "a, b = map(int, input().split())\nprint(f'{a / b:.6f}')\n"
    io = [{"stdin": "1 3\n", "stdout": "0.3333333333\n"},
          {"stdin": "2 3\n", "stdout": "0.6666666667\n"}]
    floats = submit(url, py(code, io, {"kind": "float"}))
    assert floats["verdict"] == "accepted", floats["feedback"]
    exact = submit(url, py(code, io))
    assert exact["verdict"] == "wrong_answer"
    assert cases(exact)[0]["actual"] == "0.333333\n"
    assert "line 1, column 9" in cases(exact)[0]["message"]
    # too far off even for float: the message names the token and the allowed difference
    off = submit(url, py("print('0.3334')\n", io[:1], {"kind": "float"}))
    assert off["verdict"] == "wrong_answer"
    assert "token 1 (line 1" in cases(off)[0]["message"]
    assert "allowed difference" in cases(off)[0]["message"]


def test_tokens_and_unordered_lines(host_stack) -> None:
    url = host_stack["url"]
    io = [{"stdin": "3\n", "stdout": "1 2 3\n"}]
    spread = "n = int(input())\nfor i in range(1, n + 1):\n    print(' ', i, ' ')\n"
    assert submit(url, py(spread, io, {"kind": "tokens"}))["verdict"] == "accepted"
    assert submit(url, py(spread, io))["verdict"] == "wrong_answer"
    wrong = submit(url, py("print(1, 2, 4)\n", io, {"kind": "tokens"}))
    assert wrong["verdict"] == "wrong_answer"
    assert "token 3" in cases(wrong)[0]["message"] and "'4'" in cases(wrong)[0]["message"]

    io = [{"stdin": "", "stdout": "apple\nbanana\ncherry\nbanana\n"}]
    shuffled = "print('cherry')\nprint('banana   ')\nprint()\nprint('banana')\nprint('apple')\n"
    assert submit(url, py(shuffled, io, {"kind": "unordered_lines"}))["verdict"] == "accepted"
    assert submit(url, py(shuffled, io))["verdict"] == "wrong_answer"
    once = submit(url, py("print('cherry\\nbanana\\napple')\n", io, {"kind": "unordered_lines"}))
    assert once["verdict"] == "wrong_answer"
    assert "missing expected line 4: 'banana'" in cases(once)[0]["message"]


# ---------------------------------------------------------------------------- program checkers
def test_any_valid_answer_judged_by_a_program_checker(host_stack) -> None:
    url = host_stack["url"]
    right = submit(url, py("n = int(input())\nprint(1, n - 1)\n", SUM_CASES, program()))
    assert right["verdict"] == "accepted", right["feedback"]
    assert [c["outcome"] for c in cases(right)] == ["passed"] * 3
    assert "ok: 1 + 4 = 5" in cases(right)[0]["message"]  # the checker's stdout
    # the same answers as text differ from the reference answers: exact would reject them
    assert submit(url, py("n = int(input())\nprint(1, n - 1)\n", SUM_CASES))["verdict"] == \
        "wrong_answer"
    wrong = submit(url, py("n = int(input())\nprint(1, n)\n", SUM_CASES, program()))
    assert wrong["verdict"] == "wrong_answer"
    first = cases(wrong)[0]
    assert first["outcome"] == "failed" and "exited with code 1" in first["message"]
    assert "1 + 5 = 6, not 5" in first["message"]
    assert first["actual"] == "1 5\n"


def test_presentation_error_counts_as_wrong_answer(host_stack) -> None:
    body = submit(host_stack["url"], py("n = int(input())\nprint(n)\n", SUM_CASES[:1],
                                        program()))
    assert body["verdict"] == "wrong_answer"
    msg = cases(body)[0]["message"]
    assert "presentation error" in msg and "counted as wrong answer" in msg
    assert "expected 2 numbers, got 1" in msg


@pytest.mark.parametrize(("checker", "detail"), [
    ("import sys\nn = int(open(sys.argv[1]).read())\nprint(1 // (n - 5))\n",
     "ZeroDivisionError"),
    ("import sys\nprint('checker gave up', file=sys.stderr)\nsys.exit(3)\n", "exited with code 3"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "killed by signal 9"),
])
def test_a_failing_checker_is_internal_error_naming_the_checker(host_stack, checker: str,
                                                                 detail: str) -> None:
    body = submit(host_stack["url"], py("n = int(input())\nprint(1, n - 1)\n", SUM_CASES,
                                        program(checker)))
    assert body["verdict"] == "internal_error"
    reason = body["feedback"]  # the API shows the reason in the feedback text
    assert "Reason: the io checker (tests.io_checker.program) failed on io[0]" in reason, reason
    assert "not the submitted code" in reason
    assert detail in cases(body)[0]["message"] and detail in reason
    if "ZeroDivisionError" in detail:  # crashes only on n == 5: the other cases still judged
        assert [c["outcome"] for c in cases(body)] == ["error", "passed", "passed"]


def test_only_programs_that_exited_0_go_to_the_checker(host_stack) -> None:
    code = "import sys\nn = int(input())\nif n == 10:\n    sys.exit(4)\nprint(1, n - 1)\n"
    body = submit(host_stack["url"], py(code, SUM_CASES, program()))
    assert body["verdict"] == "runtime_error"
    assert [c["outcome"] for c in cases(body)] == ["passed", "error", "passed"]
    assert cases(body)[1]["message"] == "the program exited with code 4"


def test_a_program_checker_judges_a_c_solution(host_stack) -> None:
    url = host_stack["url"]
    right = ("#include <stdio.h>\nint main(void) {\n    long n;\n    if (scanf(\"%ld\", &n) != 1)"
             " return 1;\n    printf(\"%ld %ld\\n\", n + 7, -7L);\n    return 0;\n}\n")
    body = submit(url, {"language": "c", "code": right,
                        "tests": {"io": SUM_CASES, "io_checker": program()}})
    assert body["verdict"] == "accepted", body["feedback"]
    wrong = right.replace("-7L", "-6L")
    body = submit(url, {"language": "c", "code": wrong,
                        "tests": {"io": SUM_CASES, "io_checker": program()}})
    assert body["verdict"] == "wrong_answer"
    assert "12 + -6 = 6, not 5" in cases(body)[0]["message"]


def test_a_checker_in_another_language_is_refused(host_stack) -> None:
    body = submit(host_stack["url"], py("print(1)\n", SUM_CASES, {
        "kind": "program", "program": {"language": "c", "code": "int main(void){return 0;}"}}),
        status=422)
    assert "io_checker.program.language 'c' is not supported" in str(body)


# -------------------------------------------------------------- the answer stays with the judge
SEARCH = """\
import os
secret = {parts!r}
secret = "".join(secret)
found = []
for k, v in os.environ.items():
    if secret in k or secret in v:
        found.append("env")
for root in ("/work", "/tmp", "/dev/shm", "/home", "/run"):
    for d, _, files in os.walk(root):
        for f in files:
            try:
                with open(os.path.join(d, f), "rb") as fh:
                    if secret.encode() in fh.read():
                        found.append(os.path.join(d, f))
            except OSError:
                pass
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{{pid}}/{{part}}", "rb") as fh:
                    if secret.encode() in fh.read():
                        found.append(f"/proc/{{pid}}/{{part}}")
            except OSError:
                pass
print("FOUND " + " ".join(found) if found else "CLEAN")
"""
SECRET_CHECKER = """\
import sys
out = open(sys.argv[2]).read().strip()
ans = open(sys.argv[3]).read().strip()
print(f"answer has {len(ans)} chars")
sys.exit(0 if out == "CLEAN" and ans.startswith("cf-expected-") else 1)
"""


@pytest.mark.parametrize("checker", [None, program(SECRET_CHECKER), {"kind": "tokens"}])
def test_the_expected_output_is_not_visible_to_the_program(host_stack, checker) -> None:
    secret = f"cf-expected-{secrets.token_hex(12)}"
    parts = [secret[i:i + 5] for i in range(0, len(secret), 5)]  # never whole in the code
    io = [{"stdin": "", "stdout": secret + "\n"}, {"stdin": "x\n", "stdout": secret + "\n"}]
    body = submit(host_stack["url"], py(SEARCH.format(parts=parts), io, checker))
    for case in cases(body):
        assert case["stdout"].strip() == "CLEAN", case
    if checker is not None and checker["kind"] == "program":
        assert body["verdict"] == "accepted", body["feedback"]
    else:
        assert body["verdict"] == "wrong_answer"
