"""Per-key rate limit (a token bucket) and daily submission quota, both atomic Lua in Redis.

Rate: every `/v1/*` request of a key takes one token from its bucket (`cfs:rl:<key id>`), which
holds at most `burst` tokens and refills at `rate` tokens/s; an empty bucket is a 429 with the
seconds until the next token in `Retry-After`. Quota: `cfs:quota:<key id>:<UTC date>` counts the
submissions created that day (a batch counts its items); a request that would pass the quota is
refused whole with a 429 whose `Retry-After` points at the next UTC midnight. Neither counter
ever holds the key itself.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

RATE = "cfs:rl:"
QUOTA = "cfs:quota:"

_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate) end
local wait = 0
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {ok, tostring(wait)}
"""

_QUOTA = """
local n = tonumber(ARGV[1])
local quota = tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + n > quota then return {0, used} end
used = redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], 172800)
return {1, used}
"""


class Limited(Exception):
    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after = code, message, retry_after


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")


def seconds_to_midnight(now: float) -> int:
    today = datetime.fromtimestamp(now, UTC)
    midnight = (today + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil(midnight.timestamp() - now))


class Limiter:
    def __init__(self, client, rate: float, burst: int, quota: int) -> None:  # noqa: ANN001
        self.r = client
        self.rate, self.burst, self.quota = rate, burst, quota
        self._bucket = client.register_script(_BUCKET)
        self._quota = client.register_script(_QUOTA)

    async def hit(self, key_id: str, now: float | None = None) -> None:
        """Take one request token; raises Limited when the bucket is empty."""
        if self.rate <= 0:
            return
        now = time.time() if now is None else now
        ok, wait = await self._bucket(keys=[RATE + key_id], args=[self.rate, self.burst, now])
        if not int(ok):
            retry = max(1, math.ceil(float(wait)))
            raise Limited("rate_limited", f"more than {self.rate:g} requests/s (burst "
                          f"{self.burst}) for this key; retry after {retry} s", retry)

    async def charge(self, key_id: str, n: int, now: float | None = None) -> None:
        """Count n submissions against today's quota, all or nothing."""
        if self.quota <= 0 or n <= 0:
            return
        now = time.time() if now is None else now
        ok, used = await self._quota(keys=[QUOTA + key_id + ":" + _day(now)], args=[n, self.quota])
        if not int(ok):
            left = max(0, self.quota - int(used))
            raise Limited("quota_exceeded", f"the daily quota of {self.quota} submissions is "
                          f"spent ({left} left today, this request needs {n}); it resets at "
                          "00:00 UTC", seconds_to_midnight(now))

    async def refund(self, key_id: str, n: int, now: float | None = None) -> None:
        if self.quota <= 0 or n <= 0:
            return
        now = time.time() if now is None else now
        await self.r.decrby(QUOTA + key_id + ":" + _day(now), n)

    async def used_today(self, key_id: str, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return int(await self.r.get(QUOTA + key_id + ":" + _day(now)) or 0)
