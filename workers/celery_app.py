"""The Celery application: Redis broker, JSON only, and the settings that keep jobs.

acks_late + reject_on_worker_lost + prefetch 1: a job whose worker dies is delivered again;
the hard time limit stays well below the broker's visibility timeout (CFS_VISIBILITY_TIMEOUT,
checked at start-up: at least twice the hard limit), so a slow job is never handed to a second
worker while the first still runs it. A job whose whole worker died (SIGKILL, OOM, host loss)
stays unacknowledged in Redis and is delivered again once the visibility timeout has passed;
the sweep that finds such jobs runs every visibility/10 s (at most 10 s).
"""

from __future__ import annotations

from celery import Celery

from workers.config import get_settings
from workers.names import TASK_NAME  # noqa: E402


def make_app() -> Celery:
    s = get_settings()
    hard = s.hard_time_limit()
    visibility = s.visibility()
    transport = {"visibility_timeout": visibility,
                 # kombu's sweep for unacked jobs of dead workers: every `interval` s, a scan
                 # each `throttle`-th time (defaults 10 x 10 = 100 s: too slow for a short
                 # visibility timeout)
                 "unacked_restore_interval": max(1, min(10, visibility // 10)),
                 "unacked_restore_throttle": 1}
    app = Celery("codefeedback", broker=s.redis_url, include=["workers.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # many cells driven from one process (threads). Celery takes `--pool=prefork` for
        # "not given", so the prefork pool is chosen with CFS_WORKER_POOL=prefork.
        worker_pool=s.worker_pool,
        worker_concurrency=s.slots,
        task_time_limit=hard,
        task_soft_time_limit=s.soft_time_limit(),
        broker_transport_options=transport,
        result_backend_transport_options={"visibility_timeout": visibility},
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        task_default_queue=s.queue_name,
        task_routes={TASK_NAME: {"queue": s.queue_name}},
        worker_hijack_root_logger=False,
    )
    return app


app = make_app()
