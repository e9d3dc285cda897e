"""API settings, read once at start-up from the environment (prefix CFS_)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_KEYS = {"changeme", "secret", "password", "test", "example", "your-key-here"}


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CFS_", extra="ignore")

    env: str = Field("development", description="development | production")
    redis_url: str = "redis://localhost:6379/0"
    api_keys: str = Field("", description="Comma-separated keys; empty = no auth (local only).")
    result_ttl: int = Field(7 * 86400, gt=0, description="Seconds submissions are kept.")
    default_time_s: float = 10
    default_memory_mb: int = 512
    default_output_kb: int = 64
    max_time_s: float = 60
    max_memory_mb: int = 4096
    min_memory_mb: int = 32
    max_output_kb: int = 1024
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 2000
    max_wait_s: int = 60
    max_queue_depth: int = 20000
    queue_name: str = "codefeedback"
    worker_heartbeat_s: int = 15

    def key_hashes(self) -> dict[str, str]:
        """sha256(key) -> owner id; keys are never kept in clear beyond start-up."""
        out = {}
        for key in filter(None, (k.strip() for k in self.api_keys.split(","))):
            digest = hashlib.sha256(key.encode()).hexdigest()
            out[digest] = "k_" + digest[:16]
        return out

    def check(self) -> None:
        """Refuse placeholder secrets outside development."""
        if self.env != "development":
            for key in filter(None, (k.strip() for k in self.api_keys.split(","))):
                if key.lower() in PLACEHOLDER_KEYS or len(key) < 16:
                    raise RuntimeError("CFS_API_KEYS holds a placeholder or short key (<16 chars)")


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    settings = ApiSettings()
    settings.check()
    return settings
