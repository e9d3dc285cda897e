"""Worker settings, read once at start-up from the environment (prefix CFS_)."""

from __future__ import annotations

import socket
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CFS_", extra="ignore")

    redis_url: str = "redis://localhost:6379/0"
    result_ttl: int = Field(7 * 86400, gt=0)
    queue_name: str = "codefeedback"
    instance: str = Field("codefeedback", description="Label shared by this deployment's sandboxes.")
    worker_name: str = Field(default_factory=socket.gethostname)
    pool_size: int = Field(1, ge=0, description="Warm containers per runner image per process.")
    tools_memory_mb: int = Field(384, description="Memory for analysers/builds on top of the user's.")
    tool_time_s: float = Field(30, description="Time limit of each analysis/build step.")
    max_job_s: float = Field(300, description="Upper bound of one job's wall time.")
    max_deliveries: int = Field(3, description="Give up (internal_error) after this many deliveries.")
    sandbox_pids: int = 256
    sandbox_cpus: float = 2.0
    sandbox_runtime: str | None = Field(None, description="e.g. runsc for gVisor")
    heartbeat_s: int = 5


@lru_cache(maxsize=1)
def get_settings() -> WorkerSettings:
    return WorkerSettings()
