"""The test source of a step: handed over by the agent in the step's private spec (never left
as a file in /work, where the solution could read the expected values), with a file fallback."""

from __future__ import annotations

import os

ENV = "CF_TEST_SOURCE"


def take(path: str) -> str:
    """The test source; forgets the variable so user code cannot find it in os.environ."""
    source = os.environ.pop(ENV, None)
    if source is not None:
        return source
    with open(path, encoding="utf-8") as fh:
        return fh.read()
