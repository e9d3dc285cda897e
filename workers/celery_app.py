"""The Celery application: Redis broker, JSON only, and the settings that keep jobs.

acks_late + reject_on_worker_lost + prefetch 1: a job whose worker dies is delivered again;
the hard time limit stays well below the broker's visibility timeout, so a slow job is never
handed to a second worker while the first still runs it.
"""

from __future__ import annotations

from celery import Celery

from workers.config import get_settings
from workers.names import TASK_NAME  # noqa: E402


def make_app() -> Celery:
    s = get_settings()
    hard = int(s.max_job_s + s.tool_time_s * 4 + 60)
    visibility = hard * 3
    app = Celery("codefeedback", broker=s.redis_url, include=["workers.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=hard,
        task_soft_time_limit=hard - 30,
        broker_transport_options={"visibility_timeout": visibility},
        result_backend_transport_options={"visibility_timeout": visibility},
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        task_default_queue=s.queue_name,
        task_routes={TASK_NAME: {"queue": s.queue_name}},
        worker_hijack_root_logger=False,
    )
    return app


app = make_app()
