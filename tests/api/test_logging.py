"""Structured JSON logs: one line per request, control characters escaped, never the key."""

from __future__ import annotations

import io
import json
import logging

import pytest

from service import logs
from tests.api.conftest import PY, bearer

pytestmark = [pytest.mark.redis, pytest.mark.api]


@pytest.fixture
def access_log():
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("codefeedback.access")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)

    def lines() -> list[dict]:
        text = buf.getvalue()
        assert "\x1b" not in text and "\r" not in text
        return [json.loads(line) for line in text.splitlines()]

    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_one_line_per_request_with_the_fields(make_client, keystore, access_log) -> None:
    c = make_client()
    info, key = keystore.issue("alice")
    c.get("/healthz", headers={"X-Request-ID": "rid-1"})
    r = c.post("/v1/submissions", json=PY, headers={**bearer(key), "X-Request-ID": "rid-2"})
    c.get(f"/v1/submissions/{r.json()['id']}", headers=bearer(key))
    c.get("/v1/languages", headers=bearer("cfs_wrong_key_value"))
    c.post("/v1/submissions", content=b"x" * (8 * 1024 * 1024 + 1),
           headers={"content-type": "application/json"})
    lines = access_log()
    assert len(lines) == 5
    health, post, get, wrong, big = lines
    assert health["request_id"] == "rid-1" and health["status"] == 200
    assert health["route"] == "/healthz" and health["method"] == "GET"
    assert post == post | {"request_id": "rid-2", "method": "POST", "route": "/v1/submissions",
                           "status": 202, "key_id": info.id, "event": "request",
                           "logger": "codefeedback.access", "level": "info"}
    assert isinstance(post["duration_ms"], float) and post["ts"] > 0
    assert get["route"] == "/v1/submissions/{sub_id}" and get["key_id"] == info.id
    assert wrong["status"] == 401 and wrong["key_id"] is None
    assert big["status"] == 413
    everything = json.dumps(lines)
    assert key not in everything and "cfs_wrong_key_value" not in everything


def test_control_characters_never_break_a_line(make_client, access_log) -> None:
    c = make_client()
    c.get("/v1/submissions/evil%0A%7B%22status%22%3A200%7D%1B%5B31m%0D%00x")
    c.get("/nowhere%0Ainjected", headers={"X-Request-ID": "bad\x1b[31m"})
    c.get("/v1/languages/%E2%80%A8zz%0A")
    lines = access_log()
    assert len(lines) == 3
    assert lines[0]["path"] == "/v1/submissions/evil\n{\"status\":200}\x1b[31m\r\x00x"
    assert lines[0]["status"] == 404 and lines[0]["route"] == "/v1/submissions/{sub_id}"
    assert lines[1]["route"] is None and lines[1]["request_id"] != "bad\x1b[31m"
    assert lines[2]["path"].endswith("\u2028zz\n")


def test_formatter_escapes_messages_extras_and_exceptions() -> None:
    fmt = logs.JsonFormatter()
    try:
        raise ValueError("boom\nline2\x1b[0m")
    except ValueError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "msg\n%s", ("a\x1bb",),
                                sys.exc_info())
    rec.user = "u\r\nFAKE {\"level\": \"info\"}"
    out = fmt.format(rec)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out
    data = json.loads(out)
    assert data["event"] == "msg\na\x1bb" and "boom\nline2" in data["exc"]
    assert data["user"].startswith("u\r\n")


def test_configure_routes_uvicorn_logs_to_json() -> None:
    buf = io.StringIO()
    root = logging.getLogger()
    before = list(root.handlers), root.level
    handler = logs.configure("INFO", stream=buf)
    try:
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
        logging.getLogger("uvicorn.access").info("should not appear")
        line = buf.getvalue().strip()
        assert "\n" not in line
        assert json.loads(line) | {"event": "Started server process [42]",
                                   "logger": "uvicorn.error"} == json.loads(line)
    finally:
        root.removeHandler(handler)
        root.handlers[:] = before[0]
        root.setLevel(before[1])
        logging.getLogger("uvicorn.access").disabled = False


def test_unhandled_errors_are_one_json_line(make_client, access_log) -> None:
    c = make_client()

    @c.app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput\nsecond line")

    r = c.get("/boom")
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert access_log()[-1]["status"] == 500
