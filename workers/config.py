"""Worker settings, read once at start-up from the environment (prefix CFS_)."""

from __future__ import annotations

import socket
from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CFS_", extra="ignore", env_ignore_empty=True)

    redis_url: str = "redis://localhost:6379/0"
    result_ttl: int = Field(7 * 86400, gt=0)
    queue_name: str = "codefeedback"
    instance: str = Field("codefeedback", description="Label shared by this deployment's sandboxes.")
    worker_name: str = Field(default_factory=socket.gethostname)
    pool_size: int = Field(1, ge=0, validation_alias=AliasChoices("CFS_WARM_CELLS", "CFS_POOL_SIZE"),
                           description="Idle cells per runner image started ahead of demand.")
    slots: int = Field(4, ge=1, description="Jobs one worker runs at once (threads).")
    worker_pool: str = Field("threads", description="Celery pool: threads (default) or prefork.")
    idle_cells: int | None = Field(None, ge=0, description="Idle cells kept per runner image "
                                                           "(default: slots).")
    idle_total: int | None = Field(None, ge=0, description="Idle cells kept per worker, all "
                                                           "images together (default: 2 x slots).")
    cell_max_jobs: int = Field(1000, ge=1, description="Retire a cell after this many jobs "
                                                      "(1 = a fresh container per job).")
    cell_max_age_s: float = Field(900, gt=0, description="Retire a cell this old (s).")
    tools_memory_mb: int = Field(384, description="Memory for analysers/builds on top of the user's.")
    tool_time_s: float = Field(30, description="Time limit of each analysis/build step.")
    max_job_s: float = Field(300, description="Upper bound of one job's wall time.")
    max_deliveries: int = Field(3, description="Give up (internal_error) after this many deliveries.")
    sandbox_pids: int = 256
    sandbox_cpus: float = 2.0
    sandbox_runtime: str | None = Field(None, description="e.g. runsc for gVisor")
    heartbeat_s: int = 5
    task_time_limit: int | None = Field(
        None, description="Celery hard time limit per job (s); default max_job_s + 4*tool_time_s + 60.")
    visibility_timeout: int | None = Field(
        None, description="Redis visibility timeout (s): an unacknowledged job (its whole worker "
                          "died) is delivered again after this long; default 3x the hard limit, "
                          "and never less than 2x it.")
    sandbox_retries: int = Field(
        8, ge=0, description="Retries (with backoff) of a job that found the Docker engine "
                             "unreachable, before it is given up with internal_error.")
    sandbox_retry_s: float = Field(5, gt=0, description="First retry delay; doubles each time.")
    sandbox_retry_max_s: float = Field(60, gt=0, description="Longest retry delay.")

    def hard_time_limit(self) -> int:
        return int(self.task_time_limit or self.max_job_s + self.tool_time_s * 4 + 60)

    def soft_time_limit(self) -> int:
        hard = self.hard_time_limit()
        return hard - min(30, hard // 4)

    def visibility(self) -> int:
        return int(self.visibility_timeout or self.hard_time_limit() * 3)

    def check_limits(self) -> None:
        """Refuse settings under which a running job could be handed to a second worker."""
        hard, vis = self.hard_time_limit(), self.visibility()
        if hard < self.max_job_s + 15:
            raise ValueError(f"CFS_TASK_TIME_LIMIT ({hard}s) must exceed CFS_MAX_JOB_S + 15 s: "
                             "the sandbox's own deadline is max_job_s + 10 s")
        if vis < 2 * hard:
            raise ValueError(f"CFS_VISIBILITY_TIMEOUT ({vis}s) must be at least twice the task "
                             f"hard time limit ({hard}s), or running jobs get delivered twice")

    def retry_delay(self, retries: int) -> float:
        """Backoff before retry number `retries + 1`; kept below half the visibility timeout
        (a message waiting for its ETA in a worker is unacknowledged, and would otherwise be
        delivered a second time)."""
        return min(self.sandbox_retry_s * 2 ** retries, self.sandbox_retry_max_s,
                   self.visibility() / 2)


@lru_cache(maxsize=1)
def get_settings() -> WorkerSettings:
    settings = WorkerSettings()
    settings.check_limits()
    return settings
