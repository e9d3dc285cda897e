"""API keys: issued, rotated and revoked in Redis, stored only as SHA-256 hashes.

Redis layout (no TTL):
  cfs:apikeys                 set of key ids
  cfs:apikeys:issued          "1" once any key was issued: `CFS_AUTH=auto` stays on from then on,
                              even after the last key is revoked (fail closed); `reset` drops it
  cfs:apikey:id:<key id>      hash: name, hash (sha256 hex of the clear key), created_at, rotated_at
  cfs:apikey:hash:<sha256>    the key id (the lookup on every request)

A key id (`k_` + 16 hex) is the owner of the submissions and batches made with the key; it stays
the same when the key is rotated, so the new key sees what the old one made. Keys from
`CFS_API_KEYS` have the id `k_` + the first 16 hex digits of their hash and live only in the
environment (they cannot be rotated or revoked here). The clear key is returned once, by
`issue` and `rotate`, and never stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

KEYS_SET = "cfs:apikeys"
ISSUED = "cfs:apikeys:issued"
KEY_ID = "cfs:apikey:id:"
KEY_HASH = "cfs:apikey:hash:"
NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
KEY_ID_RE = re.compile(r"^k_[0-9a-f]{16}$")
MAX_TOKEN_CHARS = 512


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_clear_key() -> str:
    return "cfs_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    created_at: float
    rotated_at: float | None
    source: str = "redis"

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at,
                "rotated_at": self.rotated_at, "source": self.source}


class KeyError_(Exception):  # noqa: N801 - not the builtin KeyError
    """A key command that cannot be done (unknown id, bad name, env key)."""


class KeyStore:
    """Synchronous key management (the `python -m service.keys` command and tests)."""

    def __init__(self, client: Any) -> None:  # redis.Redis with decode_responses=True
        self.r = client

    @classmethod
    def from_url(cls, url: str) -> KeyStore:
        import redis

        return cls(redis.Redis.from_url(url, decode_responses=True, socket_timeout=10))

    def issue(self, name: str) -> tuple[KeyInfo, str]:
        if not NAME_RE.match(name or ""):
            raise KeyError_("a key name is 1-64 characters of [A-Za-z0-9._@-]")
        key_id = "k_" + secrets.token_hex(8)
        clear = new_clear_key()
        now = time.time()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(KEY_ID + key_id, mapping={"name": name, "hash": digest(clear), "created_at": now})
        pipe.set(KEY_HASH + digest(clear), key_id)
        pipe.sadd(KEYS_SET, key_id)
        pipe.set(ISSUED, "1")
        pipe.execute()
        return KeyInfo(key_id, name, now, None), clear

    def _record(self, key_id: str) -> dict[str, str]:
        rec = self.r.hgetall(KEY_ID + key_id) if KEY_ID_RE.match(key_id or "") else {}
        if not rec:
            raise KeyError_(f"no issued key with id {key_id!r} (keys from CFS_API_KEYS are "
                            "changed in the environment)")
        return rec

    def rotate(self, key_id: str) -> tuple[KeyInfo, str]:
        """A new clear key for the same id; the old key stops working at once."""
        rec = self._record(key_id)
        clear = new_clear_key()
        now = time.time()
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(KEY_HASH + rec["hash"])
        pipe.set(KEY_HASH + digest(clear), key_id)
        pipe.hset(KEY_ID + key_id, mapping={"hash": digest(clear), "rotated_at": now})
        pipe.execute()
        return KeyInfo(key_id, rec["name"], float(rec["created_at"]), now), clear

    def revoke(self, key_id: str) -> KeyInfo:
        rec = self._record(key_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(KEY_HASH + rec["hash"])
        pipe.delete(KEY_ID + key_id)
        pipe.srem(KEYS_SET, key_id)
        pipe.execute()
        return _info(key_id, rec)

    def reset(self) -> None:
        """Forget that keys were issued, so `CFS_AUTH=auto` needs none again; only when none is left."""
        if self.r.scard(KEYS_SET):
            raise KeyError_("keys are still issued; revoke them first")
        self.r.delete(ISSUED)

    def auth_sticky(self) -> bool:
        return bool(self.r.exists(ISSUED))

    def list(self) -> list[KeyInfo]:
        out = []
        for key_id in sorted(self.r.smembers(KEYS_SET)):
            rec = self.r.hgetall(KEY_ID + key_id)
            if rec:
                out.append(_info(key_id, rec))
        return out


def _info(key_id: str, rec: dict[str, str]) -> KeyInfo:
    rotated = rec.get("rotated_at")
    return KeyInfo(key_id, rec.get("name", ""), float(rec.get("created_at") or 0),
                   float(rotated) if rotated else None)
