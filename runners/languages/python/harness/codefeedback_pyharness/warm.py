"""Warm-up run by the pooled agent before its job arrives (CF_WARMUP).

Importing pylint is not enough: its checkers, astroid's model of builtins and the stdlib
modules it infers through are loaded on first use, and on this storage driver every file read
is slow. Linting and testing a tiny sample once in the agent process puts all of that in memory,
so each forked step starts warm. Nothing of a user's is involved: the samples are ours.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile

SAMPLE = (
    "import math\nimport collections\nfrom typing import List\n\n\n"
    "def f(xs: List[int]) -> int:\n    c = collections.Counter(xs)\n"
    "    return int(math.sqrt(sum(c.values()))) + len(str(xs).split())\n"
)
TEST = "from sample import f\n\n\ndef test_f():\n    assert f([1]) == 2\n"


def _sample() -> tuple[str, str, str]:
    work = tempfile.mkdtemp(prefix="cfwarm-")
    path = os.path.join(work, "sample.py")
    test = os.path.join(work, "test_sample.py")
    with open(path, "w") as fh:
        fh.write(SAMPLE)
    with open(test, "w") as fh:
        fh.write(TEST)
    return work, path, test


def _forget(work: str) -> None:
    for name in ("sample", "test_sample"):
        sys.modules.pop(name, None)
    sys.path[:] = [p for p in sys.path if p != work]
    with contextlib.suppress(OSError):
        import shutil

        shutil.rmtree(work)


def lint() -> None:
    """Warm pylint (astroid's inference of the stdlib included) and ruff's files."""
    work, path, _ = _sample()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        with contextlib.suppress(BaseException):
            from pylint.lint import Run

            Run(["--output-format=json", "--persistent=n", "--score=n", "--rcfile=/dev/null",
                 "--disable=C,R,I", path], exit=False)
    with contextlib.suppress(Exception):
        subprocess.run(["ruff", "check", "--isolated", "--no-cache", "--output-format=json",
                        path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
                       check=False)
    _forget(work)


def tests() -> None:
    """Warm pytest: collect and run a tiny test once."""
    work, _, test = _sample()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        with contextlib.suppress(BaseException):
            import pytest

            pytest.main([test, "-q", "-p", "no:cacheprovider", "--noconftest", "-c", os.devnull,
                         "--rootdir", work])
    _forget(work)


def main() -> None:
    lint()
    tests()
