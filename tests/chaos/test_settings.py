"""The settings behind redelivery: visibility timeout vs the task time limits, retry backoff."""

from __future__ import annotations

import pytest

from workers.config import WorkerSettings

pytestmark = pytest.mark.chaos


def test_defaults_keep_the_hard_limit_well_below_the_visibility_timeout() -> None:
    s = WorkerSettings()
    s.check_limits()
    assert s.hard_time_limit() == 480 and s.soft_time_limit() == 450
    assert s.visibility() == 1440 >= 2 * s.hard_time_limit()


def test_a_visibility_timeout_too_close_to_the_hard_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="VISIBILITY"):
        WorkerSettings(visibility_timeout=100, task_time_limit=60, max_job_s=20).check_limits()
    with pytest.raises(ValueError, match="TASK_TIME_LIMIT"):
        WorkerSettings(task_time_limit=30, max_job_s=20).check_limits()
    WorkerSettings(visibility_timeout=80, task_time_limit=40, max_job_s=20).check_limits()


def test_retry_backoff_doubles_and_stays_below_half_the_visibility_timeout() -> None:
    s = WorkerSettings(sandbox_retry_s=5, sandbox_retry_max_s=60)
    assert [s.retry_delay(n) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    short = WorkerSettings(visibility_timeout=80, task_time_limit=40, max_job_s=20,
                           sandbox_retry_s=30, sandbox_retry_max_s=600)
    assert short.retry_delay(3) == 40


def test_the_celery_app_uses_them() -> None:
    from workers.celery_app import app

    s = WorkerSettings()
    opts = app.conf.broker_transport_options
    assert opts["visibility_timeout"] == s.visibility()
    assert app.conf.task_time_limit == s.hard_time_limit() < opts["visibility_timeout"] / 2 + 1
    assert opts["unacked_restore_interval"] <= 10 and opts["unacked_restore_throttle"] == 1
