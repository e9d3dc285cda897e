"""The three loops end to end through the CLI, with the scripted model server and the local
FakeService standing in for the stack. The stand-in runs nothing: it serves results recorded
from the real service (tests/support/recorded_results.json), so these numbers are the real
service's. The same scenarios run live against the stack in tests/integration/test_loops_e2e.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.fake_service import FakeService
from support.harness import repair_run, sample_run, translate_run


@pytest.fixture
def service():
    svc = FakeService()
    served = svc.serve()
    svc.url = served.url
    yield svc
    served.close()
    # every submission the loops made has a recorded result (none was judged another way)
    assert svc.misses == [], "submissions without a recording:\n" + "\n".join(svc.misses)


def test_repair_scenario_numbers_and_resume(tmp_path, service):
    repair_run(tmp_path, service.url)


def test_sample_scenario_pass_at_k_and_dedup(tmp_path, service):
    sample_run(tmp_path, service.url)


def test_translate_scenario_funnel(tmp_path, service):
    if not service.has_recordings("c") and not service.upstream:
        pytest.skip("no C results recorded yet: record them from a stack with the C runner "
                    "(see tests/support/fake_service.py)")
    translate_run(tmp_path, service.url)
