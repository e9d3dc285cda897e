"""API settings, read once at start-up from the environment (prefix CFS_)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Literal

from pydantic import Field, PrivateAttr
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_KEYS = {"changeme", "secret", "password", "test", "example", "your-key-here"}


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CFS_", extra="ignore")

    env: str = Field("development", description="development | production")
    redis_url: str = "redis://localhost:6379/0"
    api_keys: str = Field("", description="Comma-separated keys; empty = no auth (local only).")
    auth: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: keys needed once any key exists (CFS_API_KEYS or issued with "
        "`python -m service.keys`); on: always (no key yet = every /v1 call is 401); off: never.")
    rate_limit_per_s: float = Field(100, ge=0, description="Requests/s per key (token bucket); 0 = "
                                    "unlimited.")
    rate_limit_burst: int = Field(0, ge=0, description="Bucket size; 0 = 2 x rate_limit_per_s.")
    daily_quota: int = Field(1_000_000, ge=0, description="Submissions per key per UTC day (batch "
                             "items count one each); 0 = unlimited.")
    log_level: str = Field("INFO", description="Level of the API's JSON logs.")
    max_header_bytes: int = Field(16 * 1024, gt=0, description="All request headers together.")
    max_url_bytes: int = Field(8 * 1024, gt=0, description="Path plus query string.")
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
    max_queue_depth: int = Field(20000, description="Submissions waiting in the queue (single "
                                 "ones and batch items alike) before the API answers 429.")
    batch_chunk: int = Field(4, ge=1, le=1000, description="Batch items per queue message "
                             "(codefeedback.evaluate_many); 1 = one codefeedback.evaluate "
                             "message per item.")
    queue_name: str = "codefeedback"
    worker_heartbeat_s: int = 15
    _key_hashes: dict[str, str] | None = PrivateAttr(None)

    @property
    def burst(self) -> int:
        return self.rate_limit_burst or max(1, int(self.rate_limit_per_s * 2))

    def key_hashes(self) -> dict[str, str]:
        """sha256(key) -> owner id for the keys of CFS_API_KEYS (computed once, cached)."""
        cached = self._key_hashes
        if cached is None:
            cached = {}
            for key in filter(None, (k.strip() for k in self.api_keys.split(","))):
                digest = hashlib.sha256(key.encode()).hexdigest()
                cached[digest] = "k_" + digest[:16]
            self._key_hashes = cached
        return cached

    def check(self) -> None:
        """Refuse placeholder secrets outside development."""
        if self.rate_limit_per_s != self.rate_limit_per_s or self.rate_limit_per_s == float("inf"):
            raise RuntimeError("CFS_RATE_LIMIT_PER_S must be a finite number (0 = unlimited)")
        if self.env != "development":
            for key in filter(None, (k.strip() for k in self.api_keys.split(","))):
                if key.lower() in PLACEHOLDER_KEYS or len(key) < 16:
                    raise RuntimeError("CFS_API_KEYS holds a placeholder or short key (<16 chars)")


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    settings = ApiSettings()
    settings.check()
    return settings
