"""What the grader relies on, fingerprinted before user code loads and checked after each test.

Replacing a builtin, `operator.eq`, a pytest internal (reports, runner, outcomes, hooks), or a
function of this harness makes the run void: the harness reports `tamper` and the worker never
accepts it. Identities are compared (not values), so a honest program that merely uses these
objects is never flagged; pytest's own per-test bookkeeping globals are left out.
"""

from __future__ import annotations

import builtins
import sys
import types

_id, _type, _sorted, _getattr, _isinstance = id, type, sorted, getattr, isinstance
# Module globals pytest itself rebinds while it runs (assertion-rewrite bookkeeping).
VOLATILE = {
    "_pytest.assertion.util": {"_reprcompare", "_assertion_pass", "_config"},
    "_pytest.assertion.rewrite": {"_reprcompare", "_assertion_pass"},
}
# Class attributes pytest sets lazily on its own node classes.
VOLATILE_ATTRS = {"_pytest_diamond_inheritance_warning_shown"}
MODULES = ("builtins", "operator", "json", "json.encoder", "pluggy", "pluggy._hooks",
           "pluggy._callers", "pluggy._manager", "pluggy._result", "pytest", "_pytest.reports",
           "_pytest.runner", "_pytest.python", "_pytest.outcomes", "_pytest.main",
           "_pytest.skipping", "_pytest.nodes", "_pytest.fixtures",
           "_pytest.unittest", "_pytest.capture", "_pytest.logging", "_pytest.python_api",
           "_pytest.assertion", "_pytest.assertion.rewrite", "_pytest.assertion.util")


def _entries(name: str, module: types.ModuleType) -> dict[str, int]:
    skip = VOLATILE.get(name, set())
    out: dict[str, int] = {}
    for key, value in list(module.__dict__.items()):
        if key in skip or (key.startswith("__") and key.endswith("__") and key != "__import__"):
            continue
        out[key] = _id(value)
        if _isinstance(value, type) and _getattr(value, "__module__", None) == name:
            # (pytest's nodes have their own metaclass, so not `type(value) is type`)
            for attr, member in list(value.__dict__.items()):
                if attr not in ("__dict__", "__weakref__", "__doc__") and \
                        attr not in VOLATILE_ATTRS:
                    out[f"{key}.{attr}"] = _id(member)
        elif _type(value) is types.FunctionType and _getattr(value, "__module__", None) == name:
            out[f"{key}.__code__"] = _id(value.__code__)
            out[f"{key}.__defaults__"] = _id(value.__defaults__)
    return out


class Guard:
    """Fingerprints of the protected modules (and of every harness module)."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        self.names = [n for n in (*MODULES, *extra) if n in sys.modules]
        self.names += _sorted(n for n in sys.modules if n.startswith("codefeedback_pyharness"))
        self.modules = {n: _id(sys.modules[n]) for n in self.names}
        self.prints = {n: _entries(n, sys.modules[n]) for n in self.names}
        self.builtins_id = _id(builtins.__dict__)

    def changes(self, limit: int = 10) -> list[str]:
        """What differs from the fingerprint (empty when nothing does)."""
        found: list[str] = []
        for name in self.names:
            mod = sys.modules.get(name)
            if mod is None or _id(mod) != self.modules[name]:
                found.append(f"sys.modules[{name!r}] was replaced")
                continue
            now = _entries(name, mod)
            before = self.prints[name]
            for key in before.keys() | now.keys():
                if before.get(key) != now.get(key):
                    what = "added" if key not in before else "removed" if key not in now else \
                        "replaced"
                    found.append(f"{name}.{key} was {what}")
                    if len(found) >= limit:
                        return found
        return found
