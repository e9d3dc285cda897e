"""A cell: one hardened sandbox container whose agent runs job after job, and the one attach
stream the worker keeps open to it for the cell's whole life.

Nothing is ever copied out of a container: the only thing read is the agent's stdout stream,
framed by Docker, bounded, and parsed line by line (`CFRESULT:<nonce>:...`, `CFSWEPT:<nonce>:...`).
"""

from __future__ import annotations

import json
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

RESULT_PREFIX = b"CFRESULT:"
SWEPT_PREFIX = b"CFSWEPT:"


class StreamClosed(Exception):
    """The attach stream ended (the agent exited or the connection broke)."""


class StreamTimeout(Exception):
    """No wanted line before the deadline."""


class StreamOverflow(Exception):
    """The agent sent more than the cap before the wanted line."""


class AttachStream:
    """Docker's multiplexed attach stream of one container: send lines, read stdout lines."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle  # keep the docker-py wrapper alive: closing it closes the socket
        self.raw: socket.socket = getattr(handle, "_sock", handle)
        self.frames = bytearray()
        self.out = bytearray()

    def send_line(self, data: bytes) -> None:
        self.raw.settimeout(30)
        self.raw.sendall(data + b"\n")

    def read_line(self, prefix: bytes, deadline: float, cap: int) -> bytes:
        """The next stdout line starting with `prefix` (earlier lines are dropped)."""
        while True:
            nl = self.out.find(b"\n")
            while nl >= 0:
                line = bytes(self.out[:nl])
                del self.out[: nl + 1]
                if line.startswith(prefix):
                    return line
                nl = self.out.find(b"\n")
            if len(self.out) > cap:
                raise StreamOverflow()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamTimeout()
            self.raw.settimeout(min(remaining, 5.0))
            try:
                chunk = self.raw.recv(262144)
            except TimeoutError:
                continue
            except OSError as exc:
                raise StreamClosed(str(exc)) from exc
            if not chunk:
                raise StreamClosed("end of stream")
            self.frames.extend(chunk)
            while len(self.frames) >= 8:
                kind, size = self.frames[0], struct.unpack(">I", bytes(self.frames[4:8]))[0]
                if len(self.frames) < 8 + size:
                    break
                if kind == 1:
                    self.out.extend(self.frames[8: 8 + size])
                del self.frames[: 8 + size]

    def alive(self) -> bool:
        """No end of stream pending (checked without blocking and without an API call): a cell
        whose container died while idle is not handed a job."""
        try:
            readable, _, _ = select.select([self.raw], [], [], 0)
            if not readable:
                return True
            return bool(self.raw.recv(1, socket.MSG_PEEK))
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        for obj in (self.handle, self.raw):
            try:
                obj.close()
            except OSError:
                pass


@dataclass
class Cell:
    """The worker's handle on one cell container."""

    cid: str
    image: str
    memory: int  # bytes: the container's memory limit
    stream: AttachStream
    created: float = field(default_factory=time.monotonic)
    jobs: int = 0
    name: str = ""
    idle_since: float = 0.0

    def age(self) -> float:
        return time.monotonic() - self.created


def parse_line(line: bytes, prefix: bytes, nonce: str) -> dict[str, Any] | None:
    """The JSON payload of `<prefix><nonce>:<json>`, or None when the nonce or JSON is off."""
    marker = prefix + nonce.encode() + b":"
    if not line.startswith(marker):
        return None
    try:
        payload = json.loads(line[len(marker):])
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
