"""Pushed completion: one Redis pub/sub listener per API process wakes the waiters of `?wait`.

`Store.complete()` writes a result and publishes on `DONE_CHANNEL` in the same Lua script:
the message is the submission id, followed by `" " + batch id` for a batch item. The listener
dispatches each message to the watches registered for the submission id and for the batch id.

Rules that keep a waiter from hanging or missing its result:
- a waiter registers its watch BEFORE it reads the record (a result written in between wakes
  it, and the read after the wake sees it);
- whenever the listener (re)subscribes, and whenever it loses its connection, every watch is
  woken (`RESYNC`) so its waiter reads the record again: messages published while the listener
  was away are never needed;
- while the listener is not subscribed, waiters fall back to a slow poll (`POLL_S`).
The listener reconnects with a capped backoff. It is bound to the event loop that started it
(uvicorn has one; each FastAPI TestClient has its own, and gets its own listener).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from service.store import DONE_CHANNEL

POLL_S = 0.5  # the fallback poll interval while the listener is down
PING_AFTER_S = 15.0  # a pub/sub connection quiet this long is asked for a PONG
PING_TIMEOUT_S = 10.0  # ... and replaced when none comes within this
RESYNC = ""  # pseudo id a watch receives when it must re-read (listener (re)connected or lost)

log = logging.getLogger("codefeedback.api")


class Watch:
    """Notifications for one key (a submission id or a batch id): ids that completed."""

    __slots__ = ("key", "_event", "_got")

    def __init__(self, key: str) -> None:
        self.key = key
        self._event = asyncio.Event()
        self._got: list[str] = []

    def push(self, sub_id: str) -> None:
        self._got.append(sub_id)
        self._event.set()

    async def wait(self, timeout: float) -> list[str]:
        """The ids notified since the last call (RESYNC among them = re-read everything); an
        empty list when `timeout` passed without news."""
        if not self._got and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        got, self._got = self._got, []
        self._event.clear()
        return got


class Completions:
    """The per-process listener and its registry of watches."""

    def __init__(self, url: str, channel: str = DONE_CHANNEL, poll_s: float = POLL_S) -> None:
        self.url = url
        self.channel = channel
        self.poll_s = poll_s
        self.client_name = f"cfs-completions-{os.getpid()}-{id(self):x}"
        self.up = False  # subscribed: waiters may sleep until notified
        self.subscriptions = 0  # how many times the listener has (re)subscribed
        self._watches: dict[str, set[Watch]] = {}
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # ------------------------------------------------------------------ waiter side
    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[Watch]:
        """Register a watch for `key` (starting the listener if needed) for the block's span."""
        self.ensure_started()
        w = Watch(key)
        self._watches.setdefault(key, set()).add(w)
        try:
            yield w
        finally:
            group = self._watches.get(key)
            if group is not None:
                group.discard(w)
                if not group:
                    del self._watches[key]

    def timeout(self, remaining: float) -> float:
        """How long a waiter may sleep: until notified when subscribed, else one poll step."""
        return remaining if self.up else min(remaining, self.poll_s)

    @property
    def watching(self) -> int:
        return sum(len(g) for g in self._watches.values())

    # ---------------------------------------------------------------- listener side
    def ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self._closed:
            return
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self.up = False
        self._task = loop.create_task(self._run(), name="cfs-completions")

    def dispatch(self, data: str) -> None:
        sub_id, _, batch = data.partition(" ")
        for key in (sub_id, batch):
            for w in tuple(self._watches.get(key, ())):
                w.push(sub_id)

    def _resync(self) -> None:
        for group in tuple(self._watches.values()):
            for w in tuple(group):
                w.push(RESYNC)

    async def _run(self) -> None:
        import redis.asyncio as aredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        loop = asyncio.get_running_loop()
        delay = 0.1
        while not self._closed:
            client = aredis.Redis.from_url(
                self.url, decode_responses=True, socket_connect_timeout=5, socket_timeout=10,
                retry=Retry(NoBackoff(), 0), client_name=self.client_name)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                quiet_since = loop.time()
                ping_sent: float | None = None
                while not self._closed:
                    msg = await pubsub.get_message(timeout=1.0)
                    now = loop.time()
                    if msg is None:
                        # a silent connection may be dead (no RST): ask, and give up on it
                        # when the answer does not come
                        if ping_sent is not None and now - ping_sent > PING_TIMEOUT_S:
                            raise ConnectionError("no answer to PING on the pub/sub connection")
                        if ping_sent is None and now - quiet_since > PING_AFTER_S:
                            await pubsub.ping()
                            ping_sent = now
                        continue
                    quiet_since, ping_sent = now, None
                    kind = msg.get("type")
                    if kind == "message":
                        self.dispatch(str(msg["data"]))
                    elif kind == "subscribe":  # also after a silent reconnect: re-read all
                        self.up = True
                        self.subscriptions += 1
                        delay = 0.1
                        self._resync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: poll, then reconnect
                if self.up:
                    log.warning("completion listener lost Redis (%s); waiters poll until it "
                                "is back", exc)
                self.up = False
                self._resync()
            finally:
                self.up = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            if not self._closed:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        self._closed = True
        self.up = False
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._resync()


def completions(app: Any) -> Completions:
    """The app's listener (one per API process), created on first use."""
    state = app.state
    hub = getattr(state, "completions", None)
    if hub is None:
        from service.config import get_settings

        settings = getattr(state, "settings", None) or get_settings()
        hub = Completions(settings.redis_url)
        state.completions = hub
    return hub


async def wait_record(hub: Completions, store: Any, sub_id: str, seconds: float,
                      owner: str | None = None) -> dict[str, str] | None:
    """The submission's record once it has a result, or as it is after `seconds`; at once
    when it does not exist or (with `owner`) belongs to someone else."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    with hub.watch(sub_id) as w:
        while True:
            rec = await store.get(sub_id)
            remaining = deadline - loop.time()
            if rec is None or rec.get("result") or remaining <= 0 or (
                    owner is not None and rec.get("owner") != owner):
                return rec
            await w.wait(hub.timeout(remaining))


async def wait_batch(hub: Completions, store: Any, batch_id: str, ids: list[str],
                     seconds: float) -> None:
    """Return once every submission of the batch has a result, or after `seconds`.

    Wakes on the batch's own notifications (one per completed item); re-reads only the items
    still pending, and only after a RESYNC or a poll step (never per notification).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    with hub.watch(batch_id) as w:
        pending = await _pending(store, ids)
        while pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            was_up = hub.up
            got = await w.wait(hub.timeout(remaining))
            if RESYNC in got or not was_up or not hub.up:
                pending = await _pending(store, list(pending))
            else:
                pending.difference_update(got)


async def _pending(store: Any, ids: list[str]) -> set[str]:
    """The ids among `ids` that exist and have no result yet."""
    if not ids:
        return set()
    flags = await store.without_result(ids)
    return {i for i, missing in zip(ids, flags, strict=True) if missing}
