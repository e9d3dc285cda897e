"""A local stand-in for the codefeedback service, for unit tests of the SDK-driven loops.

It implements the contract's shape (submit with wait, get, batches with summary entries,
languages) and judges Python and C `script`/`io` tests by running them on this machine with
`python3` / `gcc` — trusted test fixtures only, no sandbox. Feedback names the failing assert and
its expected value the way the contract describes (`expected`/`actual` on the test case), so
scripted models can react to it. It is a test double; the loops' end-to-end tests run against
the real stack (tests/integration/test_loops_e2e.py).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from codefeedback.models import BatchRequest, Submission

LANGS = {
    "python": {"id": "python", "name": "Python", "version": "3", "aliases": ["py"],
               "test_kinds": ["script", "io"], "static_tools": [],
               "files": {"solution": "solution.py"}},
    "c": {"id": "c", "name": "C", "version": "gcc", "aliases": [],
          "test_kinds": ["script", "io"], "static_tools": [], "files": {"solution": "solution.c"}},
}


def _err(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


def _expected_of(line: str) -> tuple[str | None, str | None]:
    """(`expected`, `actual` expression) of `assert actual == expected` source text."""
    try:
        node = ast.parse(line.strip()).body[0]
    except (SyntaxError, IndexError):
        return None, None
    if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) \
            and len(node.test.ops) == 1 and isinstance(node.test.ops[0], ast.Eq):
        return ast.unparse(node.test.comparators[0]), ast.unparse(node.test.left)
    return None, None


class FakeService:
    """Judges submissions synchronously; counts how many it judged."""

    def __init__(self) -> None:
        self.subs: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, list[str]] = {}
        self.judged = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ judging
    def judge(self, sub: Submission) -> dict[str, Any]:
        self.judged += 1
        with tempfile.TemporaryDirectory() as tmp:
            if sub.language == "python":
                return self._python(sub, Path(tmp))
            return self._c(sub, Path(tmp))

    def _run(self, argv: list[str], cwd: Path, stdin: str, time_s: float) -> dict[str, Any]:
        try:
            p = subprocess.run(argv, check=False, cwd=cwd, input=stdin, capture_output=True,
                               text=True,
                               timeout=time_s)
        except subprocess.TimeoutExpired:
            return {"exit_code": None, "signal": 9, "stdout": "", "stderr": "", "timeout": True}
        sig = -p.returncode if p.returncode < 0 else None
        return {"exit_code": p.returncode if p.returncode >= 0 else None, "signal": sig,
                "stdout": p.stdout[-4000:], "stderr": p.stderr[-4000:], "timeout": False}

    def _finish(self, sub: Submission, verdict: str, run: dict[str, Any] | None,
                compile_: dict[str, Any] | None, cases: list[dict[str, Any]],
                feedback: str) -> dict[str, Any]:
        tests = None
        if sub.tests is not None:
            passed = sum(1 for c in cases if c["outcome"] == "passed")
            tests = {"total": len(cases), "passed": passed, "failed": len(cases) - passed,
                     "errors": 0, "cases": cases}
        if run is not None:
            run = {k: v for k, v in run.items() if k != "timeout"}
        return {"status": "completed", "language": sub.language, "verdict": verdict,
                "static": None, "compile": compile_, "tests": tests, "run": run,
                "feedback": feedback, "metadata": sub.metadata}

    def _python(self, sub: Submission, tmp: Path) -> dict[str, Any]:
        script = sub.tests.script if sub.tests and sub.tests.script else ""
        program = sub.code + ("\n\n" + script if script else "")
        try:
            compile(sub.code, "solution.py", "exec")
        except SyntaxError as exc:
            diag = {"tool": "python", "severity": "error", "code": "E0001",
                    "message": f"SyntaxError: {exc.msg}", "file": "solution.py",
                    "line": exc.lineno, "column": exc.offset}
            return self._finish(sub, "compile_error", None,
                                {"ok": False, "diagnostics": [diag], "output": str(exc)}, [],
                                f"SyntaxError at line {exc.lineno}: {exc.msg}")
        (tmp / "solution.py").write_text(program)
        if sub.tests and sub.tests.io:
            return self._io(sub, ["python3", "-I", "solution.py"], tmp)
        run = self._run(["python3", "-I", "solution.py"], tmp, sub.stdin, sub.limits.time_s)
        name = "script"
        if run["timeout"]:
            return self._finish(sub, "time_limit", run, {"ok": True, "diagnostics": []},
                                [{"name": name, "outcome": "timeout"}], "Time limit exceeded.")
        if run["exit_code"] == 0:
            return self._finish(sub, "accepted", run, {"ok": True, "diagnostics": []},
                                [{"name": name, "outcome": "passed"}], "")
        lines = program.splitlines()
        frames = re.findall(r'File "[^"]*solution\.py", line (\d+)', run["stderr"])
        lineno = int(frames[-1]) if frames else None
        src = lines[lineno - 1].strip() if lineno and lineno <= len(lines) else ""
        if "AssertionError" in run["stderr"]:
            expected, actual = _expected_of(src)
            case = {"name": name, "outcome": "failed", "line": lineno, "message": src,
                    "expected": expected, "actual": actual}
            fb = f"Test failed at line {lineno}: {src}"
            if expected is not None:
                fb += f"\nexpected {expected}"
            return self._finish(sub, "wrong_answer", run, {"ok": True, "diagnostics": []},
                                [case], fb)
        last = run["stderr"].strip().splitlines()[-1:] or [""]
        return self._finish(sub, "runtime_error", run, {"ok": True, "diagnostics": []},
                            [{"name": name, "outcome": "error", "line": lineno,
                              "message": last[0]}], f"Runtime error: {last[0]}")

    def _c(self, sub: Submission, tmp: Path) -> dict[str, Any]:
        script = sub.tests.script if sub.tests and sub.tests.script else ""
        (tmp / "solution.c").write_text(sub.code + ("\n" + script if script else ""))
        p = subprocess.run(["gcc", "-std=gnu11", "-O0", "-o", "prog", "solution.c", "-lm"],
                           cwd=tmp, capture_output=True, text=True, timeout=60, check=False)
        diags = []
        for m in re.finditer(r"solution\.c:(\d+):(\d+): (error|warning): (.*)", p.stderr):
            diags.append({"tool": "gcc", "severity": m.group(3), "message": m.group(4),
                          "file": "solution.c", "line": int(m.group(1)),
                          "column": int(m.group(2))})
        for m in re.finditer(r"undefined reference to `([^']+)'", p.stderr):
            diags.append({"tool": "ld", "severity": "error",
                          "message": f"undefined reference to `{m.group(1)}'"})
        if p.returncode != 0:
            first = next((d for d in diags if d["severity"] == "error"), None)
            return self._finish(sub, "compile_error", None,
                                {"ok": False, "diagnostics": diags, "output": p.stderr[-4000:]},
                                [], "Build failed: " + (first["message"] if first else "?"))
        compile_ = {"ok": True, "diagnostics": diags, "output": ""}
        if sub.tests and sub.tests.io:
            return self._io(sub, ["./prog"], tmp, compile_)
        run = self._run(["./prog"], tmp, sub.stdin, sub.limits.time_s)
        if run["timeout"]:
            return self._finish(sub, "time_limit", run, compile_,
                                [{"name": "script", "outcome": "timeout"}], "Time limit.")
        if run["exit_code"] == 0:
            return self._finish(sub, "accepted", run, compile_,
                                [{"name": "script", "outcome": "passed"}], "")
        if run["signal"] == 6 and "Assertion" in run["stderr"]:
            msg = run["stderr"].strip().splitlines()[-1]
            return self._finish(sub, "wrong_answer", run, compile_,
                                [{"name": "script", "outcome": "failed", "message": msg}],
                                f"Assertion failed: {msg}")
        return self._finish(sub, "runtime_error", run, compile_,
                            [{"name": "script", "outcome": "error"}], "Runtime error.")

    def _io(self, sub: Submission, argv: list[str], tmp: Path,
            compile_: dict[str, Any] | None = None) -> dict[str, Any]:
        cases, verdict, run = [], "accepted", None
        for i, case in enumerate(sub.tests.io or []):
            run = self._run(argv, tmp, case.stdin, sub.limits.time_s)
            got = "\n".join(x.rstrip() for x in run["stdout"].rstrip().splitlines())
            want = "\n".join(x.rstrip() for x in case.stdout.rstrip().splitlines())
            ok = run["exit_code"] == 0 and got == want
            cases.append({"name": f"io[{i}]", "outcome": "passed" if ok else "failed",
                          "expected": case.stdout, "actual": run["stdout"]})
            if not ok and verdict == "accepted":
                verdict = "wrong_answer" if run["exit_code"] == 0 else "runtime_error"
        fb = "" if verdict == "accepted" else "io case failed"
        return self._finish(sub, verdict, run, compile_ or {"ok": True, "diagnostics": []},
                            cases, fb)

    # -------------------------------------------------------------------- HTTP
    def _store(self, sub: Submission) -> str:
        sid = uuid.uuid4().hex
        res = self.judge(sub)
        with self._lock:
            self.subs[sid] = {"id": sid, **res}
        return sid

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        try:
            if method == "POST" and path == "/v1/submissions":
                sub = Submission.model_validate(json.loads(request.content))
                if sub.language not in LANGS:
                    return _err(422, "unknown_language", sub.language)
                if sub.tests and (sub.tests.unit or sub.tests.calls):
                    return _err(422, "unsupported_test_kind", "kinds: script, io")
                sid = self._store(sub)
                return httpx.Response(200, json=self.subs[sid])
            if method == "POST" and path == "/v1/batches":
                req = BatchRequest.model_validate(json.loads(request.content))
                ids = [self._store(s) for s in req.submissions]
                bid = uuid.uuid4().hex
                self.batches[bid] = ids
                return httpx.Response(202, json={"id": bid, "submission_ids": ids})
        except ValueError as exc:
            return _err(422, "invalid_request", str(exc)[:500])
        m = re.fullmatch(r"/v1/submissions/([^/]+)", path)
        if method == "GET" and m:
            res = self.subs.get(m.group(1))
            return httpx.Response(200, json=res) if res else _err(404, "not_found", "no such id")
        m = re.fullmatch(r"/v1/batches/([^/]+)", path)
        if method == "GET" and m and m.group(1) in self.batches:
            entries = [{"id": s, "status": "completed", "verdict": self.subs[s]["verdict"]}
                       for s in self.batches[m.group(1)]]
            verdicts: dict[str, int] = {}
            for e in entries:
                verdicts[e["verdict"]] = verdicts.get(e["verdict"], 0) + 1
            return httpx.Response(200, json={"id": m.group(1), "status": "completed",
                                             "total": len(entries), "completed": len(entries),
                                             "verdicts": verdicts, "submissions": entries})
        if method == "GET" and path == "/v1/languages":
            return httpx.Response(200, json=list(LANGS.values()))
        m = re.fullmatch(r"/v1/languages/([^/]+)", path)
        if method == "GET" and m:
            info = LANGS.get(m.group(1))
            return httpx.Response(200, json=info) if info else _err(404, "not_found", "?")
        if path in ("/healthz", "/readyz"):
            return httpx.Response(200, json={"ok": True})
        return _err(404, "not_found", path)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def serve(self) -> _Served:
        """The same handler over real HTTP on 127.0.0.1 (for the CLI)."""
        return _Served(self)


class _Served:
    def __init__(self, svc: FakeService) -> None:
        svc_ = svc

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _do(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = httpx.Request(self.command, f"http://x{self.path}", content=body,
                                    headers=dict(self.headers))
                resp = svc_.handle(req)
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_POST = _do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._t = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._t.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
