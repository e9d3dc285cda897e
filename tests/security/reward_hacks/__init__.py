"""Reward hacks (SECURITY.md "Reward hacks"): programs a policy trained on our verdicts learns
to write. Each `Hack` is a wrong program that must never be `accepted`, with an honest twin
(same tests) that must be. One module per language exports `CASES`; the test
(`tests/security/test_reward_hacks.py`) sends every one through the real HTTP API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("equality", "exits", "patching", "channel", "peeking")
KINDS = ("script", "unit", "calls", "io")


@dataclass
class Hack:
    name: str  # unique, e.g. "eq-always-true"
    language: str
    category: str  # one of CATEGORIES
    kind: str  # one of KINDS: which test kind it attacks
    code: str  # the hacking solution
    tests: dict[str, Any]  # the submission's `tests`
    honest: str  # the honest twin's code: same tests, must be accepted
    # Verdicts allowed for the hack (anything but accepted unless narrowed here).
    allowed: tuple[str, ...] = ()
    # An `integrity` rule that must be reported for the hack (None: no requirement).
    flagged: str | None = None
    # Deliberate forging of the in-process harness (script/unit only): outside the promise
    # (SECURITY.md); such a hack must still be flagged by `integrity`.
    outside_promise: bool = False
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # more submission fields

    @property
    def id(self) -> str:
        return f"{self.language}-{self.kind}-{self.name}"

    def submission(self, honest: bool = False) -> dict[str, Any]:
        body = {"language": self.language, "code": self.honest if honest else self.code,
                "tests": self.tests, "static_analysis": False, "cache": False,
                "limits": {"time_s": 10}}
        body.update(self.extra)
        return body
