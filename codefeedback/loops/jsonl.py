"""Streaming JSONL in and out, so a 10,000-problem run holds one record at a time.

Resumability rests on two rules: an output line is written (and flushed) only when a problem is
finished, and on start the ids already present in the outputs are skipped. A run killed mid-write
leaves at most one partial last line; `JsonlWriter` cuts it off before appending.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Self


def _open_text(path: str | Path) -> IO[str]:
    p = str(path)
    if p.endswith(".gz"):
        return gzip.open(p, "rt", encoding="utf-8")
    return open(p, encoding="utf-8")


def read_jsonl(path: str | Path, *, strict: bool = False) -> Iterator[dict[str, Any]]:
    """Yield one object per line; blank lines are skipped, a broken line is skipped unless
    `strict` (a broken *last* line is what an interrupted writer leaves behind)."""
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                if strict:
                    raise ValueError(f"{path}:{lineno}: not valid JSON") from None
                continue
            if isinstance(obj, dict):
                yield obj


def count_lines(path: str | Path) -> int:
    """Non-blank lines, for a progress total (streams, constant memory)."""
    with _open_text(path) as fh:
        return sum(1 for line in fh if line.strip())


def done_ids(paths: Iterable[str | Path], key: str = "id") -> set[str]:
    """Ids already recorded in any of the output files (missing files count as empty)."""
    ids: set[str] = set()
    for p in paths:
        if Path(p).exists():
            ids.update(str(rec[key]) for rec in read_jsonl(p) if key in rec)
    return ids


def _cut_partial_tail(path: Path) -> None:
    """Drop a last line that has no newline (a write interrupted by a kill)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        size = fh.seek(0, os.SEEK_END)
        pos = size
        chunk = 4096
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            data = fh.read(pos - start)
            idx = data.rfind(b"\n")
            if idx >= 0:
                fh.truncate(start + idx + 1)
                return
            pos = start
        fh.truncate(0)


class JsonlWriter:
    """Append-only JSONL writer that flushes every record (a crash loses no finished work)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_partial_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.written += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prune(path: str | Path, keep: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite `path` without the records `keep` rejects (streamed through a temp file).

    Used on resume to drop records of a problem whose run was interrupted half way (e.g. some
    kept samples written, the problem's summary not), so redoing it cannot duplicate them.
    Returns how many records were dropped."""
    p = Path(path)
    if not p.exists():
        return 0
    dropped = 0
    tmp = p.with_suffix(p.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for rec in read_jsonl(p):
            if keep(rec):
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            else:
                dropped += 1
    if dropped:
        os.replace(tmp, p)
    else:
        tmp.unlink()
    return dropped


def write_json(path: str | Path, obj: Any) -> None:
    """Write a JSON document atomically (stats are rewritten at the end of every run)."""
    p = Path(path)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, p)
