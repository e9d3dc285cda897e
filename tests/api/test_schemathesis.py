"""schemathesis against /openapi.json of the real stack: no 5xx, every status it sees documented.

The target is the host stack (real Celery worker, real sandboxes, real Redis) behind one more
uvicorn API process started here, with an API key of its own (`CFS_API_KEYS`, so auth is on for
this process only), no rate limit, and a daily quota of `QUOTA` submissions for its key: at most
that many jobs reach the sandboxes however many examples schemathesis sends (the rest are 429s).
Bounded by `--max-examples` per operation and a time budget (`CFS_SCHEMATHESIS_MAX_TIME`, 120 s).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, _wait_http, free_port, unavailable

pytestmark = [pytest.mark.redis, pytest.mark.docker, pytest.mark.slow, pytest.mark.api]

QUOTA = 12
MAX_EXAMPLES = int(os.environ.get("CFS_SCHEMATHESIS_MAX_EXAMPLES", "25"))
MAX_TIME = int(os.environ.get("CFS_SCHEMATHESIS_MAX_TIME", "120"))
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance",
          "negative_data_rejection", "missing_required_header", "unsupported_method",
          "ignored_auth"]


def _st() -> list[str]:
    exe = shutil.which("st") or shutil.which("schemathesis")
    if exe:
        return [exe]
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        unavailable("schemathesis is not installed (pip install -e '.[dev]')")
    return [sys.executable, "-m", "schemathesis.cli"]


@pytest.fixture(scope="module")
def keyed_api(host_stack):
    key = "st-" + secrets.token_urlsafe(24)
    port = free_port()
    env = {**host_stack["env"], "CFS_API_KEYS": key, "CFS_RATE_LIMIT_PER_S": "0",
           "CFS_DAILY_QUOTA": str(QUOTA), "CFS_MAX_QUEUE_DEPTH": "4", "CFS_LOG_LEVEL": "WARNING"}
    log = open(host_stack["logdir"] / "api-schemathesis.log", "wb")  # noqa: SIM115
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.app:app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"], env=env, cwd=ROOT, stdout=log,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        assert _wait_http(url + "/healthz", 60), "the keyed API did not start"
        yield {"url": url, "key": key, "log": host_stack["logdir"] / "api-schemathesis.log"}
    finally:
        api.terminate()
        try:
            api.wait(20)
        except subprocess.TimeoutExpired:
            api.kill()
        log.close()


def test_schemathesis_finds_no_5xx_and_no_undocumented_status(keyed_api) -> None:
    report = Path(tempfile.mkdtemp(prefix="cfs-st-"))
    cmd = [*_st(), "--config-file", str(Path(__file__).with_name("schemathesis.toml")), "--no-color",
           "run", keyed_api["url"] + "/openapi.json",
           "-H", f"Authorization: Bearer {keyed_api['key']}",
           "--checks", ",".join(CHECKS),
           "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_TIME),
           "--phases", "examples,coverage,fuzzing",
           "--workers", "1", "--seed", "20240501", "--request-timeout", "70",
           "--suppress-health-check", "all",
           "--report", "junit", "--report-dir", str(report)]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=MAX_TIME + 240, env=env,
                         cwd=report)
    text = out.stdout + out.stderr
    print(text[-6000:])
    api_log = keyed_api["log"].read_text(errors="replace")
    assert '"level":"error"' not in api_log, api_log[-3000:]
    assert out.returncode == 0, text[-8000:]
    assert re.search(r"\d+ (generated|passed|test cases)", text), text[-3000:]
