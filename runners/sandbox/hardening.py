"""Every container-hardening flag in one place (see SECURITY.md "Hardened by default")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docker.types import LogConfig, Ulimit

SANDBOX_UID = 10001
LABEL = "codefeedback.sandbox"
AGENT_CMD = ["python3", "-I", "-B", "/opt/codefeedback/agent.py"]


@dataclass(frozen=True)
class Profile:
    """Creation-time settings of a pooled container (memory is raised per job)."""

    pids_limit: int = 256
    cpus: float = 1.0
    workdir_mb: int = 128
    tmp_mb: int = 64
    inodes: int = 8192
    nofile: int = 1024
    runtime: str | None = None  # e.g. "runsc" for gVisor


def create_kwargs(image: str, profile: Profile, labels: dict[str, str],
                  memory_bytes: int) -> dict[str, Any]:
    """Keyword arguments for `containers.create` with every hardening flag in force."""
    tmpfs_opts = f"rw,nosuid,nodev,noexec,size={profile.tmp_mb}m,nr_inodes={profile.inodes}"
    work_opts = (
        f"rw,nosuid,nodev,exec,size={profile.workdir_mb}m,nr_inodes={profile.inodes},"
        f"uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700"
    )
    kwargs: dict[str, Any] = {
        "image": image,
        "command": AGENT_CMD,
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "working_dir": "/work",
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "read_only": True,
        "tmpfs": {"/work": work_opts, "/tmp": tmpfs_opts},
        "mem_limit": memory_bytes,
        "memswap_limit": memory_bytes,
        "nano_cpus": int(profile.cpus * 1e9),
        "pids_limit": profile.pids_limit,
        "ulimits": [
            Ulimit(name="nofile", soft=profile.nofile, hard=profile.nofile),
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="fsize", soft=256 * 1024 * 1024, hard=256 * 1024 * 1024),
        ],
        # No docker-init: the agent is PID 1 (it reaps orphans). An init of the sandbox uid
        # holds the container's stdout (the result channel) and is dumpable, so user code
        # could write a forged result line through /proc/1/fd/1 (tests/security).
        "init": False,
        "shm_size": "16m",
        # No log file: the worker reads the agent's stdout on the attach stream, and a cell's
        # every result line written to disk again would cost the engine per job.
        "log_config": LogConfig(type="none", config={}),
        "environment": {},
        "hostname": "sandbox",
        "labels": labels,
        "stdin_open": True,
        "detach": True,
        "ipc_mode": "private",
    }
    if profile.runtime:
        kwargs["runtime"] = profile.runtime
    return kwargs
