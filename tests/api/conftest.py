"""Fixtures for the API edge tests: the real app (FastAPI TestClient) on a real redis-server.

Each test gets a flushed Redis database of its own number (not the one the host stack uses), so
keys issued here never turn authentication on for other tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from service.apikeys import KeyStore
from service.app import create_app
from service.config import ApiSettings

API_DB = 5
PY = {"language": "python", "code": "print(1)\n"}


@pytest.fixture
def api_redis_url(redis_url: str) -> Iterator[str]:
    url = redis_url.rsplit("/", 1)[0] + f"/{API_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def keystore(api_redis_url: str) -> KeyStore:
    return KeyStore.from_url(api_redis_url)


@pytest.fixture
def make_client(api_redis_url: str) -> Iterator[Callable[..., TestClient]]:
    """make_client(**settings) -> a started TestClient on an app with those settings."""
    opened: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        settings = ApiSettings(**{"redis_url": api_redis_url, "queue_name": "cfs-api-tests",
                                  **overrides})
        client = TestClient(create_app(settings, configure_logging=False),
                            raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
