"""A stand-in for the codefeedback service for unit tests: recorded verdicts, no execution.

It speaks the contract's shape (submit with wait, get, batches with summary entries, languages)
but never runs, compiles or lints anything: every result it serves was recorded from the real
service (`tests/support/recorded_results.json`), keyed on a hash of the submission (everything
except `metadata`, which is echoed back). A submission with no recording is not judged: it gets
`internal_error` (which the loops treat as a service failure, not a verdict) and is listed in
`misses`, so a test that meets one fails and says so.

Recording (needs the real stack; the only place results come from):

    CFS_RECORD_UPSTREAM=http://localhost:8000 python3 -m pytest tests/unit -q -k 'sdk or loops'

With `CFS_RECORD_UPSTREAM` set, a submission with no recording is sent to that service (through
the SDK), and its result is added to the file. Review the diff of the file before committing it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from codefeedback.client import Client, CodefeedbackError
from codefeedback.models import BatchRequest, Submission

RECORDINGS = Path(__file__).with_name("recorded_results.json")
# what a recording keeps of a result (id, status, environment and metadata are per request)
KEPT = ("language", "verdict", "static", "compile", "tests", "run", "feedback")

# the main fields of the real service's GET /v1/languages
LANGS = {
    "python": {"id": "python", "name": "Python", "version": "3.11.2", "aliases": ["py", "python3"],
               "test_kinds": ["unit", "script", "io"], "static_tools": ["pylint", "ruff"],
               "files": {"solution": "solution.py", "unit": "test_solution.py",
                         "script": "test_script.py"}},
    "c": {"id": "c", "name": "C", "version": "gcc 12.2.0", "aliases": ["gcc", "c11"],
          "test_kinds": ["unit", "script", "io"], "static_tools": ["gcc -Wall -Wextra"],
          "files": {"solution": "solution.c", "unit": "test_solution.c",
                    "script": "test_script.c"}},
}


def _err(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


def submission_key(sub: Submission) -> str:
    """What decides a result: the submission without `metadata`, defaults left out."""
    body = sub.model_dump(mode="json", exclude={"metadata"}, exclude_none=True,
                          exclude_defaults=True)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _label(sub: Submission) -> str:
    pid = (sub.metadata or {}).get("problem_id")
    first = next((ln.strip() for ln in sub.code.splitlines() if ln.strip()), "")
    return f"{sub.language} {pid + ' ' if pid else ''}{first[:60]}"


class FakeService:
    """Serves recorded results; counts how many submissions it answered (`judged`)."""

    def __init__(self, recordings: Path = RECORDINGS, upstream: str | None = None) -> None:
        self.recordings = recordings
        self.upstream = upstream if upstream is not None else (
            os.environ.get("CFS_RECORD_UPSTREAM") or None)
        data = json.loads(recordings.read_text()) if recordings.exists() else {}
        self.recorded: dict[str, dict[str, Any]] = data.get("results", {})
        self.recorded_from: str = data.get("recorded_from", "")
        self.subs: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, list[str]] = {}
        self.judged = 0
        self.misses: list[str] = []
        self._lock = threading.Lock()

    def has_recordings(self, language: str) -> bool:
        return any(r["result"]["language"] == language for r in self.recorded.values())

    # ------------------------------------------------------------------ judging
    def judge(self, sub: Submission) -> dict[str, Any]:
        key = submission_key(sub)
        with self._lock:
            self.judged += 1
            rec = self.recorded.get(key)
        if rec is None and self.upstream:
            rec = self._record(key, sub)
        if rec is None:
            with self._lock:
                self.misses.append(f"{key[:12]} {_label(sub)}")
            return {"status": "completed", "language": sub.language, "verdict": "internal_error",
                    "static": None, "compile": None, "tests": None, "run": None,
                    "feedback": f"not recorded: submission {key[:12]} ({_label(sub)}); record it "
                                "with CFS_RECORD_UPSTREAM (see tests/support/fake_service.py)",
                    "metadata": sub.metadata}
        return {"status": "completed", **copy.deepcopy(rec["result"]), "metadata": sub.metadata}

    def _record(self, key: str, sub: Submission) -> dict[str, Any] | None:
        try:
            with Client(self.upstream) as cf:
                res = cf.run(sub)
        except CodefeedbackError:
            return None  # e.g. the upstream has no runner for the language yet
        if res.verdict is None or res.verdict.value == "internal_error":
            return None  # the service failed: nothing worth keeping
        full = res.model_dump(mode="json")
        rec = {"label": _label(sub), "result": {k: full.get(k) for k in KEPT}}
        with self._lock:
            self.recorded[key] = rec
            self.recorded_from = self.upstream or ""
            data = {"recorded_from": self.recorded_from,
                    "note": "results of the real service, keyed on "
                            "tests/support/fake_service.py:submission_key",
                    "results": dict(sorted(self.recorded.items()))}
            tmp = self.recordings.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            tmp.replace(self.recordings)
        return rec

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
                kinds = LANGS[sub.language]["test_kinds"]
                given = [k for k in ("unit", "script", "io", "calls")
                         if sub.tests is not None and getattr(sub.tests, k)]
                if any(k not in kinds for k in given):
                    return _err(422, "unsupported_test_kind", "kinds: " + ", ".join(kinds))
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
