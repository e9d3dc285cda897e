"""In-sandbox harness for the Python runner (stdlib + pytest only; never imported by the worker).

Each entry point reports on the private channel (fd named by CF_REPORT_FD), one JSON object
per line, each carrying the per-run nonce. Whatever user code prints goes to stdout/stderr and
is never read as a result.
"""

from __future__ import annotations

import json
import os
import traceback
import types

_channel = None
_nonce = ""


def open_channel() -> None:
    """Move the report fd somewhere less obvious and forget the env vars before user code runs."""
    global _channel, _nonce
    fd = int(os.environ.pop("CF_REPORT_FD", "-1"))
    _nonce = os.environ.pop("CF_RUN_NONCE", "")
    if fd < 0:
        return
    high = os.dup(fd)
    os.close(fd)
    _channel = os.fdopen(high, "w", encoding="utf-8", buffering=1)


def emit(event: str, **data: object) -> None:
    if _channel is None:
        return
    data["event"] = event
    data["nonce"] = _nonce
    _channel.write(json.dumps(data, default=repr) + "\n")
    _channel.flush()


def short_repr(value: object, limit: int = 1000) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - user objects may break repr
        text = f"<unrepresentable {type(value).__name__}: {exc}>"
    return text if len(text) <= limit else text[:limit] + "…"


def line_in(tb: types.TracebackType | None, filename: str) -> int | None:
    """The last line of `filename` in a traceback (where the user's file failed)."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


def traceback_tail(exc: BaseException, limit: int = 3000, skip_harness: bool = False) -> str:
    """The end of a formatted traceback; `skip_harness` drops the harness frame that made
    the call, so the user sees their own code first."""
    tb = exc.__traceback__
    if skip_harness and tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))[-limit:]
