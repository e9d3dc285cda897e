"""Parse (never run) the solution and report the first syntax error with its position."""

from __future__ import annotations

import ast
import sys

from codefeedback_pyharness import emit, open_channel


def main() -> int:
    open_channel()
    path = sys.argv[1]
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        source = fh.read()
    try:
        ast.parse(source, filename=path)
    except SyntaxError as exc:
        emit("syntax_error", file=path, line=exc.lineno, column=exc.offset,
             end_line=getattr(exc, "end_lineno", None), end_column=getattr(exc, "end_offset", None),
             message=f"{type(exc).__name__}: {exc.msg}")
        return 1
    except (ValueError, RecursionError, MemoryError) as exc:
        emit("syntax_error", file=path, line=None, column=None, message=f"{type(exc).__name__}: {exc}")
        return 1
    emit("ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
