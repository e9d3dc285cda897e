"""The three loops end to end through the CLI, with the scripted model server and the local
FakeService (python3/gcc on this machine) standing in for the stack. The same scenarios run
against the real stack in tests/integration/test_loops_e2e.py."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.fake_service import FakeService
from support.harness import repair_run, sample_run, translate_run


@pytest.fixture
def service_url():
    served = FakeService().serve()
    yield served.url
    served.close()


def test_repair_scenario_numbers_and_resume(tmp_path, service_url):
    repair_run(tmp_path, service_url)


def test_sample_scenario_pass_at_k_and_dedup(tmp_path, service_url):
    sample_run(tmp_path, service_url)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the local C stand-in needs gcc")
def test_translate_scenario_funnel(tmp_path, service_url):
    translate_run(tmp_path, service_url)
