"""Discovers runners/languages/*: the only place that knows which languages exist."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from pathlib import Path

from runners import languages
from runners.base import Runner


@lru_cache(maxsize=1)
def all_runners() -> dict[str, Runner]:
    """Import every language package and collect its `RUNNER`, keyed by id."""
    found: dict[str, Runner] = {}
    for mod in pkgutil.iter_modules(languages.__path__):
        if not mod.ispkg or not (Path(languages.__path__[0]) / mod.name / "runner.py").exists():
            continue
        module = importlib.import_module(f"runners.languages.{mod.name}.runner")
        runner: Runner = module.RUNNER
        type(runner).folder = Path(module.__file__).parent
        found[runner.id] = runner
    return dict(sorted(found.items()))


def resolve(language: str) -> Runner | None:
    """Find a runner by id or alias, case-insensitively."""
    key = language.strip().lower()
    runners = all_runners()
    if key in runners:
        return runners[key]
    for runner in runners.values():
        if key in (a.lower() for a in runner.aliases):
            return runner
    return None


def images() -> dict[str, str]:
    """Runner id -> image name, for building and for readiness checks."""
    return {r.id: r.image for r in all_runners().values()}
